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

func equalRows(a, b []map[string]any) bool {
	if len(a) == 0 && len(b) == 0 {
		return true
	}
	return reflect.DeepEqual(a, b)
}

// The Iceberg tables of a run hold, for a reader that shares no code with
// iceberg-go, the same rows as the Parquet layout of a run of the same
// data; their metadata is what the contract says.
// demoPipeline is the demo's pipeline (four vendors whose people overlap,
// so that the write-back plans patches) into out, with output settings
// added (format and catalog) and, when export is set, that export.
func demoPipeline(t *testing.T, out, output, export string) (string, map[string]string) {
	t.Helper()
	e, err := demo.Start(demo.Options{People: 600, Dir: t.TempDir(), Out: out})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.Close)
	src, err := os.ReadFile(e.Pipeline)
	if err != nil {
		t.Fatal(err)
	}
	y := strings.Replace(string(src), "output:\n  uri: "+fmt.Sprintf("%q", out)+"\n", "output:\n  uri: "+fmt.Sprintf("%q", out)+"\n"+output, 1)
	if export != "" {
		y = strings.Replace(y, "output:", fmt.Sprintf("  files:\n    - {name: crm_export, path: %q, format: jsonl, shape: planhat}\noutput:", export), 1)
	}
	if !strings.Contains(y, output) {
		t.Fatalf("the demo's pipeline changed: %s", y)
	}
	if err := os.WriteFile(e.Pipeline, []byte(y), 0o644); err != nil {
		t.Fatal(err)
	}
	return e.Pipeline, e.Vars
}

func TestIcebergSameRowsAsParquet(t *testing.T) {
	// The demo's vendors and an export with a bad line (for rejects), once
	// as Parquet and once as Iceberg tables.
	export := exportWithBadLine(t, 60)
	pq := t.TempDir()
	p, env := demoPipeline(t, pq, "", export)
	mustRun(t, env, "run", p, "--run-date", runDate, "--dry-run")
	lake := t.TempDir()
	cat := filepath.Join(lake, "catalog.db")
	p, env = demoPipeline(t, lake, "  format: iceberg\n  catalog: "+sqliteCatalog(cat)+"\n", export)
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
		if !equalRows(tbl.Rows, want) {
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
	schemas.TableRejects: schemas.Rejects, schemas.TablePlan: schemas.WritebackPlan, schemas.TableChanges: schemas.EndUserChanges}

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
		if !equalRows(a.Rows, b.Rows) {
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
		if !equalRows(afterOther[name].Rows, beforeOther[name].Rows) || !slices.Equal(filesOf(afterOther[name], other), filesOf(beforeOther[name], other)) {
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

// lakeSetup is one output of the kill tests.
type lakeSetup struct {
	out    string // output.uri
	dir    string // where its files are on this machine
	cat    string // the SQLite catalog
	s3root string
	env    map[string]string
}

// A run of a date killed (SIGKILL) at a random moment, or right as it
// starts committing, leaves each table with the date's previous rows or
// the new ones, never a mix; the run after it leaves them all new. The
// previous rows come from other data (other Planhat users), so the two are
// told apart.
func TestIcebergKilledAtRandom(t *testing.T) {
	killCycles(t, 4, func(t *testing.T, i int) lakeSetup {
		dir := t.TempDir()
		return lakeSetup{out: dir, dir: dir, cat: filepath.Join(dir, "catalog.db"), env: map[string]string{"PLANHAT_API_TOKEN": token}}
	})
}

// The same with the data files on S3 (the Versity gateway).
func TestIcebergKilledAtRandomS3(t *testing.T) {
	srv := s3test.Start(t, "lake")
	killCycles(t, 2, func(t *testing.T, i int) lakeSetup {
		prefix := fmt.Sprintf("c%d", i)
		return lakeSetup{out: srv.URI(prefix), dir: srv.Path(prefix), cat: filepath.Join(t.TempDir(), "catalog.db"), s3root: srv.Dir, env: s3Env(srv)}
	})
}

// metadataFiles counts the metadata JSON files of every table under dir:
// a commit writes one before it swaps the catalog's pointer.
func metadataFiles(dir string) int {
	n := 0
	for _, name := range icebergTables {
		es, _ := os.ReadDir(filepath.Join(dir, name, "metadata"))
		for _, e := range es {
			if strings.HasSuffix(e.Name(), ".metadata.json") {
				n++
			}
		}
	}
	return n
}

func killCycles(t *testing.T, n int, setup func(t *testing.T, i int) lakeSetup) {
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 17))
	_, url1 := startPlanhat(t, 400)
	url2 := startServer(t, planhat.New(token, planhat.FromPeople(people.Generate(8, 450), 0)))

	// The reference: the previous rows, then the new ones, uninterrupted.
	ref := setup(t, 0)
	mustRun(t, ref.env, "run", lakePipeline(t, url1, "", ref.out, sqliteCatalog(ref.cat), false), "--run-date", runDate)
	prev := rowsOf(t, ref.cat, ref.s3root, runDate)
	start := time.Now()
	mustRun(t, ref.env, "run", lakePipeline(t, url2, "", ref.out, sqliteCatalog(ref.cat), false), "--run-date", runDate)
	took := time.Since(start)
	next := rowsOf(t, ref.cat, ref.s3root, runDate)
	if equalRows(prev[schemas.TableSources].Rows, next[schemas.TableSources].Rows) {
		t.Fatal("the two runs' rows are the same: the test could not tell them apart")
	}
	// Back to the smaller data: iceberg-go warns that the overwrite deletes
	// more rows than it adds, and says so on stderr as a JSON line, as
	// every log line is when stderr is not a terminal.
	res := etlbin.Run(t, ref.env, "run", lakePipeline(t, url1, "", ref.out, sqliteCatalog(ref.cat), false), "--run-date", runDate)
	warned := false
	for _, line := range strings.Split(strings.TrimSpace(res.Stderr), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Errorf("a stderr line is not JSON: %s", line)
		}
		warned = warned || strings.Contains(line, "fewer rows than deleted")
	}
	if res.Code != 0 || !warned {
		t.Errorf("exit %d; iceberg-go's warning logged as JSON: %v", res.Code, warned)
	}

	for i := 1; i <= n; i++ {
		t.Run(fmt.Sprint("cycle", i), func(t *testing.T) {
			c := setup(t, i)
			mustRun(t, c.env, "run", lakePipeline(t, url1, "", c.out, sqliteCatalog(c.cat), false), "--run-date", runDate)
			p := lakePipeline(t, url2, "", c.out, sqliteCatalog(c.cat), false)
			// Odd cycles: a random moment of the run. Even ones: as soon as
			// the first table's commit has written its metadata, whether or
			// not the catalog points to it yet.
			delay := time.Duration(rng.Int64N(int64(took)))
			committing := i%2 == 0
			base := metadataFiles(c.dir)
			proc := etlbin.Start(t, c.env, "run", p, "--run-date", runDate)
			at := time.Now().Add(delay)
			for !proc.Exited() {
				if committing && metadataFiles(c.dir) > base || !committing && time.Now().After(at) {
					proc.Signal(t, syscall.SIGKILL)
					break
				}
				time.Sleep(200 * time.Microsecond)
			}
			res := proc.Wait(t)
			switch {
			case res.Code == 0:
				t.Logf("the run ended before the kill point")
			case committing:
				t.Logf("killed once committing (exit %d)", res.Code)
			default:
				t.Logf("killed after %s (exit %d)", delay.Round(time.Millisecond), res.Code)
			}
			got := rowsOf(t, c.cat, c.s3root, runDate)
			states := map[string]int{}
			for _, name := range icebergTables {
				switch {
				case equalRows(got[name].Rows, next[name].Rows):
					states["new"]++
				case equalRows(got[name].Rows, prev[name].Rows):
					states["previous"]++
				default:
					t.Errorf("%s: %d rows, neither the previous %d nor the new %d", name, len(got[name].Rows), len(prev[name].Rows), len(next[name].Rows))
				}
			}
			t.Logf("tables after the kill: %v (empty in both: new)", states)
			again := etlbin.Run(t, c.env, "run", p, "--run-date", runDate)
			if again.Code != 0 || strings.Contains(again.Stderr, "expiry failed") {
				t.Fatalf("the run after the kill: exit %d\n%s", again.Code, again.Stderr)
			}
			got = rowsOf(t, c.cat, c.s3root, runDate)
			for _, name := range icebergTables {
				if !equalRows(got[name].Rows, next[name].Rows) {
					t.Errorf("%s after the run that followed the kill: %d rows, want the new %d", name, len(got[name].Rows), len(next[name].Rows))
				}
				if cur := got[name].Current(); cur == nil || cur.Operation != "overwrite" || cur.Summary["etl.run_id"] != runID(t, again.Stdout) {
					t.Errorf("%s: the current snapshot is not the last run's overwrite: %+v", name, cur)
				}
			}
		})
	}
}

