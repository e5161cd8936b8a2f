// Package run executes a pipeline for one run date in stages: extract every
// enabled source concurrently into the staging area, resolve identities and
// load the tables, then write back into the vendors.
package run

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"etl/extract"
	"etl/internal/config"
	"etl/internal/lease"
	"etl/internal/store"
	"etl/load"
	"etl/schemas"
	"etl/transform/changes"
	"etl/transform/normalise"
	"etl/transform/resolve"
)

// Stages.
const (
	StageAll       = "all"
	StageExtract   = "extract"
	StageResolve   = "resolve"
	StageWriteback = "writeback"
)

// Options of one run.
type Options struct {
	RunDate string   // partition date, YYYY-MM-DD
	Only    []string // sources to extract; empty: all
	DryRun  bool
	// Stage to run (default all). A single stage that already finished for
	// the date is not redone unless Force; all always redoes everything,
	// since re-running a date replaces its partition.
	Stage string
	Force bool
	Log   *slog.Logger
	Mem   memory.Allocator // default: Go's allocator
	// BatchRows bounds record batches (default extract.DefaultBatchRows).
	BatchRows int
	// Progress, when set, is told about pages and records as they arrive.
	Progress Progress
	// AcceptDrop names the sources the volume guard lets through this once.
	AcceptDrop []string
	// LockTTL is how long the run-date lock lives unrenewed (default
	// lease.DefaultTTL, 60 s); tests shorten it.
	LockTTL time.Duration
	// NoChanges skips end_user_changes' comparison, leaving the table
	// empty: for measuring its cost only (make bench).
	NoChanges bool

	lock *dateLock // the run date's lock, once taken
}

// Summary is the run's result, printed as the last stdout line.
type Summary struct {
	RunDate   string    `json:"run_date"`
	Stage     string    `json:"stage"`
	Status    string    `json:"status"`
	Error     string    `json:"error,omitempty"`
	Output    string    `json:"output"`
	RunID     string    `json:"run_id"`
	StartedAt time.Time `json:"started_at"`
	// FinishedAt is when the summary was made, the run's last act but
	// for writing its runs row.
	FinishedAt time.Time                  `json:"finished_at"`
	Seconds    float64                    `json:"seconds"`
	Skipped    []string                   `json:"skipped,omitempty"` // stages or sources already done for the date
	Sources    map[string]*SourceStats    `json:"sources"`
	Tables     map[string]TableStats      `json:"tables"`
	Resolve    *resolve.Stats             `json:"resolve,omitempty"`
	Normalise  normalise.Stats            `json:"normalise"`
	Writeback  map[string]*WritebackStats `json:"writeback"`
	Guard      *GuardStats                `json:"guard,omitempty"`
	Changes    *ChangesStats              `json:"changes,omitempty"`
}

// SourceStats are one source's counts.
type SourceStats struct {
	extract.Stats
	Normalised int64           `json:"normalised"`
	Normalise  normalise.Stats `json:"normalise"`
	Seconds    float64         `json:"seconds"`
}

// TableStats describe one written table.
type TableStats struct {
	Rows  int64  `json:"rows"`
	Parts int    `json:"parts"`
	Bytes int64  `json:"bytes"`
	URI   string `json:"uri"`
}

// Statuses.
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
	if opt.Stage == "" {
		opt.Stage = StageAll
	}
	if opt.LockTTL == 0 {
		opt.LockTTL = lease.DefaultTTL
	}
	sum := &Summary{RunDate: opt.RunDate, Stage: opt.Stage, Status: StatusFailed, Output: p.Output.URI, RunID: load.NewRunID(),
		StartedAt: start.UTC(), Sources: map[string]*SourceStats{}, Tables: map[string]TableStats{}, Writeback: map[string]*WritebackStats{}}
	// The lock's loss stops the run, with the reason.
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	err := execute(ctx, p, opt, sum, cancel)
	sum.FinishedAt = time.Now().UTC()
	sum.Seconds = sum.FinishedAt.Sub(sum.StartedAt).Seconds()
	if err != nil {
		if cause := context.Cause(ctx); cause != nil && !errors.Is(cause, context.Canceled) {
			err = fmt.Errorf("run stopped: %v: %w", cause, err)
		} else if ctx.Err() != nil {
			err = fmt.Errorf("run cancelled: %w", err)
		}
		sum.Error = err.Error()
		return sum, err
	}
	sum.Status = StatusSucceeded
	return sum, nil
}

