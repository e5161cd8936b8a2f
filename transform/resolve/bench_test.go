package resolve

import (
	"flag"
	"fmt"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"etl/schemas"
)

var benchRecords = flag.Int("records", 1_000_000, "records BenchmarkResolve generates (e.g. 10000000)")

// benchBatch generates rows [start, start+n) of a synthetic source: about
// two records per person across four vendors, most with an external id and
// one or two emails. Row i is the same on every call, so the Annotate pass
// can generate the batches again instead of keeping them.
func benchBatch(mem memory.Allocator, start, n int) arrow.Record {
	b := array.NewRecordBuilder(mem, schemas.EndUserSources)
	defer b.Release()
	b.Reserve(n)
	sb := func(c int) *array.StringBuilder { return b.Field(c).(*array.StringBuilder) }
	srcs := []string{"planhat", "dixa", "moesif", "userlot"}
	firsts := []string{"Ada", "Alan", "Grace", "Linus", "Margaret", "Dennis"}
	for i := start; i < start+n; i++ {
		person := i / 2
		sb(schemas.SrcSource).Append(srcs[i%4])
		sb(schemas.SrcSourceID).Append(fmt.Sprintf("%024x", i))
		sb(schemas.SrcPersonID).AppendNull()
		email := fmt.Sprintf("person.%d@company%d.example", person, person%997)
		sb(schemas.SrcEmail).Append(email)
		eb := b.Field(schemas.SrcEmails).(*array.ListBuilder)
		eb.Append(true)
		eb.ValueBuilder().(*array.StringBuilder).Append(email)
		if i%5 == 0 {
			eb.ValueBuilder().(*array.StringBuilder).Append(fmt.Sprintf("p%d@personal.example", person))
		}
		if i%10 < 7 {
			sb(schemas.SrcExternalID).Append(fmt.Sprintf("u-%09d", person))
		} else {
			sb(schemas.SrcExternalID).AppendNull()
		}
		sb(schemas.SrcFirstName).Append(firsts[person%len(firsts)])
		sb(schemas.SrcLastName).Append("Lovelace")
		sb(schemas.SrcName).Append(firsts[person%len(firsts)] + " Lovelace")
		sb(schemas.SrcPhone).Append(fmt.Sprintf("+4520%06d", person%1000000))
		sb(schemas.SrcCompanyID).Append(fmt.Sprintf("c-%d", person%997))
		sb(schemas.SrcCompanyName).Append(fmt.Sprintf("Company %d", person%997))
		tb := b.Field(schemas.SrcTags).(*array.ListBuilder)
		tb.Append(true)
		tb.ValueBuilder().(*array.StringBuilder).Append([]string{"vip", "beta", "trial"}[i%3])
		ts := arrow.Timestamp(1_700_000_000_000_000 + int64(i%1000)*1_000_000)
		b.Field(schemas.SrcCreatedAt).(*array.TimestampBuilder).Append(ts)
		b.Field(schemas.SrcUpdatedAt).(*array.TimestampBuilder).Append(ts)
		sb(schemas.SrcAttributes).AppendNull()
	}
	return b.NewRecord()
}

// heapPeak samples live heap bytes until stopped; the resolver's peak is
// the highest sample minus the heap before it started.
func heapPeak() (stop func() uint64) {
	var peak atomic.Uint64
	done := make(chan struct{})
	sample := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	read := func() {
		metrics.Read(sample)
		if v := sample[0].Value.Uint64(); v > peak.Load() {
			peak.Store(v)
		}
	}
	go func() {
		t := time.NewTicker(2 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				read()
			}
		}
	}()
	return func() uint64 { close(done); read(); return peak.Load() }
}

// cpuTime is the process's user and system CPU time: on a shared machine a
// steadier measure than wall time.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// reportCPU reports the CPU time per op since start.
func reportCPU(b *testing.B, start time.Duration) {
	b.ReportMetric(float64(cpuTime()-start)/float64(b.N), "cpu-ns/op")
}

