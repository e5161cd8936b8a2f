// Package moesif extracts users from Moesif's management search API:
// POST /v1/search/~/search/users, sorted on (modified_time, _id) and paged
// with search_after, never with from (Elasticsearch caps it at 10,000).
package moesif

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"

	"etl/extract"
	"etl/extract/vendorhttp"
	"etl/vendors"
)

// Options configure the extractor.
type Options struct {
	Client   *vendorhttp.Client
	PageSize int // size; default and maximum 1,000
}

// Extractor reads Moesif users.
type Extractor struct{ opt Options }

var _ extract.Extractor = (*Extractor)(nil)

// New returns an extractor; the client carries base URL, pacer and retries.
func New(opt Options) *Extractor {
	opt.PageSize = vendors.Of[vendors.Moesif].PageSize(opt.PageSize)
	return &Extractor{opt: opt}
}

// Auth sets the management API's Bearer key.
func Auth(token string) func(http.Header) {
	return func(h http.Header) { h.Set("Authorization", "Bearer "+token) }
}

func (e *Extractor) Source() string { return vendors.Moesif }

// searchBody is the Elasticsearch request. The sort is a total order
// (_id breaks modified_time ties), so search_after neither skips nor repeats.
type searchBody struct {
	Size        int                 `json:"size"`
	Sort        []map[string]string `json:"sort"`
	SearchAfter json.RawMessage     `json:"search_after,omitempty"`
}

var order = []map[string]string{{"modified_time": "asc"}, {"_id": "asc"}}

type hit struct {
	ID     extract.Text    `json:"_id"`
	Source json.RawMessage `json:"_source"`
	Sort   json.RawMessage `json:"sort"`
}

func (e *Extractor) Extract(ctx context.Context, w *extract.Writer) error {
	c := e.opt.Client
	c.Counter = w
	target := c.Endpoint("/v1/search/~/search/users")
	var after json.RawMessage // the last hit's sort values, passed back verbatim
	for page := 1; ; page++ {
		body, err := json.Marshal(searchBody{Size: e.opt.PageSize, Sort: order, SearchAfter: after})
		if err != nil {
			return err
		}
		var hits []json.RawMessage
		err = c.Do(ctx, http.MethodPost, target, body, func(_ int, r io.Reader) error {
			var resp struct {
				Hits *struct {
					Hits []json.RawMessage `json:"hits"`
				} `json:"hits"`
			}
			if err := json.NewDecoder(r).Decode(&resp); err != nil {
				return err
			}
			if resp.Hits == nil {
				return errors.New("response without hits")
			}
			hits = resp.Hits.Hits
			return nil
		})
		if err != nil {
			return fmt.Errorf("moesif: reading page %d: %w", page, err)
		}
		w.Page()
		for _, raw := range hits {
			if err := emit(w, raw); err != nil {
				return err
			}
		}
		if len(hits) < e.opt.PageSize {
			return nil
		}
		var last hit
		if err := json.Unmarshal(hits[len(hits)-1], &last); err != nil || len(last.Sort) == 0 || string(last.Sort) == "null" {
			return fmt.Errorf("moesif: page %d: the last hit has no sort values to page on", page)
		}
		after = last.Sort
	}
}

func emit(w *extract.Writer, raw []byte) error {
	var h hit
	if err := json.Unmarshal(raw, &h); err != nil {
		return w.Reject(extract.GuessID(raw, "_id"), "not a search hit: "+err.Error(), raw)
	}
	u, err := decode(h.Source, string(h.ID))
	if err != nil {
		return w.Reject(string(h.ID), err.Error(), raw)
	}
	return w.Append(&u.Row)
}
