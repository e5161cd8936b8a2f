package iceberg

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	ice "github.com/apache/iceberg-go"
	"github.com/apache/iceberg-go/catalog"
	"github.com/apache/iceberg-go/catalog/rest"
	"github.com/apache/iceberg-go/table"
)

// Snapshot properties every snapshot of a run carries.
const (
	PropRunID   = "etl.run_id"
	PropRunDate = "etl.run_date"
)

// InfoProperty is the table property that records who last replaced a
// date: set in the same commit as the date's rows, so it always describes
// them (snapshots expire; table properties stay).
func InfoProperty(date string) string { return "etl.dt." + date }

// Replace is one run's replacement of one date in several tables. Each
// table's rows are written as data files while the run produces them
// (Table, Write, Close), and nothing is visible until Commit swaps every
// table's snapshot.
type Replace struct {
	c       *Catalog
	date    ice.Date
	dateStr string
	runID   string
	info    string
	mem     memory.Allocator
	started time.Time
	writers []*Writer
}

// Begin starts replacing date. info, when not empty, is recorded as the
// table property InfoProperty(date) of every table the run commits.
func (c *Catalog) Begin(date, runID, info string, mem memory.Allocator) (*Replace, error) {
	d, err := Date(date)
	if err != nil {
		return nil, err
	}
	if mem == nil {
		mem = memory.DefaultAllocator
	}
	return &Replace{c: c, date: d, dateStr: date, runID: runID, info: info, mem: mem, started: time.Now()}, nil
}

// Stats describe what a table's staged snapshot adds.
type Stats struct {
	Rows  int64
	Files int
	Bytes int64
}

// Writer stages one table's new rows of the date: an Iceberg overwrite
// that deletes the date's current files and adds the ones it writes from
// the batches it is given, on a goroutine of its own.
type Writer struct {
	t      *Table
	r      *Replace
	schema *arrow.Schema // with dt
	tx     *table.Transaction
	recs   chan arrow.RecordBatch
	done   chan struct{}
	cancel context.CancelFunc
	err    error // Overwrite's, once done is closed
	rows   int64
	closed bool
	stats  Stats
}

// Table starts staging t's rows of the date.
func (r *Replace) Table(ctx context.Context, t *Table) (*Writer, error) {
	if err := t.refresh(ctx); err != nil {
		return nil, err
	}
	wctx, cancel := context.WithCancel(ctx)
	w := &Writer{t: t, r: r, schema: WithDate(t.schema), tx: t.tbl.NewTransaction(),
		recs: make(chan arrow.RecordBatch, 1), done: make(chan struct{}), cancel: cancel}
	if r.info != "" {
		if err := w.tx.SetProperties(ice.Properties{InfoProperty(r.dateStr): r.info}); err != nil {
			cancel()
			return nil, err
		}
	}
	r.writers = append(r.writers, w)
	props := ice.Properties{PropRunID: r.runID, PropRunDate: r.dateStr}
	rdr := &chanReader{schema: w.schema, recs: w.recs}
	go func() {
		w.err = w.tx.Overwrite(wctx, rdr, props, table.WithOverwriteFilter(dateFilter(r.date)),
			// One table's files are written by one writer: the tables of a
			// run are staged at the same time already.
			table.WithOverwriteConcurrency(1))
		cancel()
		close(w.done)
		rdr.drain()
	}()
	return w, nil
}

// Write adds a batch of the table's own schema (without dt); the caller
// keeps ownership of rec.
func (w *Writer) Write(rec arrow.Record) error {
	if w.closed {
		return fmt.Errorf("iceberg table %s: write after close", w.t.name)
	}
	if rec.NumRows() == 0 {
		return nil
	}
	out, err := w.r.withDate(w.t, rec)
	if err != nil {
		return err
	}
	select {
	case <-w.done: // staging stopped early: say so at once
		out.Release()
		return w.stagingErr()
	default:
	}
	select {
	case w.recs <- out:
		w.rows += rec.NumRows()
		return nil
	case <-w.done:
		out.Release()
		return w.stagingErr()
	}
}

// withDate is rec, of t's own schema, with the date's dt column added.
func (r *Replace) withDate(t *Table, rec arrow.Record) (arrow.RecordBatch, error) {
	if !rec.Schema().Equal(t.schema) {
		return nil, fmt.Errorf("iceberg table %s: batch has columns %s, the table %s", t.name, rec.Schema(), t.schema)
	}
	b := array.NewDate32Builder(r.mem)
	b.Reserve(int(rec.NumRows()))
	for range rec.NumRows() {
		b.UnsafeAppend(arrow.Date32(r.date))
	}
	dt := b.NewArray()
	b.Release()
	defer dt.Release()
	cols := append(append([]arrow.Array{}, rec.Columns()...), dt)
	return array.NewRecordBatch(WithDate(t.schema), cols, rec.NumRows()), nil
}

func (w *Writer) stagingErr() error {
	if w.err != nil {
		return fmt.Errorf("iceberg table %s: writing dt=%s: %w", w.t.name, w.r.dateStr, w.err)
	}
	return fmt.Errorf("iceberg table %s: writing dt=%s stopped", w.t.name, w.r.dateStr)
}

