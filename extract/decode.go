package extract

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"etl/internal/jsonscan"
)

// Page holds one response's records, as text: Body whole, once, and each
// record a substring of it, so a record's values are substrings too.
//
// Reading a page checks its structure only (brackets, quotes, commas): the
// records' own JSON is checked by their decoders, as they read it, which
// is the one pass over each byte. A page whose record turns out not to be
// JSON is still a broken response (retried, as any unreadable body): the
// connector asks Invalid for the error encoding/json gives for the page.
type Page struct {
	Body  string
	Items []string
	buf   Body
	// While DecodeRecords reads the page: at decodes the record at an
	// offset of the body in place (its end, or -1 to leave it), and taken
	// lists the Items it decoded.
	at    func(s string, at int) int
	taken []int
}

// Body reads response bodies whole, into a buffer kept from one response to
// the next: a page's text costs one allocation and one copy (the string),
// where io.ReadAll grows its buffer (allocating, zeroing and copying) a
// dozen times over for a page of a megabyte. The zero value is ready.
type Body struct{ buf []byte }

// Read returns what r holds, and the error that stopped it early (io.EOF
// is none) with what came before it.
func (b *Body) Read(r io.Reader) (string, error) {
	b.buf = b.buf[:0]
	for {
		if len(b.buf) == cap(b.buf) {
			b.buf = append(b.buf, 0)[:len(b.buf)]
		}
		n, err := r.Read(b.buf[len(b.buf):cap(b.buf)])
		b.buf = b.buf[:len(b.buf)+n]
		if err != nil {
			if err == io.EOF {
				err = nil
			}
			return string(b.buf), err
		}
	}
}

// DecodeArray reads a JSON array of records. A body of another shape (or
// unreadable) goes through encoding/json's decoder, which says what is
// wrong with it (null is no records).
func (p *Page) DecodeArray(r io.Reader) error {
	p.Items = p.Items[:0] // a retried response starts over
	body, err := p.buf.Read(r)
	p.Body = body
	if err == nil {
		if p.splitArray(p.Body) {
			return nil
		}
		p.Items = p.Items[:0]
	}
	p.taken = p.taken[:0]
	// A read error reaches the decoder after the bytes before it, as it did
	// when the decoder read the body itself.
	in := io.Reader(strings.NewReader(body))
	if err != nil {
		in = io.MultiReader(in, failing{err})
	}
	dec := json.NewDecoder(in)
	if err := p.decodeArray(dec); err != nil {
		return err
	}
	return atEOF(dec)
}

type failing struct{ err error }

func (f failing) Read([]byte) (int, error) { return 0, f.err }

// splitArray adds the elements of the array s to Items, checking its
// structure only; false for anything else.
func (p *Page) splitArray(s string) bool {
	var sc jsonscan.Scanner
	sc.Reset(s)
	if !sc.Array() {
		return false
	}
	for first := true; sc.Element(first); first = false {
		item, ok := p.element(&sc, s)
		if !ok {
			return false
		}
		p.Items = append(p.Items, item)
	}
	return sc.End()
}

// element cuts out the array element sc is at: decoded in place (at),
// or by its structure.
func (p *Page) element(sc *jsonscan.Scanner, s string) (string, bool) {
	if p.at != nil && sc.Peek() != 0 { // Peek skips the whitespace before it
		start := sc.Offset()
		if end := p.at(s, start); end > start {
			p.taken = append(p.taken, len(p.Items))
			sc.Seek(end)
			return s[start:end], true
		}
	}
	return sc.Pass()
}

func (p *Page) decodeArray(dec *json.Decoder) error {
	tok, err := dec.Token()
	if err != nil {
		return err
	}
	if tok == nil {
		return nil // null: no records
	}
	if d, ok := tok.(json.Delim); !ok || d != '[' {
		return fmt.Errorf("expected a JSON array, got %v", tok)
	}
	for dec.More() {
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return err
		}
		p.Items = append(p.Items, string(raw))
	}
	_, err = dec.Token()
	return err
}

// Record is one record of a page: its text, and what its decoder made of
// it (a row, or why not).
type Record[U any] struct {
	Raw string
	U   U
	Err error
}

// RecordDecoder decodes a connector's records.
type RecordDecoder[U any] interface {
	// At decodes the record at offset at of s in place, reading it once
	// and returning where it ends; ok is false when it leaves the record
	// to Decode (an unusual form, or an error, which Decode words).
	At(s string, at int) (u U, end int, ok bool)
	// Decode decodes a record's text; a record that is not JSON is an
	// error Broken reports.
	Decode(raw string) (U, error)
}

