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
	"strings"

	"etl/extract"
	"etl/internal/jsonscan"
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
	var (
		after json.RawMessage // the last hit's sort values, passed back verbatim
		last  string          // the last page's last hit, whose sort the next fetch pages on
		n     int             // the number of the last page fetched
		dec   Decoder
	)
	fetch := func(ctx context.Context, p *response) (bool, error) {
		if n > 0 {
			var h hit
			if err := json.Unmarshal([]byte(last), &h); err != nil || len(h.Sort) == 0 || string(h.Sort) == "null" {
				return false, fmt.Errorf("moesif: page %d: the last hit has no sort values to page on", n)
			}
			after = h.Sort
		}
		n++
		body, err := json.Marshal(searchBody{Size: e.opt.PageSize, Sort: order, SearchAfter: after})
		if err != nil {
			return false, err
		}
		p.total = -1
		err = c.Do(ctx, http.MethodPost, target, body, func(_ int, r io.Reader) error {
			var body string
			var err error
			if body, p.hits, p.total, err = readHits(r, &p.body); err != nil {
				return err
			}
			// Records are decoded (and so checked) while the response is
			// in hand: a page holding one that is not JSON is retried.
			p.recs = p.recs[:0]
			for _, raw := range p.hits {
				rec, broken := dec.hit(raw)
				if broken {
					_, _, err := decodeHits(strings.NewReader(body))
					if err == nil {
						err = errors.New("a hit is not JSON")
					}
					return err
				}
				p.recs = append(p.recs, rec)
			}
			return nil
		})
		if err != nil {
			return false, fmt.Errorf("moesif: reading page %d: %w", n, err)
		}
		if len(p.hits) < e.opt.PageSize {
			return false, nil
		}
		last = p.hits[len(p.hits)-1]
		return true, nil
	}
	emit := func(p *response) error {
		if p.total >= 0 {
			w.SetTotal(p.total)
		}
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
	body  extract.Body
	hits  []string
	total int64 // hits.total; -1 when the response gives none
	recs  []record
}

// record is one decoded hit of a page: a user, or why not.
type record struct {
	u        User
	id       string // the reject's source_id
	reason   string
	rejected bool
	raw      string
}

// hit decodes one hit of a response. broken says it is not JSON at all,
// which makes the response unreadable.
func (d *Decoder) hit(raw string) (r record, broken bool) {
	r.raw = raw
	id, source, hasSource, ok := cutHit(raw)
	if !ok {
		var h hit
		if err := json.Unmarshal([]byte(raw), &h); err != nil {
			if extract.Broken(err) {
				return r, true
			}
			r.id, r.reason, r.rejected = extract.GuessID([]byte(raw), "_id"), "not a search hit: "+err.Error(), true
			return r, false
		}
		id, source, hasSource = string(h.ID), string(h.Source), h.Source != nil
	}
	u, err := d.decode(source, id)
	if err != nil {
		if hasSource && extract.Broken(err) {
			return r, true
		}
		r.id, r.reason, r.rejected = id, err.Error(), true
		return r, false
	}
	r.u = u
	return r, false
}

// cutHit reads a hit as json.Unmarshal(raw, &h) would, checking every part
// but _source (which its decoder checks): when raw is an object with each
// of the hit's keys at most once, exactly as spelt, and an _id Text reads.
// ok is false for anything else, which json.Unmarshal is left to read (and
// to say what is wrong with).
func cutHit(raw string) (id, source string, hasSource, ok bool) {
	var sc jsonscan.Scanner
	sc.Reset(raw)
	if !sc.Object() {
		return "", "", false, false
	}
	var seen uint8
	for first := true; ; first = false {
		k, plain, more := sc.Member(first)
		if !more {
			break
		}
		if !plain {
			return "", "", false, false
		}
		var f uint8
		switch {
		case k == "_id":
			f = 1
			id, ok = sc.Text()
		case k == "_source":
			f = 2
			source, ok = sc.Pass()
			hasSource = true
		case k == "sort":
			f = 4
			_, ok = sc.Raw()
		case strings.EqualFold(k, "_id") || strings.EqualFold(k, "_source") || strings.EqualFold(k, "sort"):
			return "", "", false, false // the decoder matches keys regardless of case
		default:
			ok = sc.Skip()
		}
		if !ok || seen&f != 0 {
			return "", "", false, false
		}
		seen |= f
	}
	return id, source, hasSource, sc.End()
}

