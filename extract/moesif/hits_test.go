package moesif

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"slices"
	"strings"
	"testing"

	"etl/extract"
	moesifemu "etl/internal/emulator/moesif"
	"etl/internal/emulator/people"
)

var hitsCases = []string{
	`{"hits":{"hits":[]}}`, `{"hits":{"hits":null}}`, `{"hits":{}}`, `{"hits":null}`, `{}`, `null`,
	`{"took":3,"hits":{"total":{"value":2},"hits":[{"_id":"a","_source":{"user_id":"a"},"sort":[1,"a"]}, {"_id":"b","sort":[2,"b"]}]}}`,
	"{\n \"hits\" : { \"hits\" : [ {\"_id\" : \"x\\\"]}\"} , null, 5, \"s\" ] }\r\n}\n",
	`{"HITS":{"hits":[{"_id":"a"}]}}`, `{"hits":{"Hits":[{"_id":"a"}]}}`, `{"hitſ":{"hits":[1]}}`,
	`{"hits":{"hits":[1]},"hits":{"hits":[2]}}`, `{"hits":{"hits":[1],"hits":[2]}}`, `{"hits":{"hits":[1]},"Hits":{"total":1}}`,
	`{"hits":{"hits":[1],"HITS":null}}`, `{"h\u0069ts":{"hits":[1]}}`, `{"hits":{"hit\u0073":[1]}}`,
	`{"hits":[]}`, `{"hits":5}`, `{"hits":{"hits":{}}}`, `{"hits":{"hits":"x"}}`, `{"hits":{"hits":[1]}} x`,
	`{"hits":{"hits":[1]}}{}`, `[]`, `5`, ``, `  `, `{`, `{"hits":{"hits":[{"_id":"a"}`, `{"hits":{"hits":[1,]}}`,
	`{"hits":{"hits":[{"_id" 1}]}}`, `{"took":x,"hits":{"hits":[]}}`, `{"hits":{"total":{"a":},"hits":[]}}`,
	"{\"hits\":{\"\x99\":1,\"hits\":[1]}}", "{\"hit\xff\":{\"hits\":[1]}}",
	`{"hits":{"total":5,"hits":[]}}`, `{"hits":{"total":{"value":7,"relation":"eq"},"hits":[]}}`,
	`{"hits":{"total":{"value":7,"relation":"gte"},"hits":[]}}`, `{"hits":{"Total":3,"hits":[]}}`,
	`{"hits":{"total":1,"total":2,"hits":[]}}`, `{"hits":{"total":null,"hits":[]}}`, `{"hits":{"total":"5","hits":[]}}`,
	`{"hits":{"total":-1,"hits":[]}}`, `{"hits":{"total":1.5,"hits":[]}}`, `{"hits":{"total":{"VALUE":4},"hits":[]}}`,
	`{"hits":{"total":{"value":{"value":1}},"hits":[]}}`, `{"hits":{"hits":[],"total":  12 }}`,
}

