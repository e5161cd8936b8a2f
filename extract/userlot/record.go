package userlot

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"

	"etl/extract"
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
		return User{}, fmt.Errorf("not a Userlot end user: %v", err)
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
