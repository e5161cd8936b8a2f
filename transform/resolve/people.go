package resolve

import (
	"bytes"
	"fmt"
	"math"
	"slices"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/google/uuid"

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
	src := rec.Column(schemas.SrcSource).(*array.String)
	sid := rec.Column(schemas.SrcSourceID).(*array.String)
	cre := rec.Column(schemas.SrcCreatedAt).(*array.Timestamp)
	cols := fieldArrays(rec)
	for i := 0; i < n; i++ {
		row := first + i
		s, id := src.Value(i), sid.Value(i)
		if res.check[row] != res.rowHash(s, id) {
			return fmt.Errorf("resolve: a batch annotated at another row than it was added at")
		}
		p := res.person[row]
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
					res.contend(k, id, res.ref(row, f, a.Value(i)))
				}
			case res.slot[k] == int32(row):
				res.slot[k] = -(res.ref(row, f, a.Value(i)) + 2)
			}
		}
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
	pb := array.NewStringBuilder(mem)
	defer pb.Release()
	pb.Reserve(n)
	pb.ReserveData(36 * n)
	var text [36]byte
	for i := 0; i < n; i++ {
		row := first + i
		if res.check[row] != res.rowHash(src.Value(i), sid.Value(i)) {
			return nil, fmt.Errorf("resolve: a batch annotated at another row than it was added at")
		}
		pid := res.pid[res.person[row]]
		if pid == (uuid.UUID{}) {
			return nil, fmt.Errorf("resolve: person ids asked before Survive")
		}
		pb.BinaryBuilder.Append(uuidText(&text, pid))
	}
	cols := slices.Clone(rec.Columns())
	pids := pb.NewArray()
	defer pids.Release()
	cols[schemas.SrcPersonID] = pids
	return array.NewRecord(rec.Schema(), cols, rec.NumRows()), nil
}

// Shrink drops everything but what PersonIDs reads (a record's person, a
// person's id, the order check): call it once People is done. At 10
// million records it frees about 800 MB.
func (res *Result) Shrink() {
	r := res.records
	r.ids, r.holders, r.src, r.upd, r.fields, r.idOff, r.idList = nil, nil, nil, nil, nil, nil, nil
	res.flags, res.created, res.updated, res.slot, res.tie, res.ties, res.values, res.prio = nil, nil, nil, nil, nil, nil, nil, nil
	res.srcMask = nil
}

// ref interns a surviving value. The email is already interned by Add, as
// one of the record's ids.
func (res *Result) ref(row, f int, v string) int32 {
	if fieldCols[f].src == schemas.SrcEmail {
		for _, id := range res.idList[res.idOff[row]:res.idOff[row+1]] {
			if res.ids.Kind(id) == kindEmail {
				if k := res.ids.Key(id); string(k[1:]) == v {
					return id
				}
			}
		}
	}
	return res.values.Intern(0, v)
}

// refKey is the value of ref for field f.
func (res *Result) refKey(f int, ref int32) []byte {
	if fieldCols[f].src == schemas.SrcEmail {
		return res.ids.Key(ref)[1:]
	}
	return res.values.Key(ref)[1:]
}

// contend settles a tie on updated_at and source priority: the ascending
// source_id wins, then the smaller value, so the input order never matters.
func (res *Result) contend(k int, sourceID string, ref int32) {
	if cur, ok := res.ties[k]; ok {
		f := k % nFields
		c := strings.Compare(sourceID, cur.sourceID)
		if c > 0 || c == 0 && bytes.Compare(res.refKey(f, ref), res.refKey(f, cur.ref)) >= 0 {
			return
		}
	}
	res.ties[k] = tied{sourceID: strings.Clone(sourceID), ref: ref}
}

