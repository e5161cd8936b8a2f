package load

import (
	"context"
	"fmt"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/parquet"
	"github.com/apache/arrow-go/v18/parquet/compress"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"

	"etl/internal/store"
)

// Part is one written Parquet file.
type Part struct {
	Key   string `json:"key"`
	Rows  int64  `json:"rows"`
	Bytes int64  `json:"bytes"`
}

// Part files are cut at this many rows, so readers can split work and a
// writer never buffers more than one row group.
const (
	DefaultPartRows     = 1_000_000
	DefaultRowGroupRows = 128 * 1024
)

// uniqueColumns hold about one value per row in every table that has them:
// a dictionary never pays for itself there, and building one (until it
// outgrows its page and falls back to plain) was a good part of the writing.
var uniqueColumns = []string{"source_id", "person_id", "email", "emails.list.element", "external_id", "phone",
	"attributes", "created_at", "updated_at", "raw"}

// unfilteredColumns are text nobody prunes row groups on (names, lists,
// JSON, raw records): their min/max statistics help no reader and cost about
// a tenth of the writing (make bench). Statistics stay on the ids, source,
// times and counts, which readers filter and join on.
var unfilteredColumns = []string{"email", "emails.list.element", "external_id", "first_name", "last_name", "name", "phone",
	"company_id", "company_name", "tags.list.element", "sources.list.element", "attributes", "raw", "reason",
	"old_value", "new_value"}

// TableWriter writes one table's record batches as zstd Parquet part files.
type TableWriter struct {
	ctx      context.Context
	store    store.Store
	schema   *arrow.Schema
	prefix   string // e.g. end_users/dt=2026-01-01/
	runID    string
	name     string // the one file's key, instead of numbered parts
	partRows int64

	obj   store.Object
	cw    *countWriter
	fw    *pqarrow.FileWriter
	rows  int64
	parts []Part

	// The batches of the row group being gathered: a row group is written
	// column by column straight from them once it is full, rather than
	// encoded into memory batch by batch (which grew and copied its buffers).
	pending     []arrow.Record
	pendingRows int64
}

func newTableWriter(ctx context.Context, s store.Store, schema *arrow.Schema, prefix, runID string) *TableWriter {
	return &TableWriter{ctx: ctx, store: s, schema: schema, prefix: prefix, runID: runID, partRows: DefaultPartRows}
}

// Write appends a batch; the caller keeps ownership of rec.
func (t *TableWriter) Write(rec arrow.Record) error {
	if rec.NumRows() == 0 {
		return nil
	}
	if t.fw == nil {
		if err := t.open(); err != nil {
			return err
		}
	}
	rec.Retain()
	t.pending = append(t.pending, rec)
	t.pendingRows += rec.NumRows()
	t.rows += rec.NumRows()
	for t.pendingRows >= DefaultRowGroupRows {
		if err := t.flushRowGroup(DefaultRowGroupRows); err != nil {
			return err
		}
	}
	if t.rows >= t.partRows {
		return t.closePart()
	}
	return nil
}

// flushRowGroup writes the first n pending rows as one row group.
func (t *TableWriter) flushRowGroup(n int64) error {
	if err := t.fw.NewRowGroupChecked(); err != nil {
		return t.writeErr(err)
	}
	for c := range t.schema.NumFields() {
		arrs := make([]arrow.Array, len(t.pending))
		for i, r := range t.pending {
			arrs[i] = r.Column(c)
		}
		col := arrow.NewChunked(t.schema.Field(c).Type, arrs)
		err := t.fw.WriteColumnChunked(col, 0, n)
		col.Release()
		if err != nil {
			return t.writeErr(err)
		}
	}
	// Keep what is left of the batches beyond n rows.
	var rest []arrow.Record
	for _, r := range t.pending {
		switch {
		case n >= r.NumRows():
			n -= r.NumRows()
		case n > 0:
			rest = append(rest, r.NewSlice(n, r.NumRows()))
			n = 0
		default:
			r.Retain()
			rest = append(rest, r)
		}
		r.Release()
	}
	t.pending = rest
	t.pendingRows = 0
	for _, r := range rest {
		t.pendingRows += r.NumRows()
	}
	return nil
}

