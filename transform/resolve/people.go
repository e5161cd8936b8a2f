package resolve

import (
	"bytes"
	"cmp"
	"encoding/binary"
	"fmt"
	"math"
	"math/bits"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/google/uuid"

	"etl/internal/hugepage"
	"etl/schemas"
)

// Survivorship fields (rule 5), in end_users order.
var fieldCols = []struct{ src, usr int }{
	{schemas.SrcEmail, schemas.UsrEmail},
	{schemas.SrcFirstName, schemas.UsrFirstName},
	{schemas.SrcLastName, schemas.UsrLastName},
	{schemas.SrcName, schemas.UsrName},
	{schemas.SrcPhone, schemas.UsrPhone},
	{schemas.SrcCompanyName, schemas.UsrCompanyName},
}

const nFields = 6

func fieldArrays(rec arrow.Record) [nFields]*array.String {
	var out [nFields]*array.String
	for f, c := range fieldCols {
		out[f] = rec.Column(c.src).(*array.String)
	}
	return out
}

// Annotate is Survive, then PersonIDs: rec with person_id filled.
func (res *Result) Annotate(mem memory.Allocator, rec arrow.Record, first int) (arrow.Record, error) {
	if err := res.Survive(rec, first); err != nil {
		return nil, err
	}
	return res.PersonIDs(mem, rec, first)
}

// Survive gathers the surviving values and person ids of rec's persons
// for People and PersonIDs: rec was added with its first row at first.
// Call it once for every batch added, in any order, before People.
func (res *Result) Survive(rec arrow.Record, first int) error {
	n := int(rec.NumRows())
	if first < 0 || first+n > len(res.check) || res.done+n > len(res.check) {
		return fmt.Errorf("resolve: annotating more rows than were added")
	}
	// On two goroutines, each the rows of one half of the persons: the
	// state each writes (and its values' interner) is its half's alone.
	var errs [2]error
	if n >= 1024 {
		var wg sync.WaitGroup
		wg.Go(func() { errs[1] = res.survive(rec, first, 1) })
		errs[0] = res.survive(rec, first, 0)
		wg.Wait()
	} else {
		errs[0], errs[1] = res.survive(rec, first, 0), res.survive(rec, first, 1)
	}
	if err := cmp.Or(errs[0], errs[1]); err != nil {
		return err
	}
	res.done += n
	if res.done == len(res.check) {
		// What only survivorship needed: People has each person's latest
		// updated_at (and sources, but beyond 16 of them).
		res.upd, res.fields = nil, nil
		if res.srcMask != nil {
			res.src = nil
		}
	}
	return nil
}

// survive is Survive for the rows of rec whose person is in half h.
func (res *Result) survive(rec arrow.Record, first, h int) error {
	src := rec.Column(schemas.SrcSource).(*array.String)
	sid := rec.Column(schemas.SrcSourceID).(*array.String)
	cre := rec.Column(schemas.SrcCreatedAt).(*array.Timestamp)
	cols := fieldArrays(rec)
	rh := rowHasher{seed: res.seed}
	for i := range int(rec.NumRows()) {
		row := first + i
		p := res.person[row]
		if res.half(p) != h {
			continue
		}
		s, id := src.Value(i), sid.Value(i)
		if res.check[row] != rh.hash(s, id) {
			return fmt.Errorf("resolve: a batch annotated at another row than it was added at")
		}
		if res.pid[p] == (uuid.UUID{}) {
			res.pid[p] = personID("record:", []byte(s+":"+id))
		}
		if cre.IsValid(i) {
			res.created[p] = min(res.created[p], int64(cre.Value(i)))
		}
		for f, a := range cols {
			if res.fields[row]&(1<<f) == 0 {
				continue
			}
			k := int(p)*nFields + f
			switch {
			case res.tie[p]&(1<<f) != 0:
				if res.rank(int32(row), res.slot[k]) == 0 {
					res.contend(k, id, res.ref(row, f, h, a.Value(i)))
				}
			case res.slot[k] == int32(row):
				res.slot[k] = -(res.ref(row, f, h, a.Value(i)) + 2)
			}
		}
	}
	return nil
}

