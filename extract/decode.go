package extract

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"reflect"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// Page holds one response's records as raw JSON, so that a record that does
// not decode is rejected on its own instead of failing the page.
type Page struct {
	Items []json.RawMessage
}

// DecodeArray reads a JSON array of objects. The body is read whole and,
// when it is valid JSON holding an array, cut into its elements directly:
// the decoder's reading token by token cost as much as decoding the records.
// Any other body goes through the decoder, which says what is wrong with it.
func (p *Page) DecodeArray(r io.Reader) error {
	p.Items = p.Items[:0] // a retried response starts over
	body, err := io.ReadAll(r)
	if err == nil && json.Valid(body) {
		if items, ok := splitArray(body); ok {
			p.Items = append(p.Items, items...)
			return nil
		}
	}
	// A read error reaches the decoder after the bytes before it, as it did
	// when the decoder read the body itself.
	in := io.Reader(bytes.NewReader(body))
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

// splitArray returns the elements of b, valid JSON, when it holds an array:
// the bytes the decoder hands out for each; ok is false for any other value.
func splitArray(b []byte) (items []json.RawMessage, ok bool) {
	i := skipSpace(b, 0)
	if b[i] != '[' {
		return nil, false
	}
	if i = skipSpace(b, i+1); b[i] == ']' {
		return nil, true
	}
	for {
		end := valueEnd(b, i)
		items = append(items, b[i:end:end])
		if i = skipSpace(b, end); b[i] == ']' {
			return items, true
		}
		i = skipSpace(b, i+1) // past the comma
	}
}

func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// valueEnd returns where the valid JSON value starting at b[i] ends.
func valueEnd(b []byte, i int) int {
	switch b[i] {
	case '"':
		return stringEnd(b, i)
	case '{', '[':
		depth := 0
		for ; ; i++ {
			switch b[i] {
			case '"':
				i = stringEnd(b, i) - 1
			case '{', '[':
				depth++
			case '}', ']':
				if depth--; depth == 0 {
					return i + 1
				}
			}
		}
	}
	for ; i < len(b); i++ {
		switch b[i] {
		case ',', ']', '}', ' ', '\t', '\n', '\r':
			return i
		}
	}
	return i
}

// stringEnd returns the index after the closing quote of the string at b[i].
func stringEnd(b []byte, i int) int {
	for i++; ; i++ {
		switch b[i] {
		case '\\':
			i++
		case '"':
			return i + 1
		}
	}
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
		p.Items = append(p.Items, raw)
	}
	_, err = dec.Token()
	return err
}

// DecodeArrayField reads an object and the array under key (e.g. Dixa's
// "data"), calling other for every other top-level key, in order, with a
// decoder holding that key's value, which other must read. As DecodeArray,
// the body is read whole and, when it is valid JSON of the usual shape, cut
// directly; any other body goes through the decoder.
func (p *Page) DecodeArrayField(r io.Reader, key string, other func(key string, dec *json.Decoder) error) error {
	p.Items = p.Items[:0] // a retried response starts over
	body, err := io.ReadAll(r)
	if err == nil && json.Valid(body) {
		if fields, ok := fieldsUnder(body, key); ok {
			for _, f := range fields {
				switch {
				case f.Key == key:
					items, _ := splitArray(f.Value) // null: no records
					p.Items = append(p.Items, items...)
				case other != nil:
					if err := other(f.Key, json.NewDecoder(bytes.NewReader(f.Value))); err != nil {
						return err
					}
				}
			}
			return nil
		}
	}
	in := io.Reader(bytes.NewReader(body))
	if err != nil {
		in = io.MultiReader(in, failing{err})
	}
	return p.decodeArrayField(json.NewDecoder(in), key, other)
}

// fieldsUnder returns the members of b, valid JSON, when it is an object
// that Fields reads and whose value under key is an array or null (each);
// ok is false for anything else, which the decoder is left to read.
func fieldsUnder(b []byte, key string) (fields []Field, ok bool) {
	fields, ok = Fields(b)
	for _, f := range fields {
		if f.Key == key && f.Value[0] != '[' && f.Value[0] != 'n' {
			return nil, false
		}
	}
	return fields, ok
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

// Field is one member of a JSON object: its key and its value's bytes.
type Field struct {
	Key   string
	Value json.RawMessage
}

// Fields returns the members of b, valid JSON (json.Valid), in order, when
// it holds an object none of whose keys has an escape or invalid UTF-8 (a
// key is then its bytes between the quotes); ok is false for anything else.
// A value is the bytes the decoder would hand out for it.
func Fields(b []byte) (fields []Field, ok bool) {
	i := skipSpace(b, 0)
	if i == len(b) || b[i] != '{' {
		return nil, false
	}
	if i = skipSpace(b, i+1); b[i] == '}' {
		return nil, true
	}
	for {
		end := stringEnd(b, i)
		k := b[i+1 : end-1]
		if !plain(k) { // the decoder would unescape it or replace bad UTF-8
			return nil, false
		}
		i = skipSpace(b, skipSpace(b, end)+1) // past the colon
		vend := valueEnd(b, i)
		fields = append(fields, Field{Key: string(k), Value: b[i:vend:vend]})
		if i = skipSpace(b, vend); b[i] == '}' {
			return fields, true
		}
		i = skipSpace(b, i+1) // past the comma
	}
}

// Items returns the elements of b, valid JSON (json.Valid), when it holds
// an array (none for null): the bytes the decoder hands out for each; ok is
// false for any other value.
func Items(b []byte) (items []json.RawMessage, ok bool) {
	if i := skipSpace(b, 0); i < len(b) && b[i] == 'n' {
		return nil, true
	}
	return splitArray(b)
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
