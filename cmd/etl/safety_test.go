package main

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io/fs"
	"maps"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"etl/internal/duckdb"
	"etl/internal/emulator/emu"
	"etl/internal/emulator/people"
	"etl/internal/emulator/planhat"
	"etl/internal/etlbin"
	"etl/internal/s3test"
)

// The safety nets and history of CONTRACT.md, through the binary: the
// volume guard, one run per date, the runs table and end_user_changes.

const (
	day1 = "2026-01-14"
	day2 = "2026-01-15"
)

// planhatWith serves users, plus one record of the first user's person that
// lacks names, so that a run writes back into Planhat (fill).
func planhatWith(t *testing.T, n int) (*planhat.Emulator, string) {
	t.Helper()
	users := planhat.FromPeople(people.Generate(7, n), 0)
	bare := planhat.EndUser{ID: planhat.ObjectID(900_000), Email: users[0].Email, ExternalID: users[0].ExternalID,
		Tags: []string{}, OtherEmails: []string{}}
	em := planhat.New(token, append(users, bare))
	srv := httptest.NewServer(em)
	t.Cleanup(srv.Close)
	return em, srv.URL
}

const fillNames = "writeback:\n  - {target: planhat, fields: [first_name, last_name], mode: fill}\n"

// fullSummary is the part of the last stdout line these tests read.
type fullSummary struct {
	RunID   string `json:"run_id"`
	RunDate string `json:"run_date"`
	Stage   string `json:"stage"`
	Status  string `json:"status"`
	Error   string `json:"error"`
	Sources map[string]struct {
		Extracted int64 `json:"extracted"`
	} `json:"sources"`
	Tables map[string]struct {
		Rows int64 `json:"rows"`
	} `json:"tables"`
	Guard *struct {
		ComparedWith string `json:"compared_with"`
		Sources      map[string]struct {
			Previous, Extracted int64
			Refused, Accepted   bool
		} `json:"sources"`
	} `json:"guard"`
	Changes *struct {
		ComparedWith            string `json:"compared_with"`
		Added, Removed, Changed int64
	} `json:"changes"`
	Writeback map[string]struct {
		Sent int64 `json:"sent"`
	} `json:"writeback"`
}

func summaryOf(t *testing.T, res etlbin.Result) fullSummary {
	t.Helper()
	var s fullSummary
	if err := json.Unmarshal([]byte(etlbin.LastLine(res.Stdout)), &s); err != nil {
		t.Fatalf("the last stdout line is not the summary: %v\n%s\n%s", err, res.Stdout, res.Stderr)
	}
	return s
}

// history collects a test's invocations, to check the runs table against.
type history []etlbin.Result

func (h *history) run(t *testing.T, env map[string]string, args ...string) (etlbin.Result, fullSummary) {
	t.Helper()
	res := etlbin.Run(t, env, args...)
	*h = append(*h, res)
	return res, summaryOf(t, res)
}

func (h *history) mustSucceed(t *testing.T, env map[string]string, args ...string) fullSummary {
	t.Helper()
	res, s := h.run(t, env, args...)
	if res.Code != 0 || s.Status != "succeeded" {
		t.Fatalf("etl %v: exit %d\n%s\n%s", args, res.Code, etlbin.LastLine(res.Stdout), res.Stderr)
	}
	return s
}

// runsSQL reads the runs rows from the Parquet files or Iceberg data files
// named by from.
const runsSQL = `SELECT run_id, CAST(run_date AS VARCHAR) AS run_date, stage, status, error, summary,
  started_at <= finished_at AS ordered, CAST(finished_at AS VARCHAR) AS finished FROM %s`

// check: the runs table under dir holds exactly one row per invocation,
// its summary the invocation's last stdout line.
func (h history) check(t *testing.T, dir string) {
	t.Helper()
	h.compare(t, duckdb.Query(t, fmt.Sprintf(runsSQL, fmt.Sprintf("read_parquet('%s')", filepath.ToSlash(filepath.Join(dir, "runs", "*", "*.parquet"))))))
	for _, res := range h {
		s := summaryOf(t, res)
		if _, err := os.Stat(filepath.Join(dir, "runs", "dt="+s.RunDate, "run-"+s.RunID+"-"+s.Stage+".parquet")); err != nil {
			t.Fatalf("the runs row of %s is not where the contract says: %v", s.RunID, err)
		}
	}
}

