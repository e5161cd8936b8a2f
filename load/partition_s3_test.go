package load

import (
	"context"
	"errors"
	"path"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"etl/internal/s3test"
	"etl/internal/store"
)

const date = "2026-01-15"

var testSchema = arrow.NewSchema([]arrow.Field{{Name: "n", Type: arrow.PrimitiveTypes.Int64}}, nil)

func batch(rows int) arrow.Record {
	b := array.NewInt64Builder(memory.DefaultAllocator)
	defer b.Release()
	for i := range rows {
		b.Append(int64(i))
	}
	col := b.NewArray()
	defer col.Release()
	return array.NewRecord(testSchema, []arrow.Array{col}, int64(rows))
}

// writeTables writes rows into each table of a new partition and closes them.
func writeTables(ctx context.Context, p *Partition, tables []string) error {
	if err := p.Begin(ctx, tables); err != nil {
		return err
	}
	for _, name := range tables {
		rec := batch(10)
		err := p.Table(ctx, name, testSchema).Write(rec)
		rec.Release()
		if err != nil {
			return err
		}
		if _, err := p.CloseTable(name); err != nil {
			return err
		}
	}
	return nil
}

// markers and parts found in the partition of date, by table.
func contents(t *testing.T, st store.Store, tables []string) (success map[string]bool, parts map[string][]string) {
	t.Helper()
	success, parts = map[string]bool{}, map[string][]string{}
	for _, name := range tables {
		keys, err := st.List(context.Background(), name+"/dt="+date+"/")
		if err != nil {
			t.Fatal(err)
		}
		for _, k := range keys {
			switch b := path.Base(k); {
			case b == SuccessFile:
				success[name] = true
			case strings.HasSuffix(b, ".parquet"):
				parts[name] = append(parts[name], k)
			}
		}
	}
	return success, parts
}

// failingStore refuses to create one key, as a store failing mid-commit would.
type failingStore struct {
	store.Store
	key string
}

func (f failingStore) Create(ctx context.Context, key string) (store.Object, error) {
	if key == f.key {
		return nil, errors.New("injected failure")
	}
	return f.Store.Create(ctx, key)
}

// A commit that fails between two tables' _SUCCESS must not leave the first
// one marked complete once the run has aborted.
func TestCommitFailingHalfwayLeavesNoSuccess(t *testing.T) {
	ctx := context.Background()
	tables := []string{"a", "b"}
	local := store.Local{Root: t.TempDir()}
	if err := writeTables(ctx, NewPartition(local, date, "run1"), tables); err != nil {
		t.Fatal(err)
	}
	p := NewPartition(failingStore{Store: local, key: "b/dt=" + date + "/" + SuccessFile}, date, "run2")
	if err := writeTables(ctx, p, tables); err != nil {
		t.Fatal(err)
	}
	if _, err := p.Commit(ctx); err == nil {
		t.Fatal("Commit succeeded")
	}
	if err := p.Abort(ctx); err != nil {
		t.Fatal(err)
	}
	if success, _ := contents(t, local, tables); len(success) != 0 {
		t.Fatalf("_SUCCESS left after a failed commit: %v", success)
	}
}

// The S3 server dies while a run writes its tables: the run fails, nothing
// looks complete, and the next run replaces the leftovers.
func TestPartitionOnS3ServerStopsMidway(t *testing.T) {
	srv := s3test.Start(t, "warehouse")
	srv.Setenv(t)
	st, err := store.OpenS3(context.Background(), srv.URI("out"))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	tables := []string{"a", "b"}
	if err := writeTables(ctx, NewPartition(st, date, "run1"), tables); err != nil {
		t.Fatal(err)
	}

	p := NewPartition(st, date, "run2")
	if err := p.Begin(ctx, tables); err != nil {
		t.Fatal(err)
	}
	rec := batch(10)
	defer rec.Release()
	if err := p.Table(ctx, "a", testSchema).Write(rec); err != nil {
		t.Fatal(err)
	}
	if _, err := p.CloseTable("a"); err != nil {
		t.Fatal(err)
	}
	srv.Stop()
	err = p.Table(ctx, "b", testSchema).Write(rec)
	if err == nil {
		_, err = p.CloseTable("b")
	}
	if err == nil || !strings.Contains(err.Error(), "s3://warehouse/out/b/dt="+date+"/part-run2-00000.parquet") {
		t.Fatalf("writing with the server down: %v", err)
	}
	if err := p.Abort(ctx); err == nil {
		t.Fatal("Abort succeeded with the server down")
	}
	srv.Restart()
	success, parts := contents(t, st, tables)
	if len(success) != 0 {
		t.Fatalf("_SUCCESS after the failed run: %v", success)
	}
	if len(parts["a"]) != 2 { // run1's and run2's, which the next commit removes
		t.Fatalf("parts of a: %v", parts["a"])
	}

	p = NewPartition(st, date, "run3")
	if err := writeTables(ctx, p, tables); err != nil {
		t.Fatal(err)
	}
	if _, err := p.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	success, parts = contents(t, st, tables)
	for _, name := range tables {
		if !success[name] || len(parts[name]) != 1 || !strings.Contains(parts[name][0], "part-run3-") {
			t.Fatalf("%s after the next run: _SUCCESS %v, parts %v", name, success[name], parts[name])
		}
	}
}
