package moesif

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"etl/extract"
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
		return User{}, fmt.Errorf("not a Moesif user: %v", err)
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
		return User{}, fmt.Errorf("metadata: %v", err)
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
