package iceberg

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

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
	replace(t, c, tbl, mem, "2026-11-02", "r2", 3)
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
	if d, ok, err := tbl.LatestDateBefore(ctx, "2026-11-02"); err != nil || !ok || d != "2026-11-01" {
		t.Errorf("latest before 2026-11-02: %q %v %v", d, ok, err)
	}
	if _, ok, _ := tbl.LatestDateBefore(ctx, "2026-11-01"); ok {
		t.Error("a date before the first")
	}
	if n, _ := tbl.RowsOf(ctx, "2026-11-02"); n != 3 {
		t.Errorf("rows of 2026-11-02: %d", n)
	}

	// An orphan: a file under data/ no snapshot references, old.
	orphan := filepath.Join(dir, schemas.TableRejects, "data", "dt=2026-11-01", "killed-run.parquet")
	if err := os.WriteFile(orphan, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	// Within the retention nothing goes: every snapshot is younger.
	st, err := tbl.Expire(ctx, time.Now())
	if err != nil || st.Snapshots != 0 || len(st.Orphans) != 0 {
		t.Fatalf("expiry within the retention: %+v %v", st, err)
	}
	// Eight days later: only the current snapshot was current at the
	// cutoff, and it stays; the files only older ones referenced go.
	old := time.Now().Add(-8 * 24 * time.Hour)
	os.Chtimes(orphan, old, old)
	st, err = tbl.Expire(ctx, time.Now().Add(8*24*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if st.Snapshots != 2 || len(st.Orphans) != 1 {
		t.Errorf("expiry: %+v", st)
	}
	if _, err := os.Stat(orphan); err == nil {
		t.Error("the orphan is still there")
	}
	if got := reasons(t, tbl, mem, "2026-11-01"); len(got) != 2 {
		t.Errorf("after expiry: %v", got)
	}
}
