package load

import (
	"context"
	"fmt"
	"runtime/pprof"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

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

// deltaColumns are unique text columns written with a delta encoding rather
// than plain (make bench, 1M records): ids and phones that share prefixes
// with the row before as DELTA_BYTE_ARRAY (source_id's pages half the size,
// external_id's and phone's a fifth or less, each a third faster), and
// person_id, random hex, as DELTA_LENGTH_BYTE_ARRAY: plain pages put a
// 4-byte length before each value, which zstd kept finding as short
// matches; without them it takes the hex as literals, 40% faster and 9%
// smaller. Emails and JSON stay plain, where neither pays.
var deltaColumns = map[string]parquet.Encoding{
	"source_id":   parquet.Encodings.DeltaByteArray,
	"external_id": parquet.Encodings.DeltaByteArray,
	"phone":       parquet.Encodings.DeltaByteArray,
	"person_id":   parquet.Encodings.DeltaLengthByteArray,
}

// TableWriter writes one table's record batches as zstd Parquet part files.
// It is used by one goroutine, which also encodes unless there are lanes.
type TableWriter struct {
	ctx      context.Context
	store    store.Store
	schema   *arrow.Schema
	prefix   string // e.g. end_users/dt=2026-01-01/
	runID    string
	name     string // the one file's key, instead of numbered parts
	partRows int64

	// The batches of the row group being gathered: a row group is written
	// column by column straight from them once it is full, rather than
	// encoded into memory batch by batch (which grew and copied its buffers).
	pending     []arrow.Record
	pendingRows int64

	// Lanes are part files written at once (one, on the caller's goroutine,
	// unless SetLanes): with more, each has a goroutine of its own and each
	// row group goes to the first lane free, so that encoding and
	// compressing a large table uses more than one core and a lane slower
	// than the others (preempted, or given larger row groups) holds nothing
	// up. Rows keep their order within each part. Each lane holds a row
	// group while it writes it.
	nlanes int
	lanes  []*lane
	jobs   chan rowGroup // to the lanes, with more than one
	groups int           // row groups handed out
	closed bool

	mu     sync.Mutex
	nparts int    // part numbers handed out
	parts  []Part // finished
	err    error  // the first error of a lane
}

// lane writes the row groups it takes into its part files, in the order
// taken, starting a part when it has none open and ending it once it holds
// partRows.
type lane struct {
	t    *TableWriter
	done chan struct{}

	key   string
	obj   store.Object
	cw    *countWriter
	fw    *pqarrow.FileWriter
	rows  int64
	abort atomic.Bool
}

// rowGroup is one row group for a lane: its batches (owned by the job).
type rowGroup struct {
	recs []arrow.Record
	rows int64
}

func newTableWriter(ctx context.Context, s store.Store, schema *arrow.Schema, prefix, runID string) *TableWriter {
	return &TableWriter{ctx: ctx, store: s, schema: schema, prefix: prefix, runID: runID, partRows: DefaultPartRows, nlanes: 1}
}

// SetLanes makes the table written as n part files at once (each with its
// own goroutine and row group in memory); call it before the first Write.
func (t *TableWriter) SetLanes(n int) {
	if t.name == "" && t.lanes == nil && n > 0 {
		t.nlanes = n
	}
}

func (t *TableWriter) failed() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.err
}

// Write appends a batch; the caller keeps ownership of rec.
func (t *TableWriter) Write(rec arrow.Record) error {
	if err := t.failed(); err != nil {
		return err
	}
	if rec.NumRows() == 0 {
		return nil
	}
	rec.Retain()
	t.pending = append(t.pending, rec)
	t.pendingRows += rec.NumRows()
	for size := t.groupRows(); t.pendingRows >= size; {
		t.dispatch(size)
	}
	return nil
}

// groupRows is the rows of a row group: a part holds at least one.
func (t *TableWriter) groupRows() int64 { return min(DefaultRowGroupRows, t.partRows) }

// dispatch hands the first n pending rows (all of them, at most) to the
// first lane free as one row group.
func (t *TableWriter) dispatch(n int64) {
	n = min(n, t.pendingRows)
	job := rowGroup{rows: n}
	var rest []arrow.Record
	left := n
	for _, r := range t.pending {
		switch {
		case left >= r.NumRows():
			left -= r.NumRows()
			job.recs = append(job.recs, r)
		case left > 0:
			job.recs = append(job.recs, r.NewSlice(0, left))
			rest = append(rest, r.NewSlice(left, r.NumRows()))
			left = 0
			r.Release()
		default:
			rest = append(rest, r)
		}
	}
	t.pending = rest
	t.pendingRows -= n
	if t.lanes == nil {
		if t.nlanes > 1 {
			t.jobs = make(chan rowGroup)
		}
		for range t.nlanes {
			l := &lane{t: t, done: make(chan struct{})}
			if t.nlanes > 1 {
				go l.run()
			}
			t.lanes = append(t.lanes, l)
		}
	}
	t.groups++
	if t.jobs == nil { // one lane: written on the caller's goroutine
		pprof.Do(t.ctx, t.labels(), func(context.Context) { t.lanes[0].take(job) })
		return
	}
	t.jobs <- job
}

// newPartKey names the next part file.
func (t *TableWriter) newPartKey() string {
	if t.name != "" {
		return t.name
	}
	t.mu.Lock()
	n := t.nparts
	t.nparts++
	t.mu.Unlock()
	return fmt.Sprintf("%spart-%s-%05d.parquet", t.prefix, t.runID, n)
}

func (t *TableWriter) fail(err error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.err == nil {
		t.err = err
	}
}

// labels label the encoding with its table, so that a CPU profile tells
// the tables apart (make bench).
func (t *TableWriter) labels() pprof.LabelSet {
	table, _, _ := strings.Cut(t.prefix, "/")
	return pprof.Labels("table", table)
}

