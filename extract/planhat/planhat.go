// Package planhat extracts end users from Planhat's /endusers: offset pages of
// up to 2,000 sorted by _id (new users land at the end), de-duplicated on _id.
package planhat

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
	Client          *vendorhttp.Client
	PageSize        int // default and maximum 2,000
	IncludeArchived bool
}

// Extractor reads Planhat end users.
type Extractor struct{ opt Options }

var _ extract.Extractor = (*Extractor)(nil)

// New returns an extractor; the client carries base URL, pacer and retries.
func New(opt Options) *Extractor {
	opt.PageSize = vendors.Of[vendors.Planhat].PageSize(opt.PageSize)
	return &Extractor{opt: opt}
}

// Auth sets Planhat's Bearer token.
func Auth(token string) func(http.Header) {
	return func(h http.Header) { h.Set("Authorization", "Bearer "+token) }
}

func (e *Extractor) Source() string { return vendors.Planhat }

func (e *Extractor) Extract(ctx context.Context, w *extract.Writer) error {
	c := e.opt.Client
	c.Counter = w
	var dec Decoder
	offset := 0
	fetch := func(ctx context.Context, p *response) (bool, error) {
		// Archived users are always listed and skipped here: were they left
		// out by the server, archiving one during the scan would shift the
		// offsets and make the next page skip a live user.
		q := url.Values{"limit": {strconv.Itoa(e.opt.PageSize)}, "offset": {strconv.Itoa(offset)}, "sort": {"_id"}, "archived": {"true"}}
		err := c.Do(ctx, http.MethodGet, c.Endpoint("/endusers?"+q.Encode()), nil, func(_ int, body io.Reader) (err error) {
			// Records are decoded (and so checked) while the response is
			// in hand: a page holding one that is not JSON is retried.
			p.recs, err = extract.DecodeRecords(&p.items, body, "", nil, &dec, p.recs)
			return err
		})
		if err != nil {
			return false, fmt.Errorf("planhat: reading offset %d: %w", offset, err)
		}
		// A short page is the last; never trust a page longer than asked for.
		offset += len(p.recs)
		return len(p.recs) >= e.opt.PageSize, nil
	}
	emit := func(p *response) error {
		for i := range p.recs {
			if err := e.emit(w, &p.recs[i]); err != nil {
				return err
			}
		}
		w.Page()
		return nil
	}
	return extract.Ahead(ctx, fetch, emit)
}

// response is one page, decoded.
type response struct {
	items extract.Page
	recs  []extract.Record[User]
}

func (e *Extractor) emit(w *extract.Writer, r *extract.Record[User]) error {
	if r.Err != nil {
		return w.Reject(extract.GuessID([]byte(r.Raw), "_id"), r.Err.Error(), []byte(r.Raw))
	}
	if r.U.Archived && !e.opt.IncludeArchived {
		w.Skip()
		return nil
	}
	return w.Append(&r.U.Row)
}