// compare: rows are exactly one per invocation, each its summary.
func (h history) compare(t *testing.T, rows []map[string]any) {
	t.Helper()
	if len(rows) != len(h) {
		t.Fatalf("runs holds %d rows for %d invocations", len(rows), len(h))
	}
	byID := map[string]map[string]any{}
	for _, r := range rows {
		byID[r["run_id"].(string)] = r
	}
	for _, res := range h {
		line := etlbin.LastLine(res.Stdout)
		s := summaryOf(t, res)
		r, ok := byID[s.RunID]
		if !ok {
			t.Fatalf("no runs row for run %s", s.RunID)
		}
		wantErr := any(nil)
		if s.Error != "" {
			wantErr = s.Error
		}
		if r["summary"] != line || r["run_date"] != s.RunDate || r["stage"] != s.Stage || r["status"] != s.Status ||
			r["error"] != wantErr || r["ordered"] != true {
			t.Fatalf("runs row %v\nfor the summary line %s", r, line)
		}
	}
}

// snapshot hashes every file of the output but the history and the locks
// (and temporary files), to tell that a run changed nothing else.
func snapshot(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		if d.IsDir() && (rel == "runs" || rel == "_locks" || strings.HasPrefix(d.Name(), ".")) {
			return filepath.SkipDir
		}
		if d.IsDir() || strings.HasPrefix(d.Name(), ".") {
			return nil
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(b)
		out[rel] = hex.EncodeToString(sum[:])
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func writes(em *planhat.Emulator) int {
	n := 0
	for _, e := range em.Log() {
		if e.Method != http.MethodGet {
			n++
		}
	}
	return n
}

// A source that suddenly extracts far fewer records fails the run before
// anything is replaced or sent; --accept-drop lets it through once.
func TestVolumeGuard(t *testing.T) {
	env := map[string]string{"PLANHAT_API_TOKEN": token}
	var h history
	out := t.TempDir()
	_, url1000 := planhatWith(t, 1000)
	p1000 := pipeline(t, url1000, out, fillNames)
	first := h.mustSucceed(t, env, "run", p1000, "--run-date", day1)
	before := first.Tables["end_user_sources"].Rows
	// The date already has a complete partition, which the refused run
	// must leave as it is.
	if s := h.mustSucceed(t, env, "run", p1000, "--run-date", day2); s.Guard == nil || s.Guard.ComparedWith != day1 {
		t.Fatalf("the guard did not compare with %s: %+v", day1, s.Guard)
	}
	was := snapshot(t, out)

	em400, url400 := planhatWith(t, 400)
	p400 := pipeline(t, url400, out, fillNames)
	res, s := h.run(t, env, "run", p400, "--run-date", day2)
	now := s.Sources["planhat"].Extracted
	want := fmt.Sprintf("planhat extracted %d records against %d rows on %s", now, before, day1)
	if res.Code != 1 || s.Status != "failed" || !strings.Contains(s.Error, want) || !strings.Contains(s.Error, "--accept-drop planhat") {
		t.Fatalf("a drop from %d to %d: exit %d, error %q; want exit 1 naming %q", before, now, res.Code, s.Error, want)
	}
	if !maps.Equal(snapshot(t, out), was) {
		t.Fatal("the refused run changed the output")
	}
	if n := writes(em400); n != 0 {
		t.Fatalf("the refused run sent %d write requests", n)
	}
	// A typo in --accept-drop is a usage error, not a silent refusal.
	if res := etlbin.Run(t, env, "run", p400, "--run-date", day2, "--accept-drop", "planaht"); res.Code != 2 ||
		!strings.Contains(res.Stderr, "--accept-drop planaht: no such source") {
		t.Fatalf("--accept-drop with an unknown source: exit %d\n%s", res.Code, res.Stderr)
	}

	s = h.mustSucceed(t, env, "run", p400, "--run-date", day2, "--accept-drop", "planhat")
	if g := s.Guard.Sources["planhat"]; !g.Accepted || g.Previous != before || g.Extracted != now {
		t.Fatalf("guard in the summary: %+v", s.Guard)
	}
	if s.Tables["end_user_sources"].Rows != now || writes(em400) == 0 {
		t.Fatalf("the accepted run: %d rows, %d write requests", s.Tables["end_user_sources"].Rows, writes(em400))
	}
	h.check(t, out)

	t.Run("a drop under the limit passes", func(t *testing.T) {
		out := t.TempDir()
		var h history
		h.mustSucceed(t, env, "run", pipeline(t, url1000, out, ""), "--run-date", day1)
		_, url := planhatWith(t, 600) // 40% fewer
		if s := h.mustSucceed(t, env, "run", pipeline(t, url, out, ""), "--run-date", day2); s.Guard.Sources["planhat"].Refused {
			t.Fatalf("guard: %+v", s.Guard)
		}
		// A stricter limit refuses the same drop.
		res, s := h.run(t, env, "run", pipeline(t, url, out, "guards: {max_source_drop: 0.3}\n"), "--run-date", day2)
		if res.Code != 1 || !strings.Contains(s.Error, "allows 30% fewer") {
			t.Fatalf("max_source_drop 0.3, 40%% fewer: exit %d, %s", res.Code, s.Error)
		}
		h.check(t, out)
	})
	t.Run("max_source_drop 1 turns the guard off", func(t *testing.T) {
		out := t.TempDir()
		h := history{}
		h.mustSucceed(t, env, "run", pipeline(t, url1000, out, ""), "--run-date", day1)
		_, url := planhatWith(t, 10)
		h.mustSucceed(t, env, "run", pipeline(t, url, out, "guards: {max_source_drop: 1}\n"), "--run-date", day2)
	})
	t.Run("stage resolve is guarded, extract is not", func(t *testing.T) {
		out := t.TempDir()
		h := history{}
		h.mustSucceed(t, env, "run", pipeline(t, url1000, out, ""), "--run-date", day1)
		p := pipeline(t, url400, out, "")
		h.mustSucceed(t, env, "run", p, "--run-date", day2, "--stage", "extract")
		was := snapshot(t, out)
		if res, s := h.run(t, env, "run", p, "--run-date", day2, "--stage", "resolve"); res.Code != 1 || !strings.Contains(s.Error, "volume guard") {
			t.Fatalf("resolve after a drop: exit %d, %s", res.Code, s.Error)
		}
		if !maps.Equal(snapshot(t, out), was) {
			t.Fatal("the refused resolve changed the output")
		}
		h.mustSucceed(t, env, "run", p, "--run-date", day2, "--stage", "resolve", "--accept-drop", "planhat")
		h.check(t, out)
	})
}

// lockOutput is where a lock test writes: a local directory or S3.
type lockOutput struct {
	uri, dir string
	env      map[string]string
}

func lockOutputs(t *testing.T) map[string]func(t *testing.T) lockOutput {
	return map[string]func(t *testing.T) lockOutput{
		"local": func(t *testing.T) lockOutput {
			dir := t.TempDir()
			return lockOutput{uri: dir, dir: dir, env: map[string]string{"PLANHAT_API_TOKEN": token}}
		},
		"s3": func(t *testing.T) lockOutput {
			srv := s3test.Start(t, "warehouse")
			return lockOutput{uri: srv.URI("out"), dir: srv.Path("out"), env: s3Env(srv)}
		},
	}
}

// held starts a run of runDate whose second Planhat page is held back, and
// returns once the run holds its lock (it asked for the first page).
func held(t *testing.T, o lockOutput, env map[string]string, delay time.Duration) (*etlbin.Proc, *planhat.Emulator, string) {
	t.Helper()
	return heldWith(t, o, env, delay, "")
}

// heldWith is held with extra lines under output: (after its uri).
func heldWith(t *testing.T, o lockOutput, env map[string]string, delay time.Duration, extra string) (*etlbin.Proc, *planhat.Emulator, string) {
	t.Helper()
	em, url := startPlanhat(t, 2500)
	em.Inject(emu.Fault{}, emu.Fault{Delay: delay})
	p := pipeline(t, url, o.uri, extra)
	proc := etlbin.Start(t, env, "run", p, "--run-date", runDate)
	for deadline := time.Now().Add(30 * time.Second); len(em.Log()) < 2; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			proc.Signal(t, os.Kill)
			t.Fatalf("the run never asked for its second page\n%s", proc.Wait(t).Stderr)
		}
	}
	return proc, em, p
}

