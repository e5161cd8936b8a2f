package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"etl/internal/duckdb"
	"etl/internal/emulator/people"
	"etl/internal/emulator/planhat"
	"etl/internal/etlbin"
)

// writeExport writes one day's export: n Planhat-shaped users as JSONL.
func writeExport(t *testing.T, dir, date string, n int) {
	t.Helper()
	d := filepath.Join(dir, "exports", "dt="+date)
	os.MkdirAll(d, 0o755)
	var b strings.Builder
	for _, u := range planhat.FromPeople(people.Generate(uint64(len(date)+n), n), 0) {
		js, _ := json.Marshal(u)
		b.Write(js)
		b.WriteByte('\n')
	}
	if err := os.WriteFile(filepath.Join(d, "users.jsonl"), []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
}

type backfillSummary struct {
	Status string `json:"status"`
	Dates  []struct {
		RunDate string `json:"run_date"`
		Status  string `json:"status"`
	} `json:"dates"`
}

func backfill(t *testing.T, args ...string) (int, backfillSummary, string) {
	t.Helper()
	res := etlbin.Run(t, nil, append([]string{"backfill"}, args...)...)
	var s backfillSummary
	if err := json.Unmarshal([]byte(etlbin.LastLine(res.Stdout)), &s); err != nil {
		t.Fatalf("no summary: %v\n%s\n%s", err, res.Stdout, res.Stderr)
	}
	return res.Code, s, res.Stderr
}

func TestBackfillThreeDatesFromExports(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "out")
	dates := map[string]int{"2026-04-01": 30, "2026-04-02": 40, "2026-04-03": 50}
	for d, n := range dates {
		writeExport(t, dir, d, n)
	}
	p := filepath.Join(dir, "p.yaml")
	os.WriteFile(p, []byte(fmt.Sprintf(`version: 1
sources:
  files:
    - {name: crm_export, path: "%s/exports/dt=${RUN_DATE}/*.jsonl", format: jsonl, shape: planhat}
output: {uri: %q}
`, dir, out)), 0o644)

	code, s, stderr := backfill(t, p, "--from", "2026-04-01", "--to", "2026-04-03")
	if code != 0 || s.Status != "succeeded" || len(s.Dates) != 3 {
		t.Fatalf("exit %d: %+v\n%s", code, s, stderr)
	}
	for d, n := range dates {
		if _, err := os.Stat(filepath.Join(out, "end_users", "dt="+d, "_SUCCESS")); err != nil {
			t.Fatalf("%s is not complete", d)
		}
		rows := duckdb.Query(t, fmt.Sprintf(`SELECT count(*) AS n FROM read_parquet('%s')`, duckdb.Glob(out, "end_user_sources", d)))
		if got := duckdb.Int(t, rows[0]["n"]); got != int64(n) {
			t.Fatalf("%s: %d rows, the export holds %d", d, got, n)
		}
	}

	// A second backfill over the same range does nothing.
	before, _ := os.ReadFile(filepath.Join(out, "end_users", "dt=2026-04-02", "_manifest.json"))
	code, s, stderr = backfill(t, p, "--from", "2026-04-01", "--to", "2026-04-03")
	if code != 0 {
		t.Fatalf("exit %d\n%s", code, stderr)
	}
	for _, d := range s.Dates {
		if d.Status != "skipped" {
			t.Fatalf("second backfill ran %s: %+v", d.RunDate, s)
		}
	}
	after, _ := os.ReadFile(filepath.Join(out, "end_users", "dt=2026-04-02", "_manifest.json"))
	if string(before) != string(after) {
		t.Fatal("the second backfill rewrote a partition")
	}

	// A missing export stops the backfill at that date, with a report.
	writeExport(t, dir, "2026-04-06", 10)
	code, s, stderr = backfill(t, p, "--from", "2026-04-04", "--to", "2026-04-06")
	if code != 1 || s.Status != "failed" || s.Dates[0].Status != "failed" || s.Dates[2].Status != "not run" {
		t.Fatalf("exit %d: %+v", code, s)
	}
	if !strings.Contains(stderr, "no file matches") {
		t.Fatalf("no clear error:\n%s", stderr)
	}
	if _, err := os.Stat(filepath.Join(out, "end_users", "dt=2026-04-06")); err == nil {
		t.Fatal("a date after the failure was run")
	}
}
