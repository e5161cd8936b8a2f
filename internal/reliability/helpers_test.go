// Package reliability runs the built etl binary against the demo's vendor
// emulators through crashes, restarts, vendor faults, hostile records and
// untrusted responses, and checks that no row is lost or duplicated and no
// secret leaks. Longer variants: ETL_SOAK_CYCLES (make soak).
package reliability

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"etl/internal/demo"
	"etl/internal/duckdb"
	"etl/internal/emulator/emu"
	"etl/internal/emulator/planhat"
	"etl/internal/etlbin"
	"etl/internal/vendors"
	"etl/schemas"
)

const runDate = "2026-03-01"

// demoPeople keeps each run well under a second, and pageSize still gives
// every vendor several pages, so that kills land mid-extraction.
const (
	demoPeople = 400
	pageSize   = 20
)

// env is one demo: emulators holding the same data as every other env (the
// demo is seeded), and a pipeline file tuned for these tests.
type env struct {
	*demo.Env
	out      string            // output.uri
	dir      string            // where the output is on disk
	pipeline string            // the rewritten pipeline file
	vars     map[string]string // the binary's environment
	secrets  []string
}

type envOpts struct {
	out, dir string // output.uri and its place on disk; default a temp dir
	vars     map[string]string
	secrets  []string
	edit     func(p map[string]any) // last changes to the pipeline
}

// writebackTimestamps are the fields the emulators stamp with the time of a
// write; two envs written at different moments differ only there.
var writebackTimestamps = []string{"updatedAt", "updated_at", "modified_time"}

func startEnv(t *testing.T, o envOpts) *env {
	t.Helper()
	if o.out == "" {
		o.out = t.TempDir()
		o.dir = o.out
	}
	d, err := demo.Start(demo.Options{People: demoPeople, Dir: t.TempDir(), Out: o.out})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(d.Close)
	e := &env{Env: d, out: o.out, dir: o.dir, vars: map[string]string{}}
	// Pacing is the pacer's job, tested elsewhere; here the emulators
	// answer as fast as they can so that a cycle takes a second.
	for _, s := range e.emulators() {
		s.Enforce(false)
	}
	// The demo's Planhat records lack nothing the other vendors know: add
	// some that have only an email, for Planhat's write-back to fill in.
	var bare []planhat.EndUser
	for _, u := range d.Dixa.Records() {
		if strings.Contains(u.Email, "@") && len(bare) < 30 {
			bare = append(bare, planhat.EndUser{Email: u.Email, Tags: []string{}, OtherEmails: []string{}})
		}
	}
	d.Planhat.Insert(bare...)
	for k, v := range d.Vars {
		e.vars[k] = v
	}
	for k, v := range o.vars {
		e.vars[k] = v
	}
	e.secrets = append(d.Secrets(), o.secrets...)

	raw, err := os.ReadFile(d.Pipeline)
	if err != nil {
		t.Fatal(err)
	}
	var p map[string]any
	if err := yaml.Unmarshal(raw, &p); err != nil {
		t.Fatal(err)
	}
	srcs := p["sources"].(map[string]any)
	for _, v := range vendors.Names {
		if s, ok := srcs[v].(map[string]any); ok {
			s["page_size"] = pageSize
			s["rate_limit"] = map[string]any{"per_second": 2000, "burst": 50}
			s["max_retry_time"] = "30s"
		}
	}
	// Whatever write-back the demo has, Planhat's at least, with chunks
	// small enough that a kill can land between two of them.
	wb, _ := p["writeback"].([]any)
	if !slices.ContainsFunc(wb, func(w any) bool { return w.(map[string]any)["target"] == vendors.Planhat }) {
		wb = append(wb, map[string]any{"target": vendors.Planhat, "fields": []any{"external_id", "first_name", "last_name", "phone"}, "mode": "fill"})
	}
	for _, w := range wb {
		w := w.(map[string]any)
		w["chunk_size"], w["concurrency"] = 10, 2
	}
	p["writeback"] = wb
	p["output"] = map[string]any{"uri": o.out}
	if o.edit != nil {
		o.edit(p)
	}
	body, err := yaml.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	e.pipeline = filepath.Join(t.TempDir(), "pipeline.yaml")
	if err := os.WriteFile(e.pipeline, body, 0o644); err != nil {
		t.Fatal(err)
	}
	return e
}

