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
		err := c.Do(ctx, http.MethodGet, target, nil, func(_ int, body io.Reader) error {
			next = ""
			err := p.items.DecodeArrayField(body, "data", func(key string, dec *json.Decoder) error {
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
			})
			if err != nil {
				return err
			}
			// Records are decoded (and so checked) while the response is
			// in hand: a page holding one that is not JSON is retried.
			p.recs = p.recs[:0]
			for _, raw := range p.items.Items {
				u, err := recDec.Decode(raw)
				if extract.Broken(err) {
					return p.items.Invalid("data")
				}
				p.recs = append(p.recs, record{u, err, raw})
			}
			return nil
		})
		if err != nil {
			return false, fmt.Errorf("dixa: reading page %d: %w", n, err)
		}
		// An empty page ends the scan even when Dixa still offers a next link.
		return len(p.items.Items) > 0 && next != "", nil
	}
	emit := func(p *response) error {
		for _, r := range p.recs {
			if err := emit(w, r); err != nil {
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
	recs  []record
}

// record is one decoded record of a page.
type record struct {
	u   User
	err error
	raw string
}

func emit(w *extract.Writer, r record) error {
	if r.err != nil {
		return w.Reject(extract.GuessID([]byte(r.raw), "id"), r.err.Error(), []byte(r.raw))
	}
	return w.Append(&r.u.Row)
}
