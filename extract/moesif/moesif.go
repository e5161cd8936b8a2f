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
		err = c.Do(ctx, http.MethodPost, target, body, func(_ int, r io.Reader) (err error) {
			// Records are decoded (and so checked) while the response is
			// in hand: a page holding one that is not JSON is retried.
			p.recs, p.total, err = dec.readPage(r, &p.body, p.recs)
			return err
		})
		if err != nil {
			return false, fmt.Errorf("moesif: reading page %d: %w", n, err)
		}
		if len(p.recs) < e.opt.PageSize {
			return false, nil
		}
		last = p.recs[len(p.recs)-1].raw
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

// hitAt decodes the hit at offset at of s (a page) in place: as hit decodes
// s[at:end] when cutHit cuts it and the one pass decodes its _source; ok is
// false for any other hit, which hit is left to decode.
func (d *Decoder) hitAt(s string, at int) (r record, end int, ok bool) {
	sc := &d.hits
	sc.ResetAt(s, at)
	if !sc.Object() {
		return r, 0, false
	}
	var seen uint8
	var id string
	for first := true; ; first = false {
		k, plain, more := sc.Member(first)
		if !more {
			break
		}
		if !plain {
			return r, 0, false
		}
		var f uint8
		switch {
		case k == "_id":
			f = 1
			id, ok = sc.Text()
		case k == "_source":
			// Decoded with the _id read so far: the _id only stands in for
			// a blank user_id, which the one pass leaves to decode without
			// one.
			f = 2
			if sc.Peek() != '{' {
				return r, 0, false
			}
			var e int
			r.u, e, ok = d.at(s, sc.Offset(), id)
			sc.Seek(e)
		case k == "sort":
			f = 4
			_, ok = sc.Raw()
		case strings.EqualFold(k, "_id") || strings.EqualFold(k, "_source") || strings.EqualFold(k, "sort"):
			return r, 0, false
		default:
			ok = sc.Skip()
		}
		if !ok || seen&f != 0 {
			return r, 0, false
		}
		seen |= f
	}
	if !sc.Ok() || seen&2 == 0 {
		return r, 0, false
	}
	end = sc.Offset()
	r.raw = s[at:end]
	return r, end, true
}

// readPage reads a search response and decodes its hits, and hits.total
// (-1 when it gives none). The body is read whole and, when it is of the
// usual shape, walked once (cutHits): each hit is decoded in place where it
// can be (read once), cut out by its structure and decoded by its text (hit)
// otherwise. Any other body goes through the decoder, which says what is
// wrong with it. A hit that is not JSON makes the response unreadable.
func (d *Decoder) readPage(r io.Reader, buf *extract.Body, out []record) ([]record, int64, error) {
	body, err := buf.Read(r)
	out = out[:0]
	if err == nil {
		d.taken = d.taken[:0]
		i := 0 // the hit at is offered: it is offered each hit once, in order
		at := func(s string, at int) int {
			r, end, ok := d.hitAt(s, at)
			if i++; !ok {
				return -1
			}
			out = append(out, r)
			d.taken = append(d.taken, i-1)
			return end
		}
		if hits, n, ok := cutHits(body, at); ok {
			if len(out) == len(hits) {
				return out, n, nil
			}
			all := make([]record, 0, len(hits))
			t := 0
			for i, raw := range hits {
				if t < len(d.taken) && d.taken[t] == i {
					all = append(all, out[t])
					t++
					continue
				}
				rec, broken := d.hit(raw)
				if broken {
					return out[:0], -1, invalid(body)
				}
				all = append(all, rec)
			}
			return all, n, nil
		}
		out = out[:0]
	}
	// A read error reaches the decoder after the bytes before it, as it did
	// when the decoder read the body itself.
	in := io.Reader(strings.NewReader(body))
	if err != nil {
		in = io.MultiReader(in, failing{err})
	}
	raws, n, err := decodeHits(in)
	if err != nil {
		return out, -1, err
	}
	for _, raw := range raws {
		rec, broken := d.hit(string(raw))
		if broken {
			return out[:0], -1, invalid(body)
		}
		out = append(out, rec)
	}
	return out, n, nil
}

// invalid is the error for a response one of whose hits is not JSON: the
// decoder's.
func invalid(body string) error {
	if _, _, err := decodeHits(strings.NewReader(body)); err != nil {
		return err
	}
	return errors.New("a hit is not JSON")
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
// or "total" is left to it as well). The hits are not checked beyond their
// structure (their decoders check them); every other member is. It reads
// body once: each hit is first offered to at (when set), which decodes it
// in place and returns where it ends, or -1 to have it cut out by its
// structure.
func cutHits(body string, at func(s string, at int) int) (hits []string, n int64, ok bool) {
	var sc jsonscan.Scanner
	sc.Reset(body)
	if !sc.Object() {
		return nil, -1, false
	}
	var tot string
	found, inner := false, false
	for first := true; ; first = false {
		k, plain, more := sc.Member(first)
		if !more {
			break
		}
		switch {
		case !plain:
			return nil, -1, false
		case k == "hits" && !found:
			found = true
			if sc.Peek() != '{' {
				return nil, -1, false
			}
			hits, tot, inner, ok = innerHits(&sc, body, at)
		case strings.EqualFold(k, "hits"):
			return nil, -1, false
		default:
			ok = sc.Skip()
		}
		if !ok {
			return nil, -1, false
		}
	}
	if !sc.End() || !inner {
		return nil, -1, false
	}
	return hits, total(json.RawMessage(tot)), true
}

// innerHits reads the object under the top-level "hits": its "hits" (an
// array or null; found says it was there) and "total" ("" when absent),
// checking every other member.
func innerHits(sc *jsonscan.Scanner, body string, at func(s string, at int) int) (hits []string, tot string, found, ok bool) {
	sc.Object()
	var seen uint8
	for first := true; ; first = false {
		k, plain, more := sc.Member(first)
		if !more {
			break
		}
		var f uint8
		switch {
		case !plain:
			return nil, "", false, false
		case k == "hits":
			f = 1
			switch sc.Peek() {
			case 'n':
				var v string
				var kind int
				v, kind, ok = sc.Scalar()
				ok = ok && kind == jsonscan.Null && v == ""
				hits = nil
			case '[':
				sc.Array()
				hits = []string{}
				ok = true
				for first := true; ok && sc.Element(first); first = false {
					var h string
					if h, ok = element(sc, body, at); ok {
						hits = append(hits, h)
					}
				}
				ok = ok && sc.Ok()
			default:
				ok = false
			}
		case k == "total":
			f = 2
			tot, ok = sc.Raw()
		case strings.EqualFold(k, "hits") || strings.EqualFold(k, "total"):
			return nil, "", false, false
		default:
			ok = sc.Skip()
		}
		if !ok || seen&f != 0 {
			return nil, "", false, false
		}
		seen |= f
	}
	return hits, tot, seen&1 != 0, sc.Ok()
}

// element cuts out the hit sc is at: decoded in place (at), or by its
// structure.
func element(sc *jsonscan.Scanner, body string, at func(s string, at int) int) (string, bool) {
	if at != nil && sc.Peek() != 0 { // Peek skips the whitespace before it
		start := sc.Offset()
		if end := at(body, start); end > start {
			sc.Seek(end)
			return body[start:end], true
		}
	}
	return sc.Pass()
}

// emit hands on one decoded hit.
func emit(w *extract.Writer, r record) error {
	if r.rejected {
		return w.Reject(r.id, r.reason, []byte(r.raw))
	}
	return w.Append(&r.u.Row)
}