// readHits returns a response's hits.hits, and hits.total (-1 when it gives
// none), as the extractor read a page before its hits were decoded in
// place: the body read whole and, when it is of the usual shape, the hits
// cut out of it (cutHits); any other body through the decoder.
func readHits(r io.Reader, buf *extract.Body) (string, []string, int64, error) {
	body, err := buf.Read(r)
	if err == nil {
		if hits, n, ok := cutHits(body, nil); ok {
			return body, hits, n, nil
		}
	}
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

// samePage checks readPage (hits decoded in place) against readHits and
// each hit decoded by its text (hit): the same records, total and error.
func samePage(t *testing.T, body string) {
	t.Helper()
	var d Decoder
	got, gn, gerr := d.readPage(strings.NewReader(body), new(extract.Body), nil)
	_, hits, wn, werr := readHits(strings.NewReader(body), new(extract.Body))
	var want []record
	for _, h := range hits {
		if werr != nil {
			break
		}
		rec, broken := d.hit(h)
		if broken {
			werr = invalid(body)
			break
		}
		want = append(want, rec)
	}
	if fmt.Sprint(gerr) != fmt.Sprint(werr) || werr == nil && (gn != wn || len(got) != len(want) || len(want) > 0 && !reflect.DeepEqual(got, want)) {
		t.Fatalf("%q:\n in place: %+v %d %v\n hit by hit: %+v %d %v", body, got, gn, gerr, want, wn, werr)
	}
}

// readChecked is readHits and what the extractor does next: each hit
// checked as it is decoded, a hit that is not JSON making the page invalid.
func readChecked(r io.Reader) ([]string, int64, error) {
	body, hits, n, err := readHits(r, new(extract.Body))
	if err != nil {
		return hits, n, err
	}
	for _, h := range hits {
		if !json.Valid([]byte(h)) {
			_, _, err := decodeHits(strings.NewReader(body))
			return hits, n, err
		}
	}
	return hits, n, nil
}

func sameHits(t *testing.T, body string, got []string, want []json.RawMessage, gn, wn int64, gerr, werr error) {
	t.Helper()
	if fmt.Sprint(gerr) != fmt.Sprint(werr) {
		t.Errorf("%q: error %v, the decoder says %v", body, gerr, werr)
	}
	if werr == nil && gn != wn {
		t.Errorf("%q: total %d, the decoder gives %d", body, gn, wn)
	}
	if werr == nil && !slices.EqualFunc(got, want, func(a string, b json.RawMessage) bool { return a == string(b) }) {
		t.Errorf("%q: hits %q, the decoder gives %q", body, got, want)
	}
}

func TestReadHitsIsTheDecoders(t *testing.T) {
	for _, body := range hitsCases {
		want, wn, werr := decodeHits(strings.NewReader(body))
		got, gn, gerr := readChecked(strings.NewReader(body))
		sameHits(t, body, got, want, gn, wn, gerr, werr)
		samePage(t, body)
	}
	for _, h := range hitCases {
		samePage(t, `{"hits":{"hits":[`+h+`, `+h+`]}}`)
	}
}

// The emulator's hits are decoded in place, each read once.
func TestReadPageInPlace(t *testing.T) {
	em := moesifemu.New("key", moesifemu.FromPeople(people.GenerateHard(5, 300)))
	em.Enforce(false)
	req := httptest.NewRequest(http.MethodPost, "/v1/search/~/search/users", strings.NewReader(`{"size":1000}`))
	req.Header.Set("Authorization", "Bearer key")
	rec := httptest.NewRecorder()
	em.ServeHTTP(rec, req)
	var d Decoder
	recs, n, err := d.readPage(rec.Body, new(extract.Body), nil)
	users := 0
	for _, r := range recs {
		if !r.rejected {
			users++
		}
	}
	// The users are keyed by user_id: shared ids are one user, and one
	// without an id is a reject.
	if err != nil || n != 274 || len(recs) != 274 || users != 273 || len(d.taken) != users {
		t.Fatalf("%d records, %d users (%d in place), total %d: %v", len(recs), users, len(d.taken), n, err)
	}
	samePage(t, rec.Body.String())
}

// hits.total is the vendor's count of users, for a progress bar.
func TestReadHitsTotal(t *testing.T) {
	for body, want := range map[string]int64{
		`{"hits":{"total":5,"hits":[]}}`: 5, `{"hits":{"total":{"value":7,"relation":"eq"},"hits":[]}}`: 7,
		`{"hits":{"total":{"value":7,"relation":"gte"},"hits":[]}}`: -1, `{"hits":{"hits":[]}}`: -1, `{"hits":{"Total":3,"hits":[]}}`: 3,
		`{"hits":{"total":null,"hits":[]}}`: -1,
	} {
		if _, _, n, err := readHits(strings.NewReader(body), new(extract.Body)); err != nil || n != want {
			t.Errorf("%s: total %d (%v), want %d", body, n, err, want)
		}
	}
}

// A body cut short fails as it did when the decoder read it.
func TestReadHitsReadError(t *testing.T) {
	cut := errors.New("connection reset")
	for _, body := range []string{`{"hits":{"hits":[{"_id":"a"},{"_id"`, `{"hits":{"hits":[{"_id":"a"}]}}`, `{"hits":{"hits":[{"_id" 1}`, ``} {
		want, wn, werr := decodeHits(io.MultiReader(strings.NewReader(body), failing{cut}))
		got, gn, gerr := readChecked(io.MultiReader(strings.NewReader(body), failing{cut}))
		sameHits(t, body, got, want, gn, wn, gerr, werr)
	}
}

func FuzzReadHits(f *testing.F) {
	for _, c := range hitsCases {
		f.Add(c)
	}
	f.Fuzz(func(t *testing.T, body string) {
		want, wn, werr := decodeHits(strings.NewReader(body))
		got, gn, gerr := readChecked(strings.NewReader(body))
		sameHits(t, body, got, want, gn, wn, gerr, werr)
		samePage(t, body)
	})
}

var hitCases = []string{
	`{}`, `{"_id":"a","_source":{"user_id":"a"},"sort":[1,"a"]}`, `{"_id":5,"_source":null,"sort":null}`,
	` { "_id" : "x\"y" , "_source" : { "a" : [ 1 ] } , "extra" : {"_id":1} } `, `{"_id":null}`, `{"_id":true}`,
	`{"_id":{}}`, `{"_id":[1]}`, `{"_id":"a","_id":"b"}`, `{"_ID":"a"}`, `{"_id":"a","_Source":{}}`, `{"SORT":[1]}`,
	`{"_source":5}`, `{"_source":"s"}`, `{"sort":{"a":1}}`, `{"_i\u0064":"a"}`, `{"_id":"\u00e9\n"}`, "{\"_id\":\"\xff\"}",
	"{\"\xff\":1,\"_id\":\"a\"}", `{"ſort":[1]}`, `null`, `5`, `"s"`, `[]`, `[{"_id":"a"}]`, `true`,
}

func sameHit(t *testing.T, raw string) {
	t.Helper()
	id, source, hasSource, ok := cutHit(raw)
	var want hit
	err := json.Unmarshal([]byte(raw), &want)
	if !ok {
		return // the extractor unmarshals it
	}
	if err != nil {
		t.Errorf("%q: cut, but json.Unmarshal says %v", raw, err)
	}
	if id != string(want.ID) || source != string(want.Source) || hasSource != (want.Source != nil) {
		t.Errorf("%q: cut %q %q %v, json.Unmarshal gives %q %q", raw, id, source, hasSource, want.ID, want.Source)
	}
}

func TestCutHitIsUnmarshal(t *testing.T) {
	for _, raw := range hitCases {
		sameHit(t, raw)
	}
	if _, _, _, ok := cutHit(hitCases[1]); !ok {
		t.Errorf("%s: not cut", hitCases[1])
	}
}

func FuzzCutHit(f *testing.F) {
	for _, c := range hitCases {
		f.Add(c)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		if json.Valid([]byte(raw)) { // what readHits returns
			sameHit(t, raw)
		}
	})
}
