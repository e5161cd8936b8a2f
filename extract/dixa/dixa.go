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
	target := c.Endpoint("/v1/endusers?pageLimit=" + strconv.Itoa(e.opt.PageSize))
	var (
		recDec Decoder
		items  extract.Page
		recs   []record
	)
	for page := 1; ; page++ {
		var next string
		err := c.Do(ctx, http.MethodGet, target, nil, func(_ int, body io.Reader) error {
			next = ""
			err := items.DecodeArrayField(body, "data", func(key string, dec *json.Decoder) error {
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
			recs = recs[:0]
			for _, raw := range items.Items {
				u, err := recDec.Decode(raw)
				if extract.Broken(err) {
					return items.Invalid("data")
				}
				recs = append(recs, record{u, err, raw})
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("dixa: reading page %d: %w", page, err)
		}
		for _, r := range recs {
			if err := emit(w, r); err != nil {
				return err
			}
		}
		w.Page()
		// An empty page ends the scan even when Dixa still offers a next link.
		if len(items.Items) == 0 || next == "" {
			return nil
		}
		link, err := c.Link(next)
		if err != nil {
			return fmt.Errorf("dixa: page %d: %w", page, err)
		}
		if link == target {
			return fmt.Errorf("dixa: page %d links to itself", page)
		}
		target = link
	}
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
