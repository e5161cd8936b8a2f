package main

import (
	"fmt"
	"net/http/httptest"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"etl/internal/duckdb"
	"etl/internal/emulator/people"
	"etl/internal/emulator/planhat"
	"etl/internal/icebergread"
	"etl/schemas"
)

// The safety nets and history with output.format: iceberg, through the
// binary, read back by the independent reader.

// icebergOutput is the lines under output: of a SQLite catalog at cat.
func icebergOutput(cat string) string {
	return "  format: iceberg\n  catalog: " + sqliteCatalog(cat) + "\n"
}

// catalogState is, per table, where the catalog points and the current
// snapshot: what a run that changes nothing leaves as it was.
func catalogState(tables map[string]*icebergread.Table) map[string][2]string {
	out := map[string][2]string{}
	for name, t := range tables {
		out[name] = [2]string{t.MetadataLocation, t.CurrentSnapshotID}
	}
	return out
}

// checkIcebergRuns: the Iceberg runs table holds exactly one row per
// invocation, its summary the invocation's last stdout line, in the
// partition of its run date.
func (h history) checkIcebergRuns(t *testing.T, cat string) {
	t.Helper()
	runs := icebergread.Read(t, icebergread.Request{Catalog: cat, Tables: []string{schemas.TableRuns},
		SQL: fmt.Sprintf(runsSQL, "{files}") + " WHERE CAST(dt AS VARCHAR) = CAST(run_date AS VARCHAR)"})[schemas.TableRuns]
	if !runs.Exists {
		t.Fatal("no runs table in the catalog")
	}
	var live int64
	for _, f := range runs.Files {
		live += f.Records
	}
	if live != int64(len(runs.Rows)) {
		t.Fatalf("runs: %d live rows, %d of them in the partition of their run date", live, len(runs.Rows))
	}
	for _, s := range runs.Snapshots {
		if s.Operation != "append" {
			t.Fatalf("runs: a %s snapshot; rows are only ever appended", s.Operation)
		}
	}
	h.compare(t, runs.Rows)
}

