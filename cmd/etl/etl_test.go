package main

import (
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"etl/internal/duckdb"
	"etl/internal/emulator/emu"
	"etl/internal/emulator/people"
	"etl/internal/emulator/planhat"
	"etl/internal/etlbin"
)

const token = "ph-test-token-7f3a9c"

const runDate = "2026-01-15"

func pipeline(t *testing.T, baseURL, out string, extra string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "pipeline.yaml")
	body := fmt.Sprintf(`version: 1
sources:
  planhat:
    base_url: %q
    token: "${PLANHAT_API_TOKEN}"
output:
  uri: %q
%s`, baseURL, out, extra)
	if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func startPlanhat(t *testing.T, n int) (*planhat.Emulator, string) {
	em := planhat.New(token, planhat.FromPeople(people.Generate(7, n), 0))
	srv := httptest.NewServer(em)
	t.Cleanup(srv.Close)
	return em, srv.URL
}

type summary struct {
	RunDate string `json:"run_date"`
	Status  string `json:"status"`
	Error   string `json:"error"`
	Sources map[string]struct {
		Extracted  int64 `json:"extracted"`
		Duplicates int64 `json:"duplicates"`
		Pages      int64 `json:"pages"`
	} `json:"sources"`
	Tables map[string]struct {
		Rows int64 `json:"rows"`
	} `json:"tables"`
	Writeback map[string]struct {
		Sent   int64 `json:"sent"`
		Failed int64 `json:"failed"`
	} `json:"writeback"`
}

func lastSummary(t *testing.T, stdout string) summary {
	t.Helper()
	var s summary
	if err := json.Unmarshal([]byte(etlbin.LastLine(stdout)), &s); err != nil {
		t.Fatalf("last stdout line is not the JSON summary: %v\n%s", err, stdout)
	}
	return s
}

// checkOutput compares the end_user_sources partition, read by DuckDB, with
// the emulator's users: every id once, with its normalised email.
func checkOutput(t *testing.T, out string, users []planhat.EndUser) {
	t.Helper()
	glob := duckdb.Glob(out, "end_user_sources", runDate)
	got := duckdb.Query(t, fmt.Sprintf(`SELECT count(*) AS n, count(DISTINCT source_id) AS d FROM read_parquet('%s')`, glob))
	if n, d := duckdb.Int(t, got[0]["n"]), duckdb.Int(t, got[0]["d"]); n != int64(len(users)) || d != int64(len(users)) {
		t.Fatalf("DuckDB reads %d rows with %d distinct source_ids, want %d of each", n, d, len(users))
	}
	rows := duckdb.Query(t, fmt.Sprintf(`SELECT source_id, email FROM read_parquet('%s') ORDER BY source_id`, glob))
	sort.Slice(users, func(i, j int) bool { return users[i].ID < users[j].ID })
	for i, u := range users {
		if rows[i]["source_id"] != u.ID || rows[i]["email"] != strings.ToLower(u.Email) {
			t.Fatalf("row %d: got %v/%v, want %s/%s", i, rows[i]["source_id"], rows[i]["email"], u.ID, u.Email)
		}
	}
	if _, err := os.Stat(filepath.Join(out, "end_user_sources", "dt="+runDate, "_SUCCESS")); err != nil {
		t.Fatalf("no _SUCCESS: %v", err)
	}
}

func TestRunPlanhatThreePages(t *testing.T) {
	em, url := startPlanhat(t, 5001)
	out := t.TempDir()
	res := etlbin.Run(t, map[string]string{"PLANHAT_API_TOKEN": token}, "run", pipeline(t, url, out, ""), "--run-date", runDate)
	if res.Code != 0 {
		t.Fatalf("exit %d\nstderr: %s", res.Code, res.Stderr)
	}
	s := lastSummary(t, res.Stdout)
	if s.Status != "succeeded" || s.Sources["planhat"].Extracted != 5001 || s.Sources["planhat"].Pages != 3 {
		t.Fatalf("summary: %+v", s)
	}
	if s.Tables["end_user_sources"].Rows != 5001 {
		t.Fatalf("summary rows: %+v", s.Tables)
	}
	checkOutput(t, out, em.Users())
	if strings.Contains(res.Stdout+res.Stderr, token) {
		t.Fatal("the token appears in the output")
	}
	// stderr is not a terminal here: every line must be JSON.
	for _, line := range strings.Split(strings.TrimSpace(res.Stderr), "\n") {
		if !json.Valid([]byte(line)) {
			t.Fatalf("stderr line is not JSON: %s", line)
		}
	}
}

func TestRunPlanhatInsertsDuringScan(t *testing.T) {
	em, url := startPlanhat(t, 5001)
	extra := planhat.FromPeople(people.Generate(99, 50), 0)
	em.OnList = func(n int) {
		if n == 1 { // after the first page, before the second
			em.Insert(extra...)
		}
	}
	out := t.TempDir()
	res := etlbin.Run(t, map[string]string{"PLANHAT_API_TOKEN": token}, "run", pipeline(t, url, out, ""), "--run-date", runDate)
	if res.Code != 0 {
		t.Fatalf("exit %d\nstderr: %s", res.Code, res.Stderr)
	}
	users := em.Users()
	if len(users) != 5051 {
		t.Fatalf("emulator holds %d users, want 5051", len(users))
	}
	checkOutput(t, out, users)
}

