package resolve

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/google/uuid"
)

// Keys come back by id, the same key always gets the same id, and the same
// text in another kind is another key (an email is not an external id).
func TestInterner(t *testing.T) {
	in := newInterner()
	const n = 50_000 // many table growths and probe chains
	ids := map[string]int32{}
	for round := range 2 {
		for i := range n {
			for _, kind := range []byte{kindEmail, kindExt} {
				s := fmt.Sprintf("k%d@x.io", i)
				id := in.Intern(kind, s)
				if round == 0 {
					if id != int32(len(ids)) {
						t.Fatalf("new key %c%s got id %d, want %d", kind, s, id, len(ids))
					}
					ids[string(kind)+s] = id
				} else if id != ids[string(kind)+s] {
					t.Fatalf("%c%s got id %d, then %d", kind, s, ids[string(kind)+s], id)
				}
				if k := in.Key(id); string(k) != string(kind)+s {
					t.Fatalf("key %d is %q", id, k)
				}
			}
		}
	}
	if in.Len() != 2*n {
		t.Fatalf("%d keys, want %d", in.Len(), 2*n)
	}
}

// Keys longer than what is left of a chunk, or than a chunk, come back
// whole, and so do the keys after them.
func TestInternerChunks(t *testing.T) {
	in := newInterner()
	var want []string
	add := func(s string) {
		id := in.Intern(kindTag, s)
		if int(id) != len(want) {
			t.Fatalf("key %d got id %d", len(want), id)
		}
		want = append(want, s)
	}
	for i := range 3 * chunkSize / 1000 {
		add(fmt.Sprintf("%0999d", i)) // 1000 bytes with the kind: some straddle a chunk boundary
	}
	add(string(make([]byte, chunkSize+5)))     // longer than a chunk, starting mid-chunk
	add("after")                               // right after it
	add(string(make([]byte, 2*chunkSize-1)))   // starting mid-chunk again
	add(string(make([]byte, chunkSize-1)[1:])) // …
	for i := range 100 {
		add(fmt.Sprintf("tail-%d", i))
	}
	for id, s := range want {
		if k := in.Key(int32(id)); string(k[1:]) != s || k[0] != kindTag {
			t.Fatalf("key %d: %d bytes, want %d", id, len(k), len(s)+1)
		}
		if got := in.Intern(kindTag, s); got != int32(id) {
			t.Fatalf("key %d interned again as %d", id, got)
		}
	}
}

// sortByKey orders ids by their keys' bytes, also past the size at which it
// sorts on two goroutines, with keys sharing their first 8, 16 or more
// bytes, ending within a window, or holding zero bytes.
func TestSortByKey(t *testing.T) {
	in := newInterner()
	var ids []int32
	long := strings.Repeat("x", 40)
	for i := range 40_000 {
		var s string
		switch i % 6 {
		case 0:
			s = fmt.Sprintf("same.prefix.%d@x.io", i*7919%40_000)
		case 1:
			s = fmt.Sprintf("%d@y.io", i*104729%99_991)
		case 2:
			s = fmt.Sprintf("s%d", i)
		case 3:
			s = long + fmt.Sprint(i%97) // many keys 41-42 bytes long sharing 40
		case 4:
			s = "ab" + strings.Repeat("\x00", i%11) // zeros, as padding would be
		default:
			s = fmt.Sprintf("sixteen.bytes.ab%d", i%1000)
		}
		ids = append(ids, in.Intern(kindEmail, s))
	}
	ids = slices.Compact(slices.Sorted(slices.Values(ids)))
	slices.Reverse(ids)
	sortByKey(in, ids)
	for i := 1; i < len(ids); i++ {
		if bytes.Compare(in.Key(ids[i-1]), in.Key(ids[i])) >= 0 {
			t.Fatalf("%q before %q", in.Key(ids[i-1]), in.Key(ids[i]))
		}
	}
	if len(ids) != in.Len() {
		t.Fatalf("%d ids, want %d", len(ids), in.Len())
	}
}

func TestPidOrder(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, n := range []int{0, 1, 2, 100, 70_000} {
		pid := make([]uuid.UUID, n)
		for p := range pid {
			for i := range pid[p] {
				pid[p][i] = byte(rng.Uint32())
			}
			if p%7 == 1 { // the same first 8 bytes as the one before
				copy(pid[p][:8], pid[p-1][:8])
			}
		}
		got := pidOrder(pid)
		want := make([]int32, n)
		for p := range want {
			want[p] = int32(p)
		}
		slices.SortFunc(want, func(a, b int32) int { return bytes.Compare(pid[a][:], pid[b][:]) })
		if !slices.Equal(got, want) {
			t.Fatalf("%d persons: order differs from sorting by bytes", n)
		}
	}
}
