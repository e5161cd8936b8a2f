package extract

import (
	"math/rand/v2"
	"testing"
)

// seen answers as a map does, through growth and reserving, for keys that
// share their low bits (one probe run) and for the key 0.
func TestSeenIsAMap(t *testing.T) {
	var s seen
	m := map[uint64]uint64{}
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range 20000 {
		k := rng.Uint64()
		switch i % 4 {
		case 0:
			k <<= 20 // low bits all zero
		case 1:
			k %= 64 // 0 and small keys
		}
		switch i {
		case 100, 5000:
			s.reserve(3000) // grows, keeping every key
		case 200:
			s.reserve(10) // room already
		}
		want, wok := m[max(k, 1)]
		got, ok := s.add(k, uint64(i))
		if ok != wok || got != want {
			t.Fatalf("add(%d) = %d %v, want %d %v", k, got, ok, want, wok)
		}
		if !ok {
			m[max(k, 1)] = uint64(i)
		}
		if 4*s.n > 3*len(s.slots) {
			t.Fatalf("%d keys in %d slots", s.n, len(s.slots))
		}
	}
	if s.n != len(m) {
		t.Fatalf("%d keys, want %d", s.n, len(m))
	}
}

// Expect sizes the set once for what is expected, within maxExpect.
func TestExpectSizesOnce(t *testing.T) {
	var s seen
	s.reserve(3000)
	if len(s.slots) != 4096 {
		t.Fatalf("%d slots for 3000 keys, want 4096", len(s.slots))
	}
	for i := range 3000 {
		s.add(uint64(i+1)<<32, 0)
	}
	if len(s.slots) != 4096 {
		t.Fatalf("grew to %d slots", len(s.slots))
	}
	w := NewWriter("x", nil, 0, nil, nil)
	w.Expect(1 << 40)
	if want := 8 << 20; len(w.seen.slots) != want {
		t.Fatalf("%d slots for a huge estimate, want %d", len(w.seen.slots), want)
	}
}
