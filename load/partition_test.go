package load

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"etl/internal/store"
	"etl/schemas"
)

func rejects(mem memory.Allocator, n int) arrow.Record {
	b := array.NewRecordBuilder(mem, schemas.Rejects)
	defer b.Release()
	for i := 0; i < n; i++ {
		b.Field(0).(*array.StringBuilder).Append("extract")
		b.Field(1).(*array.StringBuilder).Append("planhat")
		b.Field(2).(*array.StringBuilder).Append("id")
		b.Field(3).(*array.StringBuilder).Append("why")
		b.Field(4).(*array.StringBuilder).AppendNull()
	}
	return b.NewRecord()
}

func writeRun(t *testing.T, s store.Store, runID string, rows int) map[string]Manifest {
	t.Helper()
	ctx := context.Background()
	mem := memory.NewCheckedAllocator(memory.DefaultAllocator)
	defer mem.AssertSize(t, 0)
	p := NewPartition(s, "2026-02-03", runID)
	if err := p.Begin(ctx, []string{schemas.TableRejects}); err != nil {
		t.Fatal(err)
	}
	w := p.Table(ctx, schemas.TableRejects, schemas.Rejects)
	w.partRows = 10
	for left := rows; left > 0; left -= 10 { // batches of 10: one part each
		rec := rejects(mem, min(left, 10))
		err := w.Write(rec)
		rec.Release()
		if err != nil {
			t.Fatal(err)
		}
	}
	if _, err := p.CloseTable(schemas.TableRejects); err != nil {
		t.Fatal(err)
	}
	m, err := p.Commit(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestPartitionReplacesPreviousRun(t *testing.T) {
	dir := t.TempDir()
	s := store.Local{Root: dir}
	writeRun(t, s, "run1", 25)
	m := writeRun(t, s, "run2", 5)
	keys, _ := s.List(context.Background(), "rejects/dt=2026-02-03/")
	want := map[string]bool{"rejects/dt=2026-02-03/_SUCCESS": true, "rejects/dt=2026-02-03/_manifest.json": true,
		"rejects/dt=2026-02-03/part-run2-00000.parquet": true}
	if len(keys) != len(want) {
		t.Fatalf("partition holds %v", keys)
	}
	for _, k := range keys {
		if !want[k] {
			t.Fatalf("unexpected %s in %v", k, keys)
		}
	}
	var onDisk Manifest
	b, _ := os.ReadFile(filepath.Join(dir, "rejects/dt=2026-02-03/_manifest.json"))
	if err := json.Unmarshal(b, &onDisk); err != nil || onDisk.Rows != 5 || len(onDisk.Parts) != 1 || onDisk.RunID != "run2" {
		t.Fatalf("manifest %s (%v)", b, err)
	}
	if m[schemas.TableRejects].Rows != 5 {
		t.Fatalf("returned manifest %+v", m)
	}
}

func TestPartitionCutsParts(t *testing.T) {
	s := store.Local{Root: t.TempDir()}
	m := writeRun(t, s, "r", 25)[schemas.TableRejects]
	if m.Rows != 25 || len(m.Parts) != 3 || m.Parts[2].Rows != 5 {
		t.Fatalf("%+v", m)
	}
}

func TestAbortLeavesNoSuccess(t *testing.T) {
	dir := t.TempDir()
	s := store.Local{Root: dir}
	writeRun(t, s, "good", 3)
	ctx := context.Background()
	mem := memory.NewCheckedAllocator(memory.DefaultAllocator)
	defer mem.AssertSize(t, 0)
	p := NewPartition(s, "2026-02-03", "bad")
	if err := p.Begin(ctx, []string{schemas.TableRejects}); err != nil {
		t.Fatal(err)
	}
	w := p.Table(ctx, schemas.TableRejects, schemas.Rejects)
	rec := rejects(mem, 3)
	w.Write(rec)
	rec.Release()
	if err := p.Abort(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "rejects/dt=2026-02-03/_SUCCESS")); !os.IsNotExist(err) {
		t.Fatal("_SUCCESS survived a failed run")
	}
	left, _ := filepath.Glob(filepath.Join(dir, "rejects/dt=2026-02-03/.*"))
	if len(left) != 0 {
		t.Fatalf("temporary files left: %v", left)
	}
}

func TestEmptyTableGetsAPart(t *testing.T) {
	s := store.Local{Root: t.TempDir()}
	m := writeRun(t, s, "empty", 0)[schemas.TableRejects]
	if len(m.Parts) != 1 || m.Rows != 0 {
		t.Fatalf("%+v", m)
	}
}
