package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"etl/internal/duckdb"
	"etl/internal/emulator/people"
	"etl/internal/emulator/planhat"
	"etl/internal/etlbin"
	"etl/internal/s3test"
)

func s3Env(srv *s3test.Server) map[string]string {
	env := srv.Env()
	env["PLANHAT_API_TOKEN"] = token
	return env
}

func runID(t *testing.T, stdout string) string {
	t.Helper()
	var s struct {
		RunID string `json:"run_id"`
	}
	json.Unmarshal([]byte(etlbin.LastLine(stdout)), &s)
	if s.RunID == "" {
		t.Fatalf("no run_id in the summary: %s", etlbin.LastLine(stdout))
	}
	return s.RunID
}

// tableRows reads a whole table partition with DuckDB, in a stable order.
func tableRows(t *testing.T, out, table string) []map[string]any {
	t.Helper()
	return duckdb.Query(t, fmt.Sprintf(`SELECT * FROM read_parquet('%s') ORDER BY ALL`, duckdb.Glob(out, table, runDate)))
}

func TestRunToS3(t *testing.T) {
	em, url := startPlanhat(t, 5001)
	local := t.TempDir()
	if res := etlbin.Run(t, map[string]string{"PLANHAT_API_TOKEN": token}, "run", pipeline(t, url, local, ""), "--run-date", runDate); res.Code != 0 {
		t.Fatalf("local run: exit %d\n%s", res.Code, res.Stderr)
	}

	srv := s3test.Start(t, "warehouse")
	p := pipeline(t, url, srv.URI("lake/end-users"), "")
	out := srv.Path("lake/end-users") // where the posix backend keeps the objects
	var ids []string
	for i := range 2 { // the second run of the date replaces the first
		res := etlbin.Run(t, s3Env(srv), "run", p, "--run-date", runDate)
		if res.Code != 0 {
			t.Fatalf("run %d: exit %d\n%s", i, res.Code, res.Stderr)
		}
		if s := lastSummary(t, res.Stdout); s.Status != "succeeded" || s.Tables["end_user_sources"].Rows != 5001 {
			t.Fatalf("run %d: summary %+v", i, s)
		}
		if strings.Contains(res.Stdout+res.Stderr, s3test.SecretKey) {
			t.Fatal("the S3 secret key appears in the output")
		}
		ids = append(ids, runID(t, res.Stdout))
	}
	checkOutput(t, out, em.Users())
	for _, table := range []string{"end_user_sources", "end_users", "rejects"} {
		dir := filepath.Join(out, table, "dt="+runDate)
		parts, _ := filepath.Glob(filepath.Join(dir, "*.parquet"))
		if len(parts) != 1 || !strings.Contains(filepath.Base(parts[0]), ids[1]) {
			t.Fatalf("%s: parts after a re-run %v, want one of run %s", table, parts, ids[1])
		}
		for _, marker := range []string{"_SUCCESS", "_manifest.json"} {
			if _, err := os.Stat(filepath.Join(dir, marker)); err != nil {
				t.Fatalf("%s: %v", table, err)
			}
		}
		if got, want := tableRows(t, out, table), tableRows(t, local, table); !reflect.DeepEqual(got, want) {
			t.Fatalf("%s: S3 output (%d rows) differs from the local output (%d rows)", table, len(got), len(want))
		}
	}
	// Every multipart upload was completed or aborted.
	mu, err := srv.Client().ListMultipartUploads(context.Background(), &s3.ListMultipartUploadsInput{Bucket: aws.String(srv.Bucket)})
	if err != nil || len(mu.Uploads) != 0 {
		t.Fatalf("multipart uploads left: %v %v", mu, err)
	}
}

func TestRunS3ServerStopsMidRun(t *testing.T) {
	em, url := startPlanhat(t, 5001)
	srv := s3test.Start(t, "warehouse")
	// After the last page is served, the run has checked the bucket but
	// written nothing yet.
	em.OnList = func(n int) {
		if n == 3 {
			srv.Stop()
		}
	}
	p := pipeline(t, url, srv.URI("lake"), "")
	res := etlbin.Run(t, s3Env(srv), "run", p, "--run-date", runDate)
	if res.Code != 1 {
		t.Fatalf("exit %d, want 1\n%s", res.Code, res.Stderr)
	}
	s := lastSummary(t, res.Stdout)
	if s.Status != "failed" || !strings.Contains(s.Error, "s3://warehouse/lake/") || !strings.Contains(s.Error, "connection refused") {
		t.Fatalf("unclear failure: %+v", s)
	}
	if !strings.Contains(res.Stderr, "s3://warehouse/lake/") {
		t.Fatalf("stderr does not name the output:\n%s", res.Stderr)
	}
	srv.Restart()
	if m, _ := filepath.Glob(srv.Path("lake/*/*/_SUCCESS")); len(m) != 0 {
		t.Fatalf("the failed run left %v", m)
	}
	em.OnList = nil
	if res := etlbin.Run(t, s3Env(srv), "run", p, "--run-date", runDate); res.Code != 0 {
		t.Fatalf("run after the restart: exit %d\n%s", res.Code, res.Stderr)
	}
	checkOutput(t, srv.Path("lake"), em.Users())
}

// A file source reads a vendor export from S3; its name is the rows' source.
func TestRunFileSourceFromS3(t *testing.T) {
	srv := s3test.Start(t, "warehouse")
	users := planhat.FromPeople(people.Generate(11, 300), 0)
	ctx := context.Background()
	for i, key := range []string{"exports/dt=" + runDate + "/a.jsonl", "exports/dt=" + runDate + "/b.jsonl"} {
		var b strings.Builder
		for _, u := range users[i*150 : (i+1)*150] {
			line, _ := json.Marshal(u)
			b.Write(line)
			b.WriteByte('\n')
		}
		if i == 1 {
			b.WriteString("{broken\n")
		}
		if _, err := srv.Client().PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(srv.Bucket), Key: aws.String(key),
			Body: strings.NewReader(b.String())}); err != nil {
			t.Fatal(err)
		}
	}
	p := filepath.Join(t.TempDir(), "pipeline.yaml")
	os.WriteFile(p, []byte(`version: 1
sources:
  files:
    - {name: crm_export, path: "s3://warehouse/exports/dt=${RUN_DATE}/*.jsonl", format: jsonl, shape: planhat}
output:
  uri: s3://warehouse/lake
`), 0o644)
	res := etlbin.Run(t, srv.Env(), "run", p, "--run-date", runDate)
	if res.Code != 0 {
		t.Fatalf("exit %d\n%s", res.Code, res.Stderr)
	}
	if s := lastSummary(t, res.Stdout); s.Sources["crm_export"].Extracted != 300 || s.Tables["rejects"].Rows != 1 {
		t.Fatalf("summary %+v", s)
	}
	out := srv.Path("lake")
	got := duckdb.Query(t, fmt.Sprintf(`SELECT source, count(*) AS n FROM read_parquet('%s') GROUP BY source`, duckdb.Glob(out, "end_user_sources", runDate)))
	if len(got) != 1 || got[0]["source"] != "crm_export" || duckdb.Int(t, got[0]["n"]) != 300 {
		t.Fatalf("end_user_sources: %v", got)
	}
	rj := tableRows(t, out, "rejects")
	if len(rj) != 1 || !strings.HasPrefix(rj[0]["reason"].(string), "s3://warehouse/exports/dt="+runDate+"/b.jsonl:151: invalid JSON") {
		t.Fatalf("rejects: %v", rj)
	}
}