// withOutput is the same env writing its tables to another local directory.
func (e *env) withOutput(t *testing.T, dir string) *env {
	t.Helper()
	raw, err := os.ReadFile(e.pipeline)
	if err != nil {
		t.Fatal(err)
	}
	var p map[string]any
	if err := yaml.Unmarshal(raw, &p); err != nil {
		t.Fatal(err)
	}
	p["output"] = map[string]any{"uri": dir}
	body, _ := yaml.Marshal(p)
	c := *e
	c.out, c.dir, c.pipeline = dir, dir, filepath.Join(t.TempDir(), "pipeline.yaml")
	if err := os.WriteFile(c.pipeline, body, 0o644); err != nil {
		t.Fatal(err)
	}
	return &c
}

// moesifCollector names Moesif's write API, another host than its search.
const moesifCollector = "moesif collector"

// emulators are the vendors' emulators, by name.
func (e *env) emulators() map[string]*emu.Server {
	return map[string]*emu.Server{vendors.Planhat: e.Planhat.Server, vendors.Dixa: e.Dixa.Server,
		vendors.Moesif: e.Moesif.Server, moesifCollector: e.MoesifCollector.Server, vendors.Userlot: e.Userlot.Server}
}

// vendorState is every vendor's records as JSON, without the write
// timestamps the emulators take from the wall clock.
func (e *env) vendorState(t *testing.T) map[string]string {
	t.Helper()
	out := map[string]string{}
	for name, recs := range map[string]any{vendors.Planhat: e.Planhat.Users(), vendors.Dixa: e.Dixa.Records(),
		vendors.Moesif: e.Moesif.Records(), vendors.Userlot: e.Userlot.Records()} {
		b, err := json.Marshal(recs)
		if err != nil {
			t.Fatal(err)
		}
		var items []map[string]any
		if err := json.Unmarshal(b, &items); err != nil {
			t.Fatal(err)
		}
		for _, it := range items {
			for _, k := range writebackTimestamps {
				delete(it, k)
			}
		}
		b, _ = json.Marshal(items)
		out[name] = string(b)
	}
	return out
}

// sameVendors compares two envs' vendor records after their runs.
func sameVendors(t *testing.T, want, got map[string]string) {
	t.Helper()
	for _, v := range vendors.Names {
		if want[v] != got[v] {
			t.Errorf("%s ends in another state than after an uninterrupted run:\n%s", v, firstDiff(want[v], got[v]))
		}
	}
}

func firstDiff(a, b string) string {
	i := 0
	for i < len(a) && i < len(b) && a[i] == b[i] {
		i++
	}
	cut := func(s string) string { return s[max(0, i-200):min(len(s), i+200)] }
	return fmt.Sprintf("want …%s…\n got …%s…", cut(a), cut(b))
}

// proc is one running etl.
type proc struct {
	cmd            *exec.Cmd
	stdout, stderr bytes.Buffer
	done           chan struct{}
	code           int
}

func (e *env) start(t *testing.T) *proc {
	t.Helper()
	p := &proc{done: make(chan struct{})}
	p.cmd = exec.Command(etlbin.Path(t), "run", e.pipeline, "--run-date", runDate)
	p.cmd.Env = os.Environ()
	for k, v := range e.vars {
		p.cmd.Env = append(p.cmd.Env, k+"="+v)
	}
	p.cmd.Stdout, p.cmd.Stderr = &p.stdout, &p.stderr
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		p.cmd.Wait()
		p.code = p.cmd.ProcessState.ExitCode()
		close(p.done)
	}()
	t.Cleanup(func() {
		p.cmd.Process.Kill()
		<-p.done
	})
	return p
}

// wait waits for the process; a run never takes a minute here.
func (p *proc) wait(t *testing.T) { p.waitFor(t, time.Minute) }

func (p *proc) waitFor(t *testing.T, d time.Duration) {
	t.Helper()
	select {
	case <-p.done:
	case <-time.After(d):
		p.cmd.Process.Kill()
		<-p.done
		t.Fatalf("etl still ran after %s\nstderr: %s", d, tail(p.stderr.String()))
	}
}

func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

func (p *proc) signal(sig syscall.Signal) { p.cmd.Process.Signal(sig) }

