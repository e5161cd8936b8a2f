// Package extract defines what every connector implements and the batch writer
// that turns the rows they decode into Arrow record batches of bounded size.
package extract

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"hash/maphash"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"etl/internal/hugepage"
	"etl/schemas"
)

// Extractor reads every end user of one source.
type Extractor interface {
	// Source is the name the rows carry in the source column.
	Source() string
	// Extract sends every record to w, in pages, until the source is exhausted
	// or ctx is done. It returns an error when the source cannot be read to the end.
	Extract(ctx context.Context, w *Writer) error
}

// Row is one vendor record mapped onto the end_user_sources columns, with
// values as the vendor has them (Attributes already canonical JSON).
type Row = schemas.SourceRow

// Stats are a source's counts for the run summary.
type Stats struct {
	Extracted  int64 `json:"extracted"`            // unique records handed on
	Duplicates int64 `json:"duplicates,omitempty"` // records seen again (offset shifts, retries)
	Rejected   int64 `json:"rejected"`             // records sent to rejects at extract
	Skipped    int64 `json:"skipped,omitempty"`    // records left out on purpose (archived)
	Pages      int64 `json:"pages"`
	Requests   int64 `json:"requests"`
	Retries    int64 `json:"retries"`
	Throttled  int64 `json:"throttled"` // 429 answers received
}

// DefaultBatchRows bounds the rows of one record batch, and so the memory a
// source holds before the next stage takes it.
const DefaultBatchRows = 8192

// Writer collects a source's rows into end_user_sources record batches,
// drops rows whose source_id was already seen, and hands each full batch to
// the sink. It is used by one goroutine.
type Writer struct {
	source  string
	mem     memory.Allocator
	max     int
	sink    func(arrow.Record) error
	rejects func(schemas.Reject) error

	b       *array.RecordBuilder
	cols    *builders // b's columns
	n       int
	seed    maphash.Seed
	hashBuf []byte // contentHash's
	seen    seen   // source_id hash → content hash

	normalise func(*Row) (reason string, ok bool)
	refused   []schemas.Reject // normalise rejects of the batch being built

	Stats Stats
	// OnPage, when set, is called after each page with the running counts
	// and the source's total (-1 when the vendor does not say).
	OnPage func(pages, records, total int64)
	// OnExpect, when set, hears how many more records Expect was told of
	// than it had been before (so that what they go to can be sized too).
	OnExpect func(more int64)
	total    int64
	// expectEnd is the record count Expect was last told to expect.
	expectEnd int64
	// Counters updated by the HTTP layer from other goroutines.
	requests, retries, throttled atomic.Int64
}

// NewWriter returns a Writer for source. sink receives each batch and owns it
// (it must Release it); rejects receives records that cannot be read.
func NewWriter(source string, mem memory.Allocator, batchRows int, sink func(arrow.Record) error, rejects func(schemas.Reject) error) *Writer {
	if batchRows <= 0 {
		batchRows = DefaultBatchRows
	}
	return &Writer{source: source, mem: mem, max: batchRows, sink: sink, rejects: rejects,
		seed: maphash.MakeSeed(), total: -1}
}

// Normalise sets the cleaning every row gets before it is appended, so that
// each batch is built once, already normalised (run wires
// transform/normalise here; without it rows are written as decoded). A row
// it refuses goes to rejects at the normalise stage, with the reason, when
// its batch is handed on.
func (w *Writer) Normalise(fn func(r *Row) (reason string, ok bool)) { w.normalise = fn }

// Source is the name the writer stamps on every row.
func (w *Writer) Source() string { return w.source }

