package ipcmap

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/ipc"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"etl/schemas"
)

// sources makes n batches of end_user_sources' schema (strings, lists of
// strings, timestamps, nulls), of rows rows each.
func sources(mem memory.Allocator, n, rows int) []arrow.Record {
	var recs []arrow.Record
	for b := range n {
		rb := array.NewRecordBuilder(mem, schemas.EndUserSources)
		for r := range rows {
			k := b*rows + r
			for c, f := range schemas.EndUserSources.Fields() {
				fb := rb.Field(c)
				if f.Nullable && (k+c)%5 == 0 {
					fb.AppendNull()
					continue
				}
				switch fb := fb.(type) {
				case *array.StringBuilder:
					fb.Append(fmt.Sprintf("%s-%d-%s", f.Name, k, bytes.Repeat([]byte("x"), k%17)))
				case *array.ListBuilder:
					fb.Append(true)
					for i := range k % 4 {
						fb.ValueBuilder().(*array.StringBuilder).Append(fmt.Sprintf("v%d.%d", k, i))
					}
				case *array.TimestampBuilder:
					fb.Append(arrow.Timestamp(1_700_000_000_000_000 + int64(k)))
				default:
					panic(fmt.Sprintf("no values for %T", fb))
				}
			}
		}
		recs = append(recs, rb.NewRecord())
		rb.Release()
	}
	return recs
}

// write writes recs as an IPC stream to a new file and returns its path.
func write(t testing.TB, schema *arrow.Schema, recs []arrow.Record) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "s.arrows")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	w := ipc.NewWriter(f, ipc.WithSchema(schema))
	for _, r := range recs {
		if err := w.Write(r); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	return path
}

// readAll reads every batch of path through NewReader and keeps them.
func readAll(t *testing.T, path string, mem memory.Allocator) ([]arrow.Record, error) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	return read(t, f, mem)
}

// read reads every batch of f through NewReader and keeps them.
func read(t *testing.T, f *os.File, mem memory.Allocator) ([]arrow.Record, error) {
	t.Helper()
	rd, err := NewReader(f, ipc.WithAllocator(mem))
	if err != nil {
		return nil, err
	}
	defer rd.Release()
	var out []arrow.Record
	for rd.Next() {
		rec := rd.Record()
		rec.Retain()
		out = append(out, rec)
	}
	return out, rd.Err()
}

// sameBatches fails t unless got are the batches want, in order.
func sameBatches(t *testing.T, got, want []arrow.Record) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("read %d batches, want %d", len(got), len(want))
	}
	for i := range want {
		if !array.RecordEqual(got[i], want[i]) {
			t.Fatalf("batch %d differs from the one written", i)
		}
	}
}

func release(recs []arrow.Record) {
	for _, r := range recs {
		r.Release()
	}
}

// The batches read are those written, each holding its own mapping (so not
// copied out of it) until it is released, on whatever goroutine; then every
// mapping is gone and nothing is left allocated.
func TestReadBack(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.DefaultAllocator)
	defer mem.AssertSize(t, 0)
	want := sources(mem, 5, 700)
	defer release(want)
	path := write(t, schemas.EndUserSources, want)

	got, err := readAll(t, path, mem)
	if err != nil {
		t.Fatal(err)
	}
	sameBatches(t, got, want)
	// The reader is released: only the batches hold the mappings.
	if n := Mappings(); n != int64(len(got)) {
		t.Fatalf("%d mappings live with %d batches held", n, len(got))
	}
	// A slice outlives its batch, as a Parquet writer's pending rows do.
	slice := got[2].NewSlice(10, 20)
	var wg sync.WaitGroup
	for _, r := range got {
		wg.Go(r.Release)
	}
	wg.Wait()
	if n := Mappings(); n != 1 {
		t.Fatalf("%d mappings live with one slice held, want 1", n)
	}
	wantSlice := want[2].NewSlice(10, 20)
	defer wantSlice.Release()
	if !array.RecordEqual(slice, wantSlice) {
		t.Fatal("the slice differs from the one written")
	}
	slice.Release()
	if n := Mappings(); n != 0 {
		t.Fatalf("%d mappings left after every batch was released", n)
	}
}

