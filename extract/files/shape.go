package files

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"

	"etl/extract"
	"etl/extract/dixa"
	"etl/extract/moesif"
	"etl/extract/planhat"
	"etl/extract/userlot"
	"etl/internal/vendors"
)

// Canonical is the shape whose fields are the end_user_sources columns.
const Canonical = "canonical"

// shape is the layout of one record, read as a JSON object whatever the
// file's format.
type shape struct {
	id    string   // the key of the record's id, to name a rejected record
	lists []string // keys holding lists: a CSV cell may separate items with ';'
	// decode maps a record onto a row; skip says it is left out on purpose.
	decode func(raw []byte) (row *extract.Row, skip bool, err error)
}

var shapes = map[string]shape{
	Canonical: {id: "source_id", lists: []string{"emails", "tags"}, decode: decodeCanonical},
	// Archived users are skipped, as the Planhat source does by default.
	vendors.Planhat: {id: "_id", lists: []string{"tags", "otherEmails"}, decode: func(raw []byte) (*extract.Row, bool, error) {
		u, err := planhat.Decode(raw)
		return &u.Row, u.Archived, err
	}},
	vendors.Dixa: {id: "id", lists: []string{"additionalEmails", "additionalPhoneNumbers", "middleNames"}, decode: func(raw []byte) (*extract.Row, bool, error) {
		u, err := dixa.Decode(raw)
		return &u.Row, false, err
	}},
	// A Moesif record is a search hit's _source.
	vendors.Moesif: {id: "user_id", decode: func(raw []byte) (*extract.Row, bool, error) {
		u, err := moesif.Decode(raw)
		return &u.Row, false, err
	}},
	vendors.Userlot: {id: "id", decode: func(raw []byte) (*extract.Row, bool, error) {
		u, err := userlot.Decode(raw)
		return &u.Row, false, err
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
		return nil, false, fmt.Errorf("not an end_user_sources record: %v", err)
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