// Append adds one row. A row whose source_id was already written is a
// duplicate and dropped: offset pagination and retries repeat rows. When its
// content differs from the row kept, it also goes to rejects with the reason,
// so nothing is lost silently.
func (w *Writer) Append(r *Row) error {
	var attrs []byte
	if len(r.Attributes) > 2 { // "{}" holds no custom field
		attrs = r.Attributes
	}
	// 64-bit hashes keep the set small at millions of ids; a collision
	// between two distinct ids (odds ~n²/2⁶⁵: ~3e-6 at 10M in one
	// source) would drop one row.
	h := maphash.String(w.seed, r.SourceID)
	var c uint64
	c, w.hashBuf = contentHash(w.seed, w.hashBuf, r, attrs)
	if kept, dup := w.seen.add(h, c); dup {
		w.Stats.Duplicates++
		if kept == c {
			return nil
		}
		raw, _ := json.Marshal(r)
		return w.Reject(r.SourceID, "duplicate source_id with different content: the first record read was kept", raw)
	}
	w.Stats.Extracted++
	if w.normalise != nil {
		if reason, ok := w.normalise(r); !ok {
			w.refused = append(w.refused, schemas.Reject{Stage: schemas.StageNormalise, Source: w.source, Reason: reason})
			return w.flushIfFull()
		}
		attrs = r.Attributes
	}
	if w.b == nil {
		w.b = array.NewRecordBuilder(w.mem, schemas.EndUserSources)
		w.cols = newBuilders(w.b)
		w.reserve(nil)
	}
	w.cols.appendRow(w.source, r, attrs)
	w.n++
	return w.flushIfFull()
}

func (w *Writer) flushIfFull() error {
	if w.n+len(w.refused) >= w.max {
		return w.Flush()
	}
	return nil
}

// contentHash digests every column of a row: the values, each after its
// length (so that no two rows' values run together alike), laid end to end
// in buf (reused: returned grown) and hashed at once, which costs half of
// hashing them one by one.
func contentHash(seed maphash.Seed, buf []byte, r *Row, attrs []byte) (uint64, []byte) {
	buf = buf[:0]
	for _, s := range [...]string{r.Email, r.ExternalID, r.FirstName, r.LastName, r.Name, r.Phone, r.CompanyID, r.CompanyName} {
		buf = binary.AppendUvarint(buf, uint64(len(s)))
		buf = append(buf, s...)
	}
	buf = binary.AppendUvarint(buf, uint64(len(attrs)))
	buf = append(buf, attrs...)
	for _, list := range [2][]string{r.Emails, r.Tags} {
		buf = binary.AppendUvarint(buf, uint64(len(list)))
		for _, s := range list {
			buf = binary.AppendUvarint(buf, uint64(len(s)))
			buf = append(buf, s...)
		}
	}
	buf = binary.LittleEndian.AppendUint64(buf, uint64(r.CreatedAt.UnixNano()))
	buf = binary.LittleEndian.AppendUint64(buf, uint64(r.UpdatedAt.UnixNano()))
	return maphash.Bytes(seed, buf), buf
}

// Reject sends a record that cannot be read to rejects, with the reason.
func (w *Writer) Reject(sourceID, reason string, raw []byte) error {
	w.Stats.Rejected++
	return w.rejects(schemas.Reject{Stage: schemas.StageExtract, Source: w.source, SourceID: sourceID, Reason: reason, Raw: string(raw)})
}

// Skip counts a record left out on purpose.
func (w *Writer) Skip() { w.Stats.Skipped++ }

// Page counts one page read; call it after the page's rows are appended.
func (w *Writer) Page() {
	w.Stats.Pages++
	if w.OnPage != nil {
		w.OnPage(w.Stats.Pages, w.Stats.Extracted, w.total)
	}
}

// SetTotal records how many records the vendor says it holds (for an ETA,
// and as Expect).
func (w *Writer) SetTotal(n int64) {
	w.total = n
	w.Expect(n - w.Stats.Extracted)
}

// Expect says that about n more records are coming (a file's size over
// the length of its first lines, a vendor's total), so that the set of ids
// seen is sized once for them rather than doubled, and every id hashed
// again, as it fills. Past maxExpect, the set grows as records come.
func (w *Writer) Expect(n int64) {
	n = min(n, maxExpect)
	if n <= 0 {
		return
	}
	w.seen.reserve(int(n))
	// OnExpect hears of records beyond those it heard of before (a source
	// may say the same again page after page, or file after file).
	from := max(w.expectEnd, w.Stats.Extracted)
	if end := w.Stats.Extracted + n; end > from {
		if w.OnExpect != nil {
			w.OnExpect(end - from)
		}
		w.expectEnd = end
	}
}

