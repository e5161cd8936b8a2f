// Package run executes a pipeline: extract every enabled source concurrently,
// normalise, resolve identities, and load the tables of one run date.
package run

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sort"
	"sync"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"golang.org/x/sync/errgroup"

	"etl/config"
	"etl/extract"
	"etl/load"
	"etl/schemas"
	"etl/transform/normalise"
	"etl/transform/resolve"
)

// Options of one run.
type Options struct {
	RunDate string   // partition date, YYYY-MM-DD
	Only    []string // sources to extract; empty: all
	DryRun  bool
	Log     *slog.Logger
	Mem     memory.Allocator // default: Go's allocator
	// BatchRows bounds record batches (default extract.DefaultBatchRows).
	BatchRows int
}

// Summary is the run's result, printed as the last stdout line.
type Summary struct {
	RunDate   string                     `json:"run_date"`
	Status    string                     `json:"status"`
	Error     string                     `json:"error,omitempty"`
	Output    string                     `json:"output"`
	RunID     string                     `json:"run_id"`
	Seconds   float64                    `json:"seconds"`
	Sources   map[string]*SourceStats    `json:"sources"`
	Tables    map[string]TableStats      `json:"tables"`
	Resolve   *resolve.Stats             `json:"resolve,omitempty"`
	Normalise normalise.Stats            `json:"normalise"`
	Writeback map[string]*WritebackStats `json:"writeback"`
}

// SourceStats are one source's counts.
type SourceStats struct {
	extract.Stats
	Normalised int64   `json:"normalised"`
	Seconds    float64 `json:"seconds"`
}

// TableStats describe one written table.
type TableStats struct {
	Rows  int64  `json:"rows"`
	Parts int    `json:"parts"`
	Bytes int64  `json:"bytes"`
	URI   string `json:"uri"`
}

// Failure statuses.
const (
	StatusSucceeded = "succeeded"
	StatusFailed    = "failed"
)

// Run executes the pipeline. The summary is filled even when it fails.
func Run(ctx context.Context, p *config.Pipeline, opt Options) (*Summary, error) {
	start := time.Now()
	if opt.Mem == nil {
		opt.Mem = memory.DefaultAllocator
	}
	if opt.Log == nil {
		opt.Log = slog.New(slog.DiscardHandler)
	}
	sum := &Summary{RunDate: opt.RunDate, Status: StatusFailed, Output: p.Output.URI, RunID: load.NewRunID(),
		Sources: map[string]*SourceStats{}, Tables: map[string]TableStats{}, Writeback: map[string]*WritebackStats{}}
	err := execute(ctx, p, opt, sum)
	sum.Seconds = time.Since(start).Seconds()
	if err != nil {
		sum.Error = err.Error()
		return sum, err
	}
	sum.Status = StatusSucceeded
	return sum, nil
}

type rejectList struct {
	mu   sync.Mutex
	rows []schemas.Reject
}

func (r *rejectList) add(x schemas.Reject) error {
	r.mu.Lock()
	r.rows = append(r.rows, x)
	r.mu.Unlock()
	return nil
}

func execute(ctx context.Context, p *config.Pipeline, opt Options, sum *Summary) error {
	srcs, err := sources(p, opt.Only)
	if err != nil {
		return err
	}
	store, err := load.Open(ctx, p.Output.URI)
	if err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "etl-staging-*")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	stage := &staging{dir: dir, mem: opt.Mem}
	rejects := &rejectList{}

	// Extract and normalise every source at once, each within its own pacer.
	var normMu sync.Mutex
	g, gctx := errgroup.WithContext(ctx)
	for _, s := range srcs {
		st := &SourceStats{}
		sum.Sources[s.name] = st
		g.Go(func() error {
			t0 := time.Now()
			err := extractOne(gctx, s, stage, opt, rejects, st, func(ns normalise.Stats) {
				normMu.Lock()
				sum.Normalise.Add(ns)
				normMu.Unlock()
			})
			st.Seconds = time.Since(t0).Seconds()
			if err != nil {
				opt.Log.Error("source failed", "source", s.name, "error", err.Error())
				return fmt.Errorf("source %s failed: %w", s.name, err)
			}
			opt.Log.Info("source extracted", "source", s.name, "extracted", st.Extracted, "pages", st.Pages,
				"requests", st.Requests, "retries", st.Retries, "throttled", st.Throttled, "seconds", st.Seconds)
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("run cancelled: %w", context.Cause(ctx))
		}
		return err
	}
	return resolveAndLoad(ctx, p, opt, sum, store, stage, srcs, rejects)
}

// extractOne runs one source's extractor, normalising each batch into staging.
func extractOne(ctx context.Context, s source, stage *staging, opt Options, rejects *rejectList, st *SourceStats, addNorm func(normalise.Stats)) error {
	sw, err := stage.create(s.name)
	if err != nil {
		return err
	}
	sink := func(rec arrow.Record) error {
		defer rec.Release()
		out, rj, ns := normalise.Batch(opt.Mem, rec, s.normalise)
		defer out.Release()
		for _, r := range rj {
			rejects.add(r)
		}
		addNorm(ns)
		st.Normalised += out.NumRows()
		return sw.write(out)
	}
	w := extract.NewWriter(s.name, opt.Mem, opt.BatchRows, sink, rejects.add)
	err = s.extractor.Extract(ctx, w)
	if cerr := w.Close(); err == nil {
		err = cerr
	}
	st.Stats = w.Stats
	if cerr := sw.close(); err == nil {
		err = cerr
	}
	return err
}

