package load

import (
	"context"
	"fmt"
	"io"
	"os"
	"path"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet"
	"github.com/apache/arrow-go/v18/parquet/file"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"

	"etl/internal/store"
)

// ReadTable calls fn with every record batch of one table's partition, part
// by part; fn must not keep rec. A store whose objects are not local files
// (S3) has each part downloaded to a temporary file first, since Parquet is
// read from its footer.
func ReadTable(ctx context.Context, s store.Store, table, date string, mem memory.Allocator, fn func(rec arrow.Record) error) error {
	prefix := fmt.Sprintf("%s/dt=%s/", table, date)
	keys, err := s.List(ctx, prefix)
	if err != nil {
		return err
	}
	var parts []string
	for _, k := range keys {
		if strings.HasSuffix(k, ".parquet") && !strings.HasPrefix(path.Base(k), "_") && !strings.HasPrefix(path.Base(k), ".") {
			parts = append(parts, k)
		}
	}
	return ReadParts(ctx, s, parts, mem, fn)
}

// ReadParts calls fn with every record batch of the Parquet files keys, in
// order; fn must not keep rec.
func ReadParts(ctx context.Context, s store.Store, keys []string, mem memory.Allocator, fn func(rec arrow.Record) error) error {
	for _, k := range keys {
		if err := readPart(ctx, s, k, mem, fn); err != nil {
			return fmt.Errorf("reading %s: %w", s.URI(k), err)
		}
	}
	return nil
}

func readPart(ctx context.Context, s store.Store, key string, mem memory.Allocator, fn func(arrow.Record) error) error {
	rc, err := s.Open(ctx, key)
	if err != nil {
		return err
	}
	defer rc.Close()
	f, ok := rc.(*os.File)
	if !ok {
		tmp, err := os.CreateTemp("", "etl-part-*.parquet")
		if err != nil {
			return err
		}
		defer os.Remove(tmp.Name())
		defer tmp.Close()
		if _, err := io.Copy(tmp, rc); err != nil {
			return err
		}
		f = tmp
	}
	pf, err := file.NewParquetReader(f, file.WithReadProps(parquet.NewReaderProperties(mem)))
	if err != nil {
		return err
	}
	defer pf.Close()
	fr, err := pqarrow.NewFileReader(pf, pqarrow.ArrowReadProperties{BatchSize: 8192}, mem)
	if err != nil {
		return err
	}
	rr, err := fr.GetRecordReader(ctx, nil, nil)
	if err != nil {
		return err
	}
	defer rr.Release()
	// end_user_changes reads the previous partition twice, with nothing else
	// to do meanwhile: the next batch is decoded while fn takes this one.
	if err := EachAhead(rr, 1, fn); err != nil {
		return err
	}
	if err := rr.Err(); err != nil && err != io.EOF {
		return err
	}
	return nil
}

// EachAhead calls fn with every record of rr, in order, while the next ones
// (up to depth) are read and decoded on a goroutine of its own; fn must not
// keep rec. It stops at fn's first error and returns it; rr's own error is
// the caller's to check (rr.Err) once it returns nil.
func EachAhead(rr array.RecordReader, depth int, fn func(rec arrow.Record) error) error {
	recs := make(chan arrow.Record, depth)
	stop := make(chan struct{})
	go func() {
		defer close(recs)
		for rr.Next() {
			rec := rr.Record()
			rec.Retain()
			select {
			case recs <- rec:
			case <-stop:
				rec.Release()
				return
			}
		}
	}()
	var err error
	for rec := range recs {
		if err == nil {
			if err = fn(rec); err != nil {
				close(stop)
			}
		}
		rec.Release()
	}
	return err
}
