package main

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"etl/internal/demo"
	"etl/internal/duckdb"
	"etl/internal/etlbin"
)

const dagDate = "2026-03-01"

type dagTask struct {
	TaskID  string   `json:"task_id"`
	Command string   `json:"command"`
	Pool    string   `json:"pool"`
	Up      []string `json:"upstream"`
}

// dagTasks loads pipelines/airflow/end_users_dag.py (with a stand-in for
// Airflow) and returns its tasks in dependency order, commands rendered.
func dagTasks(t *testing.T, pipeline string) []dagTask {
	t.Helper()
	root, _ := duckdb.Root()
	dag := filepath.Join(root, "pipelines", "airflow", "end_users_dag.py")
	if out, err := exec.Command("python3", "-B", "-m", "py_compile", dag).CombinedOutput(); err != nil {
		t.Fatalf("the DAG does not compile: %v\n%s", err, out)
	}
	cmd := exec.Command("python3", "-B", filepath.Join(root, "testdata", "airflow", "dag_commands.py"), dag, dagDate)
	cmd.Env = append(os.Environ(), "ETL_BIN="+etlbin.Path(t), "ETL_PIPELINE="+pipeline, "PYTHONDONTWRITEBYTECODE=1")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("reading the DAG: %v", err)
	}
	var tasks []dagTask
	if err := json.Unmarshal(out, &tasks); err != nil {
		t.Fatal(err)
	}
	return tasks
}

// runTask runs one task's command line the way BashOperator does.
func runTask(t *testing.T, task dagTask, vars map[string]string) etlbin.Result {
	t.Helper()
	args := strings.Fields(task.Command)
	if args[0] != etlbin.Path(t) {
		t.Fatalf("task %s does not run etl: %s", task.TaskID, task.Command)
	}
	return etlbin.Run(t, vars, args[1:]...)
}

func startDemo(t *testing.T, out string) *demo.Env {
	t.Helper()
	env, err := demo.Start(demo.Options{People: 400, Dir: t.TempDir(), Out: out})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(env.Close)
	return env
}

// sameTable checks with DuckDB that two partitions hold the same rows.
func sameTable(t *testing.T, table, a, b string, cols string) {
	t.Helper()
	q := func(x, y string) string {
		return fmt.Sprintf(`SELECT count(*) AS n FROM (SELECT %s FROM read_parquet('%s') EXCEPT ALL SELECT %s FROM read_parquet('%s'))`,
			cols, duckdb.Glob(x, table, dagDate), cols, duckdb.Glob(y, table, dagDate))
	}
	for _, pair := range [][2]string{{a, b}, {b, a}} {
		if n := duckdb.Int(t, duckdb.Query(t, q(pair[0], pair[1]))[0]["n"]); n != 0 {
			t.Fatalf("%s: %d rows of %s are not in %s", table, n, pair[0], pair[1])
		}
	}
	rows := duckdb.Query(t, fmt.Sprintf(`SELECT count(*) AS n FROM read_parquet('%s')`, duckdb.Glob(a, table, dagDate)))
	if duckdb.Int(t, rows[0]["n"]) == 0 {
		t.Fatalf("%s is empty", table)
	}
}

func manifestRunID(t *testing.T, out, table string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(out, table, "dt="+dagDate, "_manifest.json"))
	if err != nil {
		t.Fatal(err)
	}
	var m struct {
		RunID string `json:"run_id"`
	}
	json.Unmarshal(b, &m)
	return m.RunID
}

