package main

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"

	"etl/internal/demo"
	"etl/internal/duckdb"
	"etl/internal/emulator/people"
	"etl/internal/emulator/planhat"
	"etl/internal/etlbin"
	"etl/internal/icebergread"
	"etl/internal/icebergrest"
	"etl/internal/s3test"
	"etl/schemas"
)

// The tables of the run, as the contract has them.
var icebergTables = schemas.Tables

// lakePipeline writes a pipeline reading Planhat at url and, when export
// is set, that JSONL export (whose bad line lands in rejects); output in
// out, as Iceberg tables in the catalog when catalog is set, with a
// write-back to Planhat (sent unless --dry-run) when writeback.
func lakePipeline(t *testing.T, url, export, out, catalog string, writeback bool) string {
	t.Helper()
	src := fmt.Sprintf("version: 1\nsources:\n  planhat: {base_url: %q, token: \"${PLANHAT_API_TOKEN}\"}\n", url)
	if export != "" {
		src += fmt.Sprintf("  files:\n    - {name: crm_export, path: %q, format: jsonl, shape: planhat}\n", export)
	}
	src += fmt.Sprintf("output:\n  uri: %q\n", out)
	if catalog != "" {
		src += fmt.Sprintf("  format: iceberg\n  catalog: %s\n", catalog)
	}
	if writeback {
		src += "writeback:\n  - {target: planhat, fields: [external_id, first_name, last_name, phone], mode: fill}\n"
	}
	p := filepath.Join(t.TempDir(), "pipeline.yaml")
	if err := os.WriteFile(p, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// sqliteCatalog is the catalog setting of a SQLite file.
func sqliteCatalog(path string) string { return fmt.Sprintf("{type: sql, uri: %q}", "sqlite://"+path) }

// exportWithBadLine writes a JSONL export of n Planhat users and one line
// that is not JSON.
func exportWithBadLine(t *testing.T, n int) string {
	t.Helper()
	dir := t.TempDir()
	writeExport(t, dir, runDate, n)
	p := filepath.Join(dir, "exports", "dt="+runDate, "users.jsonl")
	f, err := os.OpenFile(p, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString("{not json\n")
	f.Close()
	return p
}

func mustRun(t *testing.T, env map[string]string, args ...string) summary {
	t.Helper()
	res := etlbin.Run(t, env, args...)
	if res.Code != 0 {
		t.Fatalf("etl %v: exit %d\n%s", args, res.Code, res.Stderr)
	}
	return lastSummary(t, res.Stdout)
}

// rowsOf is every table's rows of date as the independent reader finds
// them in the catalog, sorted, without dt.
func rowsOf(t *testing.T, catalog, s3root, date string) map[string]*icebergread.Table {
	t.Helper()
	return icebergread.Read(t, icebergread.Request{Catalog: catalog, Tables: icebergTables, S3Root: s3root,
		SQL: fmt.Sprintf("SELECT * EXCLUDE (dt) FROM {files} WHERE dt = DATE '%s' ORDER BY ALL", date)})
}

func sameRows(a, b []map[string]any) bool {
	if len(a) == 0 && len(b) == 0 {
		return true
	}
	return reflect.DeepEqual(a, b)
}

// The Iceberg tables of a run hold, for a reader that shares no code with
// iceberg-go, the same rows as the Parquet layout of a run of the same
// data; their metadata is what the contract says.
func TestIcebergSameRowsAsParquet(t *testing.T) {
	// The demo's four vendors (whose people overlap, so that the write-back
	// plans patches) and an export with a bad line (for rejects), once as
	// Parquet and once as Iceberg tables.
	export := exportWithBadLine(t, 60)
	pipeline := func(out, format string) (string, map[string]string) {
		e, err := demo.Start(demo.Options{People: 600, Dir: t.TempDir(), Out: out, Format: format})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(e.Close)
		src, err := os.ReadFile(e.Pipeline)
		if err != nil {
			t.Fatal(err)
		}
		withExport := strings.Replace(string(src), "output:", fmt.Sprintf("  files:\n    - {name: crm_export, path: %q, format: jsonl, shape: planhat}\noutput:", export), 1)
		os.WriteFile(e.Pipeline, []byte(withExport), 0o644)
		return e.Pipeline, e.Vars
	}
	pq := t.TempDir()
	p, env := pipeline(pq, "parquet")
	mustRun(t, env, "run", p, "--run-date", runDate, "--dry-run")
	lake := t.TempDir()
	cat := filepath.Join(lake, "catalog.db")
	p, env = pipeline(lake, "iceberg")
	s := mustRun(t, env, "run", p, "--run-date", runDate, "--dry-run")

	got := rowsOf(t, cat, "", runDate)
	for _, name := range icebergTables {
		want := duckdb.Query(t, fmt.Sprintf("SELECT * FROM read_parquet('%s', hive_partitioning = false) ORDER BY ALL", duckdb.Glob(pq, name, runDate)))
		tbl := got[name]
		if !tbl.Exists {
			t.Fatalf("%s is not in the catalog", name)
		}
		if len(want) == 0 {
			t.Errorf("%s: the Parquet run wrote no rows; the comparison proves little", name)
		}
		if !sameRows(tbl.Rows, want) {
			t.Errorf("%s: the Iceberg table has %d rows, the Parquet partition %d, or they differ", name, len(tbl.Rows), len(want))
			if len(tbl.Rows) > 0 && len(want) > 0 {
				t.Logf("first rows:\n%v\n%v", tbl.Rows[0], want[0])
			}
		}
		if s.Tables[name].Rows != int64(len(want)) {
			t.Errorf("%s: the summary says %d rows", name, s.Tables[name].Rows)
		}
		// The metadata: format 2, the columns plus a required date dt,
		// partitioned by its identity, located under output.uri.
		if tbl.FormatVersion != 2 || tbl.Location != "file://"+filepath.Join(lake, name) {
			t.Errorf("%s: format %d, location %s", name, tbl.FormatVersion, tbl.Location)
		}
		last := tbl.Schema[len(tbl.Schema)-1]
		if len(tbl.Schema) != tableSchemas[name].NumFields()+1 || last != (icebergread.Field{Name: "dt", Type: "date", Required: true}) {
			t.Errorf("%s: schema %v", name, tbl.Schema)
		}
		if len(tbl.PartitionSpec) != 1 || tbl.PartitionSpec[0]["name"] != "dt" || tbl.PartitionSpec[0]["transform"] != "identity" {
			t.Errorf("%s: partition spec %v", name, tbl.PartitionSpec)
		}
		cur := tbl.Current()
		if cur == nil || cur.Summary["etl.run_date"] != runDate || cur.Summary["etl.run_id"] == "" {
			t.Errorf("%s: current snapshot %+v", name, cur)
		}
	}
}

var tableSchemas = map[string]*arrow.Schema{schemas.TableSources: schemas.EndUserSources, schemas.TableUsers: schemas.EndUsers,
	schemas.TableRejects: schemas.Rejects, schemas.TablePlan: schemas.WritebackPlan}

func startServer(t *testing.T, h http.Handler) string {
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv.URL
}

// Re-running a date leaves one new overwrite snapshot per table, with the
// date's rows once, and other dates untouched (their very files).
func TestIcebergRerunOneOverwritePerTable(t *testing.T) {
	_, url := startPlanhat(t, 300)
	env := map[string]string{"PLANHAT_API_TOKEN": token}
	lake := t.TempDir()
	cat := filepath.Join(lake, "catalog.db")
	p := lakePipeline(t, url, exportWithBadLine(t, 20), lake, sqliteCatalog(cat), true)
	const other = "2026-01-14"
	mustRun(t, env, "run", p, "--run-date", other, "--dry-run")
	mustRun(t, env, "run", p, "--run-date", runDate, "--dry-run")
	before := rowsOf(t, cat, "", runDate)
	beforeOther := rowsOf(t, cat, "", other)
	res := etlbin.Run(t, env, "run", p, "--run-date", runDate, "--dry-run")
	if res.Code != 0 {
		t.Fatalf("re-run: exit %d\n%s", res.Code, res.Stderr)
	}
	rerun := runID(t, res.Stdout)
	after := rowsOf(t, cat, "", runDate)
	afterOther := rowsOf(t, cat, "", other)
	for _, name := range icebergTables {
		b, a := before[name], after[name]
		if len(a.Snapshots) != len(b.Snapshots)+1 {
			t.Errorf("%s: %d snapshots before the re-run, %d after", name, len(b.Snapshots), len(a.Snapshots))
		}
		cur := a.Current()
		if cur == nil || cur.Operation != "overwrite" || cur.Summary["etl.run_id"] != rerun || cur.Summary["etl.run_date"] != runDate ||
			cur.ParentSnapshotID == nil || *cur.ParentSnapshotID != b.CurrentSnapshotID {
			t.Errorf("%s: the re-run's snapshot %+v", name, cur)
		}
		// The same data: the same rows, each once.
		if !sameRows(a.Rows, b.Rows) {
			t.Errorf("%s: %d rows before the re-run, %d after", name, len(b.Rows), len(a.Rows))
		}
		var live int64
		for _, f := range a.Files {
			if f.DT == runDate {
				live += f.Records
			}
		}
		if live != int64(len(a.Rows)) {
			t.Errorf("%s: %d live rows of %s in the manifests, %d read", name, live, runDate, len(a.Rows))
		}
		if !sameRows(afterOther[name].Rows, beforeOther[name].Rows) || !slices.Equal(filesOf(afterOther[name], other), filesOf(beforeOther[name], other)) {
			t.Errorf("%s: %s changed with the re-run of %s", name, other, runDate)
		}
	}
}

// filesOf lists a table's live data files of date.
func filesOf(t *icebergread.Table, date string) []string {
	var out []string
	for _, f := range t.Files {
		if f.DT == date {
			out = append(out, f.Path)
		}
	}
	slices.Sort(out)
	return out
}

// A run of a date killed at a random moment (SIGKILL) leaves each table
// with the date's previous rows or the new ones, never a mix; the run
// after it leaves them all new. The previous rows come from other data
// (other Planhat users), so the two are told apart.
func TestIcebergKilledAtRandom(t *testing.T) {
	killCycles(t, 4, func(t *testing.T, i int) (out, cat, s3root string, env map[string]string) {
		dir := t.TempDir()
		return dir, filepath.Join(dir, "catalog.db"), "", map[string]string{"PLANHAT_API_TOKEN": token}
	})
}

// The same with the data files on S3 (the Versity gateway).
func TestIcebergKilledAtRandomS3(t *testing.T) {
	srv := s3test.Start(t, "lake")
	killCycles(t, 2, func(t *testing.T, i int) (out, cat, s3root string, env map[string]string) {
		return srv.URI(fmt.Sprintf("c%d", i)), filepath.Join(t.TempDir(), "catalog.db"), srv.Dir, s3Env(srv)
	})
}

func killCycles(t *testing.T, n int, setup func(t *testing.T, i int) (out, cat, s3root string, env map[string]string)) {
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 17))
	_, url1 := startPlanhat(t, 400)
	em2 := planhat.New(token, planhat.FromPeople(people.Generate(8, 450), 0))
	url2 := startServer(t, em2)

	// The reference: the previous rows, then the new ones, uninterrupted.
	out, cat, s3root, env := setup(t, 0)
	mustRun(t, env, "run", lakePipeline(t, url1, "", out, sqliteCatalog(cat), false), "--run-date", runDate)
	prev := rowsOf(t, cat, s3root, runDate)
	start := time.Now()
	mustRun(t, env, "run", lakePipeline(t, url2, "", out, sqliteCatalog(cat), false), "--run-date", runDate)
	took := time.Since(start)
	next := rowsOf(t, cat, s3root, runDate)
	if sameRows(prev[schemas.TableSources].Rows, next[schemas.TableSources].Rows) {
		t.Fatal("the two runs' rows are the same: the test could not tell them apart")
	}

	for i := 1; i <= n; i++ {
		t.Run(fmt.Sprint("cycle", i), func(t *testing.T) {
			out, cat, s3root, env := setup(t, i)
			mustRun(t, env, "run", lakePipeline(t, url1, "", out, sqliteCatalog(cat), false), "--run-date", runDate)
			p := lakePipeline(t, url2, "", out, sqliteCatalog(cat), false)
			// Half the kills in the run's last third, where the tables are
			// written and committed.
			delay := time.Duration(rng.Int64N(int64(took)))
			if i%2 == 0 {
				delay = took*2/3 + time.Duration(rng.Int64N(int64(took/3)))
			}
			proc := etlbin.Start(t, env, "run", p, "--run-date", runDate)
			time.Sleep(delay)
			proc.Signal(t, syscall.SIGKILL)
			res := proc.Wait(t)
			t.Logf("killed after %s (exit %d)", delay.Round(time.Millisecond), res.Code)
			got := rowsOf(t, cat, s3root, runDate)
			states := map[string]int{}
			for _, name := range icebergTables {
				switch {
				case sameRows(got[name].Rows, next[name].Rows):
					states["new"]++
				case sameRows(got[name].Rows, prev[name].Rows):
					states["previous"]++
				default:
					t.Errorf("%s: %d rows, neither the previous %d nor the new %d", name, len(got[name].Rows), len(prev[name].Rows), len(next[name].Rows))
				}
			}
			t.Logf("tables after the kill: %v", states)
			mustRun(t, env, "run", p, "--run-date", runDate)
			got = rowsOf(t, cat, s3root, runDate)
			for _, name := range icebergTables {
				if !sameRows(got[name].Rows, next[name].Rows) {
					t.Errorf("%s after the run that followed the kill: %d rows, want the new %d", name, len(got[name].Rows), len(next[name].Rows))
				}
			}
		})
	}
}

// Stages and backfills work as with Parquet, through a REST catalog: the
// extracts, resolve (skipped when done), write-back (reading the tables
// back), and a backfill that skips the dates already complete.
func TestIcebergStagesThroughREST(t *testing.T) {
	em, url := startPlanhat(t, 300)
	env := map[string]string{"PLANHAT_API_TOKEN": token}
	lake := t.TempDir()
	rest := icebergrest.Start(t, t.TempDir(), "file://"+lake)
	p := lakePipeline(t, url, "", lake, fmt.Sprintf("{type: rest, uri: %q, token: rest-token-secret}", rest.URL), true)

	mustRun(t, env, "run", p, "--run-date", runDate, "--stage", "extract")
	s := mustRun(t, env, "run", p, "--run-date", runDate, "--stage", "resolve")
	if s.Tables[schemas.TableSources].Rows != 300 {
		t.Fatalf("resolve: %+v", s.Tables)
	}
	res := etlbin.Run(t, env, "run", p, "--run-date", runDate, "--stage", "resolve")
	if res.Code != 0 || !strings.Contains(etlbin.LastLine(res.Stdout), `"skipped":["resolve"]`) {
		t.Errorf("a second resolve was not skipped: exit %d\n%s", res.Code, etlbin.LastLine(res.Stdout))
	}
	before := len(em.Log())
	s = mustRun(t, env, "run", p, "--run-date", runDate, "--stage", "writeback")
	if s.Writeback["planhat"].Sent == 0 || len(em.Log()) == before {
		t.Fatalf("the write-back stage sent nothing: %+v", s.Writeback)
	}
	got := rowsOf(t, rest.Catalog, "", runDate)
	if n := len(got[schemas.TablePlan].Rows); n == 0 {
		t.Error("writeback_plan is empty after the write-back stage")
	}
	// The write-back stage replaced writeback_plan and rejects.
	plan, rj := got[schemas.TablePlan].Current(), got[schemas.TableRejects].Current()
	if plan.Summary["etl.run_id"] != rj.Summary["etl.run_id"] || plan.Operation != "overwrite" {
		t.Errorf("write-back snapshots: %+v, %+v", plan, rj)
	}
	// A backfill over the date and the next: the first is complete.
	res = etlbin.Run(t, env, "backfill", p, "--from", runDate, "--to", "2026-01-16")
	var bs backfillSummary
	json.Unmarshal([]byte(etlbin.LastLine(res.Stdout)), &bs)
	if res.Code != 0 || bs.Status != "succeeded" || len(bs.Dates) != 2 || bs.Dates[0].Status != "skipped" || bs.Dates[1].Status != "succeeded" {
		t.Fatalf("backfill: exit %d %+v\n%s", res.Code, bs, res.Stderr)
	}
}