// lockFile reads the run date's lease.
func lockFile(t *testing.T, dir string) (holder struct {
	RunID   string    `json:"run_id"`
	Expires time.Time `json:"expires_at"`
}) {
	t.Helper()
	m, _ := filepath.Glob(filepath.Join(dir, "_locks", "dt="+runDate, "tables", "*.json"))
	if len(m) == 0 {
		t.Fatal("no lock file")
	}
	b, err := os.ReadFile(m[len(m)-1])
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &holder); err != nil {
		t.Fatal(err)
	}
	return holder
}

func TestOneRunPerDate(t *testing.T) {
	for name, open := range lockOutputs(t) {
		t.Run(name, func(t *testing.T) {
			t.Run("a second run fails at once, the first completes", func(t *testing.T) {
				o := open(t)
				a, _, p := held(t, o, o.env, 5*time.Second)
				holder := lockFile(t, o.dir).RunID
				was := snapshot(t, o.dir)
				b := etlbin.Run(t, o.env, "run", p, "--run-date", runDate)
				sb := summaryOf(t, b)
				// A latency bound, not a speed test: the contract says within seconds.
				if b.Code != 1 || sb.Status != "failed" || b.Elapsed > 5*time.Second ||
					!strings.Contains(sb.Error, "run date "+runDate) || !strings.Contains(sb.Error, "run "+holder+" holds it") {
					t.Fatalf("the second run: exit %d after %s, error %q; want exit 1 within 5s naming %s", b.Code, b.Elapsed, sb.Error, holder)
				}
				if !maps.Equal(snapshot(t, o.dir), was) {
					t.Fatal("the refused run changed the output")
				}
				ra := a.Wait(t)
				sa := summaryOf(t, ra)
				if ra.Code != 0 || sa.RunID != holder || sa.Tables["end_user_sources"].Rows != 2500 {
					t.Fatalf("the first run: exit %d, %s\n%s", ra.Code, etlbin.LastLine(ra.Stdout), ra.Stderr)
				}
				history{ra, b}.check(t, o.dir)
				// Another date is never blocked by it.
				c, _, _ := held(t, o, o.env, 2*time.Second)
				if res := etlbin.Run(t, o.env, "run", p, "--run-date", "2026-01-16"); res.Code != 0 {
					t.Fatalf("another date: exit %d\n%s", res.Code, res.Stderr)
				}
				c.Wait(t)
			})
			t.Run("a killed holder's lock is taken over at once", func(t *testing.T) {
				o := open(t)
				a, _, p := held(t, o, o.env, time.Minute)
				a.Signal(t, syscall.SIGKILL)
				a.Wait(t)
				dead := lockFile(t, o.dir).RunID
				// With the lease's 60 s, only the dead process lets it through.
				res := etlbin.Run(t, o.env, "run", p, "--run-date", runDate)
				if s := summaryOf(t, res); res.Code != 0 || s.Tables["end_user_sources"].Rows != 2500 {
					t.Fatalf("the run after a killed one (%s): exit %d\n%s", dead, res.Code, res.Stderr)
				}
			})
			t.Run("a lease not renewed is taken over", func(t *testing.T) {
				o := open(t)
				env := maps.Clone(o.env)
				env["ETL_LOCK_TTL"] = "1s" // the test hook: 60 s otherwise
				a, _, p := held(t, o, env, 5*time.Second)
				// Alive but not renewing: a stopped process, as a frozen VM looks.
				a.Signal(t, syscall.SIGSTOP)
				stale := lockFile(t, o.dir)
				for time.Now().Before(stale.Expires.Add(100 * time.Millisecond)) {
					time.Sleep(50 * time.Millisecond)
				}
				b := etlbin.Run(t, o.env, "run", p, "--run-date", runDate)
				sb := summaryOf(t, b)
				if b.Code != 0 || sb.Tables["end_user_sources"].Rows != 2500 {
					t.Fatalf("the run after a stale lease: exit %d\n%s", b.Code, b.Stderr)
				}
				done := snapshot(t, o.dir)
				// The old holder, woken, learns it lost the lock and changes nothing.
				a.Signal(t, syscall.SIGCONT)
				ra := a.Wait(t)
				if sa := summaryOf(t, ra); ra.Code != 1 || !strings.Contains(sa.Error, "taken over by run "+sb.RunID) {
					t.Fatalf("the woken holder: exit %d, %s", ra.Code, sa.Error)
				}
				if !maps.Equal(snapshot(t, o.dir), done) {
					t.Fatal("the woken holder changed the output")
				}
			})
		})
	}
}

