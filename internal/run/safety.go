package run

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net/url"
	"slices"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"

	"etl/internal/config"
	"etl/internal/lease"
	"etl/internal/store"
	"etl/schemas"
	"etl/transform/changes"
)

// The safety nets of CONTRACT.md: one run per date (the lock), the volume
// guard, and the previous partition both it and end_user_changes compare
// with.

// A run date's lock is several leases under _locks/dt={date}/: "tables"
// for the stages that build, read or replace the date's tables (resolve,
// writeback, all), and one per source for the stages that write or read
// that source's staging. So the DAG's extract tasks, one per source, run at
// once, while no extract runs beside a resolve, nor two runs of one stage.
// A run takes "tables" (when it needs it) before its sources' leases, and
// an extract checks "tables" is free after taking its own: of two runs that
// would interleave, at least one fails.
func tablesLock(date string) string { return fmt.Sprintf("_locks/dt=%s/tables/", date) }

func sourceLock(date, source string) string {
	return fmt.Sprintf("_locks/dt=%s/source=%s/", date, url.PathEscape(source))
}

// dateLock is the leases a run holds.
type dateLock struct{ leases []*lease.Lease }

// Check confirms every lease is still held.
func (d *dateLock) Check(ctx context.Context) error {
	for _, l := range d.leases {
		if err := l.Check(ctx); err != nil {
			return err
		}
	}
	return nil
}

// Release releases every lease, the last taken first.
func (d *dateLock) Release(ctx context.Context) error {
	var errs []error
	for i := len(d.leases) - 1; i >= 0; i-- {
		errs = append(errs, d.leases[i].Release(ctx))
	}
	return errors.Join(errs...)
}

// lock takes the run date's leases this run needs (tables when it builds,
// reads or replaces them; the staging of sources), or fails naming a
// holder. Losing one later stops the run through stop.
func lock(ctx context.Context, out store.Store, opt Options, runID string, tables bool, sources []string, stop context.CancelCauseFunc) (*dateLock, error) {
	st, ok := out.(lease.Store)
	if !ok {
		return nil, fmt.Errorf("the output %s cannot hold a lock", out.URI(""))
	}
	var dirs []string
	if tables {
		dirs = append(dirs, tablesLock(opt.RunDate))
	}
	for _, s := range slices.Sorted(slices.Values(sources)) {
		dirs = append(dirs, sourceLock(opt.RunDate, s))
	}
	me := lease.Self(runID, opt.Stage)
	d := &dateLock{}
	fail := func(err error) (*dateLock, error) {
		cctx, cancel := cleanupContext(ctx)
		defer cancel()
		d.Release(cctx)
		var held *lease.HeldError
		if errors.As(err, &held) {
			return nil, fmt.Errorf("run date %s of %s is being written by another run: %w; this run changed nothing",
				opt.RunDate, out.URI(""), err)
		}
		return nil, err
	}
	for _, dir := range dirs {
		l, err := lease.Acquire(ctx, st, dir, me, opt.LockTTL, func(err error) {
			opt.Log.Error("the run date's lock was lost; stopping", "run_date", opt.RunDate, "error", err.Error())
			stop(err)
		})
		if err != nil {
			return fail(err)
		}
		d.leases = append(d.leases, l)
	}
	if !tables {
		if err := lease.Free(ctx, st, tablesLock(opt.RunDate)); err != nil {
			return fail(err)
		}
	}
	return d, nil
}

// previous is what a run compares itself with: the latest earlier run date
// complete in the same output (Parquet: its end_user_sources partition has
// _SUCCESS; Iceberg: every table's current snapshot holds that date as one
// run built it). The volume guard reads its rows per source,
// end_user_changes its rows; each table format finds it (tables.previous).
type previous struct {
	date   string
	rows   int64            // end_user_sources rows
	counts map[string]int64 // of which per source; nil when its format did not record them
	// each reads its end_user_sources rows, the same ones every time: a
	// run replacing that date meanwhile makes reading fail (Parquet) or is
	// not seen (Iceberg reads one snapshot).
	each func(ctx context.Context) changes.Rows
}

