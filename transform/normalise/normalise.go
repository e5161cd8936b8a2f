// Package normalise cleans extracted end_user_sources rows: emails trimmed,
// lower-cased and validated, phones to E.164, names composed, tags
// de-duplicated, external ids trimmed, raw values kept in the attributes,
// text made valid UTF-8. The extractors' batch writer calls it on each row
// before appending it (run wires it), so a batch is built once.
package normalise

import (
	"encoding/json"
	"slices"
	"strings"
	"unicode/utf8"

	"etl/internal/jsonscan"
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
	// Most addresses are printable ASCII without spaces or upper case,
	// which trimming and lower-casing leave as they are: looked at once.
	at, ats := -1, 0
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c <= ' ' || c >= utf8.RuneSelf || c-'A' < 26:
			s = strings.ToLower(strings.TrimSpace(s))
			return s, validEmail(s)
		case c == '@':
			at, ats = i, ats+1
		}
	}
	return s, ats == 1 && domainAfter(s, at)
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
	return domainAfter(s, at)
}

// domainAfter is the pattern's rest for s, whose only @ is at: something
// before it, and after it a dot with something on each side.
func domainAfter(s string, at int) bool {
	if at < 1 {
		return false
	}
	dom := s[at+1:]
	return len(dom) >= 3 && strings.IndexByte(dom[1:len(dom)-1], '.') >= 0
}

// Normaliser cleans one source's rows, keeping its counts and a cache of
// its phones. It is used by one goroutine.
type Normaliser struct {
	Stats  Stats
	phones phoneCache
	emails []string // scratch, reused row after row
	tags   []string
	extra  []jsonscan.Member
	attrs  []byte
}

// New returns a normaliser for a source with opt.
func New(opt Options) *Normaliser {
	return &Normaliser{phones: phoneCache{region: opt.PhoneRegion}}
}

// Row normalises r in place: emails trimmed, lower-cased and validated,
// phones to E.164, names composed, tags de-duplicated, external ids
// trimmed, text made valid UTF-8, and the raw values that could not be
// normalised added to the attributes. ok is false for a row that cannot be
// kept (reason says why).
func (n *Normaliser) Row(r *schemas.SourceRow) (reason string, ok bool) {
	// source_id stays exactly as the vendor has it: write-back addresses
	// the record by it (Moesif's user_id may carry spaces).
	r.SourceID = valid(r.SourceID)
	if strings.TrimSpace(r.SourceID) == "" {
		n.Stats.Rejected++
		return "record has no id", false
	}
	extra := n.extra[:0] // raw values kept in attributes, by key
	all := n.emails[:0]
	primary := ""
	if raw := valid(r.Email); raw != "" {
		if e, ok := Email(raw); ok {
			primary = e
			all = append(all, e)
		} else {
			n.Stats.InvalidEmails++
			extra = append(extra, jsonscan.Member{Key: "email_raw", Value: raw})
		}
	}
	for _, raw := range r.Emails {
		raw = valid(raw)
		if e, ok := Email(raw); ok {
			all = append(all, e)
		} else if strings.TrimSpace(raw) != "" {
			n.Stats.InvalidEmails++
		}
	}
	r.Email = primary
	r.Emails = sortUnique(all) // valid until the next row: the writer appends it first
	n.emails = all

	r.ExternalID = trimmed(r.ExternalID)
	r.FirstName, r.LastName = text(r.FirstName), text(r.LastName)
	if r.Name = text(r.Name); r.Name == "" {
		// Composed, not the vendor's: marked so that a write-back still
		// sees the vendor's name as empty.
		if r.Name = strings.TrimSpace(r.FirstName + " " + r.LastName); r.Name != "" {
			extra = append(extra, jsonscan.Member{Key: "name_composed", Value: "true"})
		}
	}
	if raw := trimmed(r.Phone); raw != "" {
		e, ok := n.phones.phone(raw)
		if !ok {
			n.Stats.UnparseablePhones++
			extra = append(extra, jsonscan.Member{Key: "phone_raw", Value: raw})
		}
		r.Phone = e
	} else {
		r.Phone = ""
	}
	r.CompanyID = trimmed(r.CompanyID)
	r.CompanyName = text(r.CompanyName)

	tags := n.tags[:0]
	for _, t := range r.Tags {
		if t = text(t); t != "" {
			tags = append(tags, t)
		}
	}
	r.Tags = sortUnique(tags)
	n.tags = tags
	r.Attributes, n.attrs = attributes(r.Attributes, extra, n.attrs[:0])
	n.extra = extra
	return "", true
}

// valid replaces invalid UTF-8, which Parquet readers refuse.
func valid(s string) string {
	if utf8.ValidString(s) {
		return s
	}
	return strings.ToValidUTF8(s, "\uFFFD")
}

// text is clean(valid(s)): trimmed, inner runs of whitespace collapsed,
// valid UTF-8. Most values are ASCII words with single spaces between
// them, which it all leaves as they are: looked at once.
func text(s string) string {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c <= ' ' || c >= utf8.RuneSelf {
			if c != ' ' || i == 0 || i == len(s)-1 || s[i+1] == ' ' {
				return clean(valid(s))
			}
		}
	}
	return s
}

// trimmed is strings.TrimSpace(valid(s)), looked at once when s is ASCII
// with no space at either end.
func trimmed(s string) string {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c >= utf8.RuneSelf || c <= ' ' && (i == 0 || i == len(s)-1) {
			return strings.TrimSpace(valid(s))
		}
	}
	return s
}

// clean trims and collapses inner runs of whitespace.
func clean(s string) string {
	s = strings.TrimSpace(s)
	if strings.Contains(s, "  ") || strings.ContainsAny(s, "\t\n\r") {
		s = strings.Join(strings.Fields(s), " ")
	}
	return s
}

func sortUnique(s []string) []string {
	slices.Sort(s)
	return slices.Compact(s)
}

// attributes returns the custom fields (canonical JSON, from the
// extractor) with the raw values the columns could not hold; nil for none.
// Keys are sorted at every depth, as before: the values are added into the
// canonical text (written into scratch, which is returned for the next
// row: the text is valid until then, as the writer appends it first), or,
// when its keys need escaping, through maps.
func attributes(attrs []byte, extra []jsonscan.Member, scratch []byte) (out, next []byte) {
	if len(extra) == 0 {
		if len(attrs) <= 2 { // {}
			return nil, scratch
		}
		return attrs, scratch
	}
	if out, ok := jsonscan.AppendMembers(scratch, string(attrs), extra); ok {
		return out, out
	}
	m := map[string]string{}
	for _, e := range extra {
		m[e.Key] = e.Value
	}
	return []byte(reencode(string(attrs), m)), scratch
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
