package resolve

import (
	"fmt"
	"testing"
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