// run runs etl to its end.
func (e *env) run(t *testing.T) *proc {
	t.Helper()
	p := e.start(t)
	p.wait(t)
	return p
}

// mustSucceed runs etl, which must succeed, and returns its summary.
func (e *env) mustSucceed(t *testing.T) summary {
	t.Helper()
	p := e.run(t)
	s := p.summary(t)
	if p.code != 0 || s.Status != "succeeded" {
		t.Fatalf("etl run: exit %d, summary %s\nstderr: %s", p.code, s.line, tail(p.stderr.String()))
	}
	return s
}

func tail(s string) string {
	if len(s) > 4000 {
		return "…" + s[len(s)-4000:]
	}
	return s
}

// summary is the last stdout line, as far as these tests read it.
type summary struct {
	line    string
	Status  string `json:"status"`
	Error   string `json:"error"`
	Sources map[string]struct {
		Extracted  int64 `json:"extracted"`
		Rejected   int64 `json:"rejected"`
		Duplicates int64 `json:"duplicates"`
		Retries    int64 `json:"retries"`
		Throttled  int64 `json:"throttled"`
	} `json:"sources"`
	Tables    map[string]struct{ Rows int64 } `json:"tables"`
	Normalise struct{ Rejected int64 }        `json:"normalise"`
	Writeback map[string]struct {
		Sent, Failed int64
	} `json:"writeback"`
}

func (p *proc) summary(t *testing.T) summary {
	t.Helper()
	out := strings.TrimSpace(p.stdout.String())
	var s summary
	if out == "" {
		return s
	}
	s.line = etlbin.LastLine(out)
	if err := json.Unmarshal([]byte(s.line), &s); err != nil {
		t.Fatalf("the last stdout line is not a JSON summary: %v\n%s", err, s.line)
	}
	return s
}

// reconcile checks the summary's counts against each other and the tables:
// every extracted record is a row or a normalisation reject, and every
// reject counted is a row of rejects.
func reconcile(t *testing.T, s summary) {
	t.Helper()
	var extracted, rejected int64
	for _, src := range s.Sources {
		extracted += src.Extracted
		rejected += src.Rejected
	}
	if rows := s.Tables[schemas.TableSources].Rows; rows+s.Normalise.Rejected != extracted {
		t.Errorf("%d extracted, but %d rows and %d normalisation rejects", extracted, rows, s.Normalise.Rejected)
	}
	var wbFailed int64
	for _, w := range s.Writeback {
		wbFailed += w.Failed
	}
	if rows := s.Tables[schemas.TableRejects].Rows; rows != rejected+s.Normalise.Rejected+wbFailed {
		t.Errorf("rejects has %d rows, the summary counts %d extract, %d normalise and %d write-back rejects",
			rows, rejected, s.Normalise.Rejected, wbFailed)
	}
}

// tableCols are the columns compared between two runs (run ids and times of
// the run itself are not among them).
var tableCols = map[string]struct{ cols, key string }{
	schemas.TableSources: {"source, source_id, person_id, email, emails, external_id, first_name, last_name, name, phone, company_id, company_name, tags, created_at, updated_at, attributes", "source, source_id"},
	schemas.TableUsers:   {"person_id, email, emails, external_id, first_name, last_name, name, phone, company_name, tags, sources, record_count, created_at, updated_at", "person_id"},
	schemas.TableRejects: {"stage, source, source_id, reason, raw", "stage, source, source_id, reason, raw"},
}

// diff counts, for one table, the rows of want missing from got (lost), the
// rows of got not in want, and keys held by more than one row of got
// (duplicated).
type diff struct{ lost, extra, dupKeys int64 }

// How much of two runs' rows must agree.
const (
	allColumns = iota
	// The emulators stamp writes with the wall clock, so after a write-back
	// two envs' records differ in their update times.
	notUpdatedAt
	keysOnly
)

