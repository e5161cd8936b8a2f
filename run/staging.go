package run

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/ipc"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"etl/schemas"
)

// staging keeps each source's normalised batches on local disk as Arrow IPC
// streams between extraction and resolution, so memory holds one batch per
// source instead of every record, and resolve can read them twice.
type staging struct {
	dir string
	mem memory.Allocator
}

func (s *staging) path(source string) string { return filepath.Join(s.dir, source+".arrows") }

type stageWriter struct {
	f *os.File
	w *ipc.Writer
}

func (s *staging) create(source string) (*stageWriter, error) {
	f, err := os.Create(s.path(source))
	if err != nil {
		return nil, err
	}
	return &stageWriter{f: f, w: ipc.NewWriter(f, ipc.WithSchema(schemas.EndUserSources), ipc.WithAllocator(s.mem))}, nil
}

func (w *stageWriter) write(rec arrow.Record) error { return w.w.Write(rec) }

func (w *stageWriter) close() error {
	err := w.w.Close()
	if cerr := w.f.Close(); err == nil {
		err = cerr
	}
	return err
}

// each calls fn with every staged batch of the sources, in the order given;
// fn must not keep rec after it returns.
func (s *staging) each(sources []string, fn func(rec arrow.Record) error) error {
	for _, src := range sources {
		f, err := os.Open(s.path(src))
		if err != nil {
			return fmt.Errorf("staging of %s: %w", src, err)
		}
		r, err := ipc.NewReader(f, ipc.WithAllocator(s.mem), ipc.WithSchema(schemas.EndUserSources))
		if err != nil {
			f.Close()
			return fmt.Errorf("staging of %s: %w", src, err)
		}
		for r.Next() {
			if err := fn(r.Record()); err != nil {
				r.Release()
				f.Close()
				return err
			}
		}
		err = r.Err()
		r.Release()
		f.Close()
		if err != nil {
			return fmt.Errorf("staging of %s: %w", src, err)
		}
	}
	return nil
}