// The DAG's command lines, run task by task, give the same tables as one
// `etl run`; re-running any task changes nothing.
func TestDAGMatchesOneShotRun(t *testing.T) {
	oneShot, staged := t.TempDir(), t.TempDir()
	a := startDemo(t, oneShot)
	if res := etlbin.Run(t, a.Vars, "run", a.Pipeline, "--run-date", dagDate); res.Code != 0 {
		t.Fatalf("one-shot run: exit %d\n%s", res.Code, res.Stderr)
	}
	b := startDemo(t, staged) // same seed: the same vendor data
	tasks := dagTasks(t, b.Pipeline)
	if len(tasks) != 6 || tasks[4].TaskID != "resolve" || tasks[5].TaskID != "writeback" {
		t.Fatalf("unexpected DAG shape: %+v", tasks)
	}
	for _, task := range tasks[:4] {
		if task.Pool == "" || !strings.Contains(task.Command, "--stage extract --only ") {
			t.Fatalf("extract task %s: %+v", task.TaskID, task)
		}
	}
	for _, task := range tasks {
		res := runTask(t, task, b.Vars)
		if res.Code != 0 || !strings.Contains(etlbin.LastLine(res.Stdout), `"status":"succeeded"`) {
			t.Fatalf("%s: exit %d\n%s\n%s", task.TaskID, res.Code, res.Stdout, res.Stderr)
		}
	}
	cols := "source, source_id, person_id, email, emails, external_id, first_name, last_name, name, phone, company_id, company_name, tags, created_at, updated_at, attributes"
	sameTable(t, "end_user_sources", oneShot, staged, cols)
	sameTable(t, "end_users", oneShot, staged, "person_id, email, emails, external_id, first_name, last_name, name, phone, company_name, tags, sources, record_count, created_at, updated_at")

	// A retry of any task, once it succeeded, does nothing.
	before := manifestRunID(t, staged, "end_users")
	for _, task := range tasks {
		res := runTask(t, task, b.Vars)
		if res.Code != 0 || !strings.Contains(etlbin.LastLine(res.Stdout), `"skipped":[`) {
			t.Fatalf("re-running %s: exit %d, not skipped\n%s", task.TaskID, res.Code, etlbin.LastLine(res.Stdout))
		}
	}
	if after := manifestRunID(t, staged, "end_users"); after != before {
		t.Fatalf("re-running the stages rewrote the tables (%s → %s)", before, after)
	}
}

// A failed extract of one vendor leaves the others' staging intact, and
// resolve refuses to run until that vendor is extracted.
func TestResolveWaitsForEveryExtract(t *testing.T) {
	out := t.TempDir()
	env := startDemo(t, out)
	tasks := dagTasks(t, env.Pipeline)
	bad := map[string]string{}
	for k, v := range env.Vars {
		bad[k] = v
	}
	bad["DIXA_API_TOKEN"] = "not-the-dixa-token"
	for _, task := range tasks[:4] {
		res := runTask(t, task, bad)
		if task.TaskID == "extract_dixa" {
			if res.Code != 1 || !strings.Contains(res.Stderr, "dixa refused the credentials") {
				t.Fatalf("extract_dixa with a bad token: exit %d\n%s", res.Code, res.Stderr)
			}
			continue
		}
		if res.Code != 0 {
			t.Fatalf("%s: exit %d\n%s", task.TaskID, res.Code, res.Stderr)
		}
	}
	for _, v := range []string{"planhat", "moesif", "userlot"} {
		if _, err := os.Stat(filepath.Join(out, "_staging", "dt="+dagDate, v, "_DONE.json")); err != nil {
			t.Fatalf("%s's staging was lost: %v", v, err)
		}
	}
	if _, err := os.Stat(filepath.Join(out, "_staging", "dt="+dagDate, "dixa", "_DONE.json")); err == nil {
		t.Fatal("the failed dixa extract looks complete")
	}
	res := runTask(t, tasks[4], env.Vars)
	if res.Code != 1 || !strings.Contains(res.Stderr, "dixa") {
		t.Fatalf("resolve ran without dixa: exit %d\n%s", res.Code, res.Stderr)
	}
	if _, err := os.Stat(filepath.Join(out, "end_users", "dt="+dagDate, "_SUCCESS")); err == nil {
		t.Fatal("resolve wrote tables without dixa")
	}
	// The Airflow retry of extract_dixa, with its credentials fixed, then resolve.
	for _, id := range []string{"extract_dixa", "resolve"} {
		task := taskByID(t, tasks, id)
		if res := runTask(t, task, env.Vars); res.Code != 0 {
			t.Fatalf("%s: exit %d\n%s", task.TaskID, res.Code, res.Stderr)
		}
	}
}

func taskByID(t *testing.T, tasks []dagTask, id string) dagTask {
	t.Helper()
	for _, task := range tasks {
		if task.TaskID == id {
			return task
		}
	}
	t.Fatalf("the DAG has no task %s", id)
	return dagTask{}
}