// A stream of a schema and no batch reads as no batch; an empty file is an
// error wrapping io.EOF, as ipc.NewReader's.
func TestEmpty(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.DefaultAllocator)
	defer mem.AssertSize(t, 0)
	got, err := readAll(t, write(t, schemas.EndUserSources, nil), mem)
	if err != nil || len(got) != 0 {
		t.Fatalf("read %d batches, error %v; want none", len(got), err)
	}
	path := filepath.Join(t.TempDir(), "empty.arrows")
	if err := os.WriteFile(path, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := readAll(t, path, mem); !errors.Is(err, io.EOF) {
		t.Fatalf("empty file: %v, want an error wrapping io.EOF", err)
	}
	if n := Mappings(); n != 0 {
		t.Fatalf("%d mappings left", n)
	}
}

// Dictionaries (in messages of their own, kept by the reader) read back too,
// and their mappings go with the reader and the batches.
func TestDictionary(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.DefaultAllocator)
	defer mem.AssertSize(t, 0)
	dt := &arrow.DictionaryType{IndexType: arrow.PrimitiveTypes.Int32, ValueType: arrow.BinaryTypes.String}
	schema := arrow.NewSchema([]arrow.Field{{Name: "source", Type: dt}, {Name: "tags", Type: arrow.ListOf(arrow.BinaryTypes.String)}}, nil)
	var want []arrow.Record
	for b := range 3 {
		rb := array.NewRecordBuilder(mem, schema)
		db := rb.Field(0).(*array.BinaryDictionaryBuilder)
		lb := rb.Field(1).(*array.ListBuilder)
		for r := range 100 {
			if err := db.AppendString([]string{"planhat", "dixa", "moesif"}[(b+r)%3]); err != nil {
				t.Fatal(err)
			}
			lb.Append(true)
			lb.ValueBuilder().(*array.StringBuilder).Append(fmt.Sprint(b, r))
		}
		want = append(want, rb.NewRecord())
		rb.Release()
	}
	defer release(want)
	got, err := readAll(t, write(t, schema, want), mem)
	if err != nil {
		t.Fatal(err)
	}
	sameBatches(t, got, want)
	release(got)
	if n := Mappings(); n != 0 {
		t.Fatalf("%d mappings left", n)
	}
}

// A file cut anywhere reads as ipc.NewReader reads it: the same batches,
// then an error, unless the cut falls between two messages (then the
// stream just looks shorter, for both). Never a panic, nothing left mapped.
func TestTruncated(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.DefaultAllocator)
	defer mem.AssertSize(t, 0)
	want := sources(mem, 3, 2)
	defer release(want)
	path := write(t, schemas.EndUserSources, want)
	full, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	errs := 0
	for cut := len(full) - 1; cut > 0; cut-- {
		if err := f.Truncate(int64(cut)); err != nil {
			t.Fatal(err)
		}
		got, err := read(t, f, mem)
		wantN, wantErr := oracle(full[:cut])
		if len(got) != wantN || (err == nil) != (wantErr == nil) {
			t.Fatalf("cut at %d of %d: %d batches, error %v; ipc.NewReader: %d batches, error %v", cut, len(full), len(got), err, wantN, wantErr)
		}
		for i := range got {
			if !array.RecordEqual(got[i], want[i]) {
				t.Fatalf("cut at %d: batch %d differs from the one written", cut, i)
			}
		}
		release(got)
		if err != nil {
			errs++
		}
		if n := Mappings(); n != 0 {
			t.Fatalf("cut at %d: %d mappings left", cut, n)
		}
		// The message says what is wrong.
		if cut == len(full)-20 && !errors.Is(err, io.ErrUnexpectedEOF) {
			t.Fatalf("a file cut in its last body: %v, want an error wrapping io.ErrUnexpectedEOF", err)
		}
	}
	if errs < len(full)/2 {
		t.Fatalf("only %d of %d cuts were errors", errs, len(full)-1)
	}
}

// oracle is what ipc.NewReader reads of b: its batches and its error.
func oracle(b []byte) (int, error) {
	rd, err := ipc.NewReader(bytes.NewReader(b))
	if err != nil {
		return 0, err
	}
	defer rd.Release()
	n := 0
	for rd.Next() {
		n++
	}
	return n, rd.Err()
}