// Two dates with changes between them, in both formats: every table of the
// second date, end_user_changes included, holds the same rows, and the
// volume guard and the changes compare with the same earlier date. Then a
// guard-refused run leaves every table's snapshot as it was, and the runs
// table has one row per invocation.
func TestIcebergSafetyNets(t *testing.T) {
	env := map[string]string{"PLANHAT_API_TOKEN": token}
	users := planhat.FromPeople(people.Generate(7, 300), 0)
	next, _, _ := changedUsers(users)
	serve := func(us []planhat.EndUser) (*planhat.Emulator, string) {
		em := planhat.New(token, us)
		srv := httptest.NewServer(em)
		t.Cleanup(srv.Close)
		return em, srv.URL
	}
	_, url1 := serve(users)
	_, url2 := serve(next)
	pq, lake := t.TempDir(), t.TempDir()
	cat := filepath.Join(lake, "catalog.db")
	var hp, hi history
	hp.mustSucceed(t, env, "run", pipeline(t, url1, pq, ""), "--run-date", day1)
	sp := hp.mustSucceed(t, env, "run", pipeline(t, url2, pq, ""), "--run-date", day2)
	s1 := hi.mustSucceed(t, env, "run", pipeline(t, url1, lake, icebergOutput(cat)), "--run-date", day1)
	si := hi.mustSucceed(t, env, "run", pipeline(t, url2, lake, icebergOutput(cat)), "--run-date", day2)

	if si.Guard == nil || !reflect.DeepEqual(si.Guard, sp.Guard) || si.Guard.ComparedWith != day1 ||
		si.Guard.Sources["planhat"].Previous != s1.Tables[schemas.TableSources].Rows {
		t.Errorf("the guard compared with %+v (Iceberg) and %+v (Parquet)", si.Guard, sp.Guard)
	}
	if si.Changes == nil || *si.Changes != *sp.Changes || si.Changes.ComparedWith != day1 {
		t.Errorf("changes: %+v (Iceberg), %+v (Parquet)", si.Changes, sp.Changes)
	}
	got := rowsOf(t, cat, "", day2)
	for _, name := range schemas.Tables {
		want := duckdb.Query(t, fmt.Sprintf("SELECT * FROM read_parquet('%s', hive_partitioning = false) ORDER BY ALL", duckdb.Glob(pq, name, day2)))
		if !equalRows(got[name].Rows, want) {
			t.Errorf("%s of %s: %d rows in the Iceberg table, %d in the Parquet partition, or they differ", name, day2, len(got[name].Rows), len(want))
		}
	}
	kinds := map[any]int{}
	for _, r := range got[schemas.TableChanges].Rows {
		kinds[r["change"]]++
	}
	if kinds["added"] != 2 || kinds["removed"] != 2 || kinds["changed"] < 4 {
		t.Errorf("end_user_changes of %s by kind: %v; the data has each kind", day2, kinds)
	}

	// A drop beyond the guard's limit: refused, and no table moves.
	all := append([]string{schemas.TableRuns}, schemas.Tables...)
	before := icebergread.Read(t, icebergread.Request{Catalog: cat, Tables: all})
	em100, url100 := planhatWith(t, 100)
	res, s := hi.run(t, env, "run", pipeline(t, url100, lake, icebergOutput(cat)+fillNames), "--run-date", day2)
	want := fmt.Sprintf("volume guard: planhat extracted %d records against %d rows on %s", s.Sources["planhat"].Extracted, s1.Tables[schemas.TableSources].Rows, day1)
	if res.Code != 1 || s.Status != "failed" || !strings.Contains(s.Error, want) {
		t.Fatalf("a drop to %d records: exit %d, %q; want %q", s.Sources["planhat"].Extracted, res.Code, s.Error, want)
	}
	after := icebergread.Read(t, icebergread.Request{Catalog: cat, Tables: all})
	runsBefore, runsAfter := before[schemas.TableRuns], after[schemas.TableRuns]
	delete(before, schemas.TableRuns)
	delete(after, schemas.TableRuns)
	if !reflect.DeepEqual(catalogState(after), catalogState(before)) {
		t.Fatalf("the refused run moved a table:\nbefore %v\nafter  %v", catalogState(before), catalogState(after))
	}
	if n := writes(em100); n != 0 {
		t.Fatalf("the refused run sent %d write requests", n)
	}
	// Only its history: one more append to runs.
	if len(runsAfter.Snapshots) != len(runsBefore.Snapshots)+1 {
		t.Fatalf("runs: %d snapshots before the refused run, %d after", len(runsBefore.Snapshots), len(runsAfter.Snapshots))
	}
	// Through a failed run (refused credentials) and each stage, too.
	if res, _ := hi.run(t, map[string]string{"PLANHAT_API_TOKEN": "wrong-token-123"}, "run", pipeline(t, url2, lake, icebergOutput(cat)),
		"--run-date", "2026-01-16"); res.Code != 1 {
		t.Fatalf("a refused token: exit %d", res.Code)
	}
	for _, stage := range []string{"extract", "resolve"} {
		hi.mustSucceed(t, env, "run", pipeline(t, url2, lake, icebergOutput(cat)), "--run-date", "2026-01-16", "--stage", stage)
	}
	hi.checkIcebergRuns(t, cat)
}

// The run-date lock lives in the output store (output.uri) whatever the
// format: a second Iceberg run of a date fails at once, changing nothing
// but its runs row, and the first completes.
func TestIcebergOneRunPerDate(t *testing.T) {
	dir := t.TempDir()
	cat := filepath.Join(dir, "catalog.db")
	o := lockOutput{uri: dir, dir: dir, env: map[string]string{"PLANHAT_API_TOKEN": token}}
	var h history
	_, url := startPlanhat(t, 50)
	h.mustSucceed(t, o.env, "run", pipeline(t, url, dir, icebergOutput(cat)), "--run-date", runDate)
	a, _, p := heldWith(t, o, o.env, 4*time.Second, icebergOutput(cat))
	holder := lockFile(t, dir).RunID
	was := catalogState(icebergread.Read(t, icebergread.Request{Catalog: cat, Tables: schemas.Tables}))
	b, sb := h.run(t, o.env, "run", p, "--run-date", runDate)
	if b.Code != 1 || !strings.Contains(sb.Error, "run "+holder+" holds it") {
		t.Fatalf("the second run: exit %d, %q; want refused naming %s", b.Code, sb.Error, holder)
	}
	if now := catalogState(icebergread.Read(t, icebergread.Request{Catalog: cat, Tables: schemas.Tables})); !reflect.DeepEqual(now, was) {
		t.Fatalf("the refused run moved a table:\nbefore %v\nafter  %v", was, now)
	}
	ra := a.Wait(t)
	h = append(h, ra)
	if sa := summaryOf(t, ra); ra.Code != 0 || sa.RunID != holder || sa.Tables[schemas.TableSources].Rows != 2500 {
		t.Fatalf("the first run: exit %d\n%s", ra.Code, ra.Stderr)
	}
	h.checkIcebergRuns(t, cat)
}
