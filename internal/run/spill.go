package run

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/ipc"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"etl/internal/ipcmap"
)

// spill keeps a table's batches in a temporary Arrow IPC file until they
// can be written: end_users is built while the resolver's memory is still
// needed, and written once the previous partition (read only after that
// memory is freed) has been indexed and the date's replacement begun.
type spill struct {
	f      *os.File
	buf    *bufio.Writer
	w      *ipc.Writer
	mem    memory.Allocator
	closed bool
}

func newSpill(schema *arrow.Schema, mem memory.Allocator) (*spill, error) {
	f, err := os.CreateTemp("", "etl-spill-*.arrows")
	if err != nil {
		return nil, fmt.Errorf("temporary file: %w", err)
	}
	buf := bufio.NewWriterSize(f, 1<<20)
	return &spill{f: f, buf: buf, w: ipc.NewWriter(buf, ipc.WithSchema(schema), ipc.WithAllocator(mem)), mem: mem}, nil
}

// write appends rec; the caller keeps it.
func (s *spill) write(rec arrow.Record) error { return s.w.Write(rec) }

// each finishes the file and calls fn with every batch in order; fn owns
// each (it must Release it).
func (s *spill) each(fn func(arrow.Record) error) error {
	s.closed = true
	err := s.w.Close()
	if err == nil {
		err = s.buf.Flush()
	}
	if err != nil {
		return fmt.Errorf("temporary file: %w", err)
	}
	// The batches are the file's mapped pages, not copies.
	rd, err := ipcmap.NewReader(s.f, ipc.WithAllocator(s.mem))
	if err != nil {
		if errors.Is(err, io.EOF) {
			return nil
		}
		return fmt.Errorf("temporary file: %w", err)
	}
	defer rd.Release()
	for rd.Next() {
		rec := rd.Record()
		rec.Retain()
		if err := fn(rec); err != nil {
			return err
		}
	}
	if err := rd.Err(); err != nil {
		return fmt.Errorf("temporary file: %w", err)
	}
	return nil
}

// remove deletes the file.
func (s *spill) remove() {
	if !s.closed {
		s.w.Close()
	}
	s.f.Close()
	os.Remove(s.f.Name())
}