// maxExpect bounds what Expect sizes the set for (a 128 MiB table), so
// that an estimate or a vendor's total far above what comes costs
// bounded memory.
const maxExpect = 1 << 22

// CountRequest, CountRetry and CountThrottled are called by the HTTP client.
func (w *Writer) CountRequest()   { w.requests.Add(1) }
func (w *Writer) CountRetry()     { w.retries.Add(1) }
func (w *Writer) CountThrottled() { w.throttled.Add(1) }

// Flush hands the rows collected so far to the sink, after the rejects
// normalisation made of their batch.
func (w *Writer) Flush() error {
	for _, r := range w.refused {
		if err := w.rejects(r); err != nil {
			return err
		}
	}
	w.refused = w.refused[:0]
	if w.b == nil || w.n == 0 {
		return nil
	}
	rec := w.b.NewRecord()
	w.n = 0
	w.reserve(rec)
	return w.sink(rec)
}

// reserve sizes the builder for a batch like last (the one just built), so
// that its buffers are allocated once rather than grown (and copied) row
// after row.
func (w *Writer) reserve(last arrow.Record) {
	w.b.Reserve(w.max)
	if last == nil {
		return
	}
	for i, col := range last.Columns() {
		switch a := col.(type) {
		case *array.String:
			n := len(a.ValueBytes())
			w.b.Field(i).(*array.StringBuilder).ReserveData(n + n/8)
		case *array.List:
			vals := a.ListValues().(*array.String)
			vb := w.b.Field(i).(*array.ListBuilder).ValueBuilder().(*array.StringBuilder)
			vb.Reserve(vals.Len())
			n := len(vals.ValueBytes())
			vb.ReserveData(n + n/8)
		}
	}
}

// Close flushes and frees the builder and the set of ids seen; Stats are
// final afterwards, and the writer takes no more rows.
func (w *Writer) Close() error {
	err := w.Flush()
	if w.b != nil {
		w.b.Release()
		w.b, w.cols = nil, nil
	}
	w.seen.free()
	w.Stats.Requests = w.requests.Load()
	w.Stats.Retries = w.retries.Load()
	w.Stats.Throttled = w.throttled.Load()
	return err
}

// builders are a batch builder's columns, typed once rather than for every
// value.
type builders struct {
	str   [schemas.SrcAttributes + 1]*array.StringBuilder // the string columns, by index
	lists [schemas.SrcAttributes + 1]*array.ListBuilder   // the list columns, by index
	items [schemas.SrcAttributes + 1]*array.StringBuilder // their values
	times [schemas.SrcAttributes + 1]*array.TimestampBuilder
	b     *array.RecordBuilder
}

func newBuilders(b *array.RecordBuilder) *builders {
	c := &builders{b: b}
	for i, f := range b.Fields() {
		switch f := f.(type) {
		case *array.StringBuilder:
			c.str[i] = f
		case *array.ListBuilder:
			c.lists[i] = f
			c.items[i] = f.ValueBuilder().(*array.StringBuilder)
		case *array.TimestampBuilder:
			c.times[i] = f
		}
	}
	return c
}

