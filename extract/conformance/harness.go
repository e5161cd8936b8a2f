package conformance

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"etl/extract"
	"etl/internal/emulator/emu"
	"etl/internal/vendorhttp"
	"etl/schemas"
)

// defaults keep retries short, so fault cases take milliseconds, and the
// timeout patient, so a busy test machine never turns a normal answer into a
// timeout; the cases that test either tighten it.
func defaults(pageSize int) Options {
	return Options{PageSize: pageSize, Timeout: 10 * time.Second,
		Retry: vendorhttp.Retry{Initial: 10 * time.Millisecond, Max: 200 * time.Millisecond, MaxElapsed: 30 * time.Second}}
}

// start calls the adapter and checks that it served what was asked.
func start(t *testing.T, tg Target, n int, opts Options) Fixture {
	t.Helper()
	fx := tg.Start(t, n, opts)
	if fx.Extractor == nil {
		t.Fatal("adapter returned no extractor")
	}
	if got := fx.Extractor.Source(); got != tg.Name {
		t.Fatalf("extractor's Source() is %q, want %q", got, tg.Name)
	}
	ids := slices.Compact(slices.Sorted(slices.Values(fx.IDs)))
	if len(ids) != n || len(fx.IDs) != n {
		t.Fatalf("adapter returned %d ids (%d distinct) for %d records", len(fx.IDs), len(ids), n)
	}
	if len(fx.BadIDs) != opts.Bad {
		t.Fatalf("adapter returned %d bad ids for %d bad records", len(fx.BadIDs), opts.Bad)
	}
	// Only the pacing case meets the vendor's limits; elsewhere a 429 would
	// come from the case's own script.
	if fx.Server != nil && !opts.Paced {
		fx.Server.Enforce(false)
	}
	return fx
}

// server is the fixture's fault injector, which every HTTP case needs.
func server(t *testing.T, fx Fixture) *emu.Server {
	t.Helper()
	if fx.Server == nil {
		t.Fatal("adapter returned no emulator: a connector without an HTTP API must declare the HTTP group not applicable")
	}
	return fx.Server
}

// caseContext bounds a case, so that a connector that hangs fails it rather
// than the whole test binary.
func caseContext(t *testing.T) (context.Context, context.CancelFunc) {
	return context.WithTimeout(t.Context(), time.Minute)
}

// outcome is what one extraction wrote.
type outcome struct {
	seen    map[string]int // source_id → rows written
	batches int
	rejects []schemas.Reject
	stats   extract.Stats
	err     error
	// lastPage is what the last Page callback (the progress bars') reported.
	lastPage struct{ pages, records int64 }
}

// extractAll runs the extractor into a Writer whose sink counts the
// source_ids of each batch and releases it; afterBatch, if set, runs after
// each batch. The allocator must be empty once the Writer is closed, on
// failure too.
func extractAll(ctx context.Context, t *testing.T, tg Target, fx Fixture, batchRows int, afterBatch func(batch int)) outcome {
	t.Helper()
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	o := outcome{seen: map[string]int{}}
	sink := func(rec arrow.Record) error {
		defer rec.Release()
		src := rec.Column(schemas.SrcSource).(*array.String)
		ids := rec.Column(schemas.SrcSourceID).(*array.String)
		for i := range ids.Len() {
			if src.Value(i) != tg.Name {
				t.Errorf("row %q has source %q, want %q", ids.Value(i), src.Value(i), tg.Name)
			}
			o.seen[ids.Value(i)]++
		}
		o.batches++
		if afterBatch != nil {
			afterBatch(o.batches)
		}
		return nil
	}
	rejects := func(r schemas.Reject) error {
		o.rejects = append(o.rejects, r)
		return nil
	}
	w := extract.NewWriter(tg.Name, mem, batchRows, sink, rejects)
	w.OnPage = func(pages, records, _ int64) { o.lastPage.pages, o.lastPage.records = pages, records }
	o.err = fx.Extractor.Extract(ctx, w)
	if err := w.Close(); o.err == nil {
		o.err = err
	}
	o.stats = w.Stats
	return o
}

// mustSucceed runs a complete extraction of records served once each and
// checks that it wrote want, each exactly once, and counted them. Meeting a
// record twice there, retried pages included, means the paging overlaps.
func mustSucceed(t *testing.T, tg Target, fx Fixture, batchRows int, want []string) outcome {
	t.Helper()
	ctx, cancel := caseContext(t)
	defer cancel()
	o := extractAll(ctx, t, tg, fx, batchRows, nil)
	if o.err != nil {
		t.Fatalf("Extract: %v", o.err)
	}
	exactlyOnce(t, o, want)
	if o.stats.Duplicates != 0 {
		t.Errorf("Stats.Duplicates = %d, want 0", o.stats.Duplicates)
	}
	return o
}

// exactlyOnce checks that the extraction wrote every id of want once and
// nothing else, and that Stats.Extracted agrees.
func exactlyOnce(t *testing.T, o outcome, want []string) {
	t.Helper()
	var problems []string
	wanted := make(map[string]bool, len(want))
	for _, id := range want {
		wanted[id] = true
		if n := o.seen[id]; n != 1 {
			problems = append(problems, fmt.Sprintf("source_id %q written %d times, want once", id, n))
		}
	}
	for id, n := range o.seen {
		if !wanted[id] {
			problems = append(problems, fmt.Sprintf("unexpected source_id %q written %d times", id, n))
		}
	}
	slices.Sort(problems)
	if len(problems) > 10 {
		problems = append(problems[:10], fmt.Sprintf("… and %d more", len(problems)-10))
	}
	for _, p := range problems {
		t.Error(p)
	}
	if o.stats.Extracted != int64(len(want)) {
		t.Errorf("Stats.Extracted = %d, want %d", o.stats.Extracted, len(want))
	}
	// A page is reported once its records are counted: the progress shown
	// after the last page is the final count.
	if o.lastPage.pages != o.stats.Pages || o.lastPage.records != o.stats.Extracted {
		t.Errorf("the last page reported %d pages and %d records; the extraction counted %d and %d",
			o.lastPage.pages, o.lastPage.records, o.stats.Pages, o.stats.Extracted)
	}
}
