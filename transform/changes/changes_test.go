package changes

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"etl/schemas"
)

// rec is one end_user_sources row; nil means null.
type rec struct {
	source, id string
	person     *string
	email      *string
	emails     []string // nil: null
	created    *int64
	attrs      *string
}

func ptr[T any](v T) *T { return &v }

func mkBatch(mem memory.Allocator, rows []rec) arrow.Record {
	b := array.NewRecordBuilder(mem, schemas.EndUserSources)
	defer b.Release()
	for _, r := range rows {
		for c := range schemas.EndUserSources.NumFields() {
			f := b.Field(c)
			switch c {
			case schemas.SrcSource:
				f.(*array.StringBuilder).Append(r.source)
			case schemas.SrcSourceID:
				f.(*array.StringBuilder).Append(r.id)
			case schemas.SrcPersonID:
				appendStr(f.(*array.StringBuilder), r.person)
			case schemas.SrcEmail:
				appendStr(f.(*array.StringBuilder), r.email)
			case schemas.SrcAttributes:
				appendStr(f.(*array.StringBuilder), r.attrs)
			case schemas.SrcEmails:
				lb := f.(*array.ListBuilder)
				if r.emails == nil {
					lb.AppendNull()
					continue
				}
				lb.Append(true)
				for _, e := range r.emails {
					lb.ValueBuilder().(*array.StringBuilder).Append(e)
				}
			case schemas.SrcCreatedAt:
				if r.created == nil {
					f.AppendNull()
				} else {
					f.(*array.TimestampBuilder).Append(arrow.Timestamp(*r.created))
				}
			default:
				f.AppendNull()
			}
		}
	}
	return b.NewRecord()
}

func rows(recs []arrow.Record) Rows {
	return func(fn func(arrow.Record) error) error {
		for _, r := range recs {
			if err := fn(r); err != nil {
				return err
			}
		}
		return nil
	}
}

// naive is the diff as the contract states it, by comparing values.
func naive(prev, cur []rec) []string {
	show := func(p *string) string {
		if p == nil {
			return "null"
		}
		return *p
	}
	vals := func(r rec) map[string]string {
		em := "null"
		if r.emails != nil {
			em = "[" + strings.Join(r.emails, ",") + "]"
		}
		cr := "null"
		if r.created != nil {
			cr = fmt.Sprint(*r.created)
		}
		return map[string]string{"person_id": show(r.person), "email": show(r.email), "emails": em, "created_at": cr, "attributes": show(r.attrs)}
	}
	byKey := map[[2]string]rec{}
	for _, r := range prev {
		byKey[[2]string{r.source, r.id}] = r
	}
	var out []string
	seen := map[[2]string]bool{}
	for _, r := range cur {
		k := [2]string{r.source, r.id}
		seen[k] = true
		p, ok := byKey[k]
		if !ok {
			out = append(out, fmt.Sprintf("added %s/%s %s null []", r.source, r.id, show(r.person)))
			continue
		}
		a, b := vals(p), vals(r)
		var cols []string
		for c := range a {
			if a[c] != b[c] {
				cols = append(cols, c)
			}
		}
		if len(cols) > 0 {
			slices.Sort(cols)
			out = append(out, fmt.Sprintf("changed %s/%s %s %s [%s]", r.source, r.id, show(r.person), show(p.person), strings.Join(cols, ",")))
		}
	}
	for _, r := range prev {
		if !seen[[2]string{r.source, r.id}] {
			out = append(out, fmt.Sprintf("removed %s/%s %s %s []", r.source, r.id, show(r.person), show(r.person)))
		}
	}
	slices.Sort(out)
	return out
}

func collect(t *testing.T, out arrow.Record) []string {
	t.Helper()
	var got []string
	s := func(c, i int) string {
		a := out.Column(c).(*array.String)
		if a.IsNull(i) {
			return "null"
		}
		return a.Value(i)
	}
	cols := out.Column(5).(*array.List)
	vals := cols.ListValues().(*array.String)
	for i := range int(out.NumRows()) {
		start, end := cols.ValueOffsets(i)
		var names []string
		for j := start; j < end; j++ {
			names = append(names, vals.Value(int(j)))
		}
		got = append(got, fmt.Sprintf("%s %s/%s %s %s [%s]", s(2, i), s(0, i), s(1, i), s(3, i), s(4, i), strings.Join(names, ",")))
	}
	return got
}

func diff(t *testing.T, mem memory.Allocator, prev, cur []rec, batchRows int) ([]string, Stats) {
	t.Helper()
	split := func(rs []rec) []arrow.Record {
		var out []arrow.Record
		for len(rs) > 0 {
			n := min(len(rs), 1+rand.IntN(7))
			out = append(out, mkBatch(mem, rs[:n]))
			rs = rs[n:]
		}
		return out
	}
	p, c := split(prev), split(cur)
	defer func() {
		for _, r := range append(p, c...) {
			r.Release()
		}
	}()
	var got []string
	d := New(mem, batchRows, func(out arrow.Record) error {
		defer out.Release()
		if int(out.NumRows()) > batchRows {
			t.Errorf("a batch of %d rows, above %d", out.NumRows(), batchRows)
		}
		got = append(got, collect(t, out)...)
		return nil
	})
	defer d.Close()
	if prev != nil {
		if err := d.Previous(int64(len(prev)), rows(p)); err != nil {
			t.Fatal(err)
		}
	}
	for _, r := range c {
		if err := d.Current(r); err != nil {
			t.Fatal(err)
		}
	}
	if err := d.Finish(rows(p)); err != nil {
		t.Fatal(err)
	}
	slices.Sort(got)
	return got, d.Stats
}

