package changes

import (
	"fmt"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

// BenchmarkDiff compares two partitions of 1M records (a tenth changed),
// already in memory: the diff's own cost, without reading Parquet.
func BenchmarkDiff(b *testing.B) {
	const n, batch = 1_000_000, 8192
	mem := memory.NewGoAllocator()
	gen := func(changed bool) []arrow.Record {
		var out []arrow.Record
		for from := 0; from < n; from += batch {
			var rs []rec
			for i := from; i < min(n, from+batch); i++ {
				r := rec{source: "planhat", id: fmt.Sprintf("%024x", i*7919), person: ptr(fmt.Sprintf("p-%d", i/2)),
					email: ptr(fmt.Sprintf("user%d@example.com", i)), emails: []string{fmt.Sprintf("user%d@example.com", i)},
					created: ptr(int64(i)), attrs: ptr(`{"plan":"pro"}`)}
				if changed && i%10 == 0 {
					r.attrs = ptr(`{"plan":"team"}`)
				}
				rs = append(rs, r)
			}
			out = append(out, mkBatch(mem, rs))
		}
		return out
	}
	prev, cur := gen(false), gen(true)
	b.ResetTimer()
	for b.Loop() {
		d := New(mem, 8192, func(r arrow.Record) error { r.Release(); return nil })
		if err := d.Previous(n, rows(prev)); err != nil {
			b.Fatal(err)
		}
		for _, r := range cur {
			if err := d.Current(r); err != nil {
				b.Fatal(err)
			}
		}
		if err := d.Finish(rows(prev)); err != nil {
			b.Fatal(err)
		}
		d.Close()
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/n, "ns/record")
}
