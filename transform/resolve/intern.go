package resolve

import (
	"etl/internal/hugepage"
	"hash/maphash"
	"math"
)

// interner maps byte strings to dense int32 ids. Each distinct key is stored
// once in an arena and the table holds only ids, so a value costs its bytes
// plus about 10 bytes however many records hold it; no per-key Go string or
// map entry (which would cost far more at 10 million records).
//
// The arena is a list of fixed-size chunks, never one slice grown: at 10
// million keys a grown slice left a third of its 360 MB unused, and each
// growth held the old and the new copy at once.
type interner struct {
	seed   maphash.Seed
	chunks [][]byte // position p is chunks[p>>chunkBits][p&chunkMask]
	// Key i ends at off[i+1]; it starts at off[i], or at the next chunk
	// when it would not fit in what is left of off[i]'s (see Key).
	off   []uint32
	kinds []byte // key i's first byte, beside the others: at millions of
	// keys a look into the arena is a cache miss, and the kind is what most
	// loops ask first
	// Open addressing, linear probing: 0 when empty, else id+1 in the low
	// idBits and the top bits of the key's hash above, which rule out most
	// other keys without reading theirs.
	table []uint32
}

const (
	idBits = 27
	idMask = 1<<idBits - 1

	chunkBits = 20 // 1 MiB chunks
	chunkSize = 1 << chunkBits
	chunkMask = chunkSize - 1
)

func newInterner() *interner {
	return &interner{seed: maphash.MakeSeed(), off: []uint32{0}, table: make([]uint32, 1024)}
}

// Kind is key id's first byte.
func (t *interner) Kind(id int32) byte { return t.kinds[id] }

// Len is the number of distinct keys.
func (t *interner) Len() int { return len(t.off) - 1 }

// Key returns key id's bytes, which stay valid (and must not be changed).
func (t *interner) Key(id int32) []byte {
	s, e := t.off[id], t.off[id+1]
	if s&chunkMask != 0 && s>>chunkBits != (e-1)>>chunkBits {
		// It did not fit in s's chunk: it starts the next one.
		s = (s>>chunkBits + 1) << chunkBits
	}
	c := t.chunks[s>>chunkBits]
	return c[s&chunkMask : s&chunkMask+(e-s)]
}

// Intern returns the id of kind+s, adding it when new. kind lets one table
// hold several namespaces (emails and external ids) without copying s.
// It must not be called after Freeze.
func (t *interner) Intern(kind byte, s string) int32 {
	return t.intern(kind, s, t.hash(kind, s))
}

// intern is Intern given h = hash(kind, s).
func (t *interner) intern(kind byte, s string, h uint64) int32 {
	mask := uint64(len(t.table) - 1)
	fp := fingerprint(h)
	for i := h & mask; ; i = (i + 1) & mask {
		v := t.table[i]
		if v == 0 {
			break
		}
		// A hash can collide: equality of the stored bytes decides.
		if v&^idMask == fp {
			id := int32(v&idMask) - 1
			if k := t.Key(id); len(k) == len(s)+1 && k[0] == kind && string(k[1:]) == s {
				return id
			}
		}
	}
	id := int32(t.Len())
	end := t.store(kind, s)
	if id+1 > idMask {
		// About 100 million distinct identifiers: beyond what one run holds.
		panic("resolve: more than 134 million distinct values")
	}
	t.off = append(grow(t.off, 1), end)
	t.kinds = append(grow(t.kinds, 1), kind)
	// Linear probing stays short up to 3/4 full with a good hash.
	if 4*t.Len() > 3*len(t.table) {
		t.grow()
	} else {
		t.place(id, h)
	}
	return id
}