func TestDiff(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	prev := []rec{
		{source: "planhat", id: "1", person: ptr("p1"), email: ptr("a@x.io"), emails: []string{"a@x.io"}, created: ptr(int64(5))},
		{source: "planhat", id: "2", person: ptr("p2"), email: ptr("b@x.io")},
		{source: "dixa", id: "1", person: ptr("p1"), emails: []string{}},
		{source: "dixa", id: "2", person: ptr("p3"), attrs: ptr(`{"a":1}`)},
		{source: "moesif", id: "gone", person: ptr("p4")},
		{source: "userlot", id: "same", person: ptr("p5"), email: ptr("s@x.io"), created: ptr(int64(9))},
		// Keys that a naive concatenation would confuse.
		{source: "ab", id: "c", person: ptr("p6")},
	}
	cur := []rec{
		{source: "planhat", id: "1", person: ptr("p1"), email: ptr("a@x.io"), emails: []string{"a@x.io"}, created: ptr(int64(5))},
		{source: "planhat", id: "2", person: ptr("p7"), email: ptr("b@x.io")},                                   // moved to another person
		{source: "dixa", id: "1", person: ptr("p1"), emails: nil},                                               // empty list → null
		{source: "dixa", id: "2", person: ptr("p3"), attrs: ptr(`{"a":2}`), email: ptr("new@x.io")},             // two fields
		{source: "userlot", id: "same", person: ptr("p5"), email: ptr("s@x.io"), created: ptr(int64(9))},        // unchanged
		{source: "userlot", id: "new", person: ptr("p8")},                                                       // added
		{source: "a", id: "bc", person: ptr("p6")},                                                              // added, not ab/c
		{source: "planhat", id: "3", person: ptr("p1"), emails: []string{"a@x.io", ""}, created: ptr(int64(1))}, // added
	}
	got, st := diff(t, mem, prev, cur, 2)
	want := naive(prev, cur)
	if !slices.Equal(got, want) {
		t.Fatalf("diff:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if st != (Stats{Added: 3, Removed: 2, Changed: 3}) {
		t.Fatalf("stats %+v", st)
	}
	for _, w := range []string{"changed planhat/2 p7 p2 [person_id]", "changed dixa/1 p1 p1 [emails]", "changed dixa/2 p3 p3 [attributes,email]"} {
		if !slices.Contains(got, w) {
			t.Errorf("missing %q", w)
		}
	}

	// No previous partition: every record is added.
	got, st = diff(t, mem, nil, cur, 3)
	if len(got) != len(cur) || st.Added != int64(len(cur)) || !strings.HasPrefix(got[0], "added ") || !strings.HasPrefix(got[len(got)-1], "added ") {
		t.Fatalf("first date: %v %+v", got, st)
	}
	// Nothing changed: no rows, and no second pass needed.
	got, st = diff(t, mem, prev, prev, 3)
	if len(got) != 0 || st != (Stats{}) {
		t.Fatalf("same partition: %v %+v", got, st)
	}
}

// Random partitions against the naive diff.
func TestDiffRandom(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	rng := rand.New(rand.NewPCG(1, 2))
	pick := func(vals ...string) *string {
		v := vals[rng.IntN(len(vals))]
		if v == "" {
			return nil
		}
		return &v
	}
	gen := func(n int) []rec {
		var out []rec
		for i := range n {
			r := rec{source: []string{"planhat", "dixa", "crm"}[rng.IntN(3)], id: fmt.Sprint(i), person: pick("p1", "p2", "p3"),
				email: pick("", "a@x.io", "b@x.io"), attrs: pick("", "{}", `{"k":1}`)}
			if rng.IntN(3) > 0 {
				r.emails = []string{"a@x.io", "b@x.io"}[:rng.IntN(3)]
			}
			if rng.IntN(2) == 0 {
				r.created = ptr(int64(rng.IntN(3)))
			}
			out = append(out, r)
		}
		return out
	}
	for round := range 20 {
		prev := gen(200)
		var cur []rec
		for _, r := range prev {
			switch rng.IntN(4) {
			case 0: // removed
			case 1: // changed (or, by chance, not)
				c := gen(1)[0]
				c.source, c.id = r.source, r.id
				cur = append(cur, c)
			default:
				cur = append(cur, r)
			}
		}
		for _, r := range gen(250)[200:] {
			cur = append(cur, r)
		}
		rng.Shuffle(len(cur), func(i, j int) { cur[i], cur[j] = cur[j], cur[i] })
		got, _ := diff(t, mem, prev, cur, 1+rng.IntN(50))
		if want := naive(prev, cur); !slices.Equal(got, want) {
			t.Fatalf("round %d: %d rows, want %d", round, len(got), len(want))
		}
	}
}
