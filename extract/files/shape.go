package files

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"etl/extract"
	"etl/extract/dixa"
	"etl/extract/moesif"
	"etl/extract/planhat"
	"etl/extract/userlot"
	"etl/internal/jsonscan"
	"etl/internal/vendors"
)

// Canonical is the shape whose fields are the end_user_sources columns.
const Canonical = "canonical"

// shape is the layout of one record, read as a JSON object whatever the
// file's format.
type shape struct {
	id    string   // the key of the record's id, to name a rejected record
	lists []string // keys holding lists: a CSV cell may separate items with ';'
	// decoder returns the shape's decoder for one extraction (decoders keep
	// work space from record to record).
	decoder func() decoder
}

// decoder maps a record onto a row; skip says it is left out on purpose.
// The row is valid until the next call (the vendors' decoders reuse one, as
// the writer is done with a row when Append returns).
type decoder func(rec string) (row *extract.Row, skip bool, err error)

var shapes = map[string]shape{
	Canonical: {id: "source_id", lists: []string{"emails", "tags"}, decoder: func() decoder {
		var d canonicalDecoder
		return d.decode
	}},
	// Archived users are skipped, as the Planhat source does by default.
	vendors.Planhat: {id: "_id", lists: []string{"tags", "otherEmails"}, decoder: func() decoder {
		var d planhat.Decoder
		var u planhat.User
		return func(rec string) (*extract.Row, bool, error) {
			var err error
			u, err = d.Decode(rec)
			return &u.Row, u.Archived, err
		}
	}},
	vendors.Dixa: {id: "id", lists: []string{"additionalEmails", "additionalPhoneNumbers", "middleNames"}, decoder: func() decoder {
		var d dixa.Decoder
		var u dixa.User
		return func(rec string) (*extract.Row, bool, error) {
			var err error
			u, err = d.Decode(rec)
			return &u.Row, false, err
		}
	}},
	// A Moesif record is a search hit's _source.
	vendors.Moesif: {id: "user_id", decoder: func() decoder {
		var d moesif.Decoder
		var u moesif.User
		return func(rec string) (*extract.Row, bool, error) {
			var err error
			u, err = d.Decode(rec)
			return &u.Row, false, err
		}
	}},
	vendors.Userlot: {id: "id", decoder: func() decoder {
		var d userlot.Decoder
		var u userlot.User
		return func(rec string) (*extract.Row, bool, error) {
			var err error
			u, err = d.Decode(rec)
			return &u.Row, false, err
		}
	}},
}

// canonical is a record in end_user_sources' columns; source and person_id
// are ignored (the file source names the rows, resolution assigns persons).
type canonical struct {
	SourceID    extract.Text    `json:"source_id"`
	Email       extract.Text    `json:"email"`
	Emails      extract.Texts   `json:"emails"`
	ExternalID  extract.Text    `json:"external_id"`
	FirstName   extract.Text    `json:"first_name"`
	LastName    extract.Text    `json:"last_name"`
	Name        extract.Text    `json:"name"`
	Phone       extract.Text    `json:"phone"`
	CompanyID   extract.Text    `json:"company_id"`
	CompanyName extract.Text    `json:"company_name"`
	Tags        extract.Texts   `json:"tags"`
	CreatedAt   extract.Text    `json:"created_at"`
	UpdatedAt   extract.Text    `json:"updated_at"`
	Attributes  json.RawMessage `json:"attributes"`
}

func decodeCanonical(raw []byte) (*extract.Row, bool, error) {
	var c canonical
	if err := json.Unmarshal(raw, &c); err != nil {
		return nil, false, fmt.Errorf("not an end_user_sources record: %w", err)
	}
	if c.SourceID == "" {
		return nil, false, errors.New("source_id is missing")
	}
	r := &extract.Row{SourceID: string(c.SourceID), Email: string(c.Email), Emails: c.Emails,
		ExternalID: string(c.ExternalID), FirstName: string(c.FirstName), LastName: string(c.LastName),
		Name: string(c.Name), Phone: string(c.Phone), CompanyID: string(c.CompanyID),
		CompanyName: string(c.CompanyName), Tags: c.Tags}
	var err error
	if r.CreatedAt, err = extract.ParseTime(string(c.CreatedAt)); err != nil {
		return nil, false, fmt.Errorf("created_at: %v", err)
	}
	if r.UpdatedAt, err = extract.ParseTime(string(c.UpdatedAt)); err != nil {
		return nil, false, fmt.Errorf("updated_at: %v", err)
	}
	attrs, err := attributes(c.Attributes)
	if err != nil {
		return nil, false, fmt.Errorf("attributes: %v", err)
	}
	r.Attributes = extract.CanonicalMap(attrs)
	return r, false, nil
}

