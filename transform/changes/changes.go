// Package changes finds the end_user_sources records added, removed or
// changed since a previous partition (the end_user_changes table), reading
// the previous partition twice and the current one once, as they stream.
//
// Memory is bounded by the previous partition's size, 24 bytes a record: a
// sorted index of each previous record's key (a 128-bit hash of source and
// source_id) and row (a 64-bit hash of every column). A current record
// whose key is missing is added at once; one whose row hash differs is
// changed, and the hashes of its columns go to a temporary file until the
// second pass over the previous partition names the columns that differ;
// previous records no current record matched are removed.
package changes

import (
	"cmp"
	"encoding/binary"
	"errors"
	"fmt"
	"math/bits"
	"os"
	"slices"
	"sort"
	"sync"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/zeebo/xxh3"

	"etl/schemas"
)

// Stats count the rows of end_user_changes.
type Stats struct {
	Added   int64 `json:"added"`
	Removed int64 `json:"removed"`
	Changed int64 `json:"changed"`
}

// Rows is a partition's end_user_sources, read batch by batch: each calls
// fn with every batch, which fn must not keep.
type Rows func(fn func(rec arrow.Record) error) error

// Diff computes one partition's end_user_changes.
type Diff struct {
	Stats
	mem       memory.Allocator
	batchRows int
	emit      func(arrow.Record) error

	prev    []entry  // the previous records, by key
	dir     []uint32 // dir[h]: the first of prev whose key's top bits are ≥ h
	shift   uint     // 64 - those bits
	matched []uint64 // bit i: a current record has prev[i]'s key
	changed []uint64 // bit i: … and another row
	nMatch  int
	cands   []cand      // the changed ones' current column hashes, in tmp
	keys    [][2]uint64 // lookup's, per row of a batch
	spans   [][2]uint32
	pos     []int
	tmp     *os.File
	tmpSize int64
	buf     []byte

	out  *array.RecordBuilder
	rows int

	// With nothing to compare with, every record is added: its rows are
	// the batch's own source, source_id and person_id arrays beside these
	// constant columns (batchRows long, sliced to each batch).
	added, none, empty arrow.Array
}

type entry struct {
	key [2]uint64
	row uint64
}

type cand struct {
	pos int   // in prev
	off int64 // of its record in tmp
	n   int
}

// columns are end_user_sources' columns, compared by name.
var columns = func() []string {
	var out []string
	for _, f := range schemas.EndUserSources.Fields() {
		out = append(out, f.Name)
	}
	return out
}()

const nCols = 16

// sortedColumns lists the columns (their index in columns) by name, the
// order of end_user_changes.columns.
var sortedColumns = func() []int {
	idx := make([]int, len(columns))
	for i := range idx {
		idx[i] = i
	}
	sort.Slice(idx, func(a, b int) bool { return columns[idx[a]] < columns[idx[b]] })
	return idx
}()

// New starts a diff; emit receives end_user_changes batches of at most
// batchRows rows, and releases them.
func New(mem memory.Allocator, batchRows int, emit func(arrow.Record) error) *Diff {
	if len(columns) != nCols {
		panic("changes: end_user_sources has another number of columns")
	}
	return &Diff{mem: mem, batchRows: batchRows, emit: emit}
}

// Previous indexes the previous partition (rows, about; 0 when unknown).
// Without it every current record is added.
func (d *Diff) Previous(rows int64, each Rows) error {
	d.prev = make([]entry, 0, rows)
	var h [nCols]uint64
	err := each(func(rec arrow.Record) error {
		cols, err := lookup(rec)
		if err != nil {
			return err
		}
		for i := range int(rec.NumRows()) {
			hashRow(cols, i, &h)
			d.prev = append(d.prev, entry{key: key(cols, i), row: rowHash(&h)})
		}
		return nil
	})
	if err != nil {
		return err
	}
	sortEntries(d.prev)
	for i := 1; i < len(d.prev); i++ {
		if d.prev[i].key == d.prev[i-1].key {
			return errors.New("the previous partition holds a record (source, source_id) twice")
		}
	}
	// Keys are uniform hashes, so their top bits say where in prev a key
	// is, to a few entries: one lookup in dir instead of a binary search
	// that misses the cache at every step (a 4 bytes a bucket, a bucket per
	// 2 to 4 records).
	b := uint(max(1, bits.Len(uint(len(d.prev)/4))))
	d.shift = 64 - b
	d.dir = make([]uint32, 1<<b+1)
	j := 0
	for h := range d.dir {
		for j < len(d.prev) && d.prev[j].key[0]>>d.shift < uint64(h) {
			j++
		}
		d.dir[h] = uint32(j)
	}
	d.matched = make([]uint64, (len(d.prev)+63)/64)
	d.changed = make([]uint64, len(d.matched))
	return nil
}

