package run

import (
	"math"
	"runtime/debug"
	"sync"
	"sync/atomic"

	"github.com/apache/arrow-go/v18/arrow"

	"etl/transform/resolve"
)

// hand is what --stage all carries from extracting to writing the tables,
// beside the staging area it writes (for --stage resolve and backfills):
//
//   - every batch is added to the resolver as its source produces it, on a
//     goroutine of its own beside the extractors, so that resolving is done
//     but for the clustering when the last source ends;
//   - a batch may be kept for the second pass (annotating and writing),
//     within a memory budget (none by default: see handBudget); a source
//     one of whose batches does not fit gives its batches up and is read
//     back from its staging, so that a run keeps its memory bounded.
type hand struct {
	r      *resolve.Resolver
	adds   chan added
	done   chan struct{}
	budget int64
	// expected is how many more records the sources said are coming, not
	// yet passed to the resolver's Expect (on the hand's goroutine).
	expected atomic.Int64

	mu      sync.Mutex
	used    int64
	sources map[string]*held
}

// held is one source's batches, in the order it produced (and staged) them.
type held struct {
	batches []arrow.Record // nil once the source is over budget
	firsts  []int          // each batch's first row in the resolver
	over    bool
}

type added struct {
	source string
	rec    arrow.Record
}

// DefaultMemoryLimit is the soft heap limit etl sets when GOMEMLIMIT is not
// set: Go's default collector lets the heap grow to twice the live data,
// which at 10 million records would pass 2 GB; a soft limit makes it
// collect sooner. Resident memory is more than the limit, as the mapped
// staging files and libzstd's contexts are outside it: at 1,280 MiB a run
// of 10 million records peaked at 1.35-1.40 GiB resident, at 1,200 MiB at
// 1.27-1.28 GiB in the same time (1.5 GiB let it reach 1.52 GiB).
const DefaultMemoryLimit = 1200 << 20

// handBudget is the memory kept batches may take. With a local output:
// none. Kept batches cost about twice their size in resident memory (the
// collector lets the heap grow to twice what is live: keeping 80 MiB took
// a run of 1M records from ~0.5 to ~0.7 GB at its peak), while a local
// staging is read back through its mapping (internal/ipcmap), with no
// copy, at ~10 GB/s: twice over, 80 MiB costs ~15 ms. With S3, where
// reading back is a download (twice), a sixteenth of the soft memory
// limit (75 MiB at 1,200 MiB; about 240,000 records), as a small run then
// reads nothing back. A variable, so that a test can set one.
var handBudget = func(local bool) int64 {
	if local {
		return 0
	}
	if limit := debug.SetMemoryLimit(-1); limit != math.MaxInt64 {
		return limit / 16
	}
	return 80 << 20
}

func newHand(r *resolve.Resolver, budget int64) *hand {
	adds := make(chan added, 16)
	h := &hand{r: r, adds: adds, done: make(chan struct{}), budget: budget, sources: map[string]*held{}}
	// The goroutine ranges over its own copy of the channel: wait may clear
	// h.adds before the goroutine first runs (a run failing at once).
	go func() {
		defer close(h.done)
		for a := range adds {
			if n := h.expected.Swap(0); n > 0 {
				r.Expect(int(n))
			}
			h.keep(a.source, a.rec, r.Add(a.rec))
		}
	}()
	return h
}

// expect says that about n more records are coming from a source (see
// extract.Writer.Expect): the resolver is sized for them before it adds
// the next batch, once for all the sources' files rather than grown (and
// copied, and rehashed) as they come.
func (h *hand) expect(n int64) { h.expected.Add(n) }

// add hands a source's next batch over (the hand retains it).
func (h *hand) add(source string, rec arrow.Record) {
	rec.Retain()
	h.adds <- added{source, rec}
}

func (h *hand) keep(source string, rec arrow.Record, first int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	s := h.sources[source]
	if s == nil {
		s = &held{}
		h.sources[source] = s
	}
	s.firsts = append(s.firsts, first)
	size := recordSize(rec)
	if s.over || h.used+size > h.budget {
		rec.Release()
		if !s.over {
			s.over = true
			for _, b := range s.batches {
				h.used -= recordSize(b)
				b.Release()
			}
			s.batches = nil
		}
		return
	}
	h.used += size
	s.batches = append(s.batches, rec)
}

// wait returns once every batch handed over is added to the resolver.
func (h *hand) wait() {
	if h.adds != nil {
		close(h.adds)
		h.adds = nil
	}
	<-h.done
}

// batches returns a source's batches and their first rows; kept is false
// when the source is to be read back from staging (batches is then nil).
// With take, the hand gives them up and the caller releases them.
func (h *hand) batches(source string, take bool) (batches []arrow.Record, firsts []int, kept bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	s := h.sources[source]
	if s == nil {
		return nil, nil, true // it produced no batch
	}
	if !take {
		return s.batches, s.firsts, !s.over
	}
	delete(h.sources, source)
	for _, b := range s.batches {
		h.used -= recordSize(b)
	}
	return s.batches, s.firsts, !s.over
}

// release drops whatever is still kept (a failed run).
func (h *hand) release() {
	h.wait()
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, s := range h.sources {
		for _, b := range s.batches {
			b.Release()
		}
	}
	h.sources = nil
}

// recordSize is the bytes of rec's buffers.
func recordSize(rec arrow.Record) int64 {
	var n int64
	var add func(d arrow.ArrayData)
	add = func(d arrow.ArrayData) {
		for _, b := range d.Buffers() {
			if b != nil {
				n += int64(b.Len())
			}
		}
		for _, c := range d.Children() {
			add(c)
		}
	}
	for _, col := range rec.Columns() {
		add(col.Data())
	}
	return n
}
