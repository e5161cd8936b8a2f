package moesif

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"etl/extract"
	"etl/internal/jsonscan"
)

// wire is the part of a Moesif user's _source we read; unknown fields are ignored.
type wire struct {
	UserID        extract.Text    `json:"user_id"`
	CompanyID     extract.Text    `json:"company_id"`
	Email         extract.Text    `json:"email"`
	Name          extract.Text    `json:"name"`
	FirstName     extract.Text    `json:"first_name"`
	LastName      extract.Text    `json:"last_name"`
	Phone         extract.Text    `json:"phone"`
	FirstSeenTime extract.Text    `json:"first_seen_time"`
	ModifiedTime  extract.Text    `json:"modified_time"`
	Metadata      json.RawMessage `json:"metadata"`
}

// User is one decoded Moesif user.
type User struct {
	extract.Row
}

// Decode maps one user's _source (what a search hit carries, and what a
// Moesif export file holds per line) onto a Row.
func Decode(raw []byte) (User, error) { return decode(raw, "") }

// decode is Decode with the hit's _id as the id when _source has no user_id.
func decode(raw []byte, hitID string) (User, error) {
	var w wire
	if err := json.Unmarshal(raw, &w); err != nil {
		return User{}, fmt.Errorf("not a Moesif user: %w", err)
	}
	// user_id is the customer's own id: source_id exactly as Moesif has it
	// (write-back addresses it), external_id trimmed.
	id := string(w.UserID)
	if id == "" {
		id = hitID
	}
	if id == "" {
		return User{}, errors.New("user without user_id")
	}
	meta, err := metadata(w.Metadata)
	if err != nil {
		return User{}, fmt.Errorf("metadata: %w", err)
	}
	// Top-level fields win over metadata's reserved keys; a blank one is absent.
	field := func(top extract.Text, key string) string {
		if s := strings.TrimSpace(string(top)); s != "" {
			return string(top)
		}
		switch v := meta[key].(type) {
		case string:
			return v
		case json.Number: // a phone sent as a number
			return v.String()
		}
		return ""
	}
	u := User{Row: extract.Row{
		SourceID: id, ExternalID: strings.TrimSpace(id), CompanyID: string(w.CompanyID),
		Email: field(w.Email, "email"), Name: field(w.Name, "name"),
		FirstName: field(w.FirstName, "first_name"), LastName: field(w.LastName, "last_name"),
		Phone: field(w.Phone, "phone"),
	}}
	if len(meta) > 0 {
		u.Attributes = extract.CanonicalMap(meta)
	}
	if u.CreatedAt, err = extract.ParseTime(string(w.FirstSeenTime)); err != nil {
		return User{}, fmt.Errorf("first_seen_time: %v", err)
	}
	if u.UpdatedAt, err = extract.ParseTime(string(w.ModifiedTime)); err != nil {
		return User{}, fmt.Errorf("modified_time: %v", err)
	}
	return u, nil
}

// metadata reads the metadata object with numbers kept exact.
func metadata(raw json.RawMessage) (map[string]any, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		return nil, err
	}
	return m, nil
}

// keys are wire's.
var keys = extract.Keys{"user_id", "company_id", "email", "name", "first_name", "last_name", "phone",
	"first_seen_time", "modified_time", "metadata"}

// Decoder decodes users one after another, each in one pass over its text
// (jsonscan). A record it cannot decode exactly as Decode does (an unusual
// form, or an error, which Decode words) goes to Decode.
type Decoder struct {
	sc  jsonscan.Scanner
	buf []byte
	// Reading a page: the scanner of its hits (hitAt), and the hits
	// decoded in place (readPage).
	hits  jsonscan.Scanner
	taken []int
}

// Decode is Decode for rec.
func (d *Decoder) Decode(rec string) (User, error) { return d.decode(rec, "") }

func (d *Decoder) decode(rec, hitID string) (User, error) {
	if u, ok := d.fast(rec, hitID); ok {
		return u, nil
	}
	return decode([]byte(rec), hitID)
}