// sortEntries sorts entries by key, on both cores: keys are uniform
// hashes, so those below the middle value and the others are two halves,
// each sorted apart.
func sortEntries(es []entry) {
	j := 0
	for i := range es {
		if es[i].key[0] < 1<<63 {
			es[i], es[j] = es[j], es[i]
			j++
		}
	}
	byKey := func(a, b entry) int {
		return cmp.Or(cmp.Compare(a.key[0], b.key[0]), cmp.Compare(a.key[1], b.key[1]))
	}
	var wg sync.WaitGroup
	wg.Go(func() { slices.SortFunc(es[j:], byKey) })
	slices.SortFunc(es[:j], byKey)
	wg.Wait()
}

// lookup finds the keys of a batch's rows in prev: each row's position,
// or -1. The keys are hashed first, then their buckets read, then their
// entries: a row's two reads (its bucket, then its entry) each miss the
// cache at millions of records, and in loops over the whole batch the
// misses of different rows overlap, where row by row each waited for the
// one before.
func (d *Diff) lookup(cols [nCols]arrow.Array, n int) []int {
	d.pos = d.pos[:0]
	if len(d.prev) == 0 {
		for range n {
			d.pos = append(d.pos, -1)
		}
		return d.pos
	}
	d.keys, d.spans = d.keys[:0], d.spans[:0]
	for i := range n {
		d.keys = append(d.keys, key(cols, i))
	}
	for _, k := range d.keys {
		h := k[0] >> d.shift
		d.spans = append(d.spans, [2]uint32{d.dir[h], d.dir[h+1]})
	}
	for i, k := range d.keys {
		pos := -1
		for j := d.spans[i][0]; j < d.spans[i][1]; j++ {
			if d.prev[j].key == k {
				pos = int(j)
				break
			}
		}
		d.pos = append(d.pos, pos)
	}
	return d.pos
}

func set(bits []uint64, i int)      { bits[i/64] |= 1 << (i % 64) }
func has(bits []uint64, i int) bool { return bits[i/64]&(1<<(i%64)) != 0 }

// Current compares one batch of the current partition; the caller keeps rec.
func (d *Diff) Current(rec arrow.Record) error {
	cols, err := lookup(rec)
	if err != nil {
		return err
	}
	if len(d.prev) == 0 && d.allAdded(cols) {
		if err := d.flush(); err != nil {
			return err
		}
		n := rec.NumRows()
		for i := int64(0); i < n; i += int64(d.batchRows) {
			out := d.addedRows(cols, i, min(n, i+int64(d.batchRows)))
			d.Added += out.NumRows()
			if err := d.emit(out); err != nil {
				return err
			}
		}
		return nil
	}
	var h [nCols]uint64
	for i, pos := range d.lookup(cols, int(rec.NumRows())) {
		if pos < 0 {
			if err := d.add(schemas.ChangeAdded, str(cols, schemas.SrcSource, i), str(cols, schemas.SrcSourceID, i),
				str(cols, schemas.SrcPersonID, i), nil, nil); err != nil {
				return err
			}
			d.Added++
			continue
		}
		if has(d.matched, pos) {
			return errors.New("the partition holds a record (source, source_id) twice")
		}
		set(d.matched, pos)
		d.nMatch++
		hashRow(cols, i, &h)
		if rowHash(&h) == d.prev[pos].row {
			continue
		}
		set(d.changed, pos)
		if err := d.keep(pos, &h, str(cols, schemas.SrcPersonID, i)); err != nil {
			return err
		}
	}
	return nil
}

// allAdded reports whether the rows of added records can share the
// current batch's source, source_id and person_id arrays (no copy): they
// are of the types end_user_changes has.
func (d *Diff) allAdded(cols [nCols]arrow.Array) bool {
	for _, c := range []int{schemas.SrcSource, schemas.SrcSourceID, schemas.SrcPersonID} {
		if cols[c] == nil || !arrow.TypeEqual(cols[c].DataType(), arrow.BinaryTypes.String) {
			return false
		}
	}
	return true
}

