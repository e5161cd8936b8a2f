package extract

import (
	"fmt"
	"hash/maphash"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"etl/schemas"
)

func TestWriterDuplicates(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.DefaultAllocator)
	defer mem.AssertSize(t, 0)
	var rows int64
	var rejects []schemas.Reject
	w := NewWriter("planhat", mem, 2, func(rec arrow.Record) error {
		rows += rec.NumRows()
		rec.Release()
		return nil
	}, func(r schemas.Reject) error { rejects = append(rejects, r); return nil })
	a := Row{SourceID: "1", Email: "a@x.io", Attributes: []byte(`{"k":1}`)}
	same := a
	changed := a
	changed.Attributes = []byte(`{"k":2}`)
	for _, r := range []Row{a, {SourceID: "2"}, same, changed, {SourceID: "3"}} {
		if err := w.Append(&r); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if rows != 3 || w.Stats.Extracted != 3 || w.Stats.Duplicates != 2 || w.Stats.Rejected != 1 {
		t.Fatalf("rows %d, stats %+v", rows, w.Stats)
	}
	if len(rejects) != 1 || rejects[0].SourceID != "1" || rejects[0].Stage != schemas.StageExtract {
		t.Fatalf("rejects %+v", rejects)
	}
}

// TestContentHashSeesEveryColumn: a duplicate that differs from the row
// kept in any one column, or only in where one value ends and the next
// begins, is told apart from an exact repeat.
func TestContentHashSeesEveryColumn(t *testing.T) {
	base := Row{SourceID: "1", Email: "a@x.io", ExternalID: "e", FirstName: "Ann", LastName: "Lee", Name: "Ann Lee",
		Phone: "+15550100", CompanyID: "c", CompanyName: "Co", Emails: []string{"a@x.io", "b@x.io"}, Tags: []string{"t"},
		CreatedAt: time.Unix(1, 0), UpdatedAt: time.Unix(2, 0)}
	attrs := []byte(`{"k":1}`)
	variants := map[string]func(r *Row, a *[]byte){
		"email": func(r *Row, _ *[]byte) { r.Email = "c@x.io" }, "external_id": func(r *Row, _ *[]byte) { r.ExternalID = "f" },
		"first_name": func(r *Row, _ *[]byte) { r.FirstName = "Bo" }, "last_name": func(r *Row, _ *[]byte) { r.LastName = "Li" },
		"name": func(r *Row, _ *[]byte) { r.Name = "Bo" }, "phone": func(r *Row, _ *[]byte) { r.Phone = "+15550101" },
		"company_id": func(r *Row, _ *[]byte) { r.CompanyID = "d" }, "company_name": func(r *Row, _ *[]byte) { r.CompanyName = "Do" },
		"attributes": func(_ *Row, a *[]byte) { *a = []byte(`{"k":2}`) },
		"emails":     func(r *Row, _ *[]byte) { r.Emails = []string{"a@x.io"} },
		"tags":       func(r *Row, _ *[]byte) { r.Tags = nil }, "tags moved to emails": func(r *Row, _ *[]byte) { r.Emails, r.Tags = append(r.Emails, "t"), nil },
		"created_at": func(r *Row, _ *[]byte) { r.CreatedAt = time.Unix(3, 0) }, "updated_at": func(r *Row, _ *[]byte) { r.UpdatedAt = time.Time{} },
		"first and last run together": func(r *Row, _ *[]byte) { r.FirstName, r.LastName = "AnnL", "ee" },
		"list items run together":     func(r *Row, _ *[]byte) { r.Emails = []string{"a@x.iob@x.io"} },
	}
	var seed = maphash.MakeSeed()
	want, _ := contentHash(seed, nil, &base, attrs)
	if again, _ := contentHash(seed, make([]byte, 3, 9), &base, attrs); again != want {
		t.Fatal("the same row hashed twice differs")
	}
	for name, change := range variants {
		r, a := base, attrs
		r.Emails, r.Tags = slices.Clone(base.Emails), slices.Clone(base.Tags)
		change(&r, &a)
		if got, _ := contentHash(seed, nil, &r, a); got == want {
			t.Errorf("%s: changed, but hashed as the row kept", name)
		}
	}
}

// BenchmarkWriterAppend: 250k rows with distinct ids, as a file source's,
// through de-duplication into batches
// (`go test -run '^$' -bench WriterAppend ./extract/`).
func BenchmarkWriterAppend(b *testing.B) {
	rows := make([]Row, 1000)
	t0 := time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)
	for i := range rows {
		rows[i] = Row{Email: fmt.Sprintf("grace.wilson.%d@gringotts.example", i),
			FirstName: "Grace", LastName: "Wilson", Name: "Grace Wilson", CompanyID: "c-017", CompanyName: "Gringotts",
			ExternalID: fmt.Sprintf("u-%08d", i), Phone: "+4520100000", Tags: []string{"beta", "vip"},
			CreatedAt: t0, UpdatedAt: t0, Attributes: []byte(`{"Days in Phase":0,"Plan Tier":"free"}`)}
	}
	var id []byte
	b.ReportAllocs()
	for b.Loop() {
		w := NewWriter("planhat", memory.DefaultAllocator, 0, func(rec arrow.Record) error {
			rec.Release()
			return nil
		}, func(schemas.Reject) error { return nil })
		w.Expect(250_000)
		var r Row
		for i := range 250_000 {
			r = rows[i%len(rows)]
			id = strconv.AppendInt(id[:0], 65e14+int64(i), 10)
			r.SourceID = string(id)
			if err := w.Append(&r); err != nil {
				b.Fatal(err)
			}
		}
		if err := w.Close(); err != nil {
			b.Fatal(err)
		}
	}
}

// OnExpect hears only of records beyond those it heard of before, counted
// from the records already extracted when the estimate fell short.
func TestExpectTellsOnlyMore(t *testing.T) {
	w := NewWriter("x", memory.NewGoAllocator(), 0, func(r arrow.Record) error { r.Release(); return nil }, nil)
	var heard []int64
	w.OnExpect = func(more int64) { heard = append(heard, more) }
	add := func(n int) {
		for range n {
			r := Row{SourceID: strconv.Itoa(int(w.Stats.Extracted))}
			if err := w.Append(&r); err != nil {
				t.Fatal(err)
			}
		}
	}
	w.Expect(100) // 100
	w.Expect(100) // the same again: nothing more
	add(10)
	w.Expect(95) // up to 105: 5 more
	add(15)
	w.Expect(10) // 25 extracted, past the 105? no: up to 35, nothing more
	add(100)
	w.Expect(10) // 125 extracted, past 105: up to 135, 10 more
	w.Expect(0)
	w.Expect(-5)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if want := []int64{100, 5, 10}; !slices.Equal(heard, want) {
		t.Fatalf("heard %v, want %v", heard, want)
	}
}
