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
	TaskID    string            `json:"task_id"`
	Command   string            `json:"command"`
	Env       map[string]string `json:"env"`
	AppendEnv bool              `json:"append_env"`
	Pool      string            `json:"pool"`
	Up        []string          `json:"upstream"`
}

func dagFile() string {
	root, _ := duckdb.Root()
	return filepath.Join(root, "pipelines", "airflow", "end_users_dag.py")
}

// renderDAG loads pipelines/airflow/end_users_dag.py with a stand-in for
// Airflow and renders its tasks' templates with Jinja2 (Debian's, from
// .cache/jinja2) for run date ds and a DAG run's conf ("" for none).
func renderDAG(t *testing.T, pipeline, ds, conf string) ([]byte, error) {
	t.Helper()
	root, _ := duckdb.Root()
	if out, err := exec.Command("python3", "-B", "-m", "py_compile", dagFile()).CombinedOutput(); err != nil {
		t.Fatalf("the DAG does not compile: %v\n%s", err, out)
	}
	jinja := filepath.Join(root, ".cache", "jinja2", "usr", "lib", "python3", "dist-packages")
	if _, err := os.Stat(filepath.Join(jinja, "jinja2")); err != nil {
		t.Fatalf("Jinja2 is not installed in %s: run make tools", jinja)
	}
	args := []string{"-B", filepath.Join(root, "testdata", "airflow", "dag_commands.py"), dagFile(), ds}
	if conf != "" {
		args = append(args, conf)
	}
	cmd := exec.Command("python3", args...)
	cmd.Env = append(os.Environ(), "ETL_BIN="+etlbin.Path(t), "ETL_PIPELINE="+pipeline, "PYTHONDONTWRITEBYTECODE=1", "PYTHONPATH="+jinja)
	return cmd.Output()
}

// dagTasks returns the DAG's tasks in dependency order, rendered for dagDate.
func dagTasks(t *testing.T, pipeline string) []dagTask { return dagTasksFor(t, pipeline, dagDate, "") }

func dagTasksFor(t *testing.T, pipeline, ds, conf string) []dagTask {
	t.Helper()
	out, err := renderDAG(t, pipeline, ds, conf)
	if err != nil {
		var stderr []byte
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = ee.Stderr
		}
		t.Fatalf("reading the DAG: %v\n%s", err, stderr)
	}
	var tasks []dagTask
	if err := json.Unmarshal(out, &tasks); err != nil {
		t.Fatal(err)
	}
	return tasks
}

