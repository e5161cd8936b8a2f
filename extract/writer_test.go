package extract

import (
	"testing"

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