func compareTable(t *testing.T, table, want, got string, mode int) diff {
	t.Helper()
	c := tableCols[table]
	switch mode {
	case notUpdatedAt:
		c.cols = strings.ReplaceAll(c.cols, ", updated_at", "")
	case keysOnly:
		c.cols = c.key
	}
	a, b := duckdb.Glob(want, table, runDate), duckdb.Glob(got, table, runDate)
	q := fmt.Sprintf(`SELECT
  (SELECT count(*) FROM (SELECT %[1]s FROM read_parquet('%[3]s') EXCEPT ALL SELECT %[1]s FROM read_parquet('%[4]s'))) AS lost,
  (SELECT count(*) FROM (SELECT %[1]s FROM read_parquet('%[4]s') EXCEPT ALL SELECT %[1]s FROM read_parquet('%[3]s'))) AS extra,
  (SELECT count(*) FROM (SELECT %[2]s FROM read_parquet('%[4]s') GROUP BY ALL HAVING count(*) > 1)) AS dup`, c.cols, c.key, a, b)
	r := duckdb.Query(t, q)[0]
	return diff{lost: duckdb.Int(t, r["lost"]), extra: duckdb.Int(t, r["extra"]), dupKeys: duckdb.Int(t, r["dup"])}
}

// complete checks that every table of the date has _SUCCESS and that its
// parts are exactly those its manifest lists (one run's, nothing left over).
func complete(t *testing.T, dir string) {
	t.Helper()
	for _, table := range schemas.Tables {
		pdir := filepath.Join(dir, table, "dt="+runDate)
		if _, err := os.Stat(filepath.Join(pdir, "_SUCCESS")); err != nil {
			t.Errorf("%s: no _SUCCESS: %v", table, err)
			continue
		}
		b, err := os.ReadFile(filepath.Join(pdir, "_manifest.json"))
		if err != nil {
			t.Errorf("%s: %v", table, err)
			continue
		}
		var m struct {
			Parts []struct{ Key string } `json:"parts"`
		}
		json.Unmarshal(b, &m)
		var listed []string
		for _, pt := range m.Parts {
			listed = append(listed, filepath.Base(pt.Key))
		}
		found, _ := filepath.Glob(filepath.Join(pdir, "*.parquet"))
		for i := range found {
			found[i] = filepath.Base(found[i])
		}
		slices.Sort(listed)
		if !slices.Equal(listed, found) {
			t.Errorf("%s: parts %v, the manifest lists %v", table, found, listed)
		}
	}
}

// noSuccess checks that no table of the date looks complete.
func noSuccess(t *testing.T, dir string) {
	t.Helper()
	if m, _ := filepath.Glob(filepath.Join(dir, "*", "dt="+runDate, "_SUCCESS")); len(m) != 0 {
		t.Errorf("a stopped run left %v", m)
	}
}

// noSecrets checks that no secret appears in what a run printed, nor in any
// file under dirs: text files byte for byte, Parquet files as DuckDB reads
// them (their pages are compressed).
func noSecrets(t *testing.T, secrets []string, printed []string, dirs ...string) {
	t.Helper()
	var secs []string
	for _, s := range secrets {
		if len(s) >= 4 {
			secs = append(secs, s)
		}
	}
	for _, text := range printed {
		for _, s := range secs {
			if strings.Contains(text, s) {
				t.Errorf("secret %.8s… printed:\n%s", s, tail(text))
			}
		}
	}
	var globs []string
	for _, dir := range dirs {
		filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return nil
			}
			if strings.HasSuffix(path, ".parquet") {
				g := filepath.Join(filepath.Dir(path), "*.parquet")
				if !slices.Contains(globs, g) {
					globs = append(globs, g)
				}
				return nil
			}
			b, err := os.ReadFile(path)
			if err != nil {
				return nil
			}
			for _, s := range secs {
				if bytes.Contains(b, []byte(s)) {
					t.Errorf("secret %.8s… in %s", s, path)
				}
			}
			return nil
		})
	}
	if len(globs) == 0 {
		return
	}
	var parts, conds []string
	for _, g := range globs {
		parts = append(parts, fmt.Sprintf(`SELECT '%s' AS f, to_json(t)::VARCHAR AS j FROM read_parquet('%s') t`, g, g))
	}
	for _, s := range secs {
		conds = append(conds, fmt.Sprintf("contains(j, '%s')", strings.ReplaceAll(s, "'", "''")))
	}
	q := fmt.Sprintf(`SELECT DISTINCT f FROM (%s) WHERE %s`, strings.Join(parts, " UNION ALL "), strings.Join(conds, " OR "))
	for _, r := range duckdb.Query(t, q) {
		t.Errorf("a secret is in the rows of %v", r["f"])
	}
}