// sourceColumns are end_user_sources' columns, as the contract lists them.
var sourceColumns = []string{"source", "source_id", "person_id", "email", "emails", "external_id", "first_name", "last_name",
	"name", "phone", "company_id", "company_name", "tags", "created_at", "updated_at", "attributes"}

// changesSQL is end_user_changes as DuckDB computes it from two dates'
// end_user_sources partitions.
func changesSQL(prev, cur string) string {
	var diffs []string
	for _, c := range sourceColumns {
		diffs = append(diffs, fmt.Sprintf("CASE WHEN c.%[1]s IS DISTINCT FROM p.%[1]s THEN '%[1]s' END", c))
	}
	return fmt.Sprintf(`SELECT `+changeCols+` FROM (
  SELECT coalesce(c.source, p.source) AS source, coalesce(c.source_id, p.source_id) AS source_id,
    CASE WHEN p.source IS NULL THEN 'added' WHEN c.source IS NULL THEN 'removed' ELSE 'changed' END AS change,
    CASE WHEN c.source IS NULL THEN p.person_id ELSE c.person_id END AS person_id,
    p.person_id AS previous_person_id,
    CASE WHEN p.source IS NULL OR c.source IS NULL THEN []::VARCHAR[]
      ELSE list_sort(list_filter([%s], x -> x IS NOT NULL)) END AS columns
  FROM read_parquet('%s') c FULL OUTER JOIN read_parquet('%s') p ON c.source = p.source AND c.source_id = p.source_id)
WHERE change <> 'changed' OR len(columns) > 0`, strings.Join(diffs, ", "), cur, prev)
}

