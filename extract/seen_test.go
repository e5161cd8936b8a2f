package extract

import (
	"math/rand/v2"
	"testing"
)

// seen answers as a map does, through growth, for keys that share their low
// bits (one probe run) and for the key 0.
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
		want, wok := m[max(k, 1)]
		got, ok := s.get(k)
		if ok != wok || got != want {
			t.Fatalf("get(%d) = %d %v, want %d %v", k, got, ok, want, wok)
		}
		if !ok {
			s.put(k, uint64(i))
			m[max(k, 1)] = uint64(i)
		}
	}
	if s.n != len(m) {
		t.Fatalf("%d keys, want %d", s.n, len(m))
	}
}
