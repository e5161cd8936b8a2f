package run

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"etl/internal/config"
	"etl/internal/store"
	"etl/load"
	"etl/load/iceberg"
	"etl/schemas"
	"etl/transform/changes"
)

// tables is where a run's tables go, in the output's format: Parquet
// partitions with _SUCCESS (package load), or Iceberg tables (package
// load/iceberg). The staging area stays in the output store either way.
type tables interface {
	// replace starts replacing the date's partition of the tables names;
	// b is recorded with them.
	replace(ctx context.Context, date, runID string, b built, names []string) (replacement, error)
	// built says who built the date's tables and from what; nil when they
	// are not complete.
	built(ctx context.Context, date string) (*built, error)
	// latest is the latest date before date whose tables are complete,
	// and what built them; "" when there is none.
	latest(ctx context.Context, date string) (string, *built, error)
	// previous is the latest date's end_user_sources rows, which the
	// volume guard and end_user_changes compare with; nil when there is
	// none.
	previous(ctx context.Context, date string) (*previous, error)
	// read calls fn with every batch of a table's rows of date.
	read(ctx context.Context, table, date string, fn func(rec arrow.Record) error) error
	close() error
}

// built is what a run records with the tables it builds (Parquet: in each
// table's _manifest.json; Iceberg: as a table property of the date).
type built struct {
	// RunID is the run that built the tables (resolve or all); a
	// write-back stage that replaces writeback_plan and rejects keeps it.
	RunID string `json:"run_id"`
	// Inputs are the staging runs the tables were built from, per source.
	Inputs map[string]string `json:"inputs,omitempty"`
	// Sources counts end_user_sources' rows per source, for the next
	// date's volume guard (Parquet: in end_user_sources' manifest only).
	Sources map[string]int64 `json:"sources,omitempty"`
}

// replacement is one run's replacement of a date's tables.
type replacement interface {
	table(ctx context.Context, name string, schema *arrow.Schema) (tableWriter, error)
	// closeTable finishes a table; its rows are written but not yet visible.
	closeTable(name string) (TableStats, error)
	// commit makes every table's new rows the date's.
	commit(ctx context.Context) error
	// abort discards what was written, as far as it can.
	abort(ctx context.Context) error
}

// tableWriter takes a table's batches; the caller keeps ownership.
type tableWriter interface {
	Write(rec arrow.Record) error
}