const changeCols = "source, source_id, change, person_id, previous_person_id, columns"

// sameRows checks with DuckDB that two queries return the same rows.
func sameRows(t *testing.T, a, b string) {
	t.Helper()
	for _, q := range []string{
		fmt.Sprintf("SELECT count(*) AS n FROM ((%s) EXCEPT ALL (%s))", a, b),
		fmt.Sprintf("SELECT count(*) AS n FROM ((%s) EXCEPT ALL (%s))", b, a),
	} {
		if n := duckdb.Int(t, duckdb.Query(t, q)[0]["n"]); n != 0 {
			t.Fatalf("%d rows differ:\n%s", n, q)
		}
	}
}

func TestEndUserChanges(t *testing.T) {
	env := map[string]string{"PLANHAT_API_TOKEN": token}
	out := t.TempDir()
	users := planhat.FromPeople(people.Generate(7, 300), 0)
	em1 := planhat.New(token, users)
	srv1 := httptest.NewServer(em1)
	t.Cleanup(srv1.Close)
	var h history
	first := h.mustSucceed(t, env, "run", pipeline(t, srv1.URL, out, ""), "--run-date", day1)

	// The first date: every record added.
	changes := filepath.ToSlash(filepath.Join(out, "end_user_changes", "dt=%s", "*.parquet"))
	sources := filepath.ToSlash(filepath.Join(out, "end_user_sources", "dt=%s", "*.parquet"))
	c1 := fmt.Sprintf(changes, day1)
	sameRows(t, fmt.Sprintf("SELECT source, source_id, 'added' AS change, person_id, NULL::VARCHAR AS previous_person_id, []::VARCHAR[] AS columns FROM read_parquet('%s')",
		fmt.Sprintf(sources, day1)), "SELECT "+changeCols+" FROM read_parquet('"+c1+"')")
	if c := first.Changes; c == nil || c.ComparedWith != "" || c.Added != first.Tables["end_user_sources"].Rows || c.Removed+c.Changed != 0 {
		t.Fatalf("first date's changes in the summary: %+v", c)
	}

	next, moved, names := changedUsers(users)
	em2 := planhat.New(token, next)
	srv2 := httptest.NewServer(em2)
	t.Cleanup(srv2.Close)
	second := h.mustSucceed(t, env, "run", pipeline(t, srv2.URL, out, ""), "--run-date", day2)
	c2 := fmt.Sprintf(changes, day2)
	want := changesSQL(fmt.Sprintf(sources, day1), fmt.Sprintf(sources, day2))
	sameRows(t, want, "SELECT "+changeCols+" FROM read_parquet('"+c2+"')")
	// The data has each kind of change the contract names.
	got := duckdb.Query(t, fmt.Sprintf(`SELECT change, count(*) AS n,
  count(*) FILTER (source_id = '%s' AND person_id <> previous_person_id AND list_contains(columns, 'person_id')) AS moved,
  count(*) FILTER (source_id = '%s' AND columns = ['first_name', 'name']) AS renamed
FROM read_parquet('%s') GROUP BY change ORDER BY change`, moved, names, c2))
	counts := map[string][3]int64{}
	for _, r := range got {
		counts[r["change"].(string)] = [3]int64{duckdb.Int(t, r["n"]), duckdb.Int(t, r["moved"]), duckdb.Int(t, r["renamed"])}
	}
	if counts["added"][0] != 2 || counts["removed"][0] != 2 || counts["changed"][0] < 4 || counts["changed"][1] != 1 || counts["changed"][2] != 1 {
		t.Fatalf("changes by kind (rows, moved, renamed): %v", counts)
	}
	if c := second.Changes; c.ComparedWith != day1 || c.Added != 2 || c.Removed != 2 || c.Changed != counts["changed"][0] {
		t.Fatalf("changes in the summary: %+v", c)
	}
	if _, err := os.Stat(filepath.Join(out, "end_user_changes", "dt="+day2, "_SUCCESS")); err != nil {
		t.Fatal(err)
	}

	// Re-running a date compares with the latest earlier one, not itself;
	// a dry run writes its tables and its runs row too.
	h.mustSucceed(t, env, "run", pipeline(t, srv2.URL, out, ""), "--run-date", day2, "--dry-run")
	sameRows(t, want, "SELECT "+changeCols+" FROM read_parquet('"+c2+"')")
	h.check(t, out)
}