// addedRows is the end_user_changes of rows i to j (at most batchRows) of
// the current batch, every one added.
func (d *Diff) addedRows(cols [nCols]arrow.Array, i, j int64) arrow.Record {
	if d.added == nil {
		sb := array.NewStringBuilder(d.mem)
		sb.Reserve(d.batchRows)
		sb.ReserveData(d.batchRows * len(schemas.ChangeAdded))
		for range d.batchRows {
			sb.Append(schemas.ChangeAdded)
		}
		d.added = sb.NewArray()
		sb.Release()
		d.none = array.MakeArrayOfNull(d.mem, arrow.BinaryTypes.String, d.batchRows)
		lb := array.NewListBuilder(d.mem, arrow.BinaryTypes.String)
		lb.Reserve(d.batchRows)
		for range d.batchRows {
			lb.Append(true)
		}
		d.empty = lb.NewArray()
		lb.Release()
	}
	n := j - i
	arrs := []arrow.Array{array.NewSlice(cols[schemas.SrcSource], i, j), array.NewSlice(cols[schemas.SrcSourceID], i, j),
		array.NewSlice(d.added, 0, n), array.NewSlice(cols[schemas.SrcPersonID], i, j), array.NewSlice(d.none, 0, n),
		array.NewSlice(d.empty, 0, n)}
	out := array.NewRecord(schemas.EndUserChanges, arrs, n)
	for _, a := range arrs {
		a.Release()
	}
	return out
}

func (d *Diff) releaseConstants() {
	for _, a := range []arrow.Array{d.added, d.none, d.empty} {
		if a != nil {
			a.Release()
		}
	}
	d.added, d.none, d.empty = nil, nil, nil
}

// keep writes a changed record's column hashes and person_id to tmp.
func (d *Diff) keep(pos int, h *[nCols]uint64, personID *string) error {
	if d.tmp == nil {
		f, err := os.CreateTemp("", "etl-changes-*")
		if err != nil {
			return fmt.Errorf("end_user_changes: %w", err)
		}
		d.tmp = f
	}
	b := d.buf[:0]
	for _, v := range h {
		b = binary.LittleEndian.AppendUint64(b, v)
	}
	if personID != nil {
		b = append(b, 1)
		b = append(b, *personID...)
	}
	if _, err := d.tmp.Write(b); err != nil {
		return fmt.Errorf("end_user_changes: %w", err)
	}
	d.buf = b
	d.cands = append(d.cands, cand{pos: pos, off: d.tmpSize, n: len(b)})
	d.tmpSize += int64(len(b))
	return nil
}

// Finish reads the previous partition again (the same rows Previous read)
// for the records removed and the columns of those changed, and emits the
// last rows.
func (d *Diff) Finish(each Rows) error {
	if len(d.cands) > 0 || d.nMatch < len(d.prev) {
		if err := d.second(each); err != nil {
			return err
		}
	}
	return d.flush()
}

func (d *Diff) second(each Rows) error {
	slices.SortFunc(d.cands, func(a, b cand) int { return cmp.Compare(a.pos, b.pos) })
	var h [nCols]uint64
	buf := make([]byte, 0, 256)
	return each(func(rec arrow.Record) error {
		cols, err := lookup(rec)
		if err != nil {
			return err
		}
		for i, pos := range d.lookup(cols, int(rec.NumRows())) {
			if pos < 0 {
				return errors.New("the previous partition changed while this run read it")
			}
			src, sid, pid := str(cols, schemas.SrcSource, i), str(cols, schemas.SrcSourceID, i), str(cols, schemas.SrcPersonID, i)
			switch {
			case !has(d.matched, pos):
				if err := d.add(schemas.ChangeRemoved, src, sid, pid, pid, nil); err != nil {
					return err
				}
				d.Removed++
			case has(d.changed, pos):
				j, _ := slices.BinarySearchFunc(d.cands, pos, func(c cand, pos int) int { return cmp.Compare(c.pos, pos) })
				c := d.cands[j]
				buf = slices.Grow(buf[:0], c.n)[:c.n]
				if _, err := d.tmp.ReadAt(buf, c.off); err != nil {
					return fmt.Errorf("end_user_changes: %w", err)
				}
				hashRow(cols, i, &h)
				var names []string
				for _, col := range sortedColumns {
					if binary.LittleEndian.Uint64(buf[col*8:]) != h[col] {
						names = append(names, columns[col])
					}
				}
				var now *string
				if len(buf) > nCols*8 {
					s := string(buf[nCols*8+1:])
					now = &s
				}
				if err := d.add(schemas.ChangeChanged, src, sid, now, pid, names); err != nil {
					return err
				}
				d.Changed++
			}
		}
		return nil
	})
}

// add appends one end_user_changes row.
func (d *Diff) add(change string, source, sourceID, personID, previous *string, names []string) error {
	if d.out == nil {
		d.out = array.NewRecordBuilder(d.mem, schemas.EndUserChanges)
	}
	appendStr(d.out.Field(0).(*array.StringBuilder), source)
	appendStr(d.out.Field(1).(*array.StringBuilder), sourceID)
	d.out.Field(2).(*array.StringBuilder).Append(change)
	appendStr(d.out.Field(3).(*array.StringBuilder), personID)
	appendStr(d.out.Field(4).(*array.StringBuilder), previous)
	lb := d.out.Field(5).(*array.ListBuilder)
	lb.Append(true)
	for _, n := range names {
		lb.ValueBuilder().(*array.StringBuilder).Append(n)
	}
	d.rows++
	if d.rows >= d.batchRows {
		return d.flush()
	}
	return nil
}

