// Package normalise cleans extracted end_user_sources batches: emails
// trimmed, lower-cased and validated, phones to E.164, names composed, tags
// de-duplicated, external ids trimmed, attributes as JSON with sorted keys,
// text made valid UTF-8.
package normalise

import (
	"encoding/json"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"etl/schemas"
)

// Stats count what normalisation changed or could not use.
type Stats struct {
	InvalidEmails     int64 `json:"invalid_emails"`
	UnparseablePhones int64 `json:"unparseable_phones"`
	Rejected          int64 `json:"rejected"`
}

func (s *Stats) Add(o Stats) {
	s.InvalidEmails += o.InvalidEmails
	s.UnparseablePhones += o.UnparseablePhones
	s.Rejected += o.Rejected
}

// Options for one source.
type Options struct {
	PhoneRegion string // ISO country for national-format phones; "" parses only +/international
}

// Email normalises one address; ok is false when it is not valid.
func Email(s string) (string, bool) {
	s = strings.ToLower(strings.TrimSpace(s))
	return s, validEmail(s)
}

// validEmail matches the contract's pattern ^[^@\s]+@[^@\s]+\.[^@\s]+$
// (\s: tab, newline, form feed, carriage return, space) without the regexp
// engine, which cost more than the rest of an email's normalising: one @
// with something before it, and after it a dot with something on each side.
func validEmail(s string) bool {
	at := -1
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '\t', '\n', '\f', '\r', ' ':
			return false
		case '@':
			if at >= 0 {
				return false
			}
			at = i
		}
	}
	if at < 1 {
		return false
	}
	dom := s[at+1:]
	return len(dom) >= 3 && strings.IndexByte(dom[1:len(dom)-1], '.') >= 0
}

// Batch normalises rec (of schemas.EndUserSources) into a new record; rows
// that cannot be kept come back as rejects. The caller releases both records.
func Batch(mem memory.Allocator, rec arrow.Record, opt Options) (arrow.Record, []schemas.Reject, Stats) {
	var st Stats
	var rejects []schemas.Reject
	b := array.NewRecordBuilder(mem, schemas.EndUserSources)
	defer b.Release()
	n := int(rec.NumRows())
	b.Reserve(n)
	col := func(i int) *array.String { return rec.Column(i).(*array.String) }
	source, sourceID := col(schemas.SrcSource), col(schemas.SrcSourceID)
	personID := col(schemas.SrcPersonID)
	email, extID := col(schemas.SrcEmail), col(schemas.SrcExternalID)
	first, last, name := col(schemas.SrcFirstName), col(schemas.SrcLastName), col(schemas.SrcName)
	phone, compID, compName := col(schemas.SrcPhone), col(schemas.SrcCompanyID), col(schemas.SrcCompanyName)
	attrs := col(schemas.SrcAttributes)
	emails := rec.Column(schemas.SrcEmails).(*array.List)
	tags := rec.Column(schemas.SrcTags).(*array.List)
	created := rec.Column(schemas.SrcCreatedAt).(*array.Timestamp)
	updated := rec.Column(schemas.SrcUpdatedAt).(*array.Timestamp)

	sb := func(i int) *array.StringBuilder { return b.Field(i).(*array.StringBuilder) }
	var all []string
	for i := 0; i < n; i++ {
		// source_id stays exactly as the vendor has it: write-back addresses
		// the record by it (Moesif's user_id may carry spaces).
		sid := valid(sourceID.Value(i))
		if strings.TrimSpace(sid) == "" {
			st.Rejected++
			rejects = append(rejects, schemas.Reject{Stage: schemas.StageNormalise, Source: source.Value(i), Reason: "record has no id"})
			continue
		}
		var extra map[string]string // raw values kept in attributes
		keep := func(k, v string) {
			if extra == nil {
				extra = map[string]string{}
			}
			extra[k] = v
		}
		sb(schemas.SrcSource).Append(source.Value(i))
		sb(schemas.SrcSourceID).Append(sid)
		appendOpt(sb(schemas.SrcPersonID), str(personID, i))

		all = all[:0]
		primary := ""
		if raw := str(email, i); raw != "" {
			if e, ok := Email(raw); ok {
				primary = e
				all = append(all, e)
			} else {
				st.InvalidEmails++
				keep("email_raw", raw)
			}
		}
		for _, raw := range listValues(emails, i) {
			if e, ok := Email(raw); ok {
				all = append(all, e)
			} else if strings.TrimSpace(raw) != "" {
				st.InvalidEmails++
			}
		}
		appendOpt(sb(schemas.SrcEmail), primary)
		appendList(b.Field(schemas.SrcEmails).(*array.ListBuilder), sortUnique(all))

		appendOpt(sb(schemas.SrcExternalID), strings.TrimSpace(str(extID, i)))
		fn, ln := clean(str(first, i)), clean(str(last, i))
		nm := clean(str(name, i))
		if nm == "" {
			// Composed, not the vendor's: marked so that a write-back still
			// sees the vendor's name as empty.
			if nm = strings.TrimSpace(fn + " " + ln); nm != "" {
				keep("name_composed", "true")
			}
		}
		appendOpt(sb(schemas.SrcFirstName), fn)
		appendOpt(sb(schemas.SrcLastName), ln)
		appendOpt(sb(schemas.SrcName), nm)

		ph := ""
		if raw := strings.TrimSpace(str(phone, i)); raw != "" {
			if e, ok := Phone(raw, opt.PhoneRegion); ok {
				ph = e
			} else {
				st.UnparseablePhones++
				keep("phone_raw", raw)
			}
		}
		appendOpt(sb(schemas.SrcPhone), ph)
		appendOpt(sb(schemas.SrcCompanyID), strings.TrimSpace(str(compID, i)))
		appendOpt(sb(schemas.SrcCompanyName), clean(str(compName, i)))

		all = all[:0]
		for _, t := range listValues(tags, i) {
			if t = clean(t); t != "" {
				all = append(all, t)
			}
		}
		appendList(b.Field(schemas.SrcTags).(*array.ListBuilder), sortUnique(all))
		appendTS(b.Field(schemas.SrcCreatedAt).(*array.TimestampBuilder), created, i)
		appendTS(b.Field(schemas.SrcUpdatedAt).(*array.TimestampBuilder), updated, i)
		appendOpt(sb(schemas.SrcAttributes), attributes(str(attrs, i), extra))
	}
	return b.NewRecord(), rejects, st
}