// PersonIDs returns rec, added with its first row at first and passed to
// Survive, with person_id filled. It only reads the result, so it may run
// beside People. The caller releases both records.
func (res *Result) PersonIDs(mem memory.Allocator, rec arrow.Record, first int) (arrow.Record, error) {
	n := int(rec.NumRows())
	if first < 0 || first+n > len(res.check) {
		return nil, fmt.Errorf("resolve: person ids of rows that were not added")
	}
	src := rec.Column(schemas.SrcSource).(*array.String)
	sid := rec.Column(schemas.SrcSourceID).(*array.String)
	// Every id is 36 bytes: the column's buffers are written directly.
	data, offsets := memory.NewResizableBuffer(mem), memory.NewResizableBuffer(mem)
	defer release([]*memory.Buffer{data, offsets})
	data.Resize(36 * n)
	offsets.Resize(4 * (n + 1))
	text, offs := data.Bytes(), arrow.Int32Traits.CastFromBytes(offsets.Bytes())
	offs[0] = 0
	rh := rowHasher{seed: res.seed}
	for i := 0; i < n; i++ {
		row := first + i
		if res.check[row] != rh.hash(src.Value(i), sid.Value(i)) {
			return nil, fmt.Errorf("resolve: a batch annotated at another row than it was added at")
		}
		pid := res.pid[res.person[row]]
		if pid == (uuid.UUID{}) {
			return nil, fmt.Errorf("resolve: person ids asked before Survive")
		}
		uuidText((*[36]byte)(text[36*i:36*i+36]), pid)
		offs[i+1] = int32(36 * (i + 1))
	}
	d := array.NewData(rec.Schema().Field(schemas.SrcPersonID).Type, n, []*memory.Buffer{nil, offsets, data}, nil, 0, 0)
	defer d.Release()
	pids := array.MakeFromData(d)
	defer pids.Release()
	cols := slices.Clone(rec.Columns())
	cols[schemas.SrcPersonID] = pids
	return array.NewRecord(rec.Schema(), cols, rec.NumRows()), nil
}

// Shrink drops everything but what PersonIDs reads (a record's person, a
// person's id, the order check): call it once People is done. At 10
// million records it frees about 800 MB.
func (res *Result) Shrink() {
	r := res.records
	r.ids, r.holders, r.src, r.upd, r.fields, r.idOff, r.idList = nil, nil, nil, nil, nil, nil, nil
	res.flags, res.created, res.updated, res.slot, res.tie, res.prio = nil, nil, nil, nil, nil, nil
	res.srcMask, res.ties, res.values = nil, [2]map[int]tied{}, [2]*interner{}
}

// ref interns a surviving value of a person in half h. The email is
// already interned by Add, as one of the record's ids.
func (res *Result) ref(row, f, h int, v string) int32 {
	if fieldCols[f].src == schemas.SrcEmail {
		for _, id := range res.idList[res.idOff[row]:res.idOff[row+1]] {
			if res.ids.Kind(id) == kindEmail {
				if k := res.ids.Key(id); string(k[1:]) == v {
					return id
				}
			}
		}
	}
	return res.values[h].Intern(0, v)
}

// refKey is the value of ref for field f of a person in half h.
func (res *Result) refKey(f, h int, ref int32) []byte {
	if fieldCols[f].src == schemas.SrcEmail {
		return res.ids.Key(ref)[1:]
	}
	return res.values[h].Key(ref)[1:]
}

// half is the half of the persons p is in (see Survive): blocks of 64
// persons alternate. A batch's records mostly belong to persons numbered
// close together, so that halves by range (the first half of the persons,
// then the rest) left one goroutine idle for most batches; 64 persons'
// state of each kind fills whole cache lines, so the two never write to
// the same line.
func (res *Result) half(p int32) int { return int(p>>6) & 1 }

// contend settles a tie on updated_at and source priority: the ascending
// source_id wins, then the smaller value, so the input order never matters.
func (res *Result) contend(k int, sourceID string, ref int32) {
	h := res.half(int32(k / nFields))
	if cur, ok := res.ties[h][k]; ok {
		f := k % nFields
		c := strings.Compare(sourceID, cur.sourceID)
		if c > 0 || c == 0 && bytes.Compare(res.refKey(f, h, ref), res.refKey(f, h, cur.ref)) >= 0 {
			return
		}
	}
	res.ties[h][k] = tied{sourceID: strings.Clone(sourceID), ref: ref}
}

