// Package ipcmap reads an Arrow IPC stream in a local file without copying
// it: each message's body is mapped into memory (mmap) on its own, the
// record batches read from it point into the mapping, and the mapping is
// unmapped when the last buffer referring to it is released. Reading a
// staged or spilled file back then costs no read copies and no fresh heap
// pages, and a file's pages count in memory only while a batch holds them.
//
// The file must not be truncated or rewritten in place while batches from
// it are alive (a mapped page past the end of a file faults); files that
// are replaced by renaming a new one, or removed, are safe.
package ipcmap

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"sync/atomic"

	"github.com/apache/arrow-go/v18/arrow/ipc"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

// NewReader returns a reader of the IPC stream in f, from its start.
// Uncompressed buffers of the batches it returns are slices of the file's
// mapped pages (arrow-go slices, not copies, a message body's buffers). f
// must stay open until the reader is released; the batches may outlive
// both. An empty file is an error wrapping io.EOF, as for ipc.NewReader.
func NewReader(f *os.File, opts ...ipc.Option) (*ipc.Reader, error) {
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !canMap {
		return ipc.NewReader(bufio.NewReaderSize(io.NewSectionReader(f, 0, fi.Size()), 1<<20), opts...)
	}
	mr := &messageReader{f: f, end: fi.Size()}
	mr.refs.Add(1)
	// The reader releases mr, even when it fails.
	return ipc.NewReaderFromMessageReader(mr, opts...)
}

// live is the number of mappings not yet unmapped.
var live atomic.Int64

// Mappings is how many mappings are not yet unmapped: zero once every batch
// read through this package is released (for tests).
func Mappings() int64 { return live.Load() }

// messageReader parses the stream's framing: a continuation marker
// (0xFFFFFFFF), the metadata's length (int32), the flatbuffer metadata,
// then the body of the length the metadata gives; a length of zero ends
// the stream.
type messageReader struct {
	f    *os.File
	off  int64 // the next message's offset
	end  int64 // the file's size
	refs atomic.Int64
	msg  *ipc.Message // the current message, released at the next
}

const continuation = 0xFFFFFFFF

// errTruncated says where a stream ends early.
func (r *messageReader) errTruncated(what string) error {
	return fmt.Errorf("arrow/ipc: %s at offset %d runs past the end of the file (%d bytes): %w", what, r.off, r.end, io.ErrUnexpectedEOF)
}

func (r *messageReader) Message() (*ipc.Message, error) {
	if r.msg != nil {
		r.msg.Release()
		r.msg = nil
	}
	msg, err := r.next()
	if err != nil {
		return nil, err
	}
	r.msg = msg
	return msg, nil
}

func (r *messageReader) next() (msg *ipc.Message, err error) {
	var head [8]byte
	n, err := r.f.ReadAt(head[:], r.off)
	switch {
	case n == 0 && errors.Is(err, io.EOF):
		// The end of a stream without its end-of-stream marker, which the
		// ipc.Reader takes as the end, as its own message reader does.
		return nil, fmt.Errorf("arrow/ipc: could not read continuation indicator: %w", io.EOF)
	case n < 8 && !errors.Is(err, io.EOF):
		return nil, err
	case n >= 4 && binary.LittleEndian.Uint32(head[:4]) == 0:
		return nil, io.EOF // the end-of-stream marker of old writers
	case n < 8:
		return nil, r.errTruncated("a message's header")
	case binary.LittleEndian.Uint32(head[:4]) != continuation:
		return nil, fmt.Errorf("arrow/ipc: no message at offset %d: not an Arrow IPC stream", r.off)
	}
	metaLen := int64(int32(binary.LittleEndian.Uint32(head[4:])))
	if metaLen == 0 {
		return nil, io.EOF
	}
	if metaLen < 4 {
		return nil, fmt.Errorf("arrow/ipc: invalid message metadata length %d at offset %d", metaLen, r.off)
	}
	bodyOff := r.off + 8 + metaLen
	if bodyOff > r.end {
		return nil, r.errTruncated("a message's metadata")
	}
	metaBytes := make([]byte, metaLen)
	if _, err := r.f.ReadAt(metaBytes, r.off+8); err != nil {
		return nil, err
	}
	meta := memory.NewBufferBytes(metaBytes)
	bodyLen, err := bodyLength(meta)
	if err != nil {
		return nil, fmt.Errorf("arrow/ipc: invalid message metadata at offset %d: %w", r.off, err)
	}
	if bodyLen < 0 || bodyLen > r.end-bodyOff {
		return nil, r.errTruncated(fmt.Sprintf("a message's body of %d bytes", bodyLen))
	}
	body := memory.NewBufferBytes(nil)
	if bodyLen > 0 {
		if body, err = mapBody(r.f, bodyOff, bodyLen); err != nil {
			return nil, fmt.Errorf("arrow/ipc: mapping a message's body at offset %d: %w", bodyOff, err)
		}
	}
	msg = ipc.NewMessage(meta, body)
	body.Release() // the message holds it now
	r.off = bodyOff + bodyLen
	return msg, nil
}

// bodyLength reads the body's length from a message's metadata, which
// ipc.Message parses (a flatbuffer: garbage can make it panic).
func bodyLength(meta *memory.Buffer) (n int64, err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("%v", p)
		}
	}()
	m := ipc.NewMessage(meta, memory.NewBufferBytes(nil))
	defer m.Release()
	return m.BodyLen(), nil
}

func (r *messageReader) Retain() { r.refs.Add(1) }

func (r *messageReader) Release() {
	if r.refs.Add(-1) == 0 && r.msg != nil {
		r.msg.Release()
		r.msg = nil
	}
}

// mapping is one mapped range of the file. As the allocator of the body's
// buffer, it is called to free it once no batch refers to the body: it
// unmaps the range then.
type mapping struct{ data []byte }

func (m *mapping) Allocate(int) []byte { panic("ipcmap: a mapped buffer cannot grow") }

func (m *mapping) Reallocate(int, []byte) []byte { panic("ipcmap: a mapped buffer cannot grow") }

func (m *mapping) Free([]byte) {
	if err := unmap(m.data); err != nil {
		panic(fmt.Sprintf("ipcmap: unmapping: %v", err))
	}
	m.data = nil
	live.Add(-1)
}

// mapBody maps the n bytes at off (from the page they start in) and returns
// them as a buffer whose last release unmaps them.
func mapBody(f *os.File, off, n int64) (*memory.Buffer, error) {
	page := int64(os.Getpagesize())
	start := off &^ (page - 1)
	data, err := mmap(f, start, int(off+n-start))
	if err != nil {
		return nil, err
	}
	live.Add(1)
	return memory.NewBufferWithAllocator(data[off-start:], &mapping{data: data}), nil
}