// attributes reads a JSON object, or JSON text holding one (the column is
// text in end_user_sources), with numbers kept exact.
func attributes(raw json.RawMessage) (map[string]any, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) > 0 && raw[0] == '"' {
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return nil, err
		}
		raw = bytes.TrimSpace([]byte(s))
	}
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil
	}
	if raw[0] != '{' {
		return nil, errors.New("not a JSON object")
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		return nil, fmt.Errorf("not a JSON object: %v", err)
	}
	return m, nil
}

// keys are canonical's.
var keys = extract.Keys{"source_id", "email", "emails", "external_id", "first_name", "last_name", "name", "phone",
	"company_id", "company_name", "tags", "created_at", "updated_at", "attributes"}

// canonicalDecoder decodes canonical records one after another, each in one
// pass over its text (jsonscan). A record it cannot decode exactly as
// decodeCanonical does (an unusual form, or an error, which
// decodeCanonical words) goes to decodeCanonical.
type canonicalDecoder struct {
	sc, attrs jsonscan.Scanner
	buf       []byte
}

func (d *canonicalDecoder) decode(rec string) (*extract.Row, bool, error) {
	if r, ok := d.fast(rec); ok {
		return r, false, nil
	}
	return decodeCanonical([]byte(rec))
}

func (d *canonicalDecoder) fast(rec string) (*extract.Row, bool) {
	sc := &d.sc
	sc.Reset(rec)
	if !sc.Object() {
		return nil, false
	}
	r := &extract.Row{}
	var seen uint32
	var created, updated string
	for first := true; ; first = false {
		key, plain, more := sc.Member(first)
		if !more {
			break
		}
		if !plain {
			return nil, false
		}
		var f uint32
		ok := true
		switch key {
		case "source_id":
			f = 1 << 0
			r.SourceID, ok = sc.Text()
		case "email":
			f = 1 << 1
			r.Email, ok = sc.Text()
		case "emails":
			f = 1 << 2
			r.Emails, ok = sc.Texts()
		case "external_id":
			f = 1 << 3
			r.ExternalID, ok = sc.Text()
		case "first_name":
			f = 1 << 4
			r.FirstName, ok = sc.Text()
		case "last_name":
			f = 1 << 5
			r.LastName, ok = sc.Text()
		case "name":
			f = 1 << 6
			r.Name, ok = sc.Text()
		case "phone":
			f = 1 << 7
			r.Phone, ok = sc.Text()
		case "company_id":
			f = 1 << 8
			r.CompanyID, ok = sc.Text()
		case "company_name":
			f = 1 << 9
			r.CompanyName, ok = sc.Text()
		case "tags":
			f = 1 << 10
			r.Tags, ok = sc.Texts()
		case "created_at":
			f = 1 << 11
			created, ok = sc.Text()
		case "updated_at":
			f = 1 << 12
			updated, ok = sc.Text()
		case "attributes":
			f = 1 << 13
			r.Attributes, ok = d.attributes()
		default:
			if keys.Folds(key) {
				return nil, false
			}
			ok = sc.Skip()
		}
		if !ok || seen&f != 0 {
			return nil, false
		}
		seen |= f
	}
	if !sc.End() || r.SourceID == "" {
		return nil, false
	}
	var err error
	if r.CreatedAt, err = extract.ParseTime(created); err != nil {
		return nil, false
	}
	if r.UpdatedAt, err = extract.ParseTime(updated); err != nil {
		return nil, false
	}
	return r, true
}

// attributes is attributes() for an object, or JSON text holding exactly
// one (numbers exact): its canonical JSON, nil for null or blank text.
func (d *canonicalDecoder) attributes() ([]byte, bool) {
	sc := &d.sc
	switch sc.Peek() {
	case 'n':
		_, _, ok := sc.Scalar()
		return nil, ok
	case '{':
		var ok bool
		d.buf, ok = sc.Canonical(d.buf[:0], jsonscan.Exact)
		return bytes.Clone(d.buf), ok
	case '"':
		text, ok := sc.Text()
		if !ok {
			return nil, false
		}
		if t := strings.TrimSpace(text); t == "" || t == "null" {
			return nil, true
		}
		a := &d.attrs
		a.Reset(text)
		if a.Peek() != '{' {
			return nil, false
		}
		d.buf, ok = a.Canonical(d.buf[:0], jsonscan.Exact)
		return bytes.Clone(d.buf), ok && a.End()
	}
	return nil, false
}