// DecodeRecords reads a page (DecodeArray, or DecodeArrayField when key is
// set) and decodes its records into out, in order: each in place, as the
// page is read, where dec can, so that its bytes are read once; the others
// cut out by the page's structure, then decoded by their text, as
// DecodeArray and a loop over Items do. A record that is not JSON makes
// the page invalid: the error is Invalid's.
func DecodeRecords[U any](p *Page, r io.Reader, key string, other func(key string, dec *json.Decoder) error,
	dec RecordDecoder[U], out []Record[U]) ([]Record[U], error) {
	out = out[:0]
	p.taken = p.taken[:0]
	p.at = func(s string, at int) int {
		u, end, ok := dec.At(s, at)
		if !ok {
			return -1
		}
		out = append(out, Record[U]{Raw: s[at:end], U: u})
		return end
	}
	var err error
	if key == "" {
		err = p.DecodeArray(r)
	} else {
		err = p.DecodeArrayField(r, key, other)
	}
	p.at = nil
	// The records decoded in place are those the page kept (none when it
	// was read by encoding/json after all).
	out = out[:len(p.taken)]
	if err != nil || len(out) == len(p.Items) {
		return out, err
	}
	all := make([]Record[U], 0, len(p.Items))
	t := 0
	for i, item := range p.Items {
		if t < len(p.taken) && p.taken[t] == i {
			all = append(all, out[t])
			t++
			continue
		}
		u, err := dec.Decode(item)
		if Broken(err) {
			return out[:0], p.Invalid(key)
		}
		all = append(all, Record[U]{Raw: item, U: u, Err: err})
	}
	return all, nil
}

// Invalid is the error encoding/json gives for the page's body, for a
// page one of whose records is not JSON (Broken).
func (p *Page) Invalid(key string) error {
	var q Page
	dec := json.NewDecoder(strings.NewReader(p.Body))
	var err error
	if key == "" {
		if err = q.decodeArray(dec); err == nil {
			err = atEOF(dec)
		}
	} else {
		err = q.decodeArrayField(dec, key, nil)
	}
	if err == nil {
		err = errors.New("a record is not JSON")
	}
	return err
}

// Broken reports whether err, a record decoder's, says that the record is
// not JSON at all, rather than not a record the decoder can read: a page
// holding one is not a valid response. A record nested deeper than
// encoding/json reads is not broken: it is one reject, and the page's
// other records are kept.
func Broken(err error) bool {
	var se *json.SyntaxError
	return errors.As(err, &se) && !strings.HasSuffix(se.Error(), "exceeded max depth")
}

// DecodeArrayField reads an object and the array under key (e.g. Dixa's
// "data"), calling other for every other top-level key, in order, with a
// decoder holding that key's value, which other must read. As DecodeArray,
// the body is read whole and, when it is of the usual shape, cut directly
// (its members other than key checked as they are cut); any other body
// goes through the decoder.
func (p *Page) DecodeArrayField(r io.Reader, key string, other func(key string, dec *json.Decoder) error) error {
	p.Items = p.Items[:0] // a retried response starts over
	body, err := p.buf.Read(r)
	p.Body = body
	if err == nil {
		if ok, err := p.splitField(p.Body, key, other); ok {
			return err
		}
		p.Items = p.Items[:0]
	}
	p.taken = p.taken[:0]
	in := io.Reader(strings.NewReader(body))
	if err != nil {
		in = io.MultiReader(in, failing{err})
	}
	return p.decodeArrayField(json.NewDecoder(in), key, other)
}

// splitField is DecodeArrayField for an object whose keys need no escapes
// and whose value under key is an array or null; ok is false for anything
// else, which the decoder is left to read.
func (p *Page) splitField(s, key string, other func(key string, dec *json.Decoder) error) (ok bool, err error) {
	var sc jsonscan.Scanner
	sc.Reset(s)
	if !sc.Object() {
		return false, nil
	}
	type call struct{ key, value string }
	var calls []call // made once the whole body is known good
	for first := true; ; first = false {
		k, plain, more := sc.Member(first)
		if !more {
			break
		}
		if !plain {
			return false, nil
		}
		switch {
		case k == key && sc.Peek() == '[':
			sc.Array()
			for first := true; sc.Element(first); first = false {
				item, ok := p.element(&sc, s)
				if !ok {
					return false, nil
				}
				p.Items = append(p.Items, item)
			}
		case k == key:
			if v, kind, ok := sc.Scalar(); !ok || kind != jsonscan.Null || v != "" {
				return false, nil
			}
		case other != nil:
			v, ok := sc.Raw()
			if !ok {
				return false, nil
			}
			calls = append(calls, call{k, v})
		default:
			if !sc.Skip() {
				return false, nil
			}
		}
	}
	if !sc.End() {
		return false, nil
	}
	for _, c := range calls {
		if err := other(c.key, json.NewDecoder(strings.NewReader(c.value))); err != nil {
			return true, err
		}
	}
	return true, nil
}

