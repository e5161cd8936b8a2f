// Package extracttest runs an extractor in a test and reads back what it
// wrote, as rows and rejects, so connector tests can check fields one by one.
package extracttest

import (
	"context"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"etl/extract"
	"etl/schemas"
)

// Row is one written end_user_sources row; Attributes is the JSON text.
type Row struct {
	extract.Row
	AttributesJSON string
}

// Result is everything one extraction wrote.
type Result struct {
	Rows    []Row
	ByID    map[string]Row
	Rejects []schemas.Reject
	Stats   extract.Stats
	Total   int64 // the vendor's count of records, as the last page reported it; -1 when it gives none
	Err     error // what Extract returned
}

// Run extracts ex to the end (or until ctx is done), checking that every
// Arrow buffer was released.
func Run(t *testing.T, ctx context.Context, ex extract.Extractor) Result {
	t.Helper()
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	res := Result{Total: -1}
	sink := func(rec arrow.Record) error {
		defer rec.Release()
		res.Rows = append(res.Rows, rows(rec)...)
		return nil
	}
	reject := func(r schemas.Reject) error { res.Rejects = append(res.Rejects, r); return nil }
	w := extract.NewWriter(ex.Source(), mem, 64, sink, reject)
	w.OnPage = func(_, _, total int64) { res.Total = total }
	res.Err = ex.Extract(ctx, w)
	if err := w.Close(); err != nil && res.Err == nil {
		res.Err = err
	}
	res.Stats = w.Stats
	res.ByID = map[string]Row{}
	for _, r := range res.Rows {
		res.ByID[r.SourceID] = r
	}
	return res
}

func rows(rec arrow.Record) []Row {
	str := func(col, i int) string {
		a := rec.Column(col).(*array.String)
		if a.IsNull(i) {
			return ""
		}
		return a.Value(i)
	}
	list := func(col, i int) []string {
		a := rec.Column(col).(*array.List)
		if a.IsNull(i) {
			return nil
		}
		vs := a.ListValues().(*array.String)
		start, end := a.ValueOffsets(i)
		var out []string
		for j := start; j < end; j++ {
			out = append(out, vs.Value(int(j)))
		}
		return out
	}
	ts := func(col, i int) time.Time {
		a := rec.Column(col).(*array.Timestamp)
		if a.IsNull(i) {
			return time.Time{}
		}
		return time.UnixMicro(int64(a.Value(i))).UTC()
	}
	out := make([]Row, rec.NumRows())
	for i := range out {
		out[i] = Row{Row: extract.Row{
			SourceID: str(schemas.SrcSourceID, i), Email: str(schemas.SrcEmail, i), Emails: list(schemas.SrcEmails, i),
			ExternalID: str(schemas.SrcExternalID, i), FirstName: str(schemas.SrcFirstName, i),
			LastName: str(schemas.SrcLastName, i), Name: str(schemas.SrcName, i), Phone: str(schemas.SrcPhone, i),
			CompanyID: str(schemas.SrcCompanyID, i), CompanyName: str(schemas.SrcCompanyName, i), Tags: list(schemas.SrcTags, i),
			CreatedAt: ts(schemas.SrcCreatedAt, i), UpdatedAt: ts(schemas.SrcUpdatedAt, i),
		}, AttributesJSON: str(schemas.SrcAttributes, i)}
	}
	return out
}

// SamePage checks extract.DecodeRecords on a page body (an array, or an
// object holding it under key) against the page read whole first
// (DecodeArray, DecodeArrayField) and each record decoded by its text, as
// connectors read pages before records were decoded in place: the same
// records, rows and errors, and the same error for the page.
func SamePage[U any](t *testing.T, body, key string, dec extract.RecordDecoder[U]) {
	t.Helper()
	var p extract.Page
	got, gerr := extract.DecodeRecords(&p, strings.NewReader(body), key, nil, dec, nil)
	var q extract.Page
	var want []extract.Record[U]
	var werr error
	if key == "" {
		werr = q.DecodeArray(strings.NewReader(body))
	} else {
		werr = q.DecodeArrayField(strings.NewReader(body), key, nil)
	}
	for _, raw := range q.Items {
		if werr != nil {
			break
		}
		u, err := dec.Decode(raw)
		if extract.Broken(err) {
			werr = q.Invalid(key)
			break
		}
		want = append(want, extract.Record[U]{Raw: raw, U: u, Err: err})
	}
	if fmt.Sprint(gerr) != fmt.Sprint(werr) || (werr == nil && (len(got) != len(want) || !reflect.DeepEqual(got, want) && len(want) > 0)) {
		t.Fatalf("page %q:\n in place: %+v %v\n whole first: %+v %v", body, got, gerr, want, werr)
	}
}