// People hands end_users to emit as record batches of at most batchRows
// rows, sorted by person_id; emit owns each batch. Call it after every batch
// was annotated. Batches are built one at a time, so the table is never
// whole in memory.
func (res *Result) People(mem memory.Allocator, batchRows int, emit func(arrow.Record) error) error {
	if res.done != len(res.check) {
		return fmt.Errorf("resolve: %d of %d rows annotated", res.done, len(res.check))
	}
	np := len(res.pid)
	order := pidOrder(res.pid)
	// Each person's records, in CSR form.
	off := hugepage.Make[uint32](np+1, np+1)
	for _, p := range res.person {
		off[p+1]++
	}
	for p := range np {
		off[p+1] += off[p]
	}
	recs := hugepage.Make[int32](len(res.person), len(res.person))
	fill := slices.Clone(off[:np])
	for i, p := range res.person {
		recs[fill[p]] = int32(i)
		fill[p]++
	}
	fill = nil
	// Sources by name: a person's list is the names its mask has, in order.
	byName := make([]int, len(res.sources))
	for s := range byName {
		byName[s] = s
	}
	slices.SortFunc(byName, func(a, b int) int { return strings.Compare(res.sources[a], res.sources[b]) })
	// Batches are built on two goroutines (alternate batches, read-only
	// state) and handed to emit in order.
	const workers = 2
	nb := (np + batchRows - 1) / batchRows
	built := [workers]chan arrow.Record{}
	stop := make(chan struct{})
	for w := range workers {
		built[w] = make(chan arrow.Record, 1)
		go func() {
			defer close(built[w])
			pb := &peopleBuilder{res: res, off: off, recs: recs, byName: byName}
			for b := w; b < nb; b += workers {
				start := b * batchRows
				rec := pb.build(mem, order[start:min(np, start+batchRows)])
				select {
				case built[w] <- rec:
				case <-stop:
					rec.Release()
					return
				}
			}
		}()
	}
	var err error
	for b := 0; b < nb && err == nil; b++ {
		err = emit(<-built[b%workers])
	}
	close(stop)
	for _, c := range built {
		for rec := range c {
			rec.Release()
		}
	}
	return err
}

// pidOrder returns the persons sorted by person id. Ids are SHA-1s, uniform
// in their leading bits: persons are put in buckets by those bits (about 32
// a bucket), then each bucket is sorted with its ids copied beside it. A
// comparison sort of millions of indices read two scattered ids at each
// comparison; this reads each id twice in order and once scattered (and
// runs on both cores).
func pidOrder(pid []uuid.UUID) []int32 {
	np := len(pid)
	nbits := min(24, max(1, bits.Len(uint(np/32))))
	shift := 64 - nbits
	lead := func(p int) uint64 { return binary.BigEndian.Uint64(pid[p][:8]) }
	start := make([]uint32, 1<<nbits+1)
	for p := range np {
		start[lead(p)>>shift+1]++
	}
	for b := range 1 << nbits {
		start[b+1] += start[b]
	}
	order := hugepage.Make[int32](np, np)
	fill := slices.Clone(start[:1<<nbits])
	for p := range np {
		b := lead(p) >> shift
		order[fill[b]] = int32(p)
		fill[b]++
	}
	fill = nil
	type item struct {
		hi, lo uint64
		p      int32
	}
	halves(1<<nbits, func(from, to int) {
		var items []item
		for b := from; b < to; b++ {
			ps := order[start[b]:start[b+1]]
			if len(ps) < 2 {
				continue
			}
			items = items[:0]
			for _, p := range ps {
				items = append(items, item{lead(int(p)), binary.BigEndian.Uint64(pid[p][8:]), p})
			}
			slices.SortFunc(items, func(a, b item) int {
				return cmp.Or(cmp.Compare(a.hi, b.hi), cmp.Compare(a.lo, b.lo), cmp.Compare(a.p, b.p))
			})
			for i, it := range items {
				ps[i] = it.p
			}
		}
	})
	return order
}