// decodeArrayField is DecodeArrayField reading token by token.
func (p *Page) decodeArrayField(dec *json.Decoder, key string, other func(key string, dec *json.Decoder) error) error {
	tok, err := dec.Token()
	if err != nil {
		return err
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return fmt.Errorf("expected a JSON object, got %v", tok)
	}
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return err
		}
		k, _ := t.(string)
		switch {
		case k == key:
			if err := p.decodeArray(dec); err != nil {
				return err
			}
		case other != nil:
			if err := other(k, dec); err != nil {
				return err
			}
		default:
			var skip json.RawMessage
			if err := dec.Decode(&skip); err != nil {
				return err
			}
		}
	}
	if _, err := dec.Token(); err != nil {
		return err
	}
	return atEOF(dec)
}

// atEOF refuses anything but whitespace after the top-level value.
func atEOF(dec *json.Decoder) error {
	if _, err := dec.Token(); err != io.EOF {
		return fmt.Errorf("unexpected data after the JSON value")
	}
	return nil
}

// Text is a JSON string that also accepts numbers and booleans (vendors send
// ids as either) and null; anything else is an error naming the type.
type Text string

func (t *Text) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	switch {
	case len(b) == 0 || string(b) == "null":
		*t = ""
	case b[0] == '"':
		// A string without escapes is the bytes between its quotes: what
		// json.Unmarshal would return, at a fraction of the cost.
		if len(b) >= 2 && b[len(b)-1] == '"' && plain(b[1:len(b)-1]) {
			*t = Text(b[1 : len(b)-1])
			return nil
		}
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		*t = Text(s)
	case b[0] == '-' || (b[0] >= '0' && b[0] <= '9') || string(b) == "true" || string(b) == "false":
		*t = Text(b)
	default:
		// A type error, so that encoding/json names the field it was for.
		return &json.UnmarshalTypeError{Value: kind(b), Type: reflect.TypeFor[string]()}
	}
	return nil
}

// plain reports whether s can stand between quotes as it is: no quote,
// backslash or control character, and valid UTF-8.
func plain(s []byte) bool {
	ascii := true
	for _, c := range s {
		if c < 0x20 || c == '"' || c == '\\' {
			return false
		}
		ascii = ascii && c < utf8.RuneSelf
	}
	return ascii || utf8.Valid(s)
}

// Texts is a list of Text; a single value is taken as a list of one.
type Texts []string

func (ts *Texts) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if len(b) > 0 && b[0] == '[' {
		var items []Text
		if err := json.Unmarshal(b, &items); err != nil {
			return err
		}
		out := make([]string, 0, len(items))
		for _, it := range items {
			if it != "" {
				out = append(out, string(it))
			}
		}
		*ts = out
		return nil
	}
	var one Text
	if err := one.UnmarshalJSON(b); err != nil {
		return err
	}
	*ts = nil
	if one != "" {
		*ts = Texts{string(one)}
	}
	return nil
}

func kind(b []byte) string {
	switch b[0] {
	case '{':
		return "object"
	case '[':
		return "array"
	}
	return "unknown value"
}

// ParseTime reads the timestamp forms vendors send: RFC 3339 with or without
// fraction or zone, a trailing zone name in brackets (Dixa's "…Z[GMT]"), or
// epoch seconds/milliseconds. Empty is the zero time. The result is UTC.
func ParseTime(s string) (time.Time, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return time.Time{}, nil
	}
	if i := strings.IndexByte(s, '['); i > 0 && strings.HasSuffix(s, "]") {
		s = s[:i]
	}
	if t, ok := parseISO(s); ok {
		return t, nil
	}
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05.999999999", "2006-01-02 15:04:05.999999999Z07:00", "2006-01-02 15:04:05.999999999", "2006-01-02"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC(), nil
		}
	}
	if n, err := strconv.ParseFloat(s, 64); err == nil {
		if n > 1e11 { // milliseconds
			return time.UnixMilli(int64(n)).UTC(), nil
		}
		return time.Unix(int64(n), 0).UTC(), nil
	}
	return time.Time{}, fmt.Errorf("unreadable timestamp %q", s)
}