// changedUsers is users on the next date: two removed, two added, fields
// changed, one record (moved) gone to another person, one (renamed) with
// new first_name and name.
func changedUsers(users []planhat.EndUser) (next []planhat.EndUser, moved, renamed string) {
	next = append([]planhat.EndUser(nil), users[:5]...)
	next = append(next, users[7:]...) // users 5 and 6 are gone
	moved, renamed = next[10].ID, next[12].ID
	next[10].ExternalID = next[11].ExternalID
	next[12].FirstName, next[12].Name = "Renamed", "Renamed "+next[12].LastName
	next[13].Phone = "+4520999999"
	next[14].Tags = append(slices.Clone(next[14].Tags), "renewal-2026")
	next = append(next, planhat.FromPeople(people.Generate(8, 2), 5000)...)
	return next, moved, renamed
}

// Every invocation has its runs row: each stage, failed ones, backfill dates.
func TestRunsHistory(t *testing.T) {
	env := map[string]string{"PLANHAT_API_TOKEN": token}
	out := t.TempDir()
	_, url := planhatWith(t, 50)
	p := pipeline(t, url, out, fillNames)
	var h history
	for _, stage := range []string{"extract", "resolve", "writeback"} {
		h.mustSucceed(t, env, "run", p, "--run-date", day1, "--stage", stage)
	}
	// Failed: refused credentials.
	if res, _ := h.run(t, map[string]string{"PLANHAT_API_TOKEN": "wrong-token-123"}, "run", p, "--run-date", day2); res.Code != 1 {
		t.Fatalf("a refused token: exit %d", res.Code)
	}
	// A backfill writes one row per date, that date's summary.
	res := etlbin.Run(t, env, "backfill", p, "--from", day1, "--to", day2)
	if res.Code != 0 {
		t.Fatalf("backfill: exit %d\n%s", res.Code, res.Stderr)
	}
	var bf struct {
		Dates []struct {
			RunDate string          `json:"run_date"`
			Status  string          `json:"status"`
			Run     json.RawMessage `json:"run"`
		} `json:"dates"`
	}
	if err := json.Unmarshal([]byte(etlbin.LastLine(res.Stdout)), &bf); err != nil {
		t.Fatal(err)
	}
	rows := duckdb.Query(t, fmt.Sprintf(`SELECT CAST(run_date AS VARCHAR) AS d, status, summary FROM read_parquet('%s') WHERE run_id = json_extract_string(summary, '$.run_id') ORDER BY finished_at`,
		filepath.ToSlash(filepath.Join(out, "runs", "*", "*.parquet"))))
	if len(rows) != len(h)+2 {
		t.Fatalf("runs: %d rows after %d invocations and a backfill of two dates", len(rows), len(h))
	}
	backfilled := rows[len(rows)-2:]
	if backfilled[0]["d"] != day1 || backfilled[1]["d"] != day2 || bf.Dates[0].Status != "skipped" || bf.Dates[1].Status != "succeeded" {
		t.Fatalf("backfill rows %v for %s", backfilled, etlbin.LastLine(res.Stdout))
	}
	if string(bf.Dates[1].Run) != backfilled[1]["summary"] {
		t.Fatalf("the backfilled date's row holds\n%s\nthe backfill printed\n%s", backfilled[1]["summary"], bf.Dates[1].Run)
	}
}

