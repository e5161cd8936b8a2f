package run

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"etl/internal/config"
	"etl/internal/pace"
	"etl/internal/store"
	"etl/internal/vendors"
	"etl/load/writeback"
	"etl/schemas"
)

// WritebackStats are one target's counts in the summary.
type WritebackStats struct {
	Planned   int64            `json:"planned"` // records with a non-empty patch
	Sent      int64            `json:"sent"`
	Failed    int64            `json:"failed"`
	Conflicts int64            `json:"conflicts"` // fields left out: the vendor keeps them unique and another record has the value
	Unchanged int64            `json:"unchanged"`
	Fields    map[string]int64 `json:"fields"`
	Sample    []PlanSample     `json:"sample,omitempty"`
	DryRun    bool             `json:"dry_run,omitempty"`
}

// PlanSample shows one planned patch.
type PlanSample struct {
	SourceID string            `json:"source_id"`
	Set      map[string]string `json:"set"`
}

// target is one write-back target while the run gathers its inputs.
type target struct {
	cfg     config.Writeback
	sender  writeback.Sender
	pacer   *pace.Pacer // the sender's
	current []writeback.Current
}

// writeColumns are the end_user_sources columns a write-back can set.
var writeColumns = map[string]int{
	"external_id": schemas.SrcExternalID, "first_name": schemas.SrcFirstName, "last_name": schemas.SrcLastName,
	"name": schemas.SrcName, "phone": schemas.SrcPhone, "email": schemas.SrcEmail,
}

// targets returns the write-back targets whose vendor was extracted this run.
func targets(p *config.Pipeline, srcs []source, opt Options) map[string]*target {
	out := map[string]*target{}
	for _, w := range p.Writeback {
		i := slices.IndexFunc(srcs, func(s source) bool { return s.name == w.Target })
		if i < 0 {
			opt.Log.Warn("write-back target skipped: its source was not extracted in this run", "target", w.Target)
			continue
		}
		out[w.Target] = &target{cfg: w, sender: srcs[i].sender, pacer: srcs[i].writePacer}
	}
	return out
}

// gather keeps, from an annotated end_user_sources batch, each target's
// records as the vendor has them now.
func gather(ts map[string]*target, rec arrow.Record) {
	if len(ts) == 0 {
		return
	}
	src := rec.Column(schemas.SrcSource).(*array.String)
	sid := rec.Column(schemas.SrcSourceID).(*array.String)
	pid := rec.Column(schemas.SrcPersonID).(*array.String)
	attrs := rec.Column(schemas.SrcAttributes).(*array.String)
	for i := 0; i < int(rec.NumRows()); i++ {
		t := ts[src.Value(i)]
		if t == nil {
			continue
		}
		c := writeback.Current{SourceID: clone(sid.Value(i)), PersonID: clone(pid.Value(i)), Values: map[string]string{}}
		for _, f := range t.cfg.Fields {
			if a := rec.Column(writeColumns[f]).(*array.String); a.IsValid(i) {
				c.Values[f] = clone(a.Value(i))
			}
		}
		// A value normalisation could not keep is still the vendor's value; a
		// name normalisation composed is not.
		if attrs.IsValid(i) && strings.Contains(attrs.Value(i), "_") {
			var marks struct {
				EmailRaw     *json.RawMessage `json:"email_raw"`
				PhoneRaw     *json.RawMessage `json:"phone_raw"`
				NameComposed *json.RawMessage `json:"name_composed"`
			}
			if json.Unmarshal([]byte(attrs.Value(i)), &marks) == nil {
				c.Unusable = map[string]bool{"email": marks.EmailRaw != nil, "phone": marks.PhoneRaw != nil}
				if marks.NameComposed != nil {
					delete(c.Values, "name")
				}
			}
		}
		t.current = append(t.current, c)
	}
}

// clone copies a string out of an Arrow buffer that will be released.
func clone(s string) string { return strings.Clone(s) }