func execute(ctx context.Context, p *config.Pipeline, opt Options, sum *Summary, stop context.CancelCauseFunc) error {
	srcs, err := sources(p, opt.Only)
	if err != nil {
		return err
	}
	out, err := store.Open(ctx, p.Output.URI)
	if err != nil {
		return err
	}
	// Before anything is read or written for the date: two runs of it never
	// interleave. An extract locks its sources' staging; the other stages
	// the tables, and the staging of every source they read or write.
	names := make([]string, 0, len(srcs))
	for _, s := range srcs {
		names = append(names, s.name)
	}
	switch opt.Stage {
	case StageResolve:
		names = p.SourceNames()
	case StageWriteback:
		names = nil
	}
	if opt.lock, err = lock(ctx, out, opt, sum.RunID, opt.Stage != StageExtract, names, stop); err != nil {
		return err
	}
	defer func() {
		cctx, cancel := cleanupContext(ctx)
		defer cancel()
		if err := opt.lock.Release(cctx); err != nil {
			opt.Log.Warn("could not release the run date's lock; the next run takes it over", "error", err.Error())
		}
	}()
	st := &staging{store: out, date: opt.RunDate, mem: opt.Mem}
	if opt.Stage == StageExtract {
		// The staging area is the store's, whatever the tables' format;
		// the tables serve only the progress bars' estimates.
		var tbls tables
		if opt.Progress != nil {
			if tbls, err = openTables(ctx, p, out, opt.Mem, opt.Log); err == nil {
				defer tbls.close()
			}
		}
		_, err := extractAll(ctx, srcs, st, opt, sum, opt.Force, false, tbls, nil)
		return err
	}
	tbls, err := openTables(ctx, p, out, opt.Mem, opt.Log)
	if err != nil {
		return err
	}
	defer tbls.close()
	switch opt.Stage {
	case StageResolve:
		all, err := sources(p, nil)
		if err != nil {
			return err
		}
		if !opt.Force {
			done, err := resolveDone(ctx, tbls, st, all)
			if err != nil {
				return err
			}
			if done {
				sum.Skipped = append(sum.Skipped, StageResolve)
				opt.Log.Info("tables already built from this staging; --force rebuilds them", "run_date", opt.RunDate)
				return nil
			}
		}
		staged, err := readStaged(ctx, st, all, sum)
		if err != nil {
			return err
		}
		prev, err := latestComplete(ctx, tbls, opt.RunDate)
		if err != nil {
			return err
		}
		if err := checkVolume(p, opt, sum, prev); err != nil {
			return err
		}
		return resolveAndLoad(ctx, p, opt, sum, tbls, staged, st, nil, prev, nil)
	case StageWriteback:
		all, err := sources(p, nil)
		if err != nil {
			return err
		}
		return writebackStage(ctx, p, opt, sum, tbls, st, all)
	case StageAll:
		// The new extracts stay unpublished until the volume guard has
		// passed: a refused run leaves the staging area as it was too.
		// Resolving starts from what extraction has in hand; the staging
		// area is still written, for --stage resolve and backfills.
		_, local := st.store.(store.Local)
		h := newHand(newResolver(p), handBudget(local))
		defer h.release()
		pending, err := extractAll(ctx, srcs, st, opt, sum, true, true, tbls, h)
		if err != nil {
			return err
		}
		prev, err := latestComplete(ctx, tbls, opt.RunDate)
		if err == nil {
			err = checkVolume(p, opt, sum, prev)
		}
		if err == nil {
			err = opt.lock.Check(ctx)
		}
		if err != nil {
			cctx, cancel := cleanupContext(ctx)
			defer cancel()
			for _, w := range pending {
				w.abort(cctx)
			}
			return err
		}
		var staged []*stageDone
		for _, w := range pending {
			if err := w.publish(ctx); err != nil {
				return err
			}
			staged = append(staged, w.done)
		}
		return resolveAndLoad(ctx, p, opt, sum, tbls, staged, st, targets(p, srcs, opt), prev, h)
	}
	return fmt.Errorf("unknown stage %q", opt.Stage)
}

