package resolve

import (
	"encoding/json"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"etl/schemas"
)

// rec is one normalised end_user_sources row. A zero updated or created
// means the vendor has none.
type rec struct {
	src, id, ext, email          string
	emails                       []string
	first, last, name, phone, co string
	tags                         []string
	created, updated             int64
}

func (r rec) key() string { return r.src + ":" + r.id }

func batch(mem memory.Allocator, rs []rec) arrow.Record {
	b := array.NewRecordBuilder(mem, schemas.EndUserSources)
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
		lb.Append(true)
		for _, v := range vs {
			lb.ValueBuilder().(*array.StringBuilder).Append(v)
		}
	}
	ts := func(col int, v int64) {
		tb := b.Field(col).(*array.TimestampBuilder)
		if v == 0 {
			tb.AppendNull()
		} else {
			tb.Append(arrow.Timestamp(v))
		}
	}
	for _, r := range rs {
		str(schemas.SrcSource, r.src)
		str(schemas.SrcSourceID, r.id)
		str(schemas.SrcPersonID, "")
		str(schemas.SrcEmail, r.email)
		// Normalisation puts the primary email into emails too.
		all := slices.Clone(r.emails)
		if r.email != "" {
			all = append(all, r.email)
		}
		slices.Sort(all)
		list(schemas.SrcEmails, slices.Compact(all))
		str(schemas.SrcExternalID, r.ext)
		str(schemas.SrcFirstName, r.first)
		str(schemas.SrcLastName, r.last)
		str(schemas.SrcName, r.name)
		str(schemas.SrcPhone, r.phone)
		str(schemas.SrcCompanyID, "")
		str(schemas.SrcCompanyName, r.co)
		list(schemas.SrcTags, r.tags)
		ts(schemas.SrcCreatedAt, r.created)
		ts(schemas.SrcUpdatedAt, r.updated)
		str(schemas.SrcAttributes, "")
	}
	return b.NewRecord()
}

// outcome is what a run of the resolver produced.
type outcome struct {
	pid   map[string]string // source:source_id → person_id
	users map[string]string // person_id → end_users row as JSON
	stats Stats
}

// resolveAll runs the two passes the way run.Run does, over batches of at
// most size rows, and checks that no Arrow memory leaks.
func resolveAll(t testing.TB, cfg Config, rs []rec, size int) outcome {
	t.Helper()
	return resolveExpecting(t, cfg, rs, size, 0)
}

// resolveExpecting is resolveAll with Expect(expect) called first, and
// Expect(expect/2) halfway through the batches (when expect > 0).
func resolveExpecting(t testing.TB, cfg Config, rs []rec, size, expect int) outcome {
	t.Helper()
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	var batches []arrow.Record
	for start := 0; start < len(rs); start += size {
		batches = append(batches, batch(mem, rs[start:min(len(rs), start+size)]))
	}
	defer func() {
		for _, b := range batches {
			b.Release()
		}
	}()
	r := New(cfg)
	if expect > 0 {
		r.Expect(expect)
	}
	firsts := make([]int, len(batches))
	for i, b := range batches {
		if expect > 0 && i == len(batches)/2 {
			r.Expect(expect / 2) // told again midway, as when a source's estimate comes late
		}
		firsts[i] = r.Add(b)
	}
	res := r.Resolve()
	out := outcome{pid: map[string]string{}, users: map[string]string{}, stats: res.Stats()}
	// Annotated in the other order than added: a run annotates source by
	// source what it added as the sources produced it.
	for i := len(batches) - 1; i >= 0; i-- {
		b := batches[i]
		a, err := res.Annotate(mem, b, firsts[i])
		if err != nil {
			t.Fatal(err)
		}
		src := a.Column(schemas.SrcSource).(*array.String)
		sid := a.Column(schemas.SrcSourceID).(*array.String)
		pid := a.Column(schemas.SrcPersonID).(*array.String)
		for i := 0; i < int(a.NumRows()); i++ {
			out.pid[src.Value(i)+":"+sid.Value(i)] = pid.Value(i)
		}
		a.Release()
	}
	last := ""
	err := res.People(mem, 3, func(p arrow.Record) error {
		defer p.Release()
		for i := 0; i < int(p.NumRows()); i++ {
			row := map[string]any{}
			for c, f := range p.Schema().Fields() {
				row[f.Name] = p.Column(c).GetOneForMarshal(i)
			}
			js, _ := json.Marshal(row)
			id := row["person_id"].(string)
			if id <= last {
				t.Errorf("end_users not sorted by unique person_id: %s after %s", id, last)
			}
			last = id
			out.users[id] = string(js)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if int64(len(out.users)) != out.stats.Persons {
		t.Fatalf("%d end_users rows, stats say %d persons", len(out.users), out.stats.Persons)
	}
	for k, id := range out.pid {
		if _, ok := out.users[id]; !ok {
			t.Fatalf("%s has person_id %s, which has no end_users row", k, id)
		}
	}
	return out
}

// clusters renders the partition as "a:1 a:2 | b:1": keys sorted within a
// person, persons sorted by their first key.
func (o outcome) clusters() string {
	by := map[string][]string{}
	for k, id := range o.pid {
		by[id] = append(by[id], k)
	}
	var groups []string
	for _, ks := range by {
		sort.Strings(ks)
		groups = append(groups, strings.Join(ks, " "))
	}
	sort.Strings(groups)
	return strings.Join(groups, " | ")
}

// user returns the end_users row of the person holding record key.
func (o outcome) user(t *testing.T, key string) map[string]any {
	t.Helper()
	var row map[string]any
	if err := json.Unmarshal([]byte(o.users[o.pid[key]]), &row); err != nil {
		t.Fatalf("no end_users row for %s", key)
	}
	return row
}
