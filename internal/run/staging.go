package run

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strings"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/ipc"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"etl/internal/ipcmap"
	"etl/internal/store"
	"etl/load"
	"etl/schemas"
)

// The staging area keeps each source's normalised records of one run date,
// as Arrow IPC streams in the output store, between extraction and
// resolution:
//
//	{uri}/_staging/dt={date}/{source}/records-{run}.arrows
//	{uri}/_staging/dt={date}/{source}/rejects-{run}.arrows
//	{uri}/_staging/dt={date}/{source}/_DONE.json   written last
//
// So a source is extracted once per date (an Airflow retry of one vendor's
// task redoes only that vendor), memory holds one batch per source instead
// of every record, resolve reads the records twice, and a past date's tables
// can be rebuilt from what was kept (`--stage resolve`).
type staging struct {
	store store.Store
	date  string
	mem   memory.Allocator
}

const stagingRoot = "_staging"

// stageDone is a source's _DONE.json: what its extraction produced.
type stageDone struct {
	Source   string       `json:"source"`
	RunID    string       `json:"run_id"`
	Finished time.Time    `json:"finished"`
	Stats    *SourceStats `json:"stats"`
	Records  string       `json:"records"`
	Rejects  string       `json:"rejects"`
}

func (s *staging) dir(source string) string {
	return fmt.Sprintf("%s/dt=%s/%s/", stagingRoot, s.date, source)
}

// done reads a source's marker; nil when the source has no complete staging.
func (s *staging) done(ctx context.Context, source string) (*stageDone, error) {
	r, err := s.store.Open(ctx, s.dir(source)+"_DONE.json")
	if err != nil {
		if isNotExist(err) {
			return nil, nil
		}
		return nil, fmt.Errorf("staging of %s: %w", source, err)
	}
	defer r.Close()
	var d stageDone
	if err := json.NewDecoder(r).Decode(&d); err != nil {
		return nil, fmt.Errorf("staging of %s: unreadable _DONE.json: %w", source, err)
	}
	return &d, nil
}

// isNotExist: every Store wraps fs.ErrNotExist for a missing key.
func isNotExist(err error) bool { return errors.Is(err, fs.ErrNotExist) }

// stageWriter writes one source's staging for one run.
type stageWriter struct {
	s       *staging
	source  string
	runID   string
	records *ipcObject
	rejects *ipcObject
	pending []schemas.Reject // rejects not yet written
	done    *stageDone       // once finished
}

type ipcObject struct {
	key string
	obj store.Object
	buf *bufio.Writer // the IPC writer writes each buffer on its own
	w   *ipc.Writer
}

func (s *staging) openIPC(ctx context.Context, key string, schema *arrow.Schema) (*ipcObject, error) {
	obj, err := s.store.Create(ctx, key)
	if err != nil {
		return nil, fmt.Errorf("staging %s: %w", s.store.URI(key), err)
	}
	buf := bufio.NewWriterSize(obj, 1<<20)
	return &ipcObject{key: key, obj: obj, buf: buf, w: ipc.NewWriter(buf, ipc.WithSchema(schema), ipc.WithAllocator(s.mem))}, nil
}

func (o *ipcObject) close() error {
	err := o.w.Close()
	if err == nil {
		err = o.buf.Flush()
	}
	if err != nil {
		o.obj.Abort()
		return err
	}
	return o.obj.Close()
}

func (o *ipcObject) abort() {
	o.w.Close()
	o.obj.Abort()
}

// begin opens this run's files. Unless hold, it first un-marks the source's
// staging, so that a failed re-extract never looks complete; with hold, the
// staging there stays in place until publish replaces it.
func (s *staging) begin(ctx context.Context, source, runID string, hold bool) (*stageWriter, error) {
	if !hold {
		if err := s.store.Delete(ctx, s.dir(source)+"_DONE.json"); err != nil {
			return nil, fmt.Errorf("staging of %s: %w", source, err)
		}
	}
	w := &stageWriter{s: s, source: source, runID: runID}
	var err error
	if w.records, err = s.openIPC(ctx, s.dir(source)+"records-"+runID+".arrows", schemas.EndUserSources); err != nil {
		return nil, err
	}
	if w.rejects, err = s.openIPC(ctx, s.dir(source)+"rejects-"+runID+".arrows", schemas.Rejects); err != nil {
		w.records.abort()
		return nil, err
	}
	return w, nil
}