func (c *builders) appendRow(source string, r *Row, attrs []byte) {
	appendText(c.str[schemas.SrcSource], source)
	appendText(c.str[schemas.SrcSourceID], r.SourceID)
	c.b.Field(schemas.SrcPersonID).AppendNull()
	c.appendStr(schemas.SrcEmail, r.Email)
	c.appendList(schemas.SrcEmails, r.Emails)
	c.appendStr(schemas.SrcExternalID, r.ExternalID)
	c.appendStr(schemas.SrcFirstName, r.FirstName)
	c.appendStr(schemas.SrcLastName, r.LastName)
	c.appendStr(schemas.SrcName, r.Name)
	c.appendStr(schemas.SrcPhone, r.Phone)
	c.appendStr(schemas.SrcCompanyID, r.CompanyID)
	c.appendStr(schemas.SrcCompanyName, r.CompanyName)
	c.appendList(schemas.SrcTags, r.Tags)
	c.appendTime(schemas.SrcCreatedAt, r.CreatedAt)
	c.appendTime(schemas.SrcUpdatedAt, r.UpdatedAt)
	if sb := c.str[schemas.SrcAttributes]; len(attrs) == 0 {
		sb.AppendNull()
	} else {
		appendText(sb, unsafe.String(unsafe.SliceData(attrs), len(attrs)))
	}
}

func (c *builders) appendStr(col int, v string) {
	sb := c.str[col]
	if v == "" {
		sb.AppendNull()
		return
	}
	appendText(sb, v)
}

// appendText is sb.Append(v) without its checks when the batch's rows and
// text were reserved (as they are, except when a value outgrows the
// estimate): a dozen values a row.
func appendText(sb *array.StringBuilder, v string) {
	if sb.Len() >= sb.Cap() {
		sb.Append(v)
		return
	}
	if free := sb.DataCap() - sb.DataLen(); free < len(v) {
		sb.ReserveData(max(len(v), sb.DataCap())) // doubling, as Append grows it
	}
	sb.UnsafeAppend(unsafe.Slice(unsafe.StringData(v), len(v))) // copied, never written
}

func (c *builders) appendList(col int, vs []string) {
	lb := c.lists[col]
	if len(vs) == 0 {
		lb.AppendNull()
		return
	}
	lb.Append(true)
	vb := c.items[col]
	for _, v := range vs {
		vb.Append(v)
	}
}

func (c *builders) appendTime(col int, t time.Time) {
	tb := c.times[col]
	if t.IsZero() {
		tb.AppendNull()
		return
	}
	tb.Append(arrow.Timestamp(t.UnixMicro()))
}

// seen maps 64-bit hashes (of source_ids) to 64-bit values (of contents):
// an open-addressing table, as the hashes are uniform already, each key
// beside its value (one cache miss a lookup, and add looks up and inserts
// in one probe). It is consulted for every record, where a
// map[uint64]uint64 cost twice as much. A key of 0 marks an empty slot,
// so 0 is stored as 1. It lives on the Go heap, within the soft memory
// limit (mapped outside it, four sources' tables, 256 MiB at 10 million
// records, took bench 5's peak past 1.5 GB), advised for huge pages: each
// lookup misses the cache, and without them the TLB too.
type seen struct {
	slots []slot
	n     int
}

type slot struct{ k, v uint64 }

// add returns the value kept for k when k is in t (dup), else adds k with v.
func (t *seen) add(k, v uint64) (kept uint64, dup bool) {
	if 4*(t.n+1) > 3*len(t.slots) { // at most three quarters full
		t.resize(max(1024, 2*len(t.slots)))
	}
	k = max(k, 1)
	mask := uint64(len(t.slots) - 1)
	i := k
	for {
		s := &t.slots[i&mask]
		switch s.k {
		case k:
			return s.v, true
		case 0:
			*s = slot{k, v}
			t.n++
			return 0, false
		}
		i++
	}
}

// reserve makes room for n more keys.
func (t *seen) reserve(n int) {
	if n <= 0 || 4*(t.n+n) <= 3*len(t.slots) {
		return
	}
	size := 1024
	for 4*(t.n+n) > 3*size {
		size *= 2
	}
	t.resize(size)
}

// resize moves the keys into a table of size slots (a power of two).
func (t *seen) resize(size int) {
	old := t.slots
	t.slots = hugepage.Make[slot](size, size)
	mask := uint64(size - 1)
	for _, s := range old {
		if s.k == 0 {
			continue
		}
		i := s.k
		for t.slots[i&mask].k != 0 {
			i++
		}
		t.slots[i&mask] = s
	}
}

// free lets go of the table.
func (t *seen) free() { *t = seen{} }