// value is the surviving value of field k, or nil.
func (res *Result) value(p int32, f int) []byte {
	k := int(p)*nFields + f
	if res.tie[p]&(1<<f) != 0 {
		return res.refKey(f, res.ties[k].ref)
	}
	if s := res.slot[k]; s < -1 {
		return res.refKey(f, -s-2)
	}
	return nil
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
	order := make([]int32, np)
	for p := range order {
		order[p] = int32(p)
	}
	slices.SortFunc(order, func(a, b int32) int { return bytes.Compare(res.pid[a][:], res.pid[b][:]) })
	// Each person's records, in CSR form.
	off := make([]uint32, np+1)
	for _, p := range res.person {
		off[p+1]++
	}
	for p := range np {
		off[p+1] += off[p]
	}
	recs := make([]int32, len(res.person))
	fill := slices.Clone(off[:np])
	for i, p := range res.person {
		recs[fill[p]] = int32(i)
		fill[p]++
	}
	fill = nil
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
			var sizes []int // the last batch's value bytes by column, to size the next
			for b := w; b < nb; b += workers {
				start := b * batchRows
				var rec arrow.Record
				rec, sizes = res.buildPeople(mem, order[start:min(np, start+batchRows)], off, recs, sizes)
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

// buildPeople builds the batch of persons ps; sizes are a batch's value
// bytes by column, to allocate the builders' buffers once, and it returns
// this batch's.
func (res *Result) buildPeople(mem memory.Allocator, ps []int32, off []uint32, recs []int32, sizes []int) (arrow.Record, []int) {
	b := array.NewRecordBuilder(mem, schemas.EndUsers)
	defer b.Release()
	b.Reserve(len(ps))
	for c, n := range sizes {
		switch f := b.Field(c).(type) {
		case *array.StringBuilder:
			f.ReserveData(n + n/8)
		case *array.ListBuilder:
			f.ValueBuilder().(*array.StringBuilder).ReserveData(n + n/8)
		}
	}
	str := func(col int, v []byte) {
		sb := b.Field(col).(*array.StringBuilder)
		if len(v) == 0 {
			sb.AppendNull()
		} else {
			sb.BinaryBuilder.Append(v)
		}
	}
	list := func(col int, vs [][]byte) {
		lb := b.Field(col).(*array.ListBuilder)
		if len(vs) == 0 {
			lb.AppendNull()
			return
		}
		lb.Append(true)
		vb := lb.ValueBuilder().(*array.StringBuilder)
		for _, v := range vs {
			vb.BinaryBuilder.Append(v)
		}
	}
	ts := func(col int, v, none int64) {
		tb := b.Field(col).(*array.TimestampBuilder)
		if v == none {
			tb.AppendNull()
		} else {
			tb.Append(arrow.Timestamp(v))
		}
	}
	var emails, tags []int32
	var keys [][]byte
	var pid [36]byte
	inPerson := make([]bool, len(res.sources))
	names := make([][]byte, len(res.sources))
	for s, name := range res.sources {
		names[s] = []byte(name)
	}
	for _, p := range ps {
		str(schemas.UsrPersonID, uuidText(&pid, res.pid[p]))
		for f, col := range fieldCols {
			str(col.usr, res.value(p, f))
		}
		emails, tags = emails[:0], tags[:0]
		var ext []byte
		clear(inPerson)
		if res.srcMask != nil {
			for s := range res.sources {
				inPerson[s] = res.srcMask[p]&(1<<s) != 0
			}
		}
		for _, r := range recs[off[p]:off[p+1]] {
			if res.srcMask == nil {
				inPerson[res.src[r]] = true
			}
			for _, id := range res.idList[res.idOff[r]:res.idOff[r+1]] {
				switch res.ids.Kind(id) {
				case kindEmail:
					emails = append(emails, id)
				case kindTag:
					tags = append(tags, id)
				default:
					if res.flags[id] == 0 { // the person's one usable external id
						ext = res.ids.Key(id)[1:]
					}
				}
			}
		}
		keys = sortedKeys(keys[:0], res.ids, emails)
		list(schemas.UsrEmails, keys)
		str(schemas.UsrExternalID, ext)
		keys = sortedKeys(keys[:0], res.ids, tags)
		list(schemas.UsrTags, keys)
		keys = keys[:0]
		for s := range res.sources {
			if inPerson[s] {
				keys = append(keys, names[s])
			}
		}
		slices.SortFunc(keys, bytes.Compare)
		list(schemas.UsrSources, keys)
		b.Field(schemas.UsrRecordCount).(*array.Int64Builder).Append(int64(off[p+1] - off[p]))
		ts(schemas.UsrCreatedAt, res.created[p], math.MaxInt64)
		ts(schemas.UsrUpdatedAt, res.updated[p], noTime)
	}
	rec := b.NewRecord()
	sizes = sizes[:0]
	for _, col := range rec.Columns() {
		n := 0
		switch a := col.(type) {
		case *array.String:
			n = len(a.ValueBytes())
		case *array.List:
			n = len(a.ListValues().(*array.String).ValueBytes())
		}
		sizes = append(sizes, n)
	}
	return rec, sizes
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

// sortedKeys appends the distinct values of ids, sorted: a sorted union.
func sortedKeys(dst [][]byte, t *interner, ids []int32) [][]byte {
	slices.Sort(ids)
	for _, id := range slices.Compact(ids) {
		dst = append(dst, t.Key(id)[1:])
	}
	slices.SortFunc(dst, bytes.Compare)
	return dst
}