func TestRerunReplacesPartition(t *testing.T) {
	em, url := startPlanhat(t, 300)
	out := t.TempDir()
	p := pipeline(t, url, out, "")
	for i := 0; i < 2; i++ {
		res := etlbin.Run(t, map[string]string{"PLANHAT_API_TOKEN": token}, "run", p, "--run-date", runDate)
		if res.Code != 0 {
			t.Fatalf("run %d: exit %d\nstderr: %s", i, res.Code, res.Stderr)
		}
	}
	for _, table := range []string{"end_user_sources", "end_users", "rejects"} {
		parts, _ := filepath.Glob(filepath.Join(out, table, "dt="+runDate, "*.parquet"))
		if len(parts) != 1 {
			t.Fatalf("%s: %d part files after a re-run, want 1: %v", table, len(parts), parts)
		}
		if _, err := os.Stat(filepath.Join(out, table, "dt="+runDate, "_SUCCESS")); err != nil {
			t.Fatalf("%s: no _SUCCESS", table)
		}
	}
	checkOutput(t, out, em.Users())
}

func TestValidateUnknownKey(t *testing.T) {
	p := filepath.Join(t.TempDir(), "pipeline.yaml")
	os.WriteFile(p, []byte("version: 1\nsources:\n  planhat:\n    base_url: https://api.planhat.com\n    token: x\n    page_sise: 10\noutput:\n  uri: out\n"), 0o644)
	res := etlbin.Run(t, nil, "validate", p)
	if res.Code != 2 {
		t.Fatalf("exit %d, want 2\n%s", res.Code, res.Stderr)
	}
	if !strings.Contains(res.Stderr, "pipeline.yaml:6") || !strings.Contains(res.Stderr, "sources.planhat.page_sise") {
		t.Fatalf("stderr does not name the key and line:\n%s", res.Stderr)
	}
}

func TestValidateReportsEveryProblem(t *testing.T) {
	p := filepath.Join(t.TempDir(), "pipeline.yaml")
	os.WriteFile(p, []byte("version: 1\nsources:\n  planhat: {base_url: ftp://x, token: x, page_size: 5000}\n  dixa: {token: y}\noutput: {}\n"), 0o644)
	res := etlbin.Run(t, nil, "validate", p)
	if res.Code != 2 {
		t.Fatalf("exit %d, want 2", res.Code)
	}
	for _, want := range []string{"sources.planhat.base_url", "sources.planhat.page_size", "sources.dixa.base_url", "output.uri"} {
		if !strings.Contains(res.Stderr, want) {
			t.Errorf("stderr does not mention %s:\n%s", want, res.Stderr)
		}
	}
}

func TestRunMissingVariable(t *testing.T) {
	out := t.TempDir()
	res := etlbin.Run(t, nil, "run", pipeline(t, "http://127.0.0.1:1", out, ""), "--run-date", runDate)
	if res.Code != 2 {
		t.Fatalf("exit %d, want 2\n%s", res.Code, res.Stderr)
	}
	if !strings.Contains(res.Stderr, "PLANHAT_API_TOKEN") {
		t.Fatalf("stderr does not name the variable:\n%s", res.Stderr)
	}
}

func TestRunRejectedTokenFailsFast(t *testing.T) {
	em, url := startPlanhat(t, 10)
	out := t.TempDir()
	bad := "wrong-token-5c2e81d0"
	res := etlbin.Run(t, map[string]string{"PLANHAT_API_TOKEN": bad}, "run", pipeline(t, url, out, ""), "--run-date", runDate)
	if res.Code != 1 {
		t.Fatalf("exit %d, want 1\n%s", res.Code, res.Stderr)
	}
	if !strings.Contains(res.Stderr, "planhat refused the credentials (HTTP 401)") {
		t.Fatalf("no clear message:\n%s", res.Stderr)
	}
	if strings.Contains(res.Stdout+res.Stderr, bad) {
		t.Fatal("the rejected token appears in the output")
	}
	if n := len(em.Log()); n != 1 {
		t.Fatalf("the emulator saw %d requests, want 1 (no retry after a 401)", n)
	}
	if s := lastSummary(t, res.Stdout); s.Status != "failed" || !strings.Contains(s.Error, "refused the credentials") {
		t.Fatalf("summary: %+v", s)
	}
	if m, _ := filepath.Glob(filepath.Join(out, "*", "*", "_SUCCESS")); len(m) != 0 {
		t.Fatalf("a failed run left %v", m)
	}
}

func TestRunRetriesThrottling(t *testing.T) {
	em, url := startPlanhat(t, 2500)
	em.Inject(emu.Fault{Status: 429, RetryAfter: "1"}, emu.Fault{Status: 503}, emu.Fault{Cut: true}, emu.Fault{Truncate: true})
	out := t.TempDir()
	res := etlbin.Run(t, map[string]string{"PLANHAT_API_TOKEN": token}, "run", pipeline(t, url, out, ""), "--run-date", runDate)
	if res.Code != 0 {
		t.Fatalf("exit %d\n%s", res.Code, res.Stderr)
	}
	checkOutput(t, out, em.Users())
}

// etl demo --run-date dates the demo's partition (two demo runs into one
// output look like two nights); a bad date is bad usage.
func TestDemoRunDate(t *testing.T) {
	out := t.TempDir()
	res := etlbin.Run(t, nil, "demo", "--out", out, "--people", "200", "--run-date", "2026-02-03")
	if res.Code != 0 {
		t.Fatalf("exit %d\nstderr: %s", res.Code, res.Stderr)
	}
	if s := lastSummary(t, res.Stdout); s.RunDate != "2026-02-03" || s.Status != "succeeded" {
		t.Fatalf("summary: %+v", s)
	}
	if _, err := os.Stat(filepath.Join(out, "end_users", "dt=2026-02-03", "_SUCCESS")); err != nil {
		t.Fatal(err)
	}
	if res := etlbin.Run(t, nil, "demo", "--out", out, "--run-date", "2026-2-3"); res.Code != 2 || !strings.Contains(res.Stderr, "--run-date") {
		t.Fatalf("a bad --run-date: exit %d, stderr %s", res.Code, res.Stderr)
	}
}