// resolveDone reports whether the date's tables are complete and were built
// from the staging that is there now (a source re-extracted since makes
// them stale).
func resolveDone(ctx context.Context, tbls tables, st *staging, srcs []source) (bool, error) {
	m, err := tbls.built(ctx, st.date)
	if err != nil || m == nil {
		return false, err
	}
	if len(m.Inputs) != len(srcs) {
		return false, nil
	}
	for _, s := range srcs {
		d, err := st.done(ctx, s.name)
		if err != nil || d == nil || m.Inputs[s.name] != d.RunID {
			return false, err
		}
	}
	return true, nil
}

// readStaged reads the staging of every source of srcs: all must be staged
// for the date, since tables built from some vendors only would silently
// lose people.
func readStaged(ctx context.Context, st *staging, srcs []source, sum *Summary) ([]*stageDone, error) {
	var staged []*stageDone
	var missing []string
	for _, s := range srcs {
		d, err := st.done(ctx, s.name)
		if err != nil {
			return nil, err
		}
		if d == nil {
			missing = append(missing, s.name)
			continue
		}
		staged = append(staged, d)
		sum.Sources[s.name] = d.Stats
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("resolve: the staging area of %s has no complete extract of %v; run `etl run --stage extract --only %s` for that date first",
			st.date, missing, missing[0])
	}
	sum.Normalise = normalise.Stats{}
	for _, d := range staged {
		sum.Normalise.Add(d.Stats.Normalise)
	}
	return staged, nil
}

func newResolver(p *config.Pipeline) *resolve.Resolver {
	return resolve.New(resolve.Config{MaxRecordsPerIdentifier: p.Resolve.MaxRecordsPerIdentifier,
		Blocked: p.Resolve.Blocked, SourcePriority: p.Resolve.SourcePriority})
}