// peopleBuilder builds end_users batches on one goroutine; its slices are
// reused from batch to batch.
type peopleBuilder struct {
	res    *Result
	off    []uint32 // person p's records are recs[off[p]:off[p+1]]
	recs   []int32
	byName []int // source indices, by name
	// The batch's columns, by end_users column: strings, lists, the rest.
	strs, lists             []column
	count, created, updated []int64

	// What gather reads for a run of persons, person by person.
	vals    [][]byte // per person and field: the surviving value, or nil
	refs    []int32  // per person and field: vals' reference, -1: none
	rOff    []int    // person i's records: rs[rOff[i]:rOff[i+1]]
	rs      []int32
	iOff    []int // record j's identifiers: ids[iOff[j]:iOff[j+1]]
	ids     []int32
	keys    [][]byte // per identifier: its key (nil: a flagged external id)
	srcs    []uint16 // per person: srcMask's
	pids    []uuid.UUID
	times   [][2]int64 // per person: created, updated
	scratch [][]byte
}

// gatherRun is how many persons gather reads at a time: what it reads
// stays in the processor's caches until the rows are built.
const gatherRun = 1024

// gather reads what persons ps's rows need, one array at a time in a loop
// over all of them, rather than person by person: at millions of persons
// each read is a cache miss, and the loads of such a loop are independent,
// so the processor overlaps them, where a person's own chain (its records,
// their identifiers, those keys) would wait for each in turn.
func (g *peopleBuilder) gather(ps []int32) {
	res := g.res
	g.refs = g.refs[:0]
	for _, p := range ps {
		k := int(p) * nFields
		tie := res.tie[p]
		for f := range nFields {
			ref := int32(-1)
			switch s := res.slot[k+f]; {
			case tie&(1<<f) != 0:
				ref = res.ties[res.half(p)][k+f].ref
			case s < -1:
				ref = -s - 2
			}
			g.refs = append(g.refs, ref)
		}
	}
	g.vals = g.vals[:0]
	for i, ref := range g.refs {
		var v []byte
		if ref >= 0 {
			v = res.refKey(i%nFields, res.half(ps[i/nFields]), ref)
		}
		g.vals = append(g.vals, v)
	}
	g.rOff, g.rs = append(g.rOff[:0], 0), g.rs[:0]
	for _, p := range ps {
		g.rs = append(g.rs, g.recs[g.off[p]:g.off[p+1]]...)
		g.rOff = append(g.rOff, len(g.rs))
	}
	g.iOff, g.ids = append(g.iOff[:0], 0), g.ids[:0]
	for _, r := range g.rs {
		g.ids = append(g.ids, res.idList[res.idOff[r]:res.idOff[r+1]]...)
		g.iOff = append(g.iOff, len(g.ids))
	}
	g.keys = g.keys[:0]
	for _, id := range g.ids {
		var k []byte
		if res.ids.Kind(id) != kindExt || res.flags[id] == 0 {
			k = res.ids.Key(id)
		}
		g.keys = append(g.keys, k)
	}
	g.pids, g.times, g.srcs = g.pids[:0], g.times[:0], g.srcs[:0]
	for _, p := range ps {
		g.pids = append(g.pids, res.pid[p])
		g.times = append(g.times, [2]int64{res.created[p], res.updated[p]})
	}
	if res.srcMask != nil {
		for _, p := range ps {
			g.srcs = append(g.srcs, res.srcMask[p])
		}
	}
	// The values' and keys' bytes, scattered in the arenas: read once here
	// (both ends: one can straddle two cache lines). In loops of nothing
	// else, with no branch on what they read, the reads overlap.
	var sink byte
	for _, v := range g.vals {
		if len(v) > 0 {
			sink ^= v[0] ^ v[len(v)-1]
		}
	}
	for _, k := range g.keys {
		if len(k) > 0 {
			sink ^= k[0] ^ k[len(k)-1]
		}
	}
	touched.Store(uint32(sink))
}

// touched keeps gather's reads of the arenas from being optimised away.
var touched atomic.Uint32