// reserved are metadata's keys that stand in for blank top-level fields.
type reserved struct{ email, name, first, last, phone string }

func (d *Decoder) fast(rec, hitID string) (User, bool) {
	d.sc.Reset(rec)
	return d.object(true, hitID)
}

// at decodes the _source at offset at of s (a page) in place, as decode
// would decode s[at:end]; ok is false when it leaves it to decode.
func (d *Decoder) at(s string, at int, hitID string) (u User, end int, ok bool) {
	d.sc.ResetAt(s, at)
	u, ok = d.object(false, hitID)
	return u, d.sc.Offset(), ok
}

// object reads the object the scanner is at; whole says that nothing but
// whitespace may follow it.
func (d *Decoder) object(whole bool, hitID string) (u User, ok bool) {
	sc := &d.sc
	if !sc.Object() {
		return u, false
	}
	var seen uint32
	var w struct{ id, company, email, name, first, last, phone, firstSeen, modified string }
	var meta reserved
	for first := true; ; first = false {
		key, plain, more := sc.Member(first)
		if !more {
			break
		}
		if !plain {
			return u, false
		}
		var f uint32
		switch key {
		case "user_id":
			f = 1 << 0
			w.id, ok = sc.Text()
		case "company_id":
			f = 1 << 1
			w.company, ok = sc.Text()
		case "email":
			f = 1 << 2
			w.email, ok = sc.Text()
		case "name":
			f = 1 << 3
			w.name, ok = sc.Text()
		case "first_name":
			f = 1 << 4
			w.first, ok = sc.Text()
		case "last_name":
			f = 1 << 5
			w.last, ok = sc.Text()
		case "phone":
			f = 1 << 6
			w.phone, ok = sc.Text()
		case "first_seen_time":
			f = 1 << 7
			w.firstSeen, ok = sc.Text()
		case "modified_time":
			f = 1 << 8
			w.modified, ok = sc.Text()
		case "metadata":
			f = 1 << 9
			switch sc.Peek() {
			case '{':
				d.buf, ok = sc.CanonicalObject(d.buf[:0], jsonscan.Exact, meta.set)
				if len(d.buf) > 2 { // {}: no metadata
					u.Attributes = bytes.Clone(d.buf)
				}
			case 'n':
				_, _, ok = sc.Scalar()
			default:
				return u, false
			}
		default:
			if keys.Folds(key) {
				return u, false
			}
			ok = sc.Skip()
		}
		if !ok || seen&f != 0 {
			return u, false
		}
		seen |= f
	}
	if !(whole && sc.End() || !whole && sc.Ok()) {
		return u, false
	}
	id := w.id
	if id == "" {
		id = hitID
	}
	if id == "" {
		return u, false
	}
	// Top-level fields win over metadata's reserved keys; a blank one is absent.
	field := func(top, meta string) string {
		if strings.TrimSpace(top) != "" {
			return top
		}
		return meta
	}
	u.SourceID, u.ExternalID, u.CompanyID = id, strings.TrimSpace(id), w.company
	u.Email, u.Name = field(w.email, meta.email), field(w.name, meta.name)
	u.FirstName, u.LastName = field(w.first, meta.first), field(w.last, meta.last)
	u.Phone = field(w.phone, meta.phone)
	var err error
	if u.CreatedAt, err = extract.ParseTime(w.firstSeen); err != nil {
		return u, false
	}
	if u.UpdatedAt, err = extract.ParseTime(w.modified); err != nil {
		return u, false
	}
	return u, true
}

// set takes one of metadata's members: a reserved key's value counts when
// it is a string or a number, as Decode reads it; the last one wins.
func (m *reserved) set(key, text string, kind int) {
	if kind != jsonscan.String && kind != jsonscan.Number {
		text = ""
	}
	switch key {
	case "email":
		m.email = text
	case "name":
		m.name = text
	case "first_name":
		m.first = text
	case "last_name":
		m.last = text
	case "phone":
		m.phone = text
	}
}
