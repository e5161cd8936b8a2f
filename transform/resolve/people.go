package resolve

import (
	"fmt"
	"slices"
	"sort"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"etl/schemas"
)

// Survivorship fields, in end_users order.
var fieldCols = []struct{ src, usr int }{
	{schemas.SrcEmail, schemas.UsrEmail},
	{schemas.SrcFirstName, schemas.UsrFirstName},
	{schemas.SrcLastName, schemas.UsrLastName},
	{schemas.SrcName, schemas.UsrName},
	{schemas.SrcPhone, schemas.UsrPhone},
	{schemas.SrcCompanyName, schemas.UsrCompanyName},
}

type candidate struct {
	value    string
	updated  int64
	dated    bool
	prio     int
	sourceID string
}

// beats reports whether c wins over o: latest updated_at (undated last), then
// source priority, then ascending source_id.
func (c *candidate) beats(o *candidate) bool {
	if c.dated != o.dated {
		return c.dated
	}
	if c.dated && c.updated != o.updated {
		return c.updated > o.updated
	}
	if c.prio != o.prio {
		return c.prio < o.prio
	}
	return c.sourceID < o.sourceID
}

type person struct {
	pid       string
	ext       string
	sources   []string
	count     int64
	created   int64
	updated   int64
	hasC      bool
	hasU      bool
	emails    []string
	tags      []string
	fields    [6]candidate
	fieldsSet [6]bool
}

// Annotate returns rec (the next batch, in Add order) with person_id filled,
// and gathers each person's values for People. The caller releases both.
func (res *Result) Annotate(mem memory.Allocator, rec arrow.Record) (arrow.Record, error) {
	n := int(rec.NumRows())
	if res.next+n > len(res.recs) {
		return nil, fmt.Errorf("resolve: annotating more rows than were added")
	}
	pb := array.NewStringBuilder(mem)
	defer pb.Release()
	pb.Reserve(n)
	src := rec.Column(schemas.SrcSource).(*array.String)
	sid := rec.Column(schemas.SrcSourceID).(*array.String)
	upd := rec.Column(schemas.SrcUpdatedAt).(*array.Timestamp)
	cre := rec.Column(schemas.SrcCreatedAt).(*array.Timestamp)
	emails := rec.Column(schemas.SrcEmails).(*array.List)
	tags := rec.Column(schemas.SrcTags).(*array.List)
	for i := 0; i < n; i++ {
		row := res.next + i
		if sid.Value(i) != res.recs[row].sourceID {
			return nil, fmt.Errorf("resolve: batches annotated out of order")
		}
		root := find(res.parent, int32(row))
		pid := res.pid[root]
		pb.Append(pid)
		p := res.people[root]
		if p == nil {
			p = &person{pid: pid}
			res.people[root] = p
		}
		p.count++
		s := src.Value(i)
		if !slices.Contains(p.sources, s) {
			p.sources = append(p.sources, s)
		}
		if x := res.recs[row].extID; x != "" && p.ext == "" && res.isPersonExt(root, x) {
			p.ext = x
		}
		if cre.IsValid(i) && (!p.hasC || int64(cre.Value(i)) < p.created) {
			p.created, p.hasC = int64(cre.Value(i)), true
		}
		c := candidate{prio: res.priority(s), sourceID: sid.Value(i)}
		if upd.IsValid(i) {
			c.updated, c.dated = int64(upd.Value(i)), true
			if !p.hasU || c.updated > p.updated {
				p.updated, p.hasU = c.updated, true
			}
		}
		for f, col := range fieldCols {
			a := rec.Column(col.src).(*array.String)
			if a.IsNull(i) || a.Value(i) == "" {
				continue
			}
			c.value = a.Value(i)
			if !p.fieldsSet[f] || c.beats(&p.fields[f]) {
				p.fields[f], p.fieldsSet[f] = c, true
				p.fields[f].value = string([]byte(c.value)) // own the bytes: rec is released
			}
		}
		p.emails = appendList(p.emails, emails, i)
		p.tags = appendList(p.tags, tags, i)
	}
	res.next += n
	cols := make([]arrow.Array, rec.NumCols())
	copy(cols, rec.Columns())
	pids := pb.NewArray()
	defer pids.Release()
	cols[schemas.SrcPersonID] = pids
	return array.NewRecord(rec.Schema(), cols, rec.NumRows()), nil
}

// isPersonExt: the component's usable external id (blocked ones are not).
func (res *Result) isPersonExt(root int32, x string) bool {
	return res.extOf(root) == x
}

func appendList(dst []string, l *array.List, i int) []string {
	if l.IsNull(i) {
		return dst
	}
	a, b := l.ValueOffsets(i)
	vals := l.ListValues().(*array.String)
	for j := a; j < b; j++ {
		v := vals.Value(int(j))
		if !slices.Contains(dst, v) {
			dst = append(dst, string([]byte(v)))
		}
	}
	return dst
}

// People returns end_users as record batches of at most batchRows rows,
// sorted by person_id. Call it after every batch was annotated.
func (res *Result) People(mem memory.Allocator, batchRows int) ([]arrow.Record, error) {
	if res.next != len(res.recs) {
		return nil, fmt.Errorf("resolve: %d of %d rows annotated", res.next, len(res.recs))
	}
	ps := make([]*person, 0, len(res.people))
	for _, p := range res.people {
		ps = append(ps, p)
	}
	sort.Slice(ps, func(i, j int) bool { return ps[i].pid < ps[j].pid })
	var out []arrow.Record
	for start := 0; start < len(ps); start += batchRows {
		out = append(out, buildPeople(mem, ps[start:min(len(ps), start+batchRows)]))
	}
	return out, nil
}

func buildPeople(mem memory.Allocator, ps []*person) arrow.Record {
	b := array.NewRecordBuilder(mem, schemas.EndUsers)
	defer b.Release()
	str := func(col int, v string) {
		sb := b.Field(col).(*array.StringBuilder)
		if v == "" {
			sb.AppendNull()
		} else {
			sb.Append(v)
		}
	}
	list := func(col int, vs []string) {
		lb := b.Field(col).(*array.ListBuilder)
		if len(vs) == 0 {
			lb.AppendNull()
			return
		}
		slices.Sort(vs)
		lb.Append(true)
		for _, v := range vs {
			lb.ValueBuilder().(*array.StringBuilder).Append(v)
		}
	}
	ts := func(col int, v int64, ok bool) {
		tb := b.Field(col).(*array.TimestampBuilder)
		if ok {
			tb.Append(arrow.Timestamp(v))
		} else {
			tb.AppendNull()
		}
	}
	for _, p := range ps {
		str(schemas.UsrPersonID, p.pid)
		for f, col := range fieldCols {
			if !p.fieldsSet[f] {
				str(col.usr, "")
			} else {
				str(col.usr, p.fields[f].value)
			}
		}
		list(schemas.UsrEmails, p.emails)
		str(schemas.UsrExternalID, p.ext)
		list(schemas.UsrTags, p.tags)
		list(schemas.UsrSources, p.sources)
		b.Field(schemas.UsrRecordCount).(*array.Int64Builder).Append(p.count)
		ts(schemas.UsrCreatedAt, p.created, p.hasC)
		ts(schemas.UsrUpdatedAt, p.updated, p.hasU)
	}
	return b.NewRecord()
}