// Stages and backfills work as with Parquet, through a REST catalog: the
// extracts, resolve (skipped when done), write-back (reading the tables
// back), and a backfill that skips the dates already complete.
func TestIcebergStagesThroughREST(t *testing.T) {
	lake := t.TempDir()
	rest := icebergrest.Start(t, t.TempDir(), "file://"+lake)
	p, env := demoPipeline(t, lake, fmt.Sprintf("  format: iceberg\n  catalog: {type: rest, uri: %q, token: rest-token-secret}\n", rest.URL), "")

	mustRun(t, env, "run", p, "--run-date", runDate, "--stage", "extract")
	s := mustRun(t, env, "run", p, "--run-date", runDate, "--stage", "resolve")
	if s.Tables[schemas.TableSources].Rows == 0 || s.Tables[schemas.TableUsers].Rows == 0 {
		t.Fatalf("resolve: %+v", s.Tables)
	}
	res := etlbin.Run(t, env, "run", p, "--run-date", runDate, "--stage", "resolve")
	if res.Code != 0 || !strings.Contains(etlbin.LastLine(res.Stdout), `"skipped":["resolve"]`) {
		t.Errorf("a second resolve was not skipped: exit %d\n%s", res.Code, etlbin.LastLine(res.Stdout))
	}
	s = mustRun(t, env, "run", p, "--run-date", runDate, "--stage", "writeback")
	var sent int64
	for _, w := range s.Writeback {
		sent += w.Sent
	}
	if sent == 0 {
		t.Fatalf("the write-back stage sent nothing: %+v", s.Writeback)
	}
	got := rowsOf(t, rest.Catalog, "", runDate)
	if n := len(got[schemas.TablePlan].Rows); n == 0 {
		t.Error("writeback_plan is empty after the write-back stage")
	}
	// resolve replaced the four tables, and the write-back stage
	// writeback_plan and rejects, each in one multi-table commit.
	if n := rest.Transactions(); n != 2 {
		t.Errorf("%d multi-table commits, want 2", n)
	}
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