func appendStr(b *array.StringBuilder, s *string) {
	if s == nil {
		b.AppendNull()
		return
	}
	b.Append(*s)
}

func (d *Diff) flush() error {
	if d.rows == 0 {
		return nil
	}
	rec := d.out.NewRecord()
	d.rows = 0
	return d.emit(rec)
}

// Close releases the diff's memory and removes its temporary file.
func (d *Diff) Close() {
	if d.out != nil {
		d.out.Release()
		d.out = nil
	}
	d.releaseConstants()
	if d.tmp != nil {
		d.tmp.Close()
		os.Remove(d.tmp.Name())
		d.tmp = nil
	}
	d.prev, d.cands = nil, nil
}

// lookup finds end_user_sources' columns in rec by name (a previous
// partition's files may order them otherwise); a missing one is nil.
func lookup(rec arrow.Record) ([nCols]arrow.Array, error) {
	var cols [nCols]arrow.Array
	for i, name := range columns {
		if idx := rec.Schema().FieldIndices(name); len(idx) > 0 {
			cols[i] = rec.Column(idx[0])
		}
	}
	for _, c := range []int{schemas.SrcSource, schemas.SrcSourceID} {
		if _, ok := cols[c].(*array.String); !ok {
			return cols, fmt.Errorf("end_user_changes: end_user_sources has no string column %s", columns[c])
		}
	}
	return cols, nil
}

func str(cols [nCols]arrow.Array, c, i int) *string {
	a, ok := cols[c].(*array.String)
	if !ok || a.IsNull(i) {
		return nil
	}
	s := a.Value(i)
	return &s
}

// key hashes a record's (source, source_id), length-prefixed so that no two
// pairs share an encoding.
func key(cols [nCols]arrow.Array, i int) [2]uint64 {
	src := cols[schemas.SrcSource].(*array.String).Value(i)
	sid := cols[schemas.SrcSourceID].(*array.String).Value(i)
	var b [256]byte
	buf := binary.AppendUvarint(b[:0], uint64(len(src)))
	buf = append(append(buf, src...), sid...)
	h := xxh3.Hash128(buf)
	return [2]uint64{h.Hi, h.Lo}
}

// nullHash stands for a null value: 2^-64 likely to equal a value's hash,
// as two different values are.
const nullHash = 0x6e756c6c6e756c6c

// hashRow hashes each column of row i.
func hashRow(cols [nCols]arrow.Array, i int, h *[nCols]uint64) {
	var buf [8]byte
	for c, a := range cols {
		if a == nil || a.IsNull(i) {
			h[c] = nullHash
			continue
		}
		switch a := a.(type) {
		case *array.String:
			h[c] = xxh3.HashString(a.Value(i))
		case *array.Timestamp:
			binary.LittleEndian.PutUint64(buf[:], uint64(micros(a, i)))
			h[c] = xxh3.Hash(buf[:])
		case *array.List:
			h[c] = hashList(a, i)
		default:
			// Types end_user_sources never has: compared by their text.
			h[c] = xxh3.HashString(a.ValueStr(i))
		}
	}
}

// micros is a timestamp in microseconds, whatever unit a file stored.
func micros(a *array.Timestamp, i int) int64 {
	v := int64(a.Value(i))
	switch a.DataType().(*arrow.TimestampType).Unit {
	case arrow.Second:
		return v * 1_000_000
	case arrow.Millisecond:
		return v * 1_000
	case arrow.Nanosecond:
		return v / 1_000
	}
	return v
}

// hashList hashes a list of strings: each item length-prefixed, a null
// item marked apart.
func hashList(a *array.List, i int) uint64 {
	vals, ok := a.ListValues().(*array.String)
	start, end := a.ValueOffsets(i)
	if !ok {
		return xxh3.HashString(a.ValueStr(i))
	}
	var b [512]byte
	buf := b[:0]
	for j := int(start); j < int(end); j++ {
		if vals.IsNull(j) {
			buf = append(buf, 0xff)
			continue
		}
		v := vals.Value(j)
		buf = binary.AppendUvarint(buf, uint64(len(v)))
		buf = append(buf, v...)
	}
	return xxh3.Hash(buf)
}

func rowHash(h *[nCols]uint64) uint64 {
	var b [nCols * 8]byte
	for c, v := range h {
		binary.LittleEndian.PutUint64(b[c*8:], v)
	}
	return xxh3.Hash(b[:])
}