// resolveAndLoad resolves the staged records and replaces the date's tables,
// comparing them with prev (nil: none) for end_user_changes. With h, the
// records come from what extraction has in hand (added to the resolver
// already, kept batches not read back).
func resolveAndLoad(ctx context.Context, p *config.Pipeline, opt Options, sum *Summary, tbls tables, staged []*stageDone,
	st *staging, wbTargets map[string]*target, prev *previous, h *hand) error {
	// Each phase's time, at debug level: where a run of millions spends it.
	mark, markCPU := time.Now(), cpuTime()
	phase := func(name string) {
		now, cpu := time.Now(), cpuTime()
		opt.Log.Debug("tables' phase", "step", name, "seconds", now.Sub(mark).Seconds(), "cpu_seconds", (cpu - markCPU).Seconds())
		mark, markCPU = now, cpu
	}
	// Each staged batch's first row in the resolver, by source.
	firsts := map[string][]int{}
	var r *resolve.Resolver
	if h != nil {
		h.wait()
		phase("resolver fed")
		r = h.r
	} else {
		r = newResolver(p)
		// The staged counts are known: the resolver is sized once for them.
		var n int64
		for _, d := range staged {
			n += d.Stats.Normalised
		}
		r.Expect(int(n))
		for _, d := range staged {
			if err := st.each(ctx, d.Records, func(rec arrow.Record) error {
				firsts[d.Source] = append(firsts[d.Source], r.Add(rec))
				return nil
			}); err != nil {
				return err
			}
		}
	}
	res := r.Resolve()
	rs := res.Stats()
	sum.Resolve = &rs
	phase("clustered")

	// First every batch's surviving values (kept batches stay kept); then
	// end_users is built (on two goroutines) into a temporary file, and
	// the resolver keeps only the person ids: at 10 million records its
	// memory would otherwise stay beside the previous partition's index
	// and the tables being written.
	for _, d := range staged {
		if err := eachBatch(ctx, st, h, d, firsts[d.Source], false, res.Survive); err != nil {
			return err
		}
	}
	phase("survivors gathered")

	b := built{RunID: sum.RunID, Inputs: map[string]string{}, Sources: map[string]int64{}}
	for _, d := range staged {
		b.Inputs[d.Source] = d.RunID
		b.Sources[d.Source] = d.Stats.Normalised
	}
	var part replacement
	committed := false
	defer func() {
		if part != nil && !committed {
			cctx, cancel := cleanupContext(ctx)
			defer cancel()
			if err := part.abort(cctx); err != nil {
				opt.Log.Warn("could not remove this run's parts", "error", err.Error())
			}
		}
	}()
	begin := func() error {
		if err := opt.lock.Check(ctx); err != nil {
			return err
		}
		p, err := tbls.replace(ctx, opt.RunDate, sum.RunID, b, schemas.Tables)
		if err != nil {
			return err
		}
		part = p
		return nil
	}
	// end_users is written on a goroutine of its own; its batches are kept
	// only when a write-back needs their values.
	var users *behind
	var people []arrow.Record
	defer func() { release(people) }()
	openUsers := func() error {
		uw, err := part.table(ctx, schemas.TableUsers, schemas.EndUsers)
		if err != nil {
			return err
		}
		users = writeBehind(uw)
		return nil
	}
	person := func(rec arrow.Record) error {
		if len(wbTargets) > 0 {
			rec.Retain()
			people = append(people, rec)
		}
		return users.write(rec)
	}
	// With no earlier partition to index, end_users is written as the
	// resolver builds it. Otherwise it goes to a temporary file, and the
	// resolver keeps only the person ids: at 10 million records its memory
	// would otherwise stay beside the previous partition's index and the
	// tables being written. (The previous partition is indexed before this
	// one is touched, so that a failure to read it changes nothing.)
	var usersDone func() error
	var chg *behind // the end_user_changes writer, once the partition is begun
	diff := changes.New(opt.Mem, extract.DefaultBatchRows, func(rec arrow.Record) error { return chg.write(rec) })
	defer diff.Close()
	if prev == nil || opt.NoChanges {
		if err := begin(); err != nil {
			return err
		}
		if err := openUsers(); err != nil {
			return err
		}
		usersDone = sync.OnceValue(users.close)
		defer usersDone()
		if err := res.People(opt.Mem, extract.DefaultBatchRows, person); err != nil {
			return fmt.Errorf("%s: %w", schemas.TableUsers, err)
		}
		res.Shrink()
		go usersDone() // its last row group is encoded beside end_user_sources
		phase("end_users built")
	} else {
		usersSpill, err := newSpill(schemas.EndUsers, opt.Mem)
		if err != nil {
			return err
		}
		defer usersSpill.remove()
		if err := res.People(opt.Mem, extract.DefaultBatchRows, func(rec arrow.Record) error {
			defer rec.Release()
			return usersSpill.write(rec)
		}); err != nil {
			return fmt.Errorf("%s: %w", schemas.TableUsers, err)
		}
		res.Shrink()
		phase("end_users built")
		if err := diff.Previous(prev.rows, prev.each(ctx)); err != nil {
			return fmt.Errorf("%s: comparing with %s: %w", schemas.TableChanges, prev.date, err)
		}
		phase("previous partition indexed")
		if err := begin(); err != nil {
			return err
		}
		if err := openUsers(); err != nil {
			return err
		}
		// end_users is written from its file while this goroutine stamps
		// person ids on the batches again, compares them for
		// end_user_changes and end_user_sources is encoded: the tables'
		// phase keeps both cores busy.
		built := make(chan error, 1)
		go func() { built <- usersSpill.each(person) }()
		usersDone = sync.OnceValue(func() error {
			err := <-built
			if cerr := users.close(); err == nil {
				err = cerr
			}
			return err
		})
		defer usersDone()
	}
	cw, err := part.table(ctx, schemas.TableChanges, schemas.EndUserChanges)
	if err != nil {
		return err
	}
	chg = writeBehind(cw)
	chgOpen := true
	defer func() {
		if chgOpen {
			chg.close()
		}
	}()
	sw, err := part.table(ctx, schemas.TableSources, schemas.EndUserSources)
	if err != nil {
		return err
	}
	sources := writeBehind(sw)
	// Waited for once the other tables' work is under way: its last row
	// group is encoded meanwhile (see behind).
	sourcesDone := sync.OnceValue(sources.close)
	defer sourcesDone()
	// Source by source, in staged order: the table's rows come in the order
	// of the pipeline's sources, each in the order it was read.
	for _, d := range staged {
		if err := eachBatch(ctx, st, h, d, firsts[d.Source], true, func(rec arrow.Record, first int) error {
			out, err := res.PersonIDs(opt.Mem, rec, first)
			if err != nil {
				return err
			}
			gather(wbTargets, out)
			if !opt.NoChanges {
				if err := diff.Current(out); err != nil {
					out.Release()
					return fmt.Errorf("%s: %w", schemas.TableChanges, err)
				}
			}
			return sources.write(out)
		}); err != nil {
			return err
		}
	}
	phase("end_user_sources handed to its writer")
	// The rest of end_user_changes reads the previous partition again: on
	// a core of its own, while end_users, the write-back and rejects go on.
	// Its writer is closed there too, so that its last row group is encoded
	// beside end_users rather than after everything.
	finished := make(chan error, 1)
	chgOpen = false
	go func() {
		err := finishChanges(ctx, diff, prev, opt, sum)
		if cerr := chg.close(); err == nil {
			err = cerr
		}
		finished <- err
	}()
	changesDone := sync.OnceValue(func() error { return <-finished })
	defer changesDone()
	if err := usersDone(); err != nil {
		return err
	}
	phase("end_users written")

	// Write-back (stage all) runs before the tables are committed, so that
	// its refused items land in this run's rejects; its failure still leaves
	// complete tables.
	plan, err := part.table(ctx, schemas.TablePlan, schemas.WritebackPlan)
	if err != nil {
		return err
	}
	wbRejects, wbErr := writeBack(ctx, opt.Mem, wbTargets, resolvedValues(wbTargets, people), plan, opt.DryRun, sum, opt)
	if wbErr != nil && ctx.Err() != nil {
		return wbErr
	}
	rjw, err := part.table(ctx, schemas.TableRejects, schemas.Rejects)
	if err != nil {
		return err
	}
	for _, d := range staged {
		if err := st.each(ctx, d.Rejects, rjw.Write); err != nil {
			return err
		}
	}
	if err := writeRejects(opt.Mem, rjw, wbRejects); err != nil {
		return err
	}
	if err := sourcesDone(); err != nil {
		return err
	}
	if err := changesDone(); err != nil {
		return err
	}
	phase("write-back, rejects and end_user_changes done")
	if err := closeTables(part, schemas.Tables, sum); err != nil {
		return err
	}
	if err := reconcile(sum); err != nil {
		return err
	}
	if err := opt.lock.Check(ctx); err != nil {
		return err
	}
	if err := part.commit(ctx); err != nil {
		return err
	}
	committed = true
	phase("committed")
	opt.Log.Info("tables written", "output", p.Output.URI, "run_date", opt.RunDate, "persons", rs.Persons)
	if wbTargets != nil && wbErr == nil && !opt.DryRun {
		if err := markWriteback(ctx, st, sum.RunID, sum); err != nil {
			return err
		}
	}
	return wbErr
}

