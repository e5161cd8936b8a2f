package iceberg

import (
	"cmp"
	"context"
	"database/sql"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/uptrace/bun/driver/pgdriver"

	"etl/internal/icebergrest"
	"etl/schemas"
)

func openSQLite(t *testing.T, dir string) *Catalog {
	t.Helper()
	c, err := Open(context.Background(), Config{Type: TypeSQL, URI: "sqlite://" + filepath.Join(dir, "catalog.db"), Location: dir})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// rejects makes n rows of the rejects table whose reasons are prefix-i.
func rejects(mem memory.Allocator, prefix string, n int) arrow.Record {
	b := array.NewRecordBuilder(mem, schemas.Rejects)
	defer b.Release()
	for i := range n {
		b.Field(0).(*array.StringBuilder).Append(schemas.StageExtract)
		b.Field(1).(*array.StringBuilder).Append("planhat")
		b.Field(2).(*array.StringBuilder).Append(fmt.Sprint(i))
		b.Field(3).(*array.StringBuilder).Append(fmt.Sprintf("%s-%d", prefix, i))
		b.Field(4).(*array.StringBuilder).AppendNull()
	}
	return b.NewRecordBatch()
}

// replace replaces date in tbl with n rows, committed.
func replace(t *testing.T, c *Catalog, tbl *Table, mem memory.Allocator, date, run string, n int) Stats {
	t.Helper()
	ctx := context.Background()
	r, err := c.Begin(date, run, `{"run_id":"`+run+`"}`, mem)
	if err != nil {
		t.Fatal(err)
	}
	w, err := r.Table(ctx, tbl)
	if err != nil {
		t.Fatal(err)
	}
	rec := rejects(mem, run, n)
	if err := w.Write(rec); err != nil {
		t.Fatal(err)
	}
	rec.Release()
	st, err := w.Close()
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	return st
}

func reasons(t *testing.T, tbl *Table, mem memory.Allocator, date string) []string {
	t.Helper()
	var out []string
	err := tbl.ReadDate(context.Background(), date, mem, func(rec arrow.Record) error {
		if !rec.Schema().Equal(schemas.Rejects) {
			t.Errorf("read schema %s", rec.Schema())
		}
		col := rec.Column(3).(*array.String)
		for i := range col.Len() {
			out = append(out, col.Value(i))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(out)
	return out
}

func dataFiles(t *testing.T, dir, date string) []string {
	t.Helper()
	m, _ := filepath.Glob(filepath.Join(dir, schemas.TableRejects, "data", "dt="+date, "*.parquet"))
	return m
}

func exists(p string) bool { _, err := os.Stat(p); return err == nil }

func TestReplaceReadExpire(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	ctx := context.Background()
	dir := t.TempDir()
	c := openSQLite(t, dir)
	tbl, err := c.Table(ctx, schemas.TableRejects, schemas.Rejects)
	if err != nil {
		t.Fatal(err)
	}
	if st := replace(t, c, tbl, mem, "2026-11-01", "r1", 5); st.Rows != 5 || st.Files != 1 {
		t.Fatalf("stats %+v", st)
	}
	first := dataFiles(t, dir, "2026-11-01")
	if len(first) != 1 {
		t.Fatalf("r1's files: %v", first)
	}
	time.Sleep(5 * time.Millisecond) // snapshots a few ms apart
	replace(t, c, tbl, mem, "2026-11-02", "r2", 3)
	time.Sleep(5 * time.Millisecond)
	replace(t, c, tbl, mem, "2026-11-01", "r3", 2) // re-run of the first date

	if got := reasons(t, tbl, mem, "2026-11-01"); !slices.Equal(got, []string{"r3-0", "r3-1"}) {
		t.Errorf("2026-11-01 after the re-run: %v", got)
	}
	if got := reasons(t, tbl, mem, "2026-11-02"); len(got) != 3 {
		t.Errorf("2026-11-02: %v", got)
	}
	snap := tbl.tbl.CurrentSnapshot()
	if op := snap.Summary.Operation; op != "overwrite" {
		t.Errorf("re-run's snapshot is %q", op)
	}
	if p := snap.Summary.Properties; p[PropRunID] != "r3" || p[PropRunDate] != "2026-11-01" {
		t.Errorf("snapshot properties %v", p)
	}
	if info, _ := tbl.Info(ctx, "2026-11-01"); info != `{"run_id":"r3"}` {
		t.Errorf("info %q", info)
	}
	if dates, err := tbl.Dates(ctx); err != nil || !slices.Equal(dates, []string{"2026-11-01", "2026-11-02"}) {
		t.Errorf("dates: %v %v", dates, err)
	}
	// A view stays on the snapshot it loaded while the table moves on.
	v, err := tbl.View(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if n, _ := v.Rows(ctx, "2026-11-02"); n != 3 {
		t.Errorf("rows of 2026-11-02: %d", n)
	}
	time.Sleep(5 * time.Millisecond)
	replace(t, c, tbl, mem, "2026-11-02", "r4", 4)
	var seen []string
	if err := v.Read(ctx, "2026-11-02", mem, func(rec arrow.Record) error {
		for i := range int(rec.NumRows()) {
			seen = append(seen, rec.Column(3).(*array.String).Value(i))
		}
		return nil
	}); err != nil || len(seen) != 3 || seen[0][:3] != "r2-" || v.Info("2026-11-02") != `{"run_id":"r2"}` {
		t.Errorf("the view after r4 replaced 2026-11-02: %v %v, info %s", seen, err, v.Info("2026-11-02"))
	}
	if got := reasons(t, tbl, mem, "2026-11-02"); len(got) != 4 {
		t.Errorf("2026-11-02 after r4: %v", got)
	}

	snaps := tbl.tbl.Metadata().Snapshots() // s1, s2, s3, s4, oldest first
	at := func(i int) time.Time { return time.UnixMilli(snaps[i].TimestampMs) }
	retain := c.retain
	// Two files no snapshot references: one a killed run left long ago,
	// one a run is staging now.
	oldOrphan := filepath.Join(dir, schemas.TableRejects, "data", "dt=2026-11-01", "killed-run.parquet")
	youngOrphan := filepath.Join(dir, schemas.TableRejects, "data", "dt=2026-11-03", "running-run.parquet")
	for _, p := range []string{oldOrphan, youngOrphan} {
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	old := time.Now().Add(-retain - time.Hour)
	os.Chtimes(oldOrphan, old, old)

	// Within the retention nothing goes but the old orphan.
	st, err := tbl.Expire(ctx, time.Now())
	if err != nil || st.Snapshots != 0 || len(st.Orphans) != 1 || exists(oldOrphan) || !exists(youngOrphan) {
		t.Fatalf("expiry within the retention: %+v %v", st, err)
	}
	// A retention after s2 was made: s2 was current then, so it stays, and
	// s1 goes; r1's file, which s2 still references, stays.
	st, err = tbl.Expire(ctx, at(1).Add(retain+time.Millisecond))
	if err != nil || st.Snapshots != 1 || len(tbl.tbl.Metadata().Snapshots()) != 3 || !exists(first[0]) {
		t.Fatalf("expiry of s1: %+v %v; r1's file there: %v", st, err, exists(first[0]))
	}
	if exists(localPath(snaps[0].ManifestList)) || !exists(localPath(snaps[1].ManifestList)) {
		t.Error("s1's manifest list should be gone, s2's there")
	}
	// A retention after s3: s2 goes, and r1's file with it.
	st, err = tbl.Expire(ctx, at(2).Add(retain+time.Millisecond))
	if err != nil || st.Snapshots != 1 || exists(first[0]) || !exists(youngOrphan) {
		t.Fatalf("expiry of s2: %+v %v; r1's file there: %v", st, err, exists(first[0]))
	}
	if got := reasons(t, tbl, mem, "2026-11-01"); len(got) != 2 {
		t.Errorf("after expiry: %v", got)
	}
	if got := reasons(t, tbl, mem, "2026-11-02"); len(got) != 4 {
		t.Errorf("after expiry: %v", got)
	}
}

// localPath is a file:// location's path.
func localPath(loc string) string { return strings.TrimPrefix(loc, "file://") }

// Two runs of different dates staged on the same table at once both
// commit: the later reloads the table and replays its snapshot on top.
// Two of the same date: the later fails, and the earlier's rows stay.
func TestConcurrentRunsOfOtherDates(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	ctx := context.Background()
	c := openSQLite(t, t.TempDir())
	tbl, err := c.Table(ctx, schemas.TableRejects, schemas.Rejects)
	if err != nil {
		t.Fatal(err)
	}
	replace(t, c, tbl, mem, "2026-11-01", "r0", 1) // the table has a snapshot
	stage := func(date, run string, n int) *Replace {
		r, err := c.Begin(date, run, "", mem)
		if err != nil {
			t.Fatal(err)
		}
		w, err := r.Table(ctx, tbl)
		if err != nil {
			t.Fatal(err)
		}
		rec := rejects(mem, run, n)
		defer rec.Release()
		if err := w.Write(rec); err != nil {
			t.Fatal(err)
		}
		if _, err := w.Close(); err != nil {
			t.Fatal(err)
		}
		return r
	}
	a, b := stage("2026-11-02", "a", 2), stage("2026-11-03", "b", 3)
	if err := a.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	if err := b.Commit(ctx); err != nil {
		t.Fatalf("the commit of another date after a concurrent one: %v", err)
	}
	for date, n := range map[string]int{"2026-11-01": 1, "2026-11-02": 2, "2026-11-03": 3} {
		if got := reasons(t, tbl, mem, date); len(got) != n {
			t.Errorf("%s: %v", date, got)
		}
	}
	x, y := stage("2026-11-02", "x", 4), stage("2026-11-02", "y", 5)
	if err := x.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	if err := y.Commit(ctx); err == nil {
		t.Error("two runs of one date both committed")
	}
	if got := reasons(t, tbl, mem, "2026-11-02"); len(got) != 4 {
		t.Errorf("2026-11-02 after the refused commit: %v", got)
	}
}

// startPostgres starts a throwaway PostgreSQL server (the machine's, or
// the one tools.sh unpacked into .cache/postgres where the machine has none;
// run as nobody, since it refuses root) and returns its catalog URI.
func startPostgres(t *testing.T) string {
	t.Helper()
	system := cmp.Or(os.Getenv("ETL_PG_SYSTEM"), "/usr/lib/postgresql")
	local, _ := filepath.Abs(filepath.Join("..", "..", ".cache", "postgres"))
	var env []string
	bins, _ := filepath.Glob(filepath.Join(system, "*", "bin", "postgres"))
	if len(bins) == 0 {
		bins, _ = filepath.Glob(filepath.Join(local, "usr", "lib", "postgresql", "*", "bin", "postgres"))
		libs, _ := filepath.Glob(filepath.Join(local, "usr", "lib", "*-linux-gnu"))
		env = append(os.Environ(), "LD_LIBRARY_PATH="+strings.Join(libs, ":"))
	}
	if len(bins) == 0 {
		t.Fatal("PostgreSQL is not installed (internal/tools/tools.sh unpacks it into .cache/postgres)")
	}
	bin := filepath.Dir(bins[len(bins)-1])
	t.Logf("PostgreSQL from %s", bin)
	dir, err := os.MkdirTemp("", "etl-pg-*")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	asNobody := func(name string, args ...string) *exec.Cmd {
		cmd := exec.Command(name, args...)
		if os.Geteuid() == 0 {
			cmd = exec.Command("setpriv", append([]string{"--reuid=nobody", "--regid=nogroup", "--clear-groups", name}, args...)...)
			os.Chown(dir, 65534, 65534)
		}
		cmd.Env = env
		return cmd
	}
	if out, err := asNobody(filepath.Join(bin, "initdb"), "-D", filepath.Join(dir, "data"), "-U", "etl", "--auth=trust", "-E", "UTF8").CombinedOutput(); err != nil {
		t.Fatalf("initdb: %v\n%s", err, out)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := fmt.Sprint(ln.Addr().(*net.TCPAddr).Port)
	ln.Close()
	srv := asNobody(filepath.Join(bin, "postgres"), "-D", filepath.Join(dir, "data"), "-k", dir, "-h", "127.0.0.1", "-p", port, "-F")
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		srv.Process.Signal(syscall.SIGTERM) // a smart shutdown: it exits once idle
		srv.Wait()
	})
	uri := "postgres://etl:pw-secret@127.0.0.1:" + port + "/postgres?sslmode=disable"
	// It listens before it takes connections ("the database system is
	// starting up"): wait for one to be served.
	db := sql.OpenDB(pgdriver.NewConnector(pgdriver.WithDSN(uri)))
	defer db.Close()
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		err := db.Ping()
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("PostgreSQL did not start: %v", err)
		}
	}
	return uri
}

// A Postgres catalog goes through the same code as SQLite, with Postgres'
// driver and dialect.
func TestPostgresCatalog(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	ctx := context.Background()
	uri := startPostgres(t)
	c, err := Open(ctx, Config{Type: TypeSQL, URI: uri, Location: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	tbl, err := c.Table(ctx, schemas.TableRejects, schemas.Rejects)
	if err != nil {
		t.Fatal(err)
	}
	replace(t, c, tbl, mem, "2026-11-01", "r1", 3)
	replace(t, c, tbl, mem, "2026-11-01", "r2", 2)
	if got := reasons(t, tbl, mem, "2026-11-01"); !slices.Equal(got, []string{"r2-0", "r2-1"}) {
		t.Errorf("rows after the re-run: %v", got)
	}
	if op := tbl.tbl.CurrentSnapshot().Summary.Operation; op != "overwrite" {
		t.Errorf("the re-run's snapshot is %q", op)
	}
	// An unreachable one fails at once, without its password.
	_, err = Open(ctx, Config{Type: TypeSQL, URI: "postgres://etl:pw-secret@127.0.0.1:1/lake?sslmode=disable", Location: t.TempDir()})
	if err == nil || strings.Contains(err.Error(), "pw-secret") || !strings.Contains(err.Error(), "REDACTED") {
		t.Errorf("opening an unreachable Postgres catalog: %v", err)
	}
	if _, _, _, err := sqlSource("mysql://h/db"); err == nil {
		t.Error("a mysql:// catalog was taken")
	}
}

// Append adds rows to a date, keeping those there (the runs table).
func TestAppendKeepsTheDatesRows(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	ctx := context.Background()
	c := openSQLite(t, t.TempDir())
	tbl, err := c.Table(ctx, schemas.TableRejects, schemas.Rejects)
	if err != nil {
		t.Fatal(err)
	}
	for _, run := range []string{"a", "b"} {
		rec := rejects(mem, run, 1)
		err := tbl.Append(ctx, "2026-11-01", run, rec)
		rec.Release()
		if err != nil {
			t.Fatal(err)
		}
	}
	if got := reasons(t, tbl, mem, "2026-11-01"); !slices.Equal(got, []string{"a-0", "b-0"}) {
		t.Errorf("rows %v", got)
	}
	snap := tbl.tbl.CurrentSnapshot()
	if snap.Summary.Operation != "append" || snap.Summary.Properties[PropRunID] != "b" {
		t.Errorf("snapshot %+v", snap.Summary)
	}
	// Past 100 appends their manifests are merged, and no row is lost.
	for i := range 100 {
		rec := rejects(mem, fmt.Sprint("c", i), 1)
		err := tbl.Append(ctx, "2026-11-02", "c", rec)
		rec.Release()
		if err != nil {
			t.Fatal(err)
		}
	}
	v, err := tbl.View(ctx)
	if err != nil {
		t.Fatal(err)
	}
	fs, _ := v.tbl.FS(ctx)
	manifests, err := v.tbl.CurrentSnapshot().Manifests(fs)
	if err != nil || len(manifests) >= 100 {
		t.Errorf("%d manifests after 102 appends (%v)", len(manifests), err)
	}
	if n, _ := v.Rows(ctx, "2026-11-02"); n != 100 || len(reasons(t, tbl, mem, "2026-11-01")) != 2 {
		t.Errorf("%d rows of the 100 appended", n)
	}
}

// With sigv4, every request to a REST catalog is signed with AWS Signature
// V4 for the service named (glue by default), with the standard AWS
// credentials and region: a catalog that checks the signatures, as Glue's
// Iceberg endpoint does, serves a whole run's worth of requests, and
// refuses a client that does not sign, or signs with another key.
func TestRESTCatalogSignsWithSigV4(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	ctx := context.Background()
	none := filepath.Join(t.TempDir(), "none")
	for k, v := range map[string]string{"AWS_ACCESS_KEY_ID": "AKIDEXAMPLE", "AWS_SECRET_ACCESS_KEY": "example-secret", "AWS_REGION": "eu-west-1",
		"AWS_SESSION_TOKEN": "", "AWS_DEFAULT_REGION": "", "AWS_PROFILE": "", "AWS_CONFIG_FILE": none, "AWS_SHARED_CREDENTIALS_FILE": none, "AWS_EC2_METADATA_DISABLED": "true"} {
		t.Setenv(k, v)
	}
	dir := t.TempDir()
	srv := icebergrest.Start(t, t.TempDir(), "file://"+dir)
	srv.RequireSigV4(aws.Credentials{AccessKeyID: "AKIDEXAMPLE", SecretAccessKey: "example-secret"}, "eu-west-1", "glue")
	c, err := Open(ctx, Config{Type: TypeREST, URI: srv.URL, Location: dir, SigV4: true})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	tbl, err := c.Table(ctx, schemas.TableRejects, schemas.Rejects)
	if err != nil {
		t.Fatal(err)
	}
	replace(t, c, tbl, mem, "2026-11-01", "r1", 3)
	if got := reasons(t, tbl, mem, "2026-11-01"); len(got) != 3 {
		t.Errorf("rows read back: %v", got)
	}
	if n := srv.Verified(); n < 5 {
		t.Errorf("%d signed requests verified", n)
	}
	refused := func(what string, cfg Config, want string) {
		t.Helper()
		if _, err := Open(ctx, cfg); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v; want an error saying %q", what, err, want)
		}
	}
	refused("unsigned", Config{Type: TypeREST, URI: srv.URL, Location: dir}, "not signed with AWS Signature V4")
	refused("for another service", Config{Type: TypeREST, URI: srv.URL, Location: dir, SigV4: true, SigningName: "execute-api"},
		"signature does not match")
	t.Setenv("AWS_REGION", "")
	refused("without a region", Config{Type: TypeREST, URI: srv.URL, Location: dir, SigV4: true}, "set AWS_REGION")
	t.Setenv("AWS_REGION", "eu-west-1")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "another-secret")
	if _, err := Open(ctx, Config{Type: TypeREST, URI: srv.URL, Location: dir, SigV4: true}); err == nil ||
		!strings.Contains(err.Error(), "signature does not match") {
		t.Errorf("signed with another key: %v", err)
	}
}

// A REST catalog without multi-table commits (AWS Glue's) gets the tables
// committed one by one.
func TestRESTCatalogWithoutTransactions(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	ctx := context.Background()
	dir := t.TempDir()
	srv := icebergrest.Start(t, t.TempDir(), "file://"+dir)
	srv.WithoutTransactions()
	c, err := Open(ctx, Config{Type: TypeREST, URI: srv.URL, Location: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var tbls []*Table
	for _, name := range []string{"a", "b"} {
		tbl, err := c.Table(ctx, name, schemas.Rejects)
		if err != nil {
			t.Fatal(err)
		}
		tbls = append(tbls, tbl)
	}
	r, err := c.Begin("2026-11-01", "r1", `{"run_id":"r1"}`, mem)
	if err != nil {
		t.Fatal(err)
	}
	for i, tbl := range tbls {
		w, err := r.Table(ctx, tbl)
		if err != nil {
			t.Fatal(err)
		}
		rec := rejects(mem, "r1", i+2)
		err = w.Write(rec)
		rec.Release()
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.Close(); err != nil {
			t.Fatal(err)
		}
	}
	if err := r.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	for i, tbl := range tbls {
		if got := reasons(t, tbl, mem, "2026-11-01"); len(got) != i+2 {
			t.Errorf("%s: %v", tbl.Name(), got)
		}
	}
	if n := srv.Transactions(); n != 0 {
		t.Errorf("%d multi-table commits", n)
	}
}
