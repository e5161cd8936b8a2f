package run

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"etl/config"
	"etl/load"
	"etl/load/writeback"
	"etl/schemas"
)

// WritebackStats are one target's counts in the summary.
type WritebackStats struct {
	Planned   int64            `json:"planned"` // records with a non-empty patch
	Sent      int64            `json:"sent"`
	Failed    int64            `json:"failed"`
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
		out[w.Target] = &target{cfg: w, sender: srcs[i].sender}
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
		// A value normalisation could not keep is still the vendor's value.
		if attrs.IsValid(i) {
			for f, key := range map[string]string{"email": `"email_raw"`, "phone": `"phone_raw"`} {
				if strings.Contains(attrs.Value(i), key) {
					if c.Unusable == nil {
						c.Unusable = map[string]bool{}
					}
					c.Unusable[f] = true
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
	plan *load.TableWriter, dryRun bool, sum *Summary, opt Options) ([]schemas.Reject, error) {
	var rejects []schemas.Reject
	var failures []error
	names := make([]string, 0, len(ts))
	for n := range ts {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, name := range names {
		t := ts[name]
		patches, unchanged := writeback.Plan(t.cfg.Mode, t.cfg.Fields, t.current, resolved)
		st := &WritebackStats{Planned: int64(len(patches)), Unchanged: unchanged, Fields: writeback.FieldCounts(patches), DryRun: dryRun}
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
		opt.Log.Info("write-back starting", "target", name, "records", len(patches), "chunk_size", t.cfg.ChunkSize, "concurrency", t.cfg.Concurrency)
		res, err := writeback.Execute(ctx, t.sender, patches, writeback.Options{Target: name, ChunkSize: t.cfg.ChunkSize, Concurrency: t.cfg.Concurrency})
		st.Sent, st.Failed = res.Sent, res.Failed
		rejects = append(rejects, res.Rejects...)
		if err != nil {
			return rejects, fmt.Errorf("write-back to %s: %w", name, err)
		}
		opt.Log.Info("write-back done", "target", name, "sent", st.Sent, "failed", st.Failed, "unchanged", st.Unchanged)
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