// Close finishes the table's data files and manifests; the table is then
// staged, not yet committed.
func (w *Writer) Close() (Stats, error) {
	if w.closed {
		return w.stats, w.err
	}
	w.closed = true
	close(w.recs)
	<-w.done
	if w.err != nil {
		return Stats{}, w.stagingErr()
	}
	st, err := w.tx.StagedTable()
	if err != nil {
		return Stats{}, err
	}
	snap := st.CurrentSnapshot()
	if snap == nil || snap.Summary == nil {
		return Stats{}, fmt.Errorf("iceberg table %s: the staged overwrite made no snapshot", w.t.name)
	}
	p := snap.Summary.Properties
	num := func(k string) int64 { n, _ := strconv.ParseInt(p[k], 10, 64); return n }
	w.stats = Stats{Rows: num("added-records"), Files: int(num("added-data-files")), Bytes: num("added-files-size")}
	// The writer is lenient; the count written must be the count given.
	if w.stats.Rows != w.rows {
		w.err = fmt.Errorf("iceberg table %s: %d rows given, %d in the staged data files", w.t.name, w.rows, w.stats.Rows)
		return Stats{}, w.err
	}
	return w.stats, nil
}

// abort stops staging; the files written so far are left to orphan cleanup.
func (w *Writer) abort() {
	if w.closed {
		return
	}
	w.closed = true
	w.cancel()
	close(w.recs)
	<-w.done
}

// Abort stops every table's staging. Nothing was committed; what was
// written is no table's and is removed by a later run's orphan cleanup.
func (r *Replace) Abort() {
	for _, w := range r.writers {
		w.abort()
	}
}

// Commit makes every staged table current. With a REST catalog that has
// multi-table transactions, all tables change in one atomic commit;
// otherwise each table's commit is atomic on its own, one after the other
// (a run killed between two leaves the first ones new, and re-running the
// date replaces them all again). Every table must have been closed.
func (r *Replace) Commit(ctx context.Context) error {
	for _, w := range r.writers {
		if !w.closed || w.err != nil {
			return fmt.Errorf("iceberg table %s was not staged before the commit", w.t.name)
		}
	}
	// Orphan cleanup removes unreferenced files older than the retention:
	// a run may commit only files well younger than that.
	if age := time.Since(r.started); age > r.c.retain/2 {
		return fmt.Errorf("iceberg: the run has been writing for %s, more than half of catalog.retain_snapshots (%s); "+
			"its files could be taken for orphans, so it does not commit them", age.Round(time.Second), r.c.retain)
	}
	if len(r.writers) > 1 {
		if tc, ok := r.c.cat.(catalog.TransactionalCatalog); ok {
			err := r.commitTogether(ctx, tc)
			if err == nil {
				return nil
			}
			// A multi-table commit is atomic: unless its outcome is
			// unknown, nothing of it was applied. A server without the
			// endpoint (AWS Glue's answers it with an error of its own),
			// or a race with another run: commit table by table (each
			// retries on its own).
			if ctx.Err() != nil || errors.Is(err, rest.ErrCommitStateUnknown) || errors.Is(err, rest.ErrServerError) ||
				errors.Is(err, rest.ErrServiceUnavailable) {
				return fmt.Errorf("iceberg: committing dt=%s: %w", r.dateStr, err)
			}
			slog.Info("iceberg: the catalog did not take one commit of every table; committing them one by one",
				"run_date", r.dateStr, "error", err.Error())
		}
	}
	for _, w := range r.writers {
		if _, err := w.tx.Commit(ctx); err != nil {
			return fmt.Errorf("iceberg table %s: committing dt=%s: %w", w.t.name, r.dateStr, err)
		}
	}
	return nil
}

func (r *Replace) commitTogether(ctx context.Context, tc catalog.TransactionalCatalog) error {
	mtx, err := catalog.NewMultiTableTransaction(r.c.cat)
	if err != nil {
		return err
	}
	for _, w := range r.writers {
		if err := mtx.AddTransaction(w.tx); err != nil {
			return err
		}
	}
	return mtx.Commit(ctx)
}

// chanReader is an array.RecordReader over the batches a Writer is given.
type chanReader struct {
	schema *arrow.Schema
	recs   chan arrow.RecordBatch
	cur    arrow.RecordBatch
	mu     sync.Mutex
}

func (r *chanReader) Retain()               {}
func (r *chanReader) Release()              {}
func (r *chanReader) Schema() *arrow.Schema { return r.schema }
func (r *chanReader) Err() error            { return nil }

func (r *chanReader) Next() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.cur != nil {
		r.cur.Release()
		r.cur = nil
	}
	rec, ok := <-r.recs
	if !ok {
		return false
	}
	r.cur = rec
	return true
}

func (r *chanReader) RecordBatch() arrow.RecordBatch { return r.cur }

// Record is RecordBatch (the interface still asks for it).
func (r *chanReader) Record() arrow.RecordBatch { return r.cur }

// drain releases what Overwrite did not read (it stopped early), until
// the Writer closes the channel.
func (r *chanReader) drain() {
	r.mu.Lock()
	if r.cur != nil {
		r.cur.Release()
		r.cur = nil
	}
	r.mu.Unlock()
	for rec := range r.recs {
		rec.Release()
	}
}