func (l *lane) run() {
	defer close(l.done)
	pprof.Do(l.t.ctx, l.t.labels(), func(context.Context) {
		for job := range l.t.jobs {
			l.take(job)
		}
		l.finish()
	})
}

// take writes a row group, unless the table failed, and releases it.
func (l *lane) take(job rowGroup) {
	if err := l.t.failed(); err == nil && !l.abort.Load() {
		if err := l.write(job); err != nil {
			l.t.fail(err)
			l.discard()
		}
	}
	for _, r := range job.recs {
		r.Release()
	}
}

// finish closes the part being written, or drops it when the table failed
// or is aborted.
func (l *lane) finish() {
	if l.abort.Load() || l.t.failed() != nil {
		l.discard()
		return
	}
	if l.fw != nil {
		if err := l.closePart(); err != nil {
			l.t.fail(err)
		}
	}
}

func (l *lane) write(job rowGroup) error {
	if l.fw == nil {
		if err := l.open(l.t.newPartKey()); err != nil {
			return err
		}
	}
	if job.rows > 0 {
		if err := l.fw.NewRowGroupChecked(); err != nil {
			return l.writeErr(err)
		}
		t := l.t
		for c := range t.schema.NumFields() {
			arrs := make([]arrow.Array, len(job.recs))
			for i, r := range job.recs {
				arrs[i] = r.Column(c)
			}
			col := arrow.NewChunked(t.schema.Field(c).Type, arrs)
			err := l.fw.WriteColumnChunked(col, 0, job.rows)
			col.Release()
			if err != nil {
				return l.writeErr(err)
			}
		}
		l.rows += job.rows
	}
	if l.rows >= l.t.partRows {
		return l.closePart()
	}
	return nil
}

func (l *lane) writeErr(err error) error {
	return fmt.Errorf("writing %s: %w", l.t.store.URI(l.key), err)
}

func (l *lane) open(key string) error {
	t := l.t
	obj, err := t.store.Create(t.ctx, key)
	if err != nil {
		return fmt.Errorf("creating %s: %w", t.store.URI(key), err)
	}
	// Nobody reads a part back during the run: its pages need not stay
	// cached (store.Local's DropBehind).
	if d, ok := obj.(interface{ DropBehind() }); ok {
		d.DropBehind()
	}
	l.key, l.obj, l.cw, l.rows = key, obj, &countWriter{w: obj}, 0
	opts := []parquet.WriterProperty{
		parquet.WithCompression(compress.Codecs.Zstd),
		// zstd's fastest level: files within 1% of the default's size
		// (make bench), about 10% less time writing.
		parquet.WithCompressionLevel(1),
		parquet.WithMaxRowGroupLength(DefaultRowGroupRows),
		// Values are encoded 8,192 at a time rather than 1,024 (arrow-go's
		// default): fewer page-limit checks and level runs per value, a
		// few percent of the encoding (make bench); a page may pass the
		// 1 MiB size by one batch's values.
		parquet.WithBatchSize(8192),
	}
	for _, c := range uniqueColumns {
		opts = append(opts, parquet.WithDictionaryFor(c, false))
	}
	for _, c := range unfilteredColumns {
		opts = append(opts, parquet.WithStatsFor(c, false))
	}
	for c, enc := range deltaColumns {
		opts = append(opts, parquet.WithEncodingFor(c, enc))
	}
	props := parquet.NewWriterProperties(opts...)
	l.fw, err = pqarrow.NewFileWriter(t.schema, l.cw, props, pqarrow.NewArrowWriterProperties(pqarrow.WithStoreSchema()))
	if err != nil {
		obj.Abort()
		l.obj = nil
		return err
	}
	return nil
}

func (l *lane) closePart() error {
	t := l.t
	fw, obj := l.fw, l.obj
	l.fw, l.obj = nil, nil
	if err := fw.Close(); err != nil {
		obj.Abort()
		return fmt.Errorf("finishing %s: %w", t.store.URI(l.key), err)
	}
	if err := obj.Close(); err != nil {
		return fmt.Errorf("storing %s: %w", t.store.URI(l.key), err)
	}
	t.mu.Lock()
	t.parts = append(t.parts, Part{Key: l.key, Rows: l.rows, Bytes: l.cw.n})
	t.mu.Unlock()
	return nil
}

// discard drops the part being written.
func (l *lane) discard() {
	if l.obj != nil {
		l.obj.Abort()
	}
	l.fw, l.obj = nil, nil
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

// Close finishes the last parts, in the order of their names. A table with
// no rows still gets one (empty) part file, so that readers see its
// columns. Closing it again returns the same parts.
func (t *TableWriter) Close() ([]Part, error) {
	if !t.closed {
		if t.pendingRows > 0 || t.groups == 0 {
			t.dispatch(t.pendingRows)
		}
		t.stop()
	}
	if err := t.failed(); err != nil {
		return nil, err
	}
	slices.SortFunc(t.parts, func(a, b Part) int { return strings.Compare(a.Key, b.Key) })
	return t.parts, nil
}

// stop lets the lanes finish what they were given and waits for them.
func (t *TableWriter) stop() {
	t.closed = true
	if t.jobs == nil {
		for _, l := range t.lanes {
			l.finish()
		}
		return
	}
	close(t.jobs)
	for _, l := range t.lanes {
		<-l.done
	}
}

// abort discards the parts being written; finished ones stay listed.
func (t *TableWriter) abort() {
	for _, r := range t.pending {
		r.Release()
	}
	t.pending, t.pendingRows = nil, 0
	if !t.closed {
		for _, l := range t.lanes {
			l.abort.Store(true)
		}
		t.stop()
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
