package load

import (
	"context"
	"fmt"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"etl/internal/store"
	"etl/schemas"
)

// A table of several row groups is written by two lanes into parts of at
// most partRows (whole row groups), named in order; every row is read back
// once, in order within its part, and no buffer is left.
func TestTableWriterLanes(t *testing.T) {
	ctx := context.Background()
	s, err := store.Open(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	mem := memory.NewCheckedAllocator(memory.DefaultAllocator)
	defer mem.AssertSize(t, 0)
	w := newTableWriter(ctx, s, schemas.Rejects, "rejects/dt=2026-02-03/", "run")
	w.partRows = 2 * DefaultRowGroupRows
	w.SetLanes(2)
	const total = 5*DefaultRowGroupRows + 1000
	for next := 0; next < total; {
		n := min(total-next, 7000) // batches straddle row groups
		b := array.NewRecordBuilder(mem, schemas.Rejects)
		for i := range n {
			b.Field(0).(*array.StringBuilder).Append("extract")
			b.Field(1).(*array.StringBuilder).Append("planhat")
			b.Field(2).(*array.StringBuilder).Append(fmt.Sprint(next + i))
			b.Field(3).(*array.StringBuilder).Append("why")
			b.Field(4).(*array.StringBuilder).AppendNull()
		}
		rec := b.NewRecord()
		b.Release()
		err := w.Write(rec)
		rec.Release()
		if err != nil {
			t.Fatal(err)
		}
		next += n
	}
	parts, err := w.Close()
	if err != nil {
		t.Fatal(err)
	}
	// Row groups 0-5 go to the lane free first: parts of at most two row
	// groups, whole ones but for the last group's, named in order.
	if len(parts) < 3 || len(parts) > 4 {
		t.Fatalf("%d parts, want 3 or 4: %+v", len(parts), parts)
	}
	seen := make([]bool, total)
	var rows int64
	for i, pt := range parts {
		rows += pt.Rows
		if want := fmt.Sprintf("rejects/dt=2026-02-03/part-run-%05d.parquet", i); pt.Key != want || pt.Rows > w.partRows ||
			pt.Rows%DefaultRowGroupRows != 0 && pt.Rows%DefaultRowGroupRows != 1000 {
			t.Fatalf("part %d is %s with %d rows, want %s with whole row groups, at most %d rows", i, pt.Key, pt.Rows, want, w.partRows)
		}
		last := -1
		err := ReadParts(ctx, s, []string{pt.Key}, mem, func(rec arrow.Record) error {
			ids := rec.Column(2).(*array.String)
			for j := range ids.Len() {
				var id int
				fmt.Sscan(ids.Value(j), &id)
				if seen[id] || id <= last {
					return fmt.Errorf("row %s again or out of order in %s", ids.Value(j), pt.Key)
				}
				seen[id], last = true, id
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	if rows != total {
		t.Fatalf("%d rows in the parts, want %d", rows, total)
	}
	for id, ok := range seen {
		if !ok {
			t.Fatalf("row %d was not written", id)
		}
	}
}