func resolveAndLoad(ctx context.Context, p *config.Pipeline, opt Options, sum *Summary, store load.Store, stage *staging, srcs []source, rejects *rejectList) error {
	names := make([]string, 0, len(srcs))
	for _, s := range srcs {
		names = append(names, s.name)
	}
	sort.Strings(names)
	r := resolve.New(resolve.Config{MaxRecordsPerIdentifier: p.Resolve.MaxRecordsPerIdentifier,
		Blocked: p.Resolve.Blocked, SourcePriority: p.Resolve.SourcePriority})
	if err := stage.each(names, func(rec arrow.Record) error { r.Add(rec); return nil }); err != nil {
		return err
	}
	res := r.Resolve()
	rs := res.Stats()
	sum.Resolve = &rs

	part := load.NewPartition(store, opt.RunDate, sum.RunID)
	if err := part.Begin(ctx, schemas.Tables); err != nil {
		return err
	}
	committed := false
	defer func() {
		if !committed {
			if err := part.Abort(context.WithoutCancel(ctx)); err != nil {
				opt.Log.Warn("could not remove this run's parts", "error", err.Error())
			}
		}
	}()
	targets := targets(p, srcs, opt)
	sources := part.Table(ctx, schemas.TableSources, schemas.EndUserSources)
	if err := stage.each(names, func(rec arrow.Record) error {
		out, err := res.Annotate(opt.Mem, rec)
		if err != nil {
			return err
		}
		defer out.Release()
		gather(targets, out)
		return sources.Write(out)
	}); err != nil {
		return err
	}
	users := part.Table(ctx, schemas.TableUsers, schemas.EndUsers)
	people, err := res.People(opt.Mem, extract.DefaultBatchRows)
	if err != nil {
		return err
	}
	defer func() {
		for _, rec := range people {
			rec.Release()
		}
	}()
	for _, rec := range people {
		if err := users.Write(rec); err != nil {
			return err
		}
	}

	// Write-back runs before the tables are committed, so that its refused
	// items land in this run's rejects; its failure still leaves complete tables.
	plan := part.Table(ctx, schemas.TablePlan, schemas.WritebackPlan)
	wbRejects, wbErr := writeBack(ctx, opt.Mem, targets, resolvedValues(targets, people), plan, opt.DryRun, sum, opt)
	if wbErr != nil && ctx.Err() != nil {
		return wbErr
	}
	rejects.rows = append(rejects.rows, wbRejects...)

	rjw := part.Table(ctx, schemas.TableRejects, schemas.Rejects)
	rjRec := rejectsRecord(opt.Mem, rejects.rows)
	err = rjw.Write(rjRec)
	rjRec.Release()
	if err != nil {
		return err
	}
	for _, t := range schemas.Tables {
		parts, err := part.CloseTable(t)
		if err != nil {
			return err
		}
		ts := TableStats{Parts: len(parts), URI: store.URI(fmt.Sprintf("%s/dt=%s/", t, opt.RunDate))}
		for _, pt := range parts {
			ts.Rows += pt.Rows
			ts.Bytes += pt.Bytes
		}
		sum.Tables[t] = ts
	}
	if err := reconcile(sum); err != nil {
		return err
	}
	if _, err := part.Commit(ctx); err != nil {
		return err
	}
	committed = true
	opt.Log.Info("tables written", "output", p.Output.URI, "run_date", opt.RunDate, "persons", rs.Persons)
	return wbErr
}

// reconcile checks that every extracted record landed exactly once.
func reconcile(sum *Summary) error {
	var extracted, normRejected int64
	for _, s := range sum.Sources {
		extracted += s.Extracted
	}
	normRejected = sum.Normalise.Rejected
	if got := sum.Tables[schemas.TableSources].Rows; got+normRejected != extracted {
		return fmt.Errorf("counts do not reconcile: %d records extracted, but %d in %s and %d rejected by normalisation",
			extracted, got, schemas.TableSources, normRejected)
	}
	if got := sum.Tables[schemas.TableUsers].Rows; sum.Resolve != nil && got != sum.Resolve.Persons {
		return fmt.Errorf("counts do not reconcile: %d persons resolved, %d rows in %s", sum.Resolve.Persons, got, schemas.TableUsers)
	}
	return nil
}

func rejectsRecord(mem memory.Allocator, rows []schemas.Reject) arrow.Record {
	b := array.NewRecordBuilder(mem, schemas.Rejects)
	defer b.Release()
	for _, r := range rows {
		b.Field(0).(*array.StringBuilder).Append(r.Stage)
		b.Field(1).(*array.StringBuilder).Append(r.Source)
		opt(b.Field(2).(*array.StringBuilder), r.SourceID)
		b.Field(3).(*array.StringBuilder).Append(r.Reason)
		opt(b.Field(4).(*array.StringBuilder), r.Raw)
	}
	return b.NewRecord()
}

func opt(b *array.StringBuilder, v string) {
	if v == "" {
		b.AppendNull()
		return
	}
	b.Append(v)
}

// IsCancelled tells a cancelled run from a failed one.
func IsCancelled(err error) bool { return errors.Is(err, context.Canceled) }