// parseISO reads the form nearly every timestamp has, as time.Parse reads
// it with ParseTime's layouts, without their cost: the generic parser for
// the forms without a zone, which the first layout (parsed directly)
// refuses, and a zone made for an offset only to be dropped by UTC. The
// form is yyyy-mm-ddThh:mm:ss, then a "." and 1 to 9 digits or nothing,
// then "Z", ±hh:mm or nothing (UTC), with time.Parse's ranges (a day
// within its month); ok is false for anything else, left to time.Parse.
func parseISO(s string) (t time.Time, ok bool) {
	if len(s) < 19 || s[4] != '-' || s[7] != '-' || s[10] != 'T' || s[13] != ':' || s[16] != ':' {
		return t, false
	}
	ok = true
	num := func(s string, lo, hi int) int {
		n := 0
		for i := 0; i < len(s); i++ {
			c := s[i] - '0'
			if c > 9 {
				ok = false
				return lo
			}
			n = n*10 + int(c)
		}
		if n < lo || n > hi {
			ok = false
		}
		return n
	}
	year := num(s[0:4], 0, 9999)
	month := num(s[5:7], 1, 12)
	days := 31
	switch month {
	case 4, 6, 9, 11:
		days = 30
	case 2:
		days = 28
		if year%4 == 0 && (year%100 != 0 || year%400 == 0) {
			days = 29
		}
	}
	day := num(s[8:10], 1, days)
	hour := num(s[11:13], 0, 23)
	minute := num(s[14:16], 0, 59)
	sec := num(s[17:19], 0, 59)
	s = s[19:]
	nsec := 0
	if len(s) > 1 && s[0] == '.' {
		n := 1
		for n < len(s) && n <= 10 && s[n] >= '0' && s[n] <= '9' {
			n++
		}
		if n == 1 || n > 10 {
			return t, false
		}
		nsec = num(s[1:n], 0, 999999999)
		for i := n; i < 10; i++ {
			nsec *= 10
		}
		s = s[n:]
	}
	off := 0
	switch {
	case s == "" || s == "Z":
	case len(s) == 6 && (s[0] == '+' || s[0] == '-') && s[3] == ':':
		off = (num(s[1:3], 0, 23)*60 + num(s[4:6], 0, 59)) * 60
		if s[0] == '-' {
			off = -off
		}
	default:
		return t, false
	}
	if !ok {
		return t, false
	}
	t = time.Date(year, time.Month(month), day, hour, minute, sec, nsec, time.UTC)
	return t.Add(-time.Duration(off) * time.Second), true
}

// GuessID pulls an id out of a record that failed to decode, for rejects.
func GuessID(raw []byte, key string) string {
	var m map[string]json.RawMessage
	if json.Unmarshal(raw, &m) != nil {
		return ""
	}
	var t Text
	if v, ok := m[key]; ok && t.UnmarshalJSON(v) == nil {
		return string(t)
	}
	return ""
}

// CanonicalMap is m's canonical JSON (schemas.SourceRow.Attributes): for the
// decoders that read custom fields into maps with encoding/json. nil stays
// nil; an empty map is {}.
func CanonicalMap(m map[string]any) json.RawMessage {
	if m == nil {
		return nil
	}
	var b bytes.Buffer
	e := json.NewEncoder(&b)
	e.SetEscapeHTML(false)
	if e.Encode(m) != nil {
		return nil
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n"))
}

// Keys are the keys a decoder's wire struct reads. encoding/json also
// matches a record's key to a field regardless of case (Unicode folding),
// so a one-pass decoder leaves a record with such a key to encoding/json.
type Keys []string

// Folds reports whether key, which is none of ks exactly, is one that
// encoding/json matches to one of them regardless of case.
func (ks Keys) Folds(key string) bool {
	ascii := true
	for i := 0; i < len(key); i++ {
		if key[i] >= utf8.RuneSelf {
			ascii = false
			break
		}
	}
	for _, k := range ks {
		if (!ascii || len(k) == len(key)) && strings.EqualFold(k, key) {
			return true
		}
	}
	return false
}