// openTables opens the output's tables in its format.
func openTables(ctx context.Context, p *config.Pipeline, out store.Store, mem memory.Allocator, log *slog.Logger) (tables, error) {
	if mem == nil {
		mem = memory.DefaultAllocator
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if p.Output.Format != config.FormatIceberg {
		return parquetTables{out: out, mem: mem}, nil
	}
	cat, err := openCatalog(ctx, p)
	if err != nil {
		return nil, err
	}
	return &icebergTables{cat: cat, mem: mem, log: log, open: map[string]*iceberg.Table{}}, nil
}

// openCatalog opens the Iceberg catalog of output.catalog.
func openCatalog(ctx context.Context, p *config.Pipeline) (*iceberg.Catalog, error) {
	c := p.Output.Catalog
	return iceberg.Open(ctx, iceberg.Config{Type: c.Type, URI: c.URI, Namespace: c.Namespace, Warehouse: c.Warehouse,
		Token: c.Token, SigV4: c.SigV4, SigningName: c.SigningName, Location: p.Output.URI, Retain: time.Duration(c.RetainSnapshots), Getenv: os.Getenv})
}

// The Parquet layout: {uri}/{table}/dt={date}/ with _manifest.json and
// _SUCCESS.
type parquetTables struct {
	out store.Store
	mem memory.Allocator
}

func (t parquetTables) replace(ctx context.Context, date, runID string, b built, names []string) (replacement, error) {
	part := load.NewPartition(t.out, date, runID)
	part.Inputs = b.Inputs
	if b.Sources != nil {
		part.SetSources(schemas.TableSources, b.Sources)
	}
	if err := part.Begin(ctx, names); err != nil {
		return nil, err
	}
	return &parquetReplacement{part: part, out: t.out, date: date}, nil
}

func (t parquetTables) built(ctx context.Context, date string) (*built, error) {
	if !tablesComplete(ctx, t.out, date) {
		return nil, nil
	}
	m, err := load.ReadManifest(ctx, t.out, schemas.TableSources, date)
	if err != nil || m == nil {
		return nil, err
	}
	return &built{RunID: m.RunID, Inputs: m.Inputs}, nil
}

func (t parquetTables) latest(ctx context.Context, date string) (string, *built, error) {
	keys, err := t.out.List(ctx, schemas.TableSources+"/")
	if err != nil {
		return "", nil, err
	}
	var from string
	for _, k := range keys {
		d, ok := strings.CutPrefix(path.Dir(k), schemas.TableSources+"/dt=")
		if ok && path.Base(k) == load.SuccessFile && d < date && d > from {
			from = d
		}
	}
	if from == "" {
		return "", nil, nil
	}
	m, err := load.ReadManifest(ctx, t.out, schemas.TableSources, from)
	if err != nil || m == nil {
		return "", nil, err
	}
	return from, &built{RunID: m.RunID, Inputs: m.Inputs, Sources: m.Sources}, nil
}

func (t parquetTables) previous(ctx context.Context, date string) (*previous, error) {
	latest, _, err := t.latest(ctx, date)
	if err != nil || latest == "" {
		return nil, err
	}
	m, err := load.ReadManifest(ctx, t.out, schemas.TableSources, latest)
	if err != nil {
		return nil, fmt.Errorf("reading the previous partition (%s): %w", latest, err)
	}
	if m == nil {
		return nil, fmt.Errorf("the previous partition (%s) has _SUCCESS but no manifest", latest)
	}
	// The parts its manifest lists: a run replacing that date meanwhile
	// makes reading fail, rather than compare with a mix.
	var parts []string
	for _, pt := range m.Parts {
		parts = append(parts, pt.Key)
	}
	return &previous{date: latest, rows: m.Rows, counts: m.Sources, each: func(ctx context.Context) changes.Rows {
		return func(fn func(arrow.Record) error) error { return load.ReadParts(ctx, t.out, parts, t.mem, fn) }
	}}, nil
}

func (t parquetTables) read(ctx context.Context, table, date string, fn func(rec arrow.Record) error) error {
	return load.ReadTable(ctx, t.out, table, date, t.mem, fn)
}

func (parquetTables) close() error { return nil }

// tablesComplete reports whether every table of the date has _SUCCESS.
func tablesComplete(ctx context.Context, out store.Store, date string) bool {
	for _, t := range schemas.Tables {
		r, err := out.Open(ctx, fmt.Sprintf("%s/dt=%s/%s", t, date, load.SuccessFile))
		if err != nil {
			return false
		}
		r.Close()
	}
	return true
}

type parquetReplacement struct {
	part *load.Partition
	out  store.Store
	date string
}

func (r *parquetReplacement) table(ctx context.Context, name string, schema *arrow.Schema) (tableWriter, error) {
	w := r.part.Table(ctx, name, schema)
	if name == schemas.TableSources || name == schemas.TableUsers {
		// The two largest tables: their row groups are encoded two at a
		// time (into two part files), so that neither leaves a core idle
		// (end_users is encoded as the resolver builds it, on a first
		// date; end_user_sources is the last to finish). The others are
		// written beside them.
		w.SetLanes(2)
	}
	return w, nil
}

func (r *parquetReplacement) closeTable(name string) (TableStats, error) {
	parts, err := r.part.CloseTable(name)
	if err != nil {
		return TableStats{}, err
	}
	ts := TableStats{Parts: len(parts), URI: r.out.URI(fmt.Sprintf("%s/dt=%s/", name, r.date))}
	for _, pt := range parts {
		ts.Rows += pt.Rows
		ts.Bytes += pt.Bytes
	}
	return ts, nil
}

func (r *parquetReplacement) commit(ctx context.Context) error {
	_, err := r.part.Commit(ctx)
	return err
}

func (r *parquetReplacement) abort(ctx context.Context) error { return r.part.Abort(ctx) }

// Iceberg tables in a catalog: the date's rows of each table replaced by
// one overwrite snapshot, and built recorded as a table property of the
// date, in the same commit.
type icebergTables struct {
	cat  *iceberg.Catalog
	mem  memory.Allocator
	log  *slog.Logger
	mu   sync.Mutex
	open map[string]*iceberg.Table
}

// schemaOf is the schema of each table a run writes.
var schemaOf = map[string]*arrow.Schema{
	schemas.TableSources: schemas.EndUserSources,
	schemas.TableUsers:   schemas.EndUsers,
	schemas.TableRejects: schemas.Rejects,
	schemas.TablePlan:    schemas.WritebackPlan,
	schemas.TableChanges: schemas.EndUserChanges,
	schemas.TableRuns:    schemas.Runs,
}

// table loads (or creates) a table once per run.
func (t *icebergTables) table(ctx context.Context, name string) (*iceberg.Table, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if tb, ok := t.open[name]; ok {
		return tb, nil
	}
	schema, ok := schemaOf[name]
	if !ok {
		return nil, fmt.Errorf("no table %s", name)
	}
	tb, err := t.cat.Table(ctx, name, schema)
	if err != nil {
		return nil, err
	}
	t.open[name] = tb
	return tb, nil
}

func (t *icebergTables) replace(ctx context.Context, date, runID string, b built, names []string) (replacement, error) {
	info, err := json.Marshal(b)
	if err != nil {
		return nil, err
	}
	r, err := t.cat.Begin(date, runID, string(info), t.mem)
	if err != nil {
		return nil, err
	}
	// Every table is loaded (or created) before anything is written.
	for _, n := range names {
		if _, err := t.table(ctx, n); err != nil {
			return nil, err
		}
	}
	return &icebergReplacement{t: t, r: r, writers: map[string]*iceberg.Writer{}}, nil
}

// built reads every table's record of the date: the tables are complete
// when each has one and all name the same build. Each table's commit is
// atomic; a run killed between two leaves them naming different builds.
func (t *icebergTables) built(ctx context.Context, date string) (*built, error) {
	var first *built
	for _, name := range schemas.Tables {
		tb, err := t.table(ctx, name)
		if err != nil {
			return nil, err
		}
		info, err := tb.Info(ctx, date)
		if err != nil || info == "" {
			return nil, err
		}
		var b built
		if err := json.Unmarshal([]byte(info), &b); err != nil {
			return nil, nil // not ours to read: not complete
		}
		if first == nil {
			first = &b
		} else if b.RunID != first.RunID {
			return nil, nil
		}
	}
	return first, nil
}

func (t *icebergTables) latest(ctx context.Context, date string) (string, *built, error) {
	tb, err := t.table(ctx, schemas.TableSources)
	if err != nil {
		return "", nil, err
	}
	dates, err := tb.Dates(ctx)
	if err != nil {
		return "", nil, err
	}
	for i := len(dates) - 1; i >= 0; i-- {
		if dates[i] >= date {
			continue
		}
		b, err := t.built(ctx, dates[i])
		if err != nil {
			return "", nil, err
		}
		if b != nil {
			return dates[i], b, nil
		}
	}
	return "", nil, nil
}

// previous reads end_user_sources as one snapshot: the date's record (the
// sources' rows) and its rows are that snapshot's, however the table moves
// while the run compares with them.
func (t *icebergTables) previous(ctx context.Context, date string) (*previous, error) {
	latest, _, err := t.latest(ctx, date)
	if err != nil || latest == "" {
		return nil, err
	}
	tb, err := t.table(ctx, schemas.TableSources)
	if err != nil {
		return nil, err
	}
	v, err := tb.View(ctx)
	if err != nil {
		return nil, err
	}
	rows, err := v.Rows(ctx, latest)
	if err != nil {
		return nil, err
	}
	prev := &previous{date: latest, rows: rows, each: func(ctx context.Context) changes.Rows {
		return func(fn func(arrow.Record) error) error { return v.Read(ctx, latest, t.mem, fn) }
	}}
	var b built
	if json.Unmarshal([]byte(v.Info(latest)), &b) == nil {
		prev.counts = b.Sources
	}
	return prev, nil
}

func (t *icebergTables) read(ctx context.Context, table, date string, fn func(rec arrow.Record) error) error {
	tb, err := t.table(ctx, table)
	if err != nil {
		return err
	}
	return tb.ReadDate(ctx, date, t.mem, fn)
}

func (t *icebergTables) close() error { return t.cat.Close() }

type icebergReplacement struct {
	t       *icebergTables
	r       *iceberg.Replace
	writers map[string]*iceberg.Writer
	names   []string
}

func (r *icebergReplacement) table(ctx context.Context, name string, _ *arrow.Schema) (tableWriter, error) {
	if w, ok := r.writers[name]; ok {
		return w, nil
	}
	tb, err := r.t.table(ctx, name)
	if err != nil {
		return nil, err
	}
	w, err := r.r.Table(ctx, tb)
	if err != nil {
		return nil, err
	}
	r.writers[name] = w
	r.names = append(r.names, name)
	return w, nil
}

func (r *icebergReplacement) closeTable(name string) (TableStats, error) {
	w, ok := r.writers[name]
	if !ok {
		return TableStats{}, fmt.Errorf("table %s was never opened", name)
	}
	st, err := w.Close()
	if err != nil {
		return TableStats{}, err
	}
	return TableStats{Rows: st.Rows, Parts: st.Files, Bytes: st.Bytes, URI: r.t.cat.TableLocation(name)}, nil
}

// commit commits every table, then expires, in each and in runs (which
// only ever grows, one snapshot an invocation), what the retention lets
// go: a failure there is logged, since the tables are complete.
func (r *icebergReplacement) commit(ctx context.Context) error {
	if err := r.r.Commit(ctx); err != nil {
		return err
	}
	now := time.Now()
	for _, name := range append(slices.Clone(r.names), schemas.TableRuns) {
		tb, err := r.t.table(ctx, name)
		if err == nil {
			var st iceberg.ExpireStats
			st, err = tb.Expire(ctx, now)
			if err == nil && (st.Snapshots > 0 || len(st.Orphans) > 0) {
				r.t.log.Info("iceberg: expired what the retention lets go", "table", name, "snapshots", st.Snapshots, "unreferenced_files", len(st.Orphans))
			}
		}
		if err != nil {
			r.t.log.Warn("iceberg: expiry failed; the next run tries again", "table", name, "error", err.Error())
		}
	}
	return nil
}

func (r *icebergReplacement) abort(context.Context) error {
	r.r.Abort()
	return nil
}

// ReadTable calls fn with every batch of a table's rows of date in the
// pipeline's output, whatever its format; fn must not keep rec.
func ReadTable(ctx context.Context, p *config.Pipeline, table, date string, mem memory.Allocator, fn func(rec arrow.Record) error) error {
	out, err := store.Open(ctx, p.Output.URI)
	if err != nil {
		return err
	}
	tbls, err := openTables(ctx, p, out, mem, nil)
	if err != nil {
		return err
	}
	defer tbls.close()
	return tbls.read(ctx, table, date, fn)
}