func str(a *array.String, i int) string {
	if a.IsNull(i) {
		return ""
	}
	return valid(a.Value(i))
}

// valid replaces invalid UTF-8, which Parquet readers refuse.
func valid(s string) string {
	if utf8.ValidString(s) {
		return s
	}
	return strings.ToValidUTF8(s, "\uFFFD")
}

// clean trims and collapses inner runs of whitespace.
func clean(s string) string {
	s = strings.TrimSpace(s)
	if strings.Contains(s, "  ") || strings.ContainsAny(s, "\t\n\r") {
		s = strings.Join(strings.Fields(s), " ")
	}
	return s
}

func listValues(l *array.List, i int) []string {
	if l.IsNull(i) {
		return nil
	}
	start, end := l.ValueOffsets(i)
	vals := l.ListValues().(*array.String)
	out := make([]string, 0, end-start)
	for j := start; j < end; j++ {
		if !vals.IsNull(int(j)) {
			out = append(out, valid(vals.Value(int(j))))
		}
	}
	return out
}

func sortUnique(s []string) []string {
	slices.Sort(s)
	return slices.Compact(s)
}

func appendOpt(b *array.StringBuilder, v string) {
	if v == "" {
		b.AppendNull()
		return
	}
	b.Append(v)
}

func appendList(b *array.ListBuilder, vs []string) {
	if len(vs) == 0 {
		b.AppendNull()
		return
	}
	b.Append(true)
	vb := b.ValueBuilder().(*array.StringBuilder)
	for _, v := range vs {
		vb.Append(v)
	}
}

func appendTS(b *array.TimestampBuilder, a *array.Timestamp, i int) {
	if a.IsNull(i) {
		b.AppendNull()
		return
	}
	b.Append(a.Value(i))
}

// attributes returns the custom fields as JSON text with keys sorted at
// every depth, plus the raw values the columns could not hold. Text that is
// not a JSON object is kept as a string under attributes_raw.
func attributes(attrs string, extra map[string]string) string {
	if len(extra) == 0 && canonical(attrs) {
		return attrs
	}
	return reencode(attrs, extra)
}