// resolvedValues reads, from end_users batches, the values of the persons the
// targets will patch.
func resolvedValues(ts map[string]*target, people []arrow.Record) map[string]map[string]string {
	want := map[string]bool{}
	for _, t := range ts {
		for _, c := range t.current {
			want[c.PersonID] = true
		}
	}
	cols := map[string]int{"external_id": schemas.UsrExternalID, "first_name": schemas.UsrFirstName, "last_name": schemas.UsrLastName,
		"name": schemas.UsrName, "phone": schemas.UsrPhone, "email": schemas.UsrEmail}
	out := map[string]map[string]string{}
	for _, rec := range people {
		pids := rec.Column(schemas.UsrPersonID).(*array.String)
		for i := 0; i < int(rec.NumRows()); i++ {
			if !want[pids.Value(i)] {
				continue
			}
			vals := map[string]string{}
			for f, col := range cols {
				if a := rec.Column(col).(*array.String); a.IsValid(i) {
					vals[f] = clone(a.Value(i))
				}
			}
			out[clone(pids.Value(i))] = vals
		}
	}
	return out
}

// writeBack plans every target, records the plan, and (unless dry-run) sends
// the patches. It returns the rejects of refused items, and an error when a
// target failed more than its max_failed_ratio.
func writeBack(ctx context.Context, mem memory.Allocator, ts map[string]*target, resolved map[string]map[string]string,
	plan tableWriter, dryRun bool, sum *Summary, opt Options) ([]schemas.Reject, error) {
	var rejects []schemas.Reject
	var failures []error
	names := make([]string, 0, len(ts))
	for n := range ts {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, name := range names {
		t := ts[name]
		pl := writeback.Plan(name, t.cfg.Mode, t.cfg.Fields, t.current, resolved)
		patches := pl.Patches
		st := &WritebackStats{Planned: int64(len(patches)), Conflicts: int64(len(pl.Conflicts)), Unchanged: pl.Unchanged,
			Fields: writeback.FieldCounts(patches), DryRun: dryRun}
		// Conflicts are not failures: they go to rejects, dry run or not,
		// and never count against max_failed_ratio.
		for _, c := range pl.Conflicts {
			rejects = append(rejects, c.Reject(name))
		}
		if len(pl.Conflicts) > 0 {
			opt.Log.Warn("write-back conflicts: values the vendor keeps unique are held by other records; see rejects",
				"target", name, "conflicts", len(pl.Conflicts))
		}
		for _, p := range patches[:min(5, len(patches))] {
			st.Sample = append(st.Sample, PlanSample{SourceID: p.SourceID, Set: p.Set})
		}
		sum.Writeback[name] = st
		rec := planRecord(mem, name, patches)
		err := plan.Write(rec)
		rec.Release()
		if err != nil {
			return nil, err
		}
		if dryRun || len(patches) == 0 {
			continue
		}
		if t.sender == nil {
			return nil, fmt.Errorf("write-back to %s is not supported", name)
		}
		// Nothing goes to a vendor from a run that lost its date's lock.
		if err := opt.lock.Check(ctx); err != nil {
			return rejects, err
		}
		opt.Log.Info("write-back starting", "target", name, "records", len(patches), "chunk_size", t.cfg.ChunkSize, "concurrency", t.cfg.Concurrency)
		// chunk_size is bounded by the vendor's own batch maximum (Userlot: 1).
		chunk := min(t.cfg.ChunkSize, vendors.Of[name].MaxWriteBatch)
		wo := writeback.Options{Target: name, ChunkSize: chunk, Concurrency: t.cfg.Concurrency}
		if opt.Progress != nil {
			opt.Progress.WritebackStarted(name, int64(len(patches)), pacing(t.pacer))
			wo.OnSent = func(n int64) { opt.Progress.WritebackSent(name, n) }
		}
		res, err := writeback.Execute(ctx, t.sender, patches, wo)
		st.Sent, st.Failed = res.Sent, res.Failed
		if opt.Progress != nil {
			opt.Progress.WritebackDone(name, st, err)
		}
		rejects = append(rejects, res.Rejects...)
		if err != nil {
			return rejects, fmt.Errorf("write-back to %s: %w", name, err)
		}
		opt.Log.Info("write-back done", "target", name, "sent", st.Sent, "failed", st.Failed, "conflicts", st.Conflicts, "unchanged", st.Unchanged)
		if st.Sent > 0 && float64(st.Failed)/float64(st.Sent) > t.cfg.MaxFailedRatio {
			failures = append(failures, fmt.Errorf("write-back to %s: %d of %d items failed (max_failed_ratio %g); see rejects", name, st.Failed, st.Sent, t.cfg.MaxFailedRatio))
		}
	}
	if len(failures) > 0 {
		return rejects, errors.Join(failures...)
	}
	return rejects, nil
}

func planRecord(mem memory.Allocator, targetName string, patches []writeback.Patch) arrow.Record {
	b := array.NewRecordBuilder(mem, schemas.WritebackPlan)
	defer b.Release()
	for _, p := range patches {
		fields := make([]string, 0, len(p.Set))
		for f := range p.Set {
			fields = append(fields, f)
		}
		slices.Sort(fields)
		for _, f := range fields {
			b.Field(0).(*array.StringBuilder).Append(targetName)
			b.Field(1).(*array.StringBuilder).Append(p.SourceID)
			b.Field(2).(*array.StringBuilder).Append(p.PersonID)
			b.Field(3).(*array.StringBuilder).Append(f)
			opt(b.Field(4).(*array.StringBuilder), p.Old[f])
			b.Field(5).(*array.StringBuilder).Append(p.Set[f])
		}
	}
	return b.NewRecord()
}

// writebackMarker records that the write-back of a date succeeded.
func writebackMarker(date string) string {
	return fmt.Sprintf("%s/dt=%s/_WRITEBACK_DONE.json", stagingRoot, date)
}

// writebackDone is the marker's content: the write-back applies to the
// tables of one resolve run.
type writebackDone struct {
	TablesRunID string                     `json:"tables_run_id"`
	RunID       string                     `json:"run_id"`
	Writeback   map[string]*WritebackStats `json:"writeback"`
}

func markWriteback(ctx context.Context, st *staging, tablesRunID string, sum *Summary) error {
	body, _ := json.MarshalIndent(writebackDone{TablesRunID: tablesRunID, RunID: sum.RunID, Writeback: sum.Writeback}, "", "  ")
	obj, err := st.store.Create(ctx, writebackMarker(st.date))
	if err != nil {
		return err
	}
	if _, err := obj.Write(body); err != nil {
		obj.Abort()
		return err
	}
	return obj.Close()
}

// writebackStage writes back from the date's complete tables: the vendor
// values extracted that day (end_user_sources) against the resolved ones
// (end_users). It replaces the date's writeback_plan and the write-back part
// of its rejects. Once it has succeeded it is not redone unless Force.
func writebackStage(ctx context.Context, p *config.Pipeline, opt Options, sum *Summary, tbls tables, st *staging, srcs []source) error {
	m, err := tbls.built(ctx, opt.RunDate)
	if err != nil {
		return fmt.Errorf("writeback: reading what built the tables of %s: %w", opt.RunDate, err)
	}
	if m == nil {
		return fmt.Errorf("writeback: the tables of %s are not complete; run `etl run --stage resolve` for that date first", opt.RunDate)
	}
	if !opt.Force && !opt.DryRun {
		done, err := writebackDoneFor(ctx, st.store, opt.RunDate, m.RunID)
		if err != nil {
			return err
		}
		if done {
			sum.Skipped = append(sum.Skipped, StageWriteback)
			opt.Log.Info("write-back already done for these tables; --force sends it again", "run_date", opt.RunDate)
			return nil
		}
	}
	ts := targets(p, srcs, opt)
	if err := tbls.read(ctx, schemas.TableSources, opt.RunDate, func(rec arrow.Record) error {
		gather(ts, rec)
		return nil
	}); err != nil {
		return err
	}
	var people []arrow.Record
	defer func() { release(people) }()
	if err := tbls.read(ctx, schemas.TableUsers, opt.RunDate, func(rec arrow.Record) error {
		rec.Retain()
		people = append(people, rec)
		return nil
	}); err != nil {
		return err
	}
	names := []string{schemas.TablePlan, schemas.TableRejects}
	// Read the rejects of extraction before the replacement begins (and,
	// with Parquet, un-marks the partition).
	var kept []arrow.Record
	defer func() { release(kept) }()
	if err := tbls.read(ctx, schemas.TableRejects, opt.RunDate, func(rec arrow.Record) error {
		rec.Retain()
		kept = append(kept, rec)
		return nil
	}); err != nil {
		return err
	}
	if err := opt.lock.Check(ctx); err != nil {
		return err
	}
	// The tables keep the build they belong to.
	part, err := tbls.replace(ctx, opt.RunDate, sum.RunID, *m, names)
	if err != nil {
		return err
	}
	committed := false
	defer func() {
		if !committed {
			cctx, cancel := cleanupContext(ctx)
			defer cancel()
			part.abort(cctx)
		}
	}()
	plan, err := part.table(ctx, schemas.TablePlan, schemas.WritebackPlan)
	if err != nil {
		return err
	}
	wbRejects, wbErr := writeBack(ctx, opt.Mem, ts, resolvedValues(ts, people), plan, opt.DryRun, sum, opt)
	if wbErr != nil && ctx.Err() != nil {
		return wbErr
	}
	rjw, err := part.table(ctx, schemas.TableRejects, schemas.Rejects)
	if err != nil {
		return err
	}
	for _, rec := range kept {
		if err := writeNonWriteback(opt.Mem, rjw, rec); err != nil {
			return err
		}
	}
	if err := writeRejects(opt.Mem, rjw, wbRejects); err != nil {
		return err
	}
	if err := closeTables(part, names, sum); err != nil {
		return err
	}
	if err := opt.lock.Check(ctx); err != nil {
		return err
	}
	if err := part.commit(ctx); err != nil {
		return err
	}
	committed = true
	if wbErr == nil && !opt.DryRun {
		if err := markWriteback(ctx, st, m.RunID, sum); err != nil {
			return err
		}
	}
	return wbErr
}

// writeNonWriteback copies the rejects rows of earlier stages: a previous
// write-back's rows are replaced by this one's.
func writeNonWriteback(mem memory.Allocator, w tableWriter, rec arrow.Record) error {
	stage := rec.Column(0).(*array.String)
	var rows []schemas.Reject
	str := func(col, i int) string {
		a := rec.Column(col).(*array.String)
		if a.IsNull(i) {
			return ""
		}
		return a.Value(i)
	}
	for i := 0; i < int(rec.NumRows()); i++ {
		if stage.Value(i) == schemas.StageWriteback {
			continue
		}
		rows = append(rows, schemas.Reject{Stage: str(0, i), Source: str(1, i), SourceID: str(2, i), Reason: str(3, i), Raw: str(4, i)})
	}
	return writeRejects(mem, w, rows)
}

// writebackDoneFor reports whether the write-back of the tables written by
// run tablesRunID succeeded.
func writebackDoneFor(ctx context.Context, out store.Store, date, tablesRunID string) (bool, error) {
	r, err := out.Open(ctx, writebackMarker(date))
	if err != nil {
		if isNotExist(err) {
			return false, nil
		}
		return false, err
	}
	defer r.Close()
	var d writebackDone
	if err := json.NewDecoder(r).Decode(&d); err != nil {
		return false, nil // unreadable: redo
	}
	return d.TablesRunID == tablesRunID, nil
}