func liveHeap() uint64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// BenchmarkResolve runs both passes over -records synthetic records and
// reports the resolver's memory per record: what it keeps after Resolve and
// after Annotate, and the sampled peak (batches are generated on the fly and
// released, so this is the resolver's own footprint). The GC runs often, so
// the peak is close to live memory rather than GOGC's headroom for garbage.
func BenchmarkResolve(b *testing.B) {
	n := *benchRecords
	const size = 8192
	mem := memory.NewGoAllocator()
	defer debug.SetGCPercent(debug.SetGCPercent(10))
	for range b.N {
		base := liveHeap()
		stop := heapPeak()
		r := New(Config{SourcePriority: []string{"planhat", "userlot", "dixa", "moesif"}})
		for start := 0; start < n; start += size {
			rec := benchBatch(mem, start, min(size, n-start))
			r.Add(rec)
			rec.Release()
		}
		res := r.Resolve()
		resolved := liveHeap() - base
		for start := 0; start < n; start += size {
			rec := benchBatch(mem, start, min(size, n-start))
			out, err := res.Annotate(mem, rec, start)
			if err != nil {
				b.Fatal(err)
			}
			out.Release()
			rec.Release()
		}
		annotated := liveHeap() - base
		persons := int64(0)
		err := res.People(mem, size, func(p arrow.Record) error {
			persons += p.NumRows()
			p.Release()
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
		peak := stop() - base
		if persons != res.Stats().Persons || persons != int64((n+1)/2) {
			b.Fatalf("%d persons, want %d", persons, (n+1)/2)
		}
		b.ReportMetric(float64(resolved)/float64(n), "resolved-B/record")
		b.ReportMetric(float64(annotated)/float64(n), "annotated-B/record")
		b.ReportMetric(float64(peak)/float64(n), "peak-B/record")
		runtime.KeepAlive(res)
	}
}

// BenchmarkPeople times People alone over -records synthetic records,
// resolved and annotated once beforehand.
func BenchmarkPeople(b *testing.B) {
	n := *benchRecords
	const size = 8192
	mem := memory.NewGoAllocator()
	r := New(Config{SourcePriority: []string{"planhat", "userlot", "dixa", "moesif"}})
	for start := 0; start < n; start += size {
		rec := benchBatch(mem, start, min(size, n-start))
		r.Add(rec)
		rec.Release()
	}
	res := r.Resolve()
	for start := 0; start < n; start += size {
		rec := benchBatch(mem, start, min(size, n-start))
		if err := res.Survive(rec, start); err != nil {
			b.Fatal(err)
		}
		rec.Release()
	}
	b.ResetTimer()
	defer reportCPU(b, cpuTime())
	for b.Loop() {
		err := res.People(mem, size, func(p arrow.Record) error {
			p.Release()
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
	}
}

// benchBatches generates -records synthetic records once, in batches of
// 8192, released when b ends.
func benchBatches(b *testing.B) []arrow.Record {
	n := *benchRecords
	const size = 8192
	mem := memory.NewGoAllocator()
	var recs []arrow.Record
	for start := 0; start < n; start += size {
		recs = append(recs, benchBatch(mem, start, min(size, n-start)))
	}
	b.Cleanup(func() {
		for _, rec := range recs {
			rec.Release()
		}
	})
	return recs
}

// BenchmarkAdd times Add alone (pass 1) over -records synthetic records,
// generated once beforehand.
func BenchmarkAdd(b *testing.B) {
	recs := benchBatches(b)
	b.ResetTimer()
	defer reportCPU(b, cpuTime())
	for b.Loop() {
		r := New(Config{})
		for _, rec := range recs {
			r.Add(rec)
		}
	}
}

// BenchmarkSurvive times Survive alone (survivorship over every batch) over
// -records synthetic records, generated, added and resolved beforehand.
func BenchmarkSurvive(b *testing.B) {
	recs := benchBatches(b)
	var cpu time.Duration
	for range b.N {
		b.StopTimer()
		r := New(Config{})
		firsts := make([]int, len(recs))
		for i, rec := range recs {
			firsts[i] = r.Add(rec)
		}
		res := r.Resolve()
		b.StartTimer()
		start := cpuTime()
		for i, rec := range recs {
			if err := res.Survive(rec, firsts[i]); err != nil {
				b.Fatal(err)
			}
		}
		cpu += cpuTime() - start
	}
	b.ReportMetric(float64(cpu)/float64(b.N), "cpu-ns/op")
}