// build builds the batch of persons ps. Its columns are written straight
// into slices reused from batch to batch (see column), then copied into
// buffers of mem: the builders' calls per value cost more than that copy.
func (g *peopleBuilder) build(mem memory.Allocator, ps []int32) arrow.Record {
	res := g.res
	if g.strs == nil {
		g.strs = make([]column, len(schemas.EndUsers.Fields()))
		g.lists = make([]column, len(schemas.EndUsers.Fields()))
	}
	for c := range g.strs {
		g.strs[c].reset()
		g.lists[c].reset()
	}
	g.count, g.created, g.updated = g.count[:0], g.created[:0], g.updated[:0]
	names := make([][]byte, len(res.sources))
	for s, name := range res.sources {
		names[s] = []byte(name)
	}
	var pid [36]byte
	var emails, tags [][]byte
	var inPerson []bool
	if res.srcMask == nil {
		inPerson = make([]bool, len(res.sources))
	}
	for from := 0; from < len(ps); from += gatherRun {
		run := ps[from:min(len(ps), from+gatherRun)]
		g.gather(run)
		for i := range run {
			g.strs[schemas.UsrPersonID].add(uuidText(&pid, g.pids[i]))
			for f, col := range fieldCols {
				g.strs[col.usr].add(g.vals[i*nFields+f])
			}
			emails, tags = emails[:0], tags[:0]
			var ext []byte
			for j := g.rOff[i]; j < g.rOff[i+1]; j++ {
				for x := g.iOff[j]; x < g.iOff[j+1]; x++ {
					k := g.keys[x]
					if k == nil {
						continue
					}
					switch k[0] {
					case kindEmail:
						emails = append(emails, k[1:])
					case kindTag:
						tags = append(tags, k[1:])
					default: // the person's one usable external id
						ext = k[1:]
					}
				}
			}
			g.lists[schemas.UsrEmails].addList(sortedUnique(emails))
			g.strs[schemas.UsrExternalID].add(ext)
			g.lists[schemas.UsrTags].addList(sortedUnique(tags))
			g.scratch = g.scratch[:0]
			if res.srcMask != nil {
				for _, s := range g.byName {
					if g.srcs[i]&(1<<s) != 0 {
						g.scratch = append(g.scratch, names[s])
					}
				}
			} else {
				clear(inPerson)
				for _, r := range g.rs[g.rOff[i]:g.rOff[i+1]] {
					inPerson[res.src[r]] = true
				}
				for _, s := range g.byName {
					if inPerson[s] {
						g.scratch = append(g.scratch, names[s])
					}
				}
			}
			g.lists[schemas.UsrSources].addList(g.scratch)
			g.count = append(g.count, int64(g.rOff[i+1]-g.rOff[i]))
			g.created = append(g.created, g.times[i][0])
			g.updated = append(g.updated, g.times[i][1])
		}
	}
	n := len(ps)
	cols := make([]arrow.Array, len(schemas.EndUsers.Fields()))
	for c, fld := range schemas.EndUsers.Fields() {
		switch c {
		case schemas.UsrEmails, schemas.UsrTags, schemas.UsrSources:
			cols[c] = g.lists[c].list(mem, fld.Type)
		case schemas.UsrRecordCount:
			cols[c] = int64Array(mem, fld.Type, g.count, nil)
		case schemas.UsrCreatedAt:
			cols[c] = int64Array(mem, fld.Type, g.created, func(v int64) bool { return v != math.MaxInt64 })
		case schemas.UsrUpdatedAt:
			cols[c] = int64Array(mem, fld.Type, g.updated, func(v int64) bool { return v != noTime })
		default:
			cols[c] = g.strs[c].strings(mem, fld.Type)
		}
	}
	rec := array.NewRecord(schemas.EndUsers, cols, int64(n))
	for _, c := range cols {
		c.Release()
	}
	return rec
}

// column is a string or list-of-strings column being written: Arrow's
// layout in Go slices. An empty string or list is a null.
type column struct {
	offs  []int32 // value i is data[offs[i]:offs[i+1]], or a list's vals
	data  []byte
	valid []byte // bit i: value i is not null
	nulls int
	vals  *column // a list's values, never null
}

func (c *column) reset() {
	c.offs, c.data, c.valid, c.nulls = append(c.offs[:0], 0), c.data[:0], c.valid[:0], 0
	if c.vals != nil {
		c.vals.reset()
	}
}

// mark appends value i's validity bit: valid or null.
func (c *column) mark(valid bool) {
	i := len(c.offs) - 2
	if i%8 == 0 {
		c.valid = append(c.valid, 0)
	}
	if valid {
		c.valid[i/8] |= 1 << (i % 8)
	} else {
		c.nulls++
	}
}