// eachBatch calls fn with each batch of a source and its first row in the
// resolver: kept in hand (given up when take), or else read back from its
// staging; firsts are the first rows when not in hand.
func eachBatch(ctx context.Context, st *staging, h *hand, d *stageDone, firsts []int, take bool, fn func(arrow.Record, int) error) error {
	if h != nil {
		batches, inHand, kept := h.batches(d.Source, take)
		if kept {
			var err error
			for i, b := range batches {
				if err == nil {
					err = fn(b, inHand[i])
				}
				if take {
					b.Release()
				}
			}
			return err
		}
		firsts = inHand
	}
	i := 0
	err := st.each(ctx, d.Records, func(rec arrow.Record) error {
		if i >= len(firsts) {
			return fmt.Errorf("staging of %s holds more batches than were extracted", d.Source)
		}
		i++
		return fn(rec, firsts[i-1])
	})
	if err == nil && i != len(firsts) {
		err = fmt.Errorf("staging of %s holds fewer batches than were extracted", d.Source)
	}
	return err
}

// behind writes a table's batches on a goroutine of its own, so that making
// the next batch (reading staging, annotating, building people) overlaps
// encoding and compressing this one: the tables' phase otherwise uses one
// core of the machine. A table that closes its part files itself (a
// Parquet table's writer) is closed there too, once its last batch is
// written: its last row group is encoded beside the other tables' work,
// not after all of it, and the replacement's closeTable only collects its
// parts.
type behind struct {
	recs chan arrow.Record
	done chan error
	err  atomic.Pointer[error] // the first write error, as soon as it happens
}

