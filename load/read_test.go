package load

import (
	"errors"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

// EachAhead hands every record over in order, stops at fn's first error
// and leaves no record unreleased either way.
func TestEachAhead(t *testing.T) {
	schema := arrow.NewSchema([]arrow.Field{{Name: "n", Type: arrow.PrimitiveTypes.Int64}}, nil)
	for _, failAt := range []int64{-1, 0, 3, 9} {
		mem := memory.NewCheckedAllocator(memory.DefaultAllocator)
		var recs []arrow.Record
		for i := range int64(10) {
			b := array.NewRecordBuilder(mem, schema)
			b.Field(0).(*array.Int64Builder).Append(i)
			recs = append(recs, b.NewRecord())
			b.Release()
		}
		rr, err := array.NewRecordReader(schema, recs)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range recs {
			r.Release()
		}
		boom := errors.New("boom")
		var got []int64
		err = EachAhead(rr, 2, func(rec arrow.Record) error {
			n := rec.Column(0).(*array.Int64).Value(0)
			if n == failAt {
				return boom
			}
			got = append(got, n)
			return nil
		})
		rr.Release()
		want := int64(10)
		if failAt >= 0 {
			want = failAt
			if !errors.Is(err, boom) {
				t.Fatalf("fail at %d: err %v, want boom", failAt, err)
			}
		} else if err != nil {
			t.Fatal(err)
		}
		if int64(len(got)) != want {
			t.Fatalf("fail at %d: %d records handed over, want %d", failAt, len(got), want)
		}
		for i, n := range got {
			if n != int64(i) {
				t.Fatalf("fail at %d: record %d is %d", failAt, i, n)
			}
		}
		mem.AssertSize(t, 0)
	}
}
