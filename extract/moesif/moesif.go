// Package moesif extracts users from Moesif's management search API:
// POST /v1/search/~/search/users, sorted on (modified_time, _id) and paged
// with search_after, never with from (Elasticsearch caps it at 10,000).
package moesif

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	"etl/extract"
	"etl/internal/vendorhttp"
	"etl/internal/vendors"
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
		total := int64(-1)
		err = c.Do(ctx, http.MethodPost, target, body, func(_ int, r io.Reader) error {
			var err error
			hits, total, err = readHits(r)
			return err
		})
		if err != nil {
			return fmt.Errorf("moesif: reading page %d: %w", page, err)
		}
		if total >= 0 {
			w.SetTotal(total)
		}
		for _, raw := range hits {
			if err := emit(w, raw); err != nil {
				return err
			}
		}
		w.Page()
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

// cutHit is json.Unmarshal(raw, &h) for raw, valid JSON, without decoding
// it again: when raw is an object with each of the hit's keys at most once,
// exactly as spelt, and an _id Text reads. ok is false for anything else,
// which json.Unmarshal is left to read (and to say what is wrong with).
func cutHit(raw []byte) (h hit, ok bool) {
	fields, ok := extract.Fields(raw)
	if !ok {
		return hit{}, false
	}
	var id json.RawMessage
	for _, f := range fields {
		var dst *json.RawMessage
		switch {
		case f.Key == "_id":
			dst = &id
		case f.Key == "_source":
			dst = &h.Source
		case f.Key == "sort":
			dst = &h.Sort
		case strings.EqualFold(f.Key, "_id") || strings.EqualFold(f.Key, "_source") || strings.EqualFold(f.Key, "sort"):
			return hit{}, false // the decoder matches keys regardless of case
		default:
			continue
		}
		if *dst != nil {
			return hit{}, false
		}
		*dst = f.Value
	}
	if id != nil && h.ID.UnmarshalJSON(id) != nil {
		return hit{}, false
	}
	return h, true
}

// readHits returns a response's hits.hits, and hits.total (-1 when it
// gives none). The body is read whole and, when
// it is valid JSON of the usual shape, the hits are cut out of it directly
// (as extract.Page.DecodeArray does); any other body goes through the
// decoder, which says what is wrong with it.
func readHits(r io.Reader) ([]json.RawMessage, int64, error) {
	body, err := io.ReadAll(r)
	if err == nil && json.Valid(body) {
		if hits, n, ok := cutHits(body); ok {
			return hits, n, nil
		}
	}
	// A read error reaches the decoder after the bytes before it, as it did
	// when the decoder read the body itself.
	in := io.Reader(bytes.NewReader(body))
	if err != nil {
		in = io.MultiReader(in, failing{err})
	}
	return decodeHits(in)
}

type failing struct{ err error }

func (f failing) Read([]byte) (int, error) { return 0, f.err }

// decodeHits is readHits with the decoder alone.
func decodeHits(r io.Reader) ([]json.RawMessage, int64, error) {
	var resp struct {
		Hits *struct {
			Hits  []json.RawMessage `json:"hits"`
			Total json.RawMessage   `json:"total"`
		} `json:"hits"`
	}
	if err := json.NewDecoder(r).Decode(&resp); err != nil {
		return nil, -1, err
	}
	if resp.Hits == nil {
		return nil, -1, errors.New("response without hits")
	}
	return resp.Hits.Hits, total(resp.Hits.Total), nil
}

// total reads hits.total: a count, or Elasticsearch 7's {"value": n}
// unless it is only a lower bound ("relation": "gte"); -1 when absent or
// anything else.
func total(raw json.RawMessage) int64 {
	var n int64
	if len(raw) > 0 && raw[0] >= '0' && raw[0] <= '9' && json.Unmarshal(raw, &n) == nil {
		return n
	}
	var o struct {
		Value    json.RawMessage `json:"value"`
		Relation string          `json:"relation"`
	}
	if len(raw) > 0 && raw[0] == '{' && json.Unmarshal(raw, &o) == nil && o.Relation != "gte" {
		return total(o.Value)
	}
	return -1
}

// cutHits returns hits.hits and hits.total of body, valid JSON, when body
// is an object whose "hits" is an object whose "hits" is an array or null,
// each key once; ok is false for anything else, which the decoder is left to
// read (it matches keys regardless of case, so a key that only folds to
// "hits" or "total" is left to it as well).
func cutHits(body []byte) (hits []json.RawMessage, n int64, ok bool) {
	outer, ok := member(body, "hits")
	if !ok || outer == nil || outer[0] != '{' {
		return nil, -1, false
	}
	inner, ok := member(outer, "hits")
	if !ok || inner == nil || (inner[0] != '[' && inner[0] != 'n') {
		return nil, -1, false
	}
	tot, ok := member(outer, "total")
	if !ok {
		return nil, -1, false
	}
	hits, ok = extract.Items(inner)
	return hits, total(tot), ok
}

// member returns the value under key of the object b (nil when absent); ok
// is false when b is not an object, or key is there more than once or
// another key folds to it.
func member(b []byte, key string) (value json.RawMessage, ok bool) {
	fields, ok := extract.Fields(b)
	if !ok {
		return nil, false
	}
	for _, f := range fields {
		switch {
		case f.Key == key && value == nil:
			value = f.Value
		case strings.EqualFold(f.Key, key):
			return nil, false
		}
	}
	return value, true
}

// emit decodes one hit of a response: raw is valid JSON, as readHits only
// returns the elements of a valid response.
func emit(w *extract.Writer, raw []byte) error {
	h, ok := cutHit(raw)
	if !ok {
		if err := json.Unmarshal(raw, &h); err != nil {
			return w.Reject(extract.GuessID(raw, "_id"), "not a search hit: "+err.Error(), raw)
		}
	}
	u, err := decode(h.Source, string(h.ID))
	if err != nil {
		return w.Reject(string(h.ID), err.Error(), raw)
	}
	return w.Append(&u.Row)
}