func (w *stageWriter) write(rec arrow.Record) error { return w.records.w.Write(rec) }

// reject keeps a rejected record; they are written in batches.
func (w *stageWriter) reject(r schemas.Reject) error {
	w.pending = append(w.pending, r)
	if len(w.pending) >= 1024 {
		return w.flushRejects()
	}
	return nil
}

func (w *stageWriter) flushRejects() error {
	if len(w.pending) == 0 {
		return nil
	}
	rec := rejectsRecord(w.s.mem, w.pending)
	defer rec.Release()
	w.pending = w.pending[:0]
	return w.rejects.w.Write(rec)
}

// finish closes the files; publish then makes them the source's staging.
func (w *stageWriter) finish(ctx context.Context, st *SourceStats) error {
	if err := w.flushRejects(); err != nil {
		w.abort(ctx)
		return fmt.Errorf("staging of %s: %w", w.source, err)
	}
	if err := w.records.close(); err != nil {
		w.rejects.abort()
		w.abort(ctx)
		return fmt.Errorf("staging of %s: %w", w.source, err)
	}
	if err := w.rejects.close(); err != nil {
		w.abort(ctx)
		return fmt.Errorf("staging of %s: %w", w.source, err)
	}
	w.done = &stageDone{Source: w.source, RunID: w.runID, Finished: time.Now().UTC(), Stats: st, Records: w.records.key, Rejects: w.rejects.key}
	return nil
}

// publish writes _DONE.json, then removes older runs' files.
func (w *stageWriter) publish(ctx context.Context) error {
	d := *w.done
	body, _ := json.MarshalIndent(d, "", "  ")
	obj, err := w.s.store.Create(ctx, w.s.dir(w.source)+"_DONE.json")
	if err != nil {
		return err
	}
	if _, err := obj.Write(body); err != nil {
		obj.Abort()
		return err
	}
	if err := obj.Close(); err != nil {
		return err
	}
	keys, err := w.s.store.List(ctx, w.s.dir(w.source))
	if err != nil {
		return err
	}
	var old []string
	for _, k := range keys {
		if k != d.Records && k != d.Rejects && !strings.HasSuffix(k, "/_DONE.json") {
			old = append(old, k)
		}
	}
	return w.s.store.Delete(ctx, old...)
}

// cleanupTimeout bounds the removal of a failed run's files: a stopping run
// must not hang on a store that stopped answering.
const cleanupTimeout = 3 * time.Second

// cleanupContext outlives a cancelled ctx, for cleaning up, but not for long.
func cleanupContext(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(ctx), cleanupTimeout)
}

// abort discards this run's files, finished or not.
func (w *stageWriter) abort(ctx context.Context) {
	w.records.abort()
	w.rejects.abort()
	w.s.store.Delete(ctx, w.records.key, w.rejects.key)
}

// each calls fn with every batch of one staged file; fn must not keep rec.
func (s *staging) each(ctx context.Context, key string, fn func(rec arrow.Record) error) error {
	r, err := s.store.Open(ctx, key)
	if err != nil {
		return fmt.Errorf("staging %s: %w", s.store.URI(key), err)
	}
	defer r.Close()
	var rd *ipc.Reader
	if f, ok := r.(*os.File); ok {
		// A local store's file: its batches are its mapped pages, not copies.
		rd, err = ipcmap.NewReader(f, ipc.WithAllocator(s.mem))
	} else {
		rd, err = ipc.NewReader(bufio.NewReaderSize(r, 1<<20), ipc.WithAllocator(s.mem))
	}
	if err != nil {
		if errors.Is(err, io.EOF) {
			return nil
		}
		return fmt.Errorf("staging %s: %w", s.store.URI(key), err)
	}
	defer rd.Release()
	// Resolving reads back every batch not kept in hand, twice, on the core
	// it has to itself: the next batches are decoded while fn takes this one.
	if err := load.EachAhead(rd, 2, fn); err != nil {
		return err
	}
	if err := rd.Err(); err != nil {
		return fmt.Errorf("staging %s: %w", s.store.URI(key), err)
	}
	return nil
}