func (t *TableWriter) writeErr(err error) error {
	return fmt.Errorf("writing %s: %w", t.store.URI(t.partKey()), err)
}

func (t *TableWriter) partKey() string {
	if t.name != "" {
		return t.name
	}
	return fmt.Sprintf("%spart-%s-%05d.parquet", t.prefix, t.runID, len(t.parts))
}

func (t *TableWriter) open() error {
	obj, err := t.store.Create(t.ctx, t.partKey())
	if err != nil {
		return fmt.Errorf("creating %s: %w", t.store.URI(t.partKey()), err)
	}
	t.obj, t.cw = obj, &countWriter{w: obj}
	opts := []parquet.WriterProperty{
		parquet.WithCompression(compress.Codecs.Zstd),
		// zstd's fastest level: files within 1% of the default's size
		// (make bench), about 10% less time writing.
		parquet.WithCompressionLevel(1),
		parquet.WithMaxRowGroupLength(DefaultRowGroupRows),
	}
	for _, c := range uniqueColumns {
		opts = append(opts, parquet.WithDictionaryFor(c, false))
	}
	for _, c := range unfilteredColumns {
		opts = append(opts, parquet.WithStatsFor(c, false))
	}
	props := parquet.NewWriterProperties(opts...)
	t.fw, err = pqarrow.NewFileWriter(t.schema, t.cw, props, pqarrow.NewArrowWriterProperties(pqarrow.WithStoreSchema()))
	if err != nil {
		obj.Abort()
		t.obj = nil
		return err
	}
	t.rows = 0
	return nil
}

func (t *TableWriter) closePart() error {
	key := t.partKey()
	if t.pendingRows > 0 {
		if err := t.flushRowGroup(t.pendingRows); err != nil {
			t.abort()
			return err
		}
	}
	if err := t.fw.Close(); err != nil {
		t.obj.Abort()
		t.fw, t.obj = nil, nil
		return fmt.Errorf("finishing %s: %w", t.store.URI(key), err)
	}
	if err := t.obj.Close(); err != nil {
		t.fw, t.obj = nil, nil
		return fmt.Errorf("storing %s: %w", t.store.URI(key), err)
	}
	t.parts = append(t.parts, Part{Key: key, Rows: t.rows, Bytes: t.cw.n})
	t.fw, t.obj = nil, nil
	return nil
}

// WriteFile stores rec as the one Parquet file key (the runs table's
// files, which are written once and never part of a partition's commit).
func WriteFile(ctx context.Context, s store.Store, key string, rec arrow.Record) error {
	w := newTableWriter(ctx, s, rec.Schema(), "", "")
	w.name = key
	if err := w.Write(rec); err != nil {
		w.abort()
		return err
	}
	_, err := w.Close()
	return err
}

// Close finishes the last part. A table with no rows still gets one (empty)
// part file, so that readers see its columns.
func (t *TableWriter) Close() ([]Part, error) {
	if t.fw == nil && len(t.parts) == 0 {
		if err := t.open(); err != nil {
			return nil, err
		}
	}
	if t.fw != nil {
		if err := t.closePart(); err != nil {
			return nil, err
		}
	}
	return t.parts, nil
}

// abort discards the part being written.
func (t *TableWriter) abort() {
	for _, r := range t.pending {
		r.Release()
	}
	t.pending, t.pendingRows = nil, 0
	if t.obj != nil {
		t.obj.Abort()
		t.fw, t.obj = nil, nil
	}
}

type countWriter struct {
	w interface{ Write([]byte) (int, error) }
	n int64
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}
