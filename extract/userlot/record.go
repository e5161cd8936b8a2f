package userlot

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	"etl/extract"
	"etl/internal/jsonscan"
)

// documented lists the end user keys Userlot defines; every other top-level
// key is a custom field (snake_case, e.g. total_revenue).
var documented = map[string]bool{
	"id": true, "external_id": true, "source_external_id": true, "first_name": true, "last_name": true,
	"name": true, "email": true, "company_id": true, "created_at": true, "updated_at": true, "last_seen_at": true,
}

type wire struct {
	ID               extract.Text `json:"id"`
	ExternalID       extract.Text `json:"external_id"`
	SourceExternalID extract.Text `json:"source_external_id"`
	FirstName        extract.Text `json:"first_name"`
	LastName         extract.Text `json:"last_name"`
	Name             extract.Text `json:"name"`
	Email            extract.Text `json:"email"`
	CompanyID        extract.Text `json:"company_id"`
	CreatedAt        extract.Text `json:"created_at"`
	UpdatedAt        extract.Text `json:"updated_at"`
}

// User is one decoded Userlot end user.
type User struct {
	extract.Row
}

// Decode maps one end user object onto a Row. Custom fields, and the CRM id
// (source_external_id), become attributes; null custom fields are unset.
func Decode(raw []byte) (User, error) {
	var w wire
	if err := json.Unmarshal(raw, &w); err != nil {
		return User{}, fmt.Errorf("not a Userlot end user: %w", err)
	}
	if w.ID == "" {
		return User{}, errors.New("end user without id")
	}
	// Every top-level value at once, in one decoder: a decoder per custom
	// field cost more than the rest of the record.
	var fields map[string]any
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber() // keep amounts and ids exact
	if err := dec.Decode(&fields); err != nil {
		return User{}, fmt.Errorf("not a Userlot end user: %v", err)
	}
	u := User{Row: extract.Row{
		SourceID: string(w.ID), Email: string(w.Email), ExternalID: string(w.ExternalID),
		FirstName: string(w.FirstName), LastName: string(w.LastName), Name: string(w.Name),
		CompanyID: string(w.CompanyID),
	}}
	attrs := map[string]any{}
	for k, v := range fields {
		if !documented[k] && v != nil {
			attrs[k] = v
		}
	}
	if w.SourceExternalID != "" {
		attrs["source_external_id"] = string(w.SourceExternalID)
	}
	if len(attrs) > 0 {
		u.Attributes = extract.CanonicalMap(attrs)
	}
	var err error
	if u.CreatedAt, err = extract.ParseTime(string(w.CreatedAt)); err != nil {
		return User{}, fmt.Errorf("created_at: %v", err)
	}
	if u.UpdatedAt, err = extract.ParseTime(string(w.UpdatedAt)); err != nil {
		return User{}, fmt.Errorf("updated_at: %v", err)
	}
	return u, nil
}

// keys are wire's.
var keys = extract.Keys{"id", "external_id", "source_external_id", "first_name", "last_name", "name", "email",
	"company_id", "created_at", "updated_at"}

// Decoder decodes end users one after another, each in one pass over its
// text (jsonscan). A record it cannot decode exactly as Decode does (an
// unusual form, or an error, which Decode words) goes to Decode.
type Decoder struct {
	sc     jsonscan.Scanner
	custom []custom
	buf    []byte
}

// custom is one custom field: its value's canonical text, or null.
type custom struct {
	key   string
	value []byte
	null  bool
}

// Decode is Decode for rec.
func (d *Decoder) Decode(rec string) (User, error) {
	if u, ok := d.fast(rec); ok {
		return u, nil
	}
	return Decode([]byte(rec))
}

// At decodes the record at offset at of s (a page) in place, as Decode
// would decode s[at:end]; ok is false when it leaves the record to Decode.
func (d *Decoder) At(s string, at int) (u User, end int, ok bool) {
	d.sc.ResetAt(s, at)
	u, ok = d.object(false)
	return u, d.sc.Offset(), ok
}

func (d *Decoder) fast(rec string) (User, bool) {
	d.sc.Reset(rec)
	return d.object(true)
}

// object reads the object the scanner is at; whole says that nothing but
// whitespace may follow it.
func (d *Decoder) object(whole bool) (u User, ok bool) {
	sc := &d.sc
	if !sc.Object() {
		return u, false
	}
	var seen uint32
	var sourceExternalID, created, updated string
	d.custom, d.buf = d.custom[:0], d.buf[:0]
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
		case "id":
			f = 1 << 0
			u.SourceID, ok = sc.Text()
		case "external_id":
			f = 1 << 1
			u.ExternalID, ok = sc.Text()
		case "source_external_id":
			f = 1 << 2
			sourceExternalID, ok = sc.Text()
		case "first_name":
			f = 1 << 3
			u.FirstName, ok = sc.Text()
		case "last_name":
			f = 1 << 4
			u.LastName, ok = sc.Text()
		case "name":
			f = 1 << 5
			u.Name, ok = sc.Text()
		case "email":
			f = 1 << 6
			u.Email, ok = sc.Text()
		case "company_id":
			f = 1 << 7
			u.CompanyID, ok = sc.Text()
		case "created_at":
			f = 1 << 8
			created, ok = sc.Text()
		case "updated_at":
			f = 1 << 9
			updated, ok = sc.Text()
		case "last_seen_at": // documented, and not kept
			f = 1 << 10
			ok = sc.Skip()
		default:
			if keys.Folds(key) {
				return u, false
			}
			// A custom field: decoded into any with UseNumber, so numbers
			// keep their text.
			start := len(d.buf)
			null := sc.Peek() == 'n'
			d.buf, ok = sc.Canonical(d.buf, jsonscan.Exact)
			d.custom = append(d.custom, custom{key: key, value: d.buf[start:len(d.buf):len(d.buf)], null: null})
		}
		if !ok || seen&f != 0 {
			return u, false
		}
		seen |= f
	}
	if !(whole && sc.End() || !whole && sc.Ok()) || u.SourceID == "" {
		return u, false
	}
	var err error
	if u.CreatedAt, err = extract.ParseTime(created); err != nil {
		return u, false
	}
	if u.UpdatedAt, err = extract.ParseTime(updated); err != nil {
		return u, false
	}
	if sourceExternalID != "" {
		start := len(d.buf)
		d.buf = jsonscan.AppendString(d.buf, sourceExternalID)
		d.custom = append(d.custom, custom{key: "source_external_id", value: d.buf[start:len(d.buf):len(d.buf)]})
	}
	u.Attributes = d.canonical()
	return u, true
}

// canonical is the custom fields' canonical JSON as Decode's map holds
// them: the last value of a key wins, and a null one is no field; nil for
// none.
func (d *Decoder) canonical() []byte {
	slices.SortStableFunc(d.custom, func(a, b custom) int { return strings.Compare(a.key, b.key) })
	n := 2 // the text's length without escapes: allocated once
	for _, c := range d.custom {
		n += len(c.key) + len(c.value) + 4
	}
	var b []byte
	for i, c := range d.custom {
		if i+1 < len(d.custom) && d.custom[i+1].key == c.key || c.null {
			continue
		}
		if b == nil {
			b = append(make([]byte, 0, n), '{')
		} else {
			b = append(b, ',')
		}
		b = jsonscan.AppendString(b, c.key)
		b = append(b, ':')
		b = append(b, c.value...)
	}
	if b == nil {
		return nil
	}
	return append(b, '}')
}