// store writes kind+s into the arena and returns the position after it. A
// key that does not fit in the current chunk starts the next one; a key
// longer than a chunk gets a chunk of its own size, the positions it spans
// beyond the first left empty, and the next key a new chunk.
func (t *interner) store(kind byte, s string) uint32 {
	pos := uint64(t.off[len(t.off)-1])
	n := uint64(1 + len(s))
	if pos&chunkMask != 0 && (pos+n-1)>>chunkBits != pos>>chunkBits {
		pos = (pos>>chunkBits + 1) << chunkBits
	}
	end := pos + n
	if end > math.MaxUint32 {
		panic("resolve: more than 4 GiB of distinct values")
	}
	for uint64(len(t.chunks)) <= pos>>chunkBits {
		t.chunks = append(t.chunks, nil)
	}
	c := &t.chunks[pos>>chunkBits]
	if *c == nil {
		*c = make([]byte, 0, max(chunkSize, n))
	}
	*c = append(append(*c, kind), s...)
	if n > chunkSize {
		// The next key starts a chunk of its own.
		for uint64(len(t.chunks)) <= end>>chunkBits {
			t.chunks = append(t.chunks, nil)
		}
		if end&chunkMask != 0 {
			t.chunks[end>>chunkBits] = make([]byte, end&chunkMask, chunkSize)
		}
	}
	return uint32(end)
}

func (t *interner) hash(kind byte, s string) uint64 {
	return maphash.String(t.seed, s) ^ uint64(kind)*0x9e3779b97f4a7c15
}

// hashKey is hash of a stored key (maphash.Bytes equals maphash.String on
// the same bytes).
func (t *interner) hashKey(k []byte) uint64 {
	return maphash.Bytes(t.seed, k[1:]) ^ uint64(k[0])*0x9e3779b97f4a7c15
}

func (t *interner) place(id int32, h uint64) {
	mask := uint64(len(t.table) - 1)
	i := h & mask
	for t.table[i] != 0 {
		i = (i + 1) & mask
	}
	t.table[i] = fingerprint(h) | uint32(id+1)
}

// fingerprint is the top bits of h, placed above the id in a table entry.
func fingerprint(h uint64) uint32 { return uint32(h>>(64-(32-idBits))) << idBits }

// grow doubles the table, rehashing from the arena (hashes are not kept:
// recomputing them is cheaper than 8 bytes per key).
func (t *interner) grow() { t.resize(2 * len(t.table)) }

// resize makes the table size entries (a power of two) and places every key
// again. The hashes of a run of keys are computed first, then the run is
// placed in a loop of nothing else: each placement is a cache miss in a
// table of millions, and in a short loop of independent ones the processor
// overlaps many of them.
func (t *interner) resize(size int) {
	t.table = hugepage.Make[uint32](size, size)
	var hs [256]uint64
	n := int32(t.Len())
	for from := int32(0); from < n; from += int32(len(hs)) {
		run := hs[:min(n-from, int32(len(hs)))]
		for i := range run {
			run[i] = t.hashKey(t.Key(from + int32(i)))
		}
		for i, h := range run {
			t.place(from+int32(i), h)
		}
	}
}

// expect sizes the table for about n keys, so that it does not grow (and
// rehash every key) on the way there.
func (t *interner) expect(n int) {
	size := len(t.table)
	for 4*n > 3*size {
		size *= 2
	}
	if size > len(t.table) {
		t.resize(size)
	}
}

// probe is where a look-up of hash h starts, to be touched in advance.
func (t *interner) probe(h uint64) *uint32 { return &t.table[h&uint64(len(t.table)-1)] }

// Freeze drops the lookup table once no key will be added: keys stay
// readable by id.
func (t *interner) Freeze() { t.table = nil }

// grow makes room for n more elements, growing the capacity by half when it
// must grow: append grows a large slice by a quarter at a time, which copies
// a slice of millions several times over on its way (by half: half as many
// copies, and less unused capacity for the collector to count than doubling).
func grow[S ~[]E, E any](s S, n int) S {
	if cap(s)-len(s) >= n {
		return s
	}
	ns := hugepage.Make[E](len(s), max(cap(s)+cap(s)/2, len(s)+n, 64))
	copy(ns, s)
	return ns
}