// latestComplete finds the previous partition of date in tbls; nil when
// there is none.
func latestComplete(ctx context.Context, tbls tables, date string) (*previous, error) {
	prev, err := tbls.previous(ctx, date)
	if err != nil {
		return nil, fmt.Errorf("looking for the previous partition: %w", err)
	}
	if prev == nil || prev.counts != nil {
		return prev, nil
	}
	// Written before its format recorded the sources' rows: count them.
	prev.counts = map[string]int64{}
	if err := prev.each(ctx)(func(rec arrow.Record) error {
		src := rec.Column(rec.Schema().FieldIndices("source")[0]).(*array.String)
		for i := range src.Len() {
			prev.counts[src.Value(i)]++
		}
		return nil
	}); err != nil {
		return nil, fmt.Errorf("counting the previous partition (%s): %w", prev.date, err)
	}
	return prev, nil
}

// GuardStats is what the volume guard compared, in the summary.
type GuardStats struct {
	ComparedWith  string                  `json:"compared_with"` // the previous partition's run date
	MaxSourceDrop float64                 `json:"max_source_drop"`
	Sources       map[string]*GuardSource `json:"sources"`
}

// GuardSource is one source's comparison.
type GuardSource struct {
	Previous  int64   `json:"previous"`  // rows in end_user_sources of ComparedWith
	Extracted int64   `json:"extracted"` // this run
	Drop      float64 `json:"drop"`      // the share fewer, 0 when not fewer
	Refused   bool    `json:"refused,omitempty"`
	Accepted  bool    `json:"accepted,omitempty"` // over the limit, let through by --accept-drop
}

// checkVolume is the volume guard: a source that extracted fewer records
// than its rows in the previous partition, by more than
// guards.max_source_drop of them, fails the run, unless --accept-drop names
// it. It runs before anything of the date is written or replaced.
func checkVolume(p *config.Pipeline, opt Options, sum *Summary, prev *previous) error {
	if prev == nil {
		return nil
	}
	limit := *p.Guards.MaxSourceDrop
	g := &GuardStats{ComparedWith: prev.date, MaxSourceDrop: limit, Sources: map[string]*GuardSource{}}
	sum.Guard = g
	var refused, accept []string
	for _, name := range slices.Sorted(maps.Keys(sum.Sources)) {
		before, ok := prev.counts[name]
		if !ok {
			continue // a source new since then: nothing to compare with
		}
		now := sum.Sources[name].Extracted
		gs := &GuardSource{Previous: before, Extracted: now}
		g.Sources[name] = gs
		if before > 0 && now < before {
			gs.Drop = float64(before-now) / float64(before)
		}
		if float64(before-now) <= limit*float64(before) {
			continue
		}
		if slices.Contains(opt.AcceptDrop, name) {
			gs.Accepted = true
			opt.Log.Warn("volume guard: drop accepted by --accept-drop", "source", name, "extracted", now, "previous", before,
				"compared_with", prev.date)
			continue
		}
		gs.Refused = true
		refused = append(refused, fmt.Sprintf("%s extracted %d records against %d rows on %s (%.0f%% fewer)", name, now, before, prev.date, gs.Drop*100))
		accept = append(accept, name)
	}
	if len(refused) == 0 {
		return nil
	}
	return fmt.Errorf("volume guard: %s; guards.max_source_drop allows %.0f%% fewer. Nothing was written, replaced or sent. "+
		"If the drop is real, run again with --accept-drop %s", strings.Join(refused, "; "), limit*100, strings.Join(accept, ","))
}

// ChangesStats count end_user_changes' rows, in the summary.
type ChangesStats struct {
	ComparedWith string `json:"compared_with,omitempty"` // "" with no earlier complete partition
	changes.Stats
	Skipped bool `json:"skipped,omitempty"` // not computed (benchmarks only)
}

// finishChanges ends end_user_changes: the previous partition's records
// removed, and the columns of those changed.
func finishChanges(ctx context.Context, diff *changes.Diff, prev *previous, opt Options, sum *Summary) error {
	cs := &ChangesStats{Skipped: opt.NoChanges}
	sum.Changes = cs
	if opt.NoChanges {
		return nil
	}
	var rows changes.Rows
	if prev != nil {
		cs.ComparedWith = prev.date
		rows = prev.each(ctx)
	}
	if err := diff.Finish(rows); err != nil {
		return fmt.Errorf("%s: comparing with %s: %w", schemas.TableChanges, cs.ComparedWith, err)
	}
	cs.Stats = diff.Stats
	return nil
}
