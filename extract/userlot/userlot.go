// Package userlot extracts end users from Userlot's /api/v1/end_users:
// numbered pages (from 1) read until an empty array.
package userlot

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"

	"etl/extract"
	"etl/internal/vendorhttp"
	"etl/internal/vendors"
)

// Options configure the extractor.
type Options struct {
	Client   *vendorhttp.Client
	PageSize int // per_page; default and maximum 500
}

// Extractor reads Userlot end users.
type Extractor struct{ opt Options }

var _ extract.Extractor = (*Extractor)(nil)

// New returns an extractor; the client carries base URL, pacer and retries.
func New(opt Options) *Extractor {
	opt.PageSize = vendors.Of[vendors.Userlot].PageSize(opt.PageSize)
	return &Extractor{opt: opt}
}

// Auth sets Userlot's ApiKey header.
func Auth(key string) func(http.Header) {
	return func(h http.Header) { h.Set("ApiKey", key) }
}

func (e *Extractor) Source() string { return vendors.Userlot }

func (e *Extractor) Extract(ctx context.Context, w *extract.Writer) error {
	c := e.opt.Client
	c.Counter = w
	var dec Decoder
	n := 0 // the page number of the last page fetched
	fetch := func(ctx context.Context, p *response) (bool, error) {
		n++
		p.n = n
		q := url.Values{"page": {strconv.Itoa(n)}, "per_page": {strconv.Itoa(e.opt.PageSize)}}
		err := c.Do(ctx, http.MethodGet, c.Endpoint("/api/v1/end_users?"+q.Encode()), nil, func(_ int, body io.Reader) (err error) {
			// Records are decoded (and so checked) while the response is
			// in hand: a page holding one that is not JSON is retried.
			p.recs, err = extract.DecodeRecords(&p.items, body, "", nil, &dec, p.recs)
			return err
		})
		if err != nil {
			return false, fmt.Errorf("userlot: reading page %d: %w", n, err)
		}
		// Only an empty page ends the scan: a short one may just mean Userlot
		// clamped per_page, which it does silently.
		return len(p.recs) > 0, nil
	}
	emit := func(p *response) error {
		before := w.Stats.Extracted + w.Stats.Rejected
		for i := range p.recs {
			if err := emit(w, &p.recs[i]); err != nil {
				return err
			}
		}
		w.Page()
		if len(p.recs) > 0 && w.Stats.Extracted+w.Stats.Rejected == before {
			// A whole page of records already seen: the API is ignoring
			// page, and reading on would never end.
			return fmt.Errorf("userlot: page %d repeats earlier records only", p.n)
		}
		return nil
	}
	return extract.Ahead(ctx, fetch, emit)
}

// response is one page, decoded.
type response struct {
	n     int // its number
	items extract.Page
	recs  []extract.Record[User]
}

func emit(w *extract.Writer, r *extract.Record[User]) error {
	if r.Err != nil {
		return w.Reject(extract.GuessID([]byte(r.Raw), "id"), r.Err.Error(), []byte(r.Raw))
	}
	return w.Append(&r.U.Row)
}