// The DAG's extract tasks, one per source, run at once; a stage that builds
// the tables waits for none of them, it fails while one runs, and an
// extract fails while the tables are being built.
func TestLockScope(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "out")
	writeExport(t, dir, runDate, 20)
	em, url := startPlanhat(t, 2500)
	p := filepath.Join(dir, "p.yaml")
	os.WriteFile(p, []byte(fmt.Sprintf(`version: 1
sources:
  planhat: {base_url: %q, token: "${PLANHAT_API_TOKEN}"}
  files:
    - {name: crm, path: %q, format: jsonl, shape: planhat}
output: {uri: %q}
`, url, filepath.Join(dir, "exports", "dt=${RUN_DATE}", "*.jsonl"), out)), 0o644)
	env := map[string]string{"PLANHAT_API_TOKEN": token}
	hold := func(args ...string) *etlbin.Proc {
		em.Inject(emu.Fault{}, emu.Fault{Delay: 4 * time.Second})
		before := len(em.Log())
		proc := etlbin.Start(t, env, append([]string{"run", p, "--run-date", runDate}, args...)...)
		for deadline := time.Now().Add(30 * time.Second); len(em.Log()) < before+2; time.Sleep(5 * time.Millisecond) {
			if time.Now().After(deadline) {
				proc.Signal(t, os.Kill)
				t.Fatalf("the run never asked for its second page\n%s", proc.Wait(t).Stderr)
			}
		}
		return proc
	}
	refused := func(res etlbin.Result, holder string) {
		t.Helper()
		if s := summaryOf(t, res); res.Code != 1 || !strings.Contains(s.Error, "run "+holder+" holds it") {
			t.Fatalf("exit %d, %q; want refused naming run %s", res.Code, s.Error, holder)
		}
	}

	a := hold("--stage", "extract", "--only", "planhat")
	if res := etlbin.Run(t, env, "run", p, "--run-date", runDate, "--stage", "extract", "--only", "crm"); res.Code != 0 {
		t.Fatalf("an extract of another source beside it: exit %d\n%s", res.Code, res.Stderr)
	}
	r := etlbin.Run(t, env, "run", p, "--run-date", runDate, "--stage", "resolve")
	ra := a.Wait(t)
	refused(r, summaryOf(t, ra).RunID)
	if ra.Code != 0 {
		t.Fatalf("the planhat extract: exit %d\n%s", ra.Code, ra.Stderr)
	}
	if res := etlbin.Run(t, env, "run", p, "--run-date", runDate, "--stage", "resolve"); res.Code != 0 {
		t.Fatalf("resolve once the extracts are done: exit %d\n%s", res.Code, res.Stderr)
	}

	// Building the tables from planhat alone: crm's staging is not locked,
	// the tables are.
	all := hold("--only", "planhat")
	e := etlbin.Run(t, env, "run", p, "--run-date", runDate, "--stage", "extract", "--only", "crm", "--force")
	rall := all.Wait(t)
	refused(e, summaryOf(t, rall).RunID)
	if rall.Code != 0 {
		t.Fatalf("the run beside the refused extract: exit %d\n%s", rall.Code, rall.Stderr)
	}
}
