package ipcmap

import (
	"bufio"
	"os"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/ipc"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"etl/schemas"
)

// BenchmarkRead reads a staged file of end_user_sources back as the tables'
// phase does (each batch released before the next but one), touching every
// page of its buffers: through ipc.NewReader (read copies) and mapped.
func BenchmarkRead(b *testing.B) {
	recs := sources(memory.DefaultAllocator, 16, 8192)
	path := write(b, schemas.EndUserSources, recs)
	release(recs)
	fi, _ := os.Stat(path)
	for _, mode := range []string{"copy", "mmap"} {
		b.Run(mode, func(b *testing.B) {
			b.SetBytes(fi.Size())
			for b.Loop() {
				f, err := os.Open(path)
				if err != nil {
					b.Fatal(err)
				}
				var rd *ipc.Reader
				if mode == "copy" {
					rd, err = ipc.NewReader(bufio.NewReaderSize(f, 1<<20))
				} else {
					rd, err = NewReader(f)
				}
				if err != nil {
					b.Fatal(err)
				}
				var prev arrow.Record
				for rd.Next() {
					rec := rd.Record()
					rec.Retain()
					touch(rec)
					if prev != nil {
						prev.Release()
					}
					prev = rec
				}
				if prev != nil {
					prev.Release()
				}
				if err := rd.Err(); err != nil {
					b.Fatal(err)
				}
				rd.Release()
				f.Close()
			}
		})
	}
}

var sink byte

// touch reads a byte of every page of rec's buffers.
func touch(rec arrow.Record) {
	var walk func(d arrow.ArrayData)
	walk = func(d arrow.ArrayData) {
		for _, buf := range d.Buffers() {
			if buf == nil {
				continue
			}
			bs := buf.Bytes()
			for i := 0; i < len(bs); i += 4096 {
				sink ^= bs[i]
			}
		}
		for _, c := range d.Children() {
			walk(c)
		}
	}
	for _, c := range rec.Columns() {
		walk(c.Data())
	}
}