func (c *column) add(v []byte) {
	c.data = append(c.data, v...)
	c.offs = append(c.offs, int32(len(c.data)))
	c.mark(len(v) > 0)
}

func (c *column) addList(vs [][]byte) {
	if c.vals == nil {
		c.vals = &column{}
		c.vals.reset()
	}
	for _, v := range vs {
		c.vals.data = append(c.vals.data, v...)
		c.vals.offs = append(c.vals.offs, int32(len(c.vals.data)))
	}
	c.offs = append(c.offs, int32(len(c.vals.offs)-1))
	c.mark(len(vs) > 0)
}

// strings is c as a string array of type dt.
func (c *column) strings(mem memory.Allocator, dt arrow.DataType) arrow.Array {
	d := c.arrayData(mem, dt)
	defer d.Release()
	return array.MakeFromData(d)
}

// list is c as a list array of type dt.
func (c *column) list(mem memory.Allocator, dt arrow.DataType) arrow.Array {
	if c.vals == nil {
		c.vals = &column{}
		c.vals.reset()
	}
	child := c.vals.arrayData(mem, dt.(*arrow.ListType).Elem())
	defer child.Release()
	d := array.NewData(dt, len(c.offs)-1, []*memory.Buffer{c.validity(mem), buffer(mem, arrow.Int32Traits.CastToBytes(c.offs))},
		[]arrow.ArrayData{child}, c.nulls, 0)
	release(d.Buffers())
	defer d.Release()
	return array.MakeFromData(d)
}

// arrayData is c's data as a string array of type dt.
func (c *column) arrayData(mem memory.Allocator, dt arrow.DataType) arrow.ArrayData {
	d := array.NewData(dt, len(c.offs)-1, []*memory.Buffer{c.validity(mem), buffer(mem, arrow.Int32Traits.CastToBytes(c.offs)),
		buffer(mem, c.data)}, nil, c.nulls, 0)
	release(d.Buffers())
	return d
}

// validity is c's validity bitmap in mem, or nil when nothing is null.
func (c *column) validity(mem memory.Allocator) *memory.Buffer {
	if c.nulls == 0 {
		return nil
	}
	return buffer(mem, c.valid)
}

// int64Array is vs as an array of type dt (int64 or a timestamp); valid,
// when not nil, says which are not null.
func int64Array(mem memory.Allocator, dt arrow.DataType, vs []int64, valid func(int64) bool) arrow.Array {
	var bitmap *memory.Buffer
	nulls := 0
	if valid != nil {
		bits := make([]byte, (len(vs)+7)/8)
		for i, v := range vs {
			if valid(v) {
				bits[i/8] |= 1 << (i % 8)
			} else {
				nulls++
			}
		}
		if nulls > 0 {
			bitmap = buffer(mem, bits)
		}
	}
	d := array.NewData(dt, len(vs), []*memory.Buffer{bitmap, buffer(mem, arrow.Int64Traits.CastToBytes(vs))}, nil, nulls, 0)
	release(d.Buffers())
	defer d.Release()
	return array.MakeFromData(d)
}

// buffer is a copy of b in mem.
func buffer(mem memory.Allocator, b []byte) *memory.Buffer {
	buf := memory.NewResizableBuffer(mem)
	buf.Resize(len(b))
	copy(buf.Bytes(), b)
	return buf
}

// release releases the buffers NewData retained (it took them created).
func release(bufs []*memory.Buffer) {
	for _, b := range bufs {
		if b != nil {
			b.Release()
		}
	}
}

// uuidText writes u's canonical text (as u.String()) into buf.
func uuidText(buf *[36]byte, u uuid.UUID) []byte {
	const hex = "0123456789abcdef"
	j := 0
	for i, c := range u {
		if i == 4 || i == 6 || i == 8 || i == 10 {
			buf[j] = '-'
			j++
		}
		buf[j], buf[j+1] = hex[c>>4], hex[c&0xF]
		j += 2
	}
	return buf[:]
}

// sortedUnique sorts vs and drops repeated values: a sorted union.
func sortedUnique(vs [][]byte) [][]byte {
	slices.SortFunc(vs, bytes.Compare)
	return slices.CompactFunc(vs, bytes.Equal)
}