func writeBehind(w tableWriter) *behind {
	b := &behind{recs: make(chan arrow.Record, 1), done: make(chan error, 1)}
	go func() {
		var err error
		for rec := range b.recs {
			if err == nil {
				if err = w.Write(rec); err != nil {
					b.err.Store(&err)
				}
			}
			rec.Release()
		}
		if c, ok := w.(partsCloser); ok && err == nil {
			if _, err = c.Close(); err != nil {
				b.err.Store(&err)
			}
		}
		b.done <- err
	}()
	return b
}

// partsCloser is a table writer that finishes its own part files (and may
// be closed again, to get them).
type partsCloser interface {
	Close() ([]load.Part, error)
}

// write hands rec over; the writer releases it.
func (b *behind) write(rec arrow.Record) error {
	if err := b.err.Load(); err != nil {
		rec.Release()
		return *err
	}
	b.recs <- rec
	return nil
}

// close waits until every batch handed over is written.
func (b *behind) close() error {
	close(b.recs)
	return <-b.done
}

func release(recs []arrow.Record) {
	for _, r := range recs {
		r.Release()
	}
}

func writeRejects(mem memory.Allocator, w tableWriter, rows []schemas.Reject) error {
	if len(rows) == 0 {
		return nil
	}
	rec := rejectsRecord(mem, rows)
	defer rec.Release()
	return w.Write(rec)
}

func closeTables(part replacement, names []string, sum *Summary) error {
	for _, t := range names {
		ts, err := part.closeTable(t)
		if err != nil {
			return err
		}
		sum.Tables[t] = ts
	}
	return nil
}

// reconcile checks that every extracted record landed exactly once: in
// end_user_sources, or rejected by normalisation.
func reconcile(sum *Summary) error {
	var extracted int64
	for _, s := range sum.Sources {
		extracted += s.Extracted
	}
	if got := sum.Tables[schemas.TableSources].Rows; got+sum.Normalise.Rejected != extracted {
		return fmt.Errorf("counts do not reconcile: %d records extracted, but %d in %s and %d rejected by normalisation",
			extracted, got, schemas.TableSources, sum.Normalise.Rejected)
	}
	if got := sum.Tables[schemas.TableUsers].Rows; sum.Resolve != nil && got != sum.Resolve.Persons {
		return fmt.Errorf("counts do not reconcile: %d persons resolved, %d rows in %s", sum.Resolve.Persons, got, schemas.TableUsers)
	}
	return nil
}

func rejectsRecord(mem memory.Allocator, rows []schemas.Reject) arrow.Record {
	b := array.NewRecordBuilder(mem, schemas.Rejects)
	defer b.Release()
	// A rejected record is often not valid UTF-8, and Parquet readers
	// refuse a string column that is not.
	valid := func(s string) string { return strings.ToValidUTF8(s, "\uFFFD") }
	for _, r := range rows {
		b.Field(0).(*array.StringBuilder).Append(r.Stage)
		b.Field(1).(*array.StringBuilder).Append(r.Source)
		opt(b.Field(2).(*array.StringBuilder), valid(r.SourceID))
		b.Field(3).(*array.StringBuilder).Append(valid(r.Reason))
		opt(b.Field(4).(*array.StringBuilder), valid(r.Raw))
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