// runTask runs one task's command line the way BashOperator does: with
// bash, in the worker's environment (vars) plus the task's env.
func runTask(t *testing.T, task dagTask, vars map[string]string) etlbin.Result {
	t.Helper()
	if !strings.HasPrefix(task.Command, etlbin.Path(t)+" ") {
		t.Fatalf("task %s does not run etl: %s", task.TaskID, task.Command)
	}
	cmd := exec.Command("bash", "-c", task.Command)
	if task.Env == nil || task.AppendEnv {
		cmd.Env = os.Environ()
		for k, v := range vars {
			cmd.Env = append(cmd.Env, k+"="+v)
		}
	}
	for k, v := range task.Env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	res := etlbin.Result{Stdout: stdout.String(), Stderr: stderr.String()}
	if ee, ok := err.(*exec.ExitError); ok {
		res.Code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("running %s: %v", task.TaskID, err)
	}
	return res
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

// The DAG passes ruff's Airflow rules (AIR, preview), which a DAG written
// for Airflow 2 only does not.
func TestDAGLint(t *testing.T) {
	root, _ := duckdb.Root()
	if _, err := os.Stat(filepath.Join(root, ".cache", "ruff", "node_modules", "@astral-sh", "ruff-wasm-nodejs")); err != nil {
		t.Fatal("ruff's WebAssembly build is not installed: run make tools")
	}
	old := filepath.Join(t.TempDir(), "old_dag.py")
	os.WriteFile(old, []byte(`from airflow import DAG
from airflow.operators.bash_operator import BashOperator

with DAG(dag_id="x", schedule_interval="@daily") as dag:
    BashOperator(task_id="t", bash_command="etl run p.yaml --run-date {{ ds }}")
`), 0o644)
	lint := func(file string) []map[string]any {
		out, err := exec.Command("node", filepath.Join(root, "testdata", "airflow", "ruff_lint.js"), file).Output()
		if err != nil {
			t.Fatalf("ruff: %v", err)
		}
		var r struct{ Findings []map[string]any }
		if err := json.Unmarshal(out, &r); err != nil {
			t.Fatal(err)
		}
		return r.Findings
	}
	if f := lint(dagFile()); len(f) != 0 {
		t.Fatalf("ruff's Airflow rules find %d problems in the DAG: %v", len(f), f)
	}
	if f := lint(old); len(f) < 3 {
		t.Fatalf("ruff found only %v in a DAG written for Airflow 2", f)
	}
}

// An operator lets a drop through for one DAG run, through its config; runs
// without it are still guarded, and the config cannot reach the shell.
func TestDAGAcceptDrop(t *testing.T) {
	out := t.TempDir()
	before := startDemo(t, out)
	for _, task := range dagTasks(t, before.Pipeline) {
		if res := runTask(t, task, before.Vars); res.Code != 0 {
			t.Fatalf("%s: exit %d\n%s", task.TaskID, res.Code, res.Stderr)
		}
	}
	// The next day every vendor answers with a quarter of its users.
	env, err := demo.Start(demo.Options{People: 100, Dir: t.TempDir(), Out: out})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(env.Close)
	const next = "2026-03-02"
	tasks := dagTasksFor(t, env.Pipeline, next, "")
	for _, task := range tasks[:4] {
		if res := runTask(t, task, env.Vars); res.Code != 0 {
			t.Fatalf("%s: exit %d\n%s", task.TaskID, res.Code, res.Stderr)
		}
	}
	if res := runTask(t, tasks[4], env.Vars); res.Code != 1 || !strings.Contains(etlbin.LastLine(res.Stdout), "volume guard") {
		t.Fatalf("resolve after the drop: exit %d\n%s", res.Code, etlbin.LastLine(res.Stdout))
	}
	// A new DAG run of that date, triggered with the config.
	accepted := dagTasksFor(t, env.Pipeline, next, `{"accept_drop": "planhat,dixa,moesif,userlot"}`)
	if !strings.Contains(accepted[4].Command, "--accept-drop") || accepted[4].Env["ETL_ACCEPT_DROP"] != "planhat,dixa,moesif,userlot" {
		t.Fatalf("resolve with the config: %+v", accepted[4])
	}
	for _, task := range accepted {
		res := runTask(t, task, env.Vars)
		if res.Code != 0 {
			t.Fatalf("%s with accept_drop: exit %d\n%s", task.TaskID, res.Code, res.Stderr)
		}
		if task.TaskID == "resolve" && !strings.Contains(etlbin.LastLine(res.Stdout), `"accepted":true`) {
			t.Fatalf("resolve did not accept the drop: %s", etlbin.LastLine(res.Stdout))
		}
	}
	// The config is checked against the param's pattern, and even past it
	// the value is one argument, never shell syntax.
	if _, err := renderDAG(t, env.Pipeline, next, `{"accept_drop": "dixa; touch /tmp/pwned"}`); err == nil {
		t.Fatal("a config that is not source names was accepted")
	}
	bad := accepted[4]
	marker := filepath.Join(t.TempDir(), "pwned")
	bad.Env = map[string]string{"ETL_ACCEPT_DROP": "dixa; touch " + marker}
	if res := runTask(t, bad, env.Vars); res.Code != 2 {
		t.Fatalf("resolve with a hostile accept_drop: exit %d\n%s", res.Code, res.Stderr)
	}
	if _, err := os.Stat(marker); err == nil {
		t.Fatal("the config reached the shell")
	}
}