// reencode is attributes through maps: decoded, merged, encoded again.
func reencode(attrs string, extra map[string]string) string {
	m := map[string]any{}
	if attrs != "" {
		d := json.NewDecoder(strings.NewReader(attrs))
		d.UseNumber() // numbers keep their digits
		if d.Decode(&m) != nil || d.More() {
			m = map[string]any{"attributes_raw": attrs}
		} else if m == nil { // JSON null: no custom fields
			m = map[string]any{}
		}
	}
	for k, v := range extra {
		m[k] = v
	}
	if len(m) == 0 {
		return ""
	}
	var b strings.Builder
	e := json.NewEncoder(&b)
	e.SetEscapeHTML(false)
	if e.Encode(m) != nil {
		return ""
	}
	return strings.TrimSuffix(b.String(), "\n")
}

// canonical reports whether attrs is already what reencode would make of it:
// a non-empty JSON object with keys in ascending order at every depth, no
// whitespace, and strings without escapes (which decode to themselves).
// Extracted attributes mostly come in that form, and the round trip through
// maps cost more than the rest of a row's normalising.
func canonical(attrs string) bool {
	if len(attrs) <= 2 || attrs[0] != '{' {
		return false
	}
	c := scanner{s: attrs}
	return c.object(0) && c.i == len(attrs)
}

// scanner checks canonical JSON; at each method's start s[i] is the first
// byte of the value it checks.
type scanner struct {
	s string
	i int
}

// maxDepth leaves deeper nesting to reencode.
const maxDepth = 64

func (c *scanner) value(depth int) bool {
	if c.i >= len(c.s) {
		return false
	}
	switch c.s[c.i] {
	case '{':
		return c.object(depth + 1)
	case '[':
		return c.array(depth + 1)
	case '"':
		_, ok := c.str()
		return ok
	case 't':
		return c.literal("true")
	case 'f':
		return c.literal("false")
	case 'n':
		return c.literal("null")
	}
	return c.number()
}

func (c *scanner) object(depth int) bool {
	if depth > maxDepth {
		return false
	}
	c.i++
	if c.i < len(c.s) && c.s[c.i] == '}' {
		c.i++
		return true
	}
	for prev, first := "", true; ; first = false {
		k, ok := c.str()
		if !ok || (!first && k <= prev) || c.i >= len(c.s) || c.s[c.i] != ':' {
			return false
		}
		prev = k
		c.i++
		if !c.value(depth) || c.i >= len(c.s) {
			return false
		}
		switch c.s[c.i] {
		case ',':
			c.i++
		case '}':
			c.i++
			return true
		default:
			return false
		}
	}
}

func (c *scanner) array(depth int) bool {
	if depth > maxDepth {
		return false
	}
	c.i++
	if c.i < len(c.s) && c.s[c.i] == ']' {
		c.i++
		return true
	}
	for {
		if !c.value(depth) || c.i >= len(c.s) {
			return false
		}
		switch c.s[c.i] {
		case ',':
			c.i++
		case ']':
			c.i++
			return true
		default:
			return false
		}
	}
}

// str reads a string that the encoder would write the same: no escapes, no
// control characters, valid UTF-8 without U+2028 or U+2029.
func (c *scanner) str() (string, bool) {
	if c.i >= len(c.s) || c.s[c.i] != '"' {
		return "", false
	}
	start := c.i + 1
	for j := start; j < len(c.s); {
		switch b := c.s[j]; {
		case b == '"':
			c.i = j + 1
			return c.s[start:j], true
		case b == '\\' || b < 0x20:
			return "", false
		case b < utf8.RuneSelf:
			j++
		default:
			r, n := utf8.DecodeRuneInString(c.s[j:])
			if (r == utf8.RuneError && n == 1) || r == '\u2028' || r == '\u2029' {
				return "", false
			}
			j += n
		}
	}
	return "", false
}

func (c *scanner) literal(lit string) bool {
	if !strings.HasPrefix(c.s[c.i:], lit) {
		return false
	}
	c.i += len(lit)
	return true
}

// number reads -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)?, which decoding
// with UseNumber and encoding again keep as it is.
func (c *scanner) number() bool {
	s, i := c.s, c.i
	if i < len(s) && s[i] == '-' {
		i++
	}
	switch {
	case i < len(s) && s[i] == '0':
		i++
	case i < len(s) && s[i] >= '1' && s[i] <= '9':
		i = digits(s, i)
	default:
		return false
	}
	if i < len(s) && s[i] == '.' {
		if j := digits(s, i+1); j > i+1 {
			i = j
		} else {
			return false
		}
	}
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		i++
		if i < len(s) && (s[i] == '+' || s[i] == '-') {
			i++
		}
		j := digits(s, i)
		if j == i {
			return false
		}
		i = j
	}
	c.i = i
	return true
}

func digits(s string, i int) int {
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		i++
	}
	return i
}
