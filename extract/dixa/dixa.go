// Package dixa extracts end users from Dixa's /v1/endusers: cursor pages
// followed through meta.next exactly as Dixa gives it, never built by hand.
package dixa

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"

	"etl/extract"
	"etl/internal/vendorhttp"
	"etl/internal/vendors"
)

// Options configure the extractor.
type Options struct {
	Client   *vendorhttp.Client
	PageSize int // pageLimit; default and maximum 1,000
}

// Extractor reads Dixa end users.
type Extractor struct{ opt Options }

var _ extract.Extractor = (*Extractor)(nil)

// New returns an extractor; the client carries base URL, pacer and retries.
func New(opt Options) *Extractor {
	opt.PageSize = vendors.Of[vendors.Dixa].PageSize(opt.PageSize)
	return &Extractor{opt: opt}
}

// Auth sets Dixa's API token, sent raw (Dixa also takes "Bearer <token>").
func Auth(token string) func(http.Header) {
	return func(h http.Header) { h.Set("Authorization", token) }
}

func (e *Extractor) Source() string { return vendors.Dixa }

func (e *Extractor) Extract(ctx context.Context, w *extract.Writer) error {
	c := e.opt.Client
	c.Counter = w
	var (
		target = c.Endpoint("/v1/endusers?pageLimit=" + strconv.Itoa(e.opt.PageSize))
		next   string // the last page's next link, followed by the next fetch
		n      int    // the number of the last page fetched
		recDec Decoder
	)
	fetch := func(ctx context.Context, p *response) (bool, error) {
		if n > 0 {
			link, err := c.Link(next)
			if err != nil {
				return false, fmt.Errorf("dixa: page %d: %w", n, err)
			}
			if link == target {
				return false, fmt.Errorf("dixa: page %d links to itself", n)
			}
			target = link
		}
		n++
		err := c.Do(ctx, http.MethodGet, target, nil, func(_ int, body io.Reader) (err error) {
			next = ""
			// Records are decoded (and so checked) while the response is
			// in hand: a page holding one that is not JSON is retried.
			p.recs, err = extract.DecodeRecords(&p.items, body, "data", func(key string, dec *json.Decoder) error {
				if key != "meta" {
					var skip json.RawMessage
					return dec.Decode(&skip)
				}
				var meta struct {
					Next *string `json:"next"`
				}
				if err := dec.Decode(&meta); err != nil {
					return err
				}
				if meta.Next != nil {
					next = *meta.Next
				}
				return nil
			}, &recDec, p.recs)
			return err
		})
		if err != nil {
			return false, fmt.Errorf("dixa: reading page %d: %w", n, err)
		}
		// An empty page ends the scan even when Dixa still offers a next link.
		return len(p.recs) > 0 && next != "", nil
	}
	emit := func(p *response) error {
		for i := range p.recs {
			if err := emit(w, &p.recs[i]); err != nil {
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

func emit(w *extract.Writer, r *extract.Record[User]) error {
	if r.Err != nil {
		return w.Reject(extract.GuessID([]byte(r.Raw), "id"), r.Err.Error(), []byte(r.Raw))
	}
	return w.Append(&r.U.Row)
}
