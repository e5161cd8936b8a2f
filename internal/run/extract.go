package run

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"golang.org/x/sync/errgroup"

	"etl/extract"
	"etl/transform/normalise"
)

// extractAll extracts every source at once, each within its own pacer, into
// the staging area. A source already staged for the date is skipped unless
// force. One source failing for good fails the run, naming it. With hold,
// the extracts are returned unpublished (the staging there stays as it was
// until their publish), and a failure discards them all. tbls, when not
// nil, gives the progress bars their estimates. With h (--stage all), every
// batch is also handed to h as it is staged.
func extractAll(ctx context.Context, srcs []source, st *staging, opt Options, sum *Summary, force, hold bool, tbls tables, h *hand) ([]*stageWriter, error) {
	var mu sync.Mutex
	var held []*stageWriter
	var from string
	var counts map[string]int64
	if opt.Progress != nil && tbls != nil {
		from, counts = expected(ctx, tbls, st)
	}
	g, gctx := errgroup.WithContext(ctx)
	for _, s := range srcs {
		if !force {
			d, err := st.done(ctx, s.name)
			if err != nil {
				return nil, err
			}
			if d != nil {
				sum.Sources[s.name] = d.Stats
				sum.Skipped = append(sum.Skipped, "extract:"+s.name)
				opt.Log.Info("source already extracted for this date; --force extracts it again", "source", s.name, "run_date", opt.RunDate)
				continue
			}
		}
		stats := &SourceStats{}
		mu.Lock()
		sum.Sources[s.name] = stats
		mu.Unlock()
		start := SourceStart{Expected: -1, Pacing: pacing(s.pacer)}
		if n, ok := counts[s.name]; ok {
			start.Expected, start.ExpectedFrom = n, from
		}
		g.Go(func() error {
			w, err := extractOne(gctx, s, st, opt, sum.RunID, stats, start, hold, h)
			if opt.Progress != nil {
				opt.Progress.SourceDone(s.name, stats, err)
			}
			if err != nil {
				opt.Log.Error("source failed", "source", s.name, "error", err.Error())
				return fmt.Errorf("source %s failed: %w", s.name, err)
			}
			mu.Lock()
			sum.Normalise.Add(stats.Normalise)
			if w != nil {
				held = append(held, w)
			}
			mu.Unlock()
			opt.Log.Info("source extracted", "source", s.name, "extracted", stats.Extracted, "pages", stats.Pages,
				"requests", stats.Requests, "retries", stats.Retries, "throttled", stats.Throttled, "seconds", stats.Seconds)
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		cctx, cancel := cleanupContext(ctx)
		defer cancel()
		for _, w := range held {
			w.abort(cctx)
		}
		return nil, err
	}
	// In the pipeline's order, as resolve reads them.
	slices.SortFunc(held, func(a, b *stageWriter) int {
		return slices.IndexFunc(srcs, func(s source) bool { return s.name == a.source }) -
			slices.IndexFunc(srcs, func(s source) bool { return s.name == b.source })
	})
	return held, nil
}

// extractOne runs one source's extractor, normalising each batch into
// staging; with hold it returns the staging unpublished.
func extractOne(ctx context.Context, s source, st *staging, opt Options, runID string, stats *SourceStats, start SourceStart, hold bool, h *hand) (*stageWriter, error) {
	t0 := time.Now()
	sw, err := st.begin(ctx, s.name, runID, hold)
	if err != nil {
		return nil, err
	}
	if opt.Progress != nil {
		opt.Progress.SourceStarted(s.name, start)
	}
	sink := func(rec arrow.Record) error {
		defer rec.Release()
		stats.Normalised += rec.NumRows()
		if err := sw.write(rec); err != nil {
			return err
		}
		if h != nil {
			h.add(s.name, rec)
		}
		return nil
	}
	w := extract.NewWriter(s.name, opt.Mem, opt.BatchRows, sink, sw.reject)
	// Rows are normalised as they are decoded: each batch is built once.
	norm := normalise.New(s.normalise)
	w.Normalise(norm.Row)
	if opt.Progress != nil {
		w.OnPage = func(pages, records, total int64) { opt.Progress.Page(s.name, pages, records, total) }
	}
	if h != nil {
		w.OnExpect = h.expect
	}
	err = s.extractor.Extract(ctx, w)
	if cerr := w.Close(); err == nil {
		err = cerr
	}
	stats.Stats = w.Stats
	stats.Normalise = norm.Stats
	stats.Seconds = time.Since(t0).Seconds()
	if err != nil {
		cctx, cancel := cleanupContext(ctx)
		defer cancel()
		sw.abort(cctx)
		return nil, err
	}
	if err := sw.finish(ctx, stats); err != nil {
		return nil, err
	}
	if hold {
		return sw, nil
	}
	return nil, sw.publish(ctx)
}