// readHits returns a response's hits.hits, and hits.total (-1 when it
// gives none). The body is read whole and, when it is of the usual shape,
// the hits are cut out of it directly (the rest checked as it is cut); any
// other body goes through the decoder, which says what is wrong with it.
func readHits(r io.Reader, buf *extract.Body) (string, []string, int64, error) {
	body, err := buf.Read(r)
	if err == nil {
		if hits, n, ok := cutHits(body); ok {
			return body, hits, n, nil
		}
	}
	// A read error reaches the decoder after the bytes before it, as it did
	// when the decoder read the body itself.
	in := io.Reader(strings.NewReader(body))
	if err != nil {
		in = io.MultiReader(in, failing{err})
	}
	raws, n, err := decodeHits(in)
	hits := make([]string, len(raws))
	for i, h := range raws {
		hits[i] = string(h)
	}
	return body, hits, n, err
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

// cutHits returns hits.hits and hits.total of body when body is an object
// whose "hits" is an object whose "hits" is an array or null, each key
// once; ok is false for anything else, which the decoder is left to read
// (it matches keys regardless of case, so a key that only folds to "hits"
// or "total" is left to it as well).
func cutHits(body string) (hits []string, n int64, ok bool) {
	outer, ok := member(body, "hits")
	if !ok || outer == "" || outer[0] != '{' {
		return nil, -1, false
	}
	inner, tot, ok := hitsAndTotal(outer)
	if !ok || inner == "" {
		return nil, -1, false
	}
	var sc jsonscan.Scanner
	sc.Reset(inner)
	if sc.Peek() == 'n' {
		v, kind, ok := sc.Scalar()
		return nil, total(json.RawMessage(tot)), ok && kind == jsonscan.Null && v == "" && sc.End()
	}
	if !sc.Array() {
		return nil, -1, false
	}
	hits = []string{}
	for first := true; sc.Element(first); first = false {
		h, ok := sc.Pass()
		if !ok {
			return nil, -1, false
		}
		hits = append(hits, h)
	}
	return hits, total(json.RawMessage(tot)), sc.End()
}

// hitsAndTotal returns the values under "hits" (not checked: its hits'
// decoders check them) and "total" of the object s, "" when absent, checking
// every other member; ok is false as for member.
func hitsAndTotal(s string) (hits, tot string, ok bool) {
	var sc jsonscan.Scanner
	sc.Reset(s)
	if !sc.Object() {
		return "", "", false
	}
	var seen uint8
	for first := true; ; first = false {
		k, plain, more := sc.Member(first)
		if !more {
			break
		}
		var f uint8
		switch {
		case !plain:
			return "", "", false
		case k == "hits":
			f = 1
			hits, ok = sc.Pass()
		case k == "total":
			f = 2
			tot, ok = sc.Raw()
		case strings.EqualFold(k, "hits") || strings.EqualFold(k, "total"):
			return "", "", false
		default:
			ok = sc.Skip()
		}
		if !ok || seen&f != 0 {
			return "", "", false
		}
		seen |= f
	}
	return hits, tot, sc.End()
}

// member returns the value under key of the object s ("" when absent),
// checking every other member; ok is false when s is not an object of plain
// keys, or key is there more than once or another key folds to it.
func member(s, key string) (value string, ok bool) {
	var sc jsonscan.Scanner
	sc.Reset(s)
	if !sc.Object() {
		return "", false
	}
	found := false
	for first := true; ; first = false {
		k, plain, more := sc.Member(first)
		if !more {
			break
		}
		switch {
		case !plain:
			return "", false
		case k == key && !found:
			value, ok = sc.Pass()
			found = true
		case strings.EqualFold(k, key):
			return "", false
		default:
			ok = sc.Skip()
		}
		if !ok {
			return "", false
		}
	}
	return value, sc.End()
}

// emit hands on one decoded hit.
func emit(w *extract.Writer, r record) error {
	if r.rejected {
		return w.Reject(r.id, r.reason, []byte(r.raw))
	}
	return w.Append(&r.u.Row)
}
