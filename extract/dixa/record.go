package dixa

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"

	"etl/extract"
)

// wire is the part of Dixa's end user we read; unknown fields are ignored.
type wire struct {
	ID                     extract.Text      `json:"id"`
	CreatedAt              extract.Text      `json:"createdAt"`
	DisplayName            extract.Text      `json:"displayName"`
	Email                  extract.Text      `json:"email"`
	PhoneNumber            extract.Text      `json:"phoneNumber"`
	AdditionalEmails       extract.Texts     `json:"additionalEmails"`
	AdditionalPhoneNumbers extract.Texts     `json:"additionalPhoneNumbers"`
	FirstName              extract.Text      `json:"firstName"`
	LastName               extract.Text      `json:"lastName"`
	MiddleNames            extract.Texts     `json:"middleNames"`
	AvatarURL              extract.Text      `json:"avatarUrl"`
	ExternalID             extract.Text      `json:"externalId"`
	CustomAttributes       []customAttribute `json:"customAttributes"`
}

type customAttribute struct {
	Name       extract.Text    `json:"name"`
	Identifier extract.Text    `json:"identifier"`
	Value      json.RawMessage `json:"value"` // string or list of strings
}

// User is one decoded Dixa end user.
type User struct {
	extract.Row
}

// Decode maps one end user object, as GET /v1/endusers lists it, onto a Row.
// Dixa has no update time, so UpdatedAt stays zero. Additional phone
// numbers, middle names, the avatar and custom attributes (keyed by
// identifier, else name) become attributes.
func Decode(raw []byte) (User, error) {
	var w wire
	if err := json.Unmarshal(raw, &w); err != nil {
		return User{}, fmt.Errorf("not a Dixa end user: %v", err)
	}
	if w.ID == "" {
		return User{}, errors.New("end user without id")
	}
	u := User{Row: extract.Row{
		SourceID: string(w.ID), Email: string(w.Email), Emails: w.AdditionalEmails,
		ExternalID: string(w.ExternalID), FirstName: string(w.FirstName), LastName: string(w.LastName),
		Name: string(w.DisplayName), Phone: string(w.PhoneNumber),
	}}
	var err error
	if u.CreatedAt, err = extract.ParseTime(string(w.CreatedAt)); err != nil {
		return User{}, fmt.Errorf("createdAt: %v", err)
	}
	attrs := map[string]any{}
	for _, ca := range w.CustomAttributes {
		key := string(ca.Identifier)
		if key == "" {
			key = string(ca.Name)
		}
		v, err := attributeValue(ca.Value)
		if err != nil {
			return User{}, fmt.Errorf("custom attribute %q: %v", key, err)
		}
		if key != "" && v != nil {
			attrs[key] = v
		}
	}
	// Dixa's own fields are set last: a custom attribute cannot mask them.
	if len(w.AdditionalPhoneNumbers) > 0 {
		attrs["additionalPhoneNumbers"] = []string(w.AdditionalPhoneNumbers)
	}
	if len(w.MiddleNames) > 0 {
		attrs["middleNames"] = []string(w.MiddleNames)
	}
	if w.AvatarURL != "" {
		attrs["avatarUrl"] = string(w.AvatarURL)
	}
	if len(attrs) > 0 {
		u.Attributes = extract.CanonicalMap(attrs)
	}
	return u, nil
}

// attributeValue reads a custom attribute's value: a string or a list of
// strings (numbers accepted as text); nil when unset.
func attributeValue(raw json.RawMessage) (any, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil
	}
	if raw[0] == '[' {
		var ts extract.Texts
		if err := ts.UnmarshalJSON(raw); err != nil {
			return nil, err
		}
		if len(ts) == 0 {
			return nil, nil
		}
		return []string(ts), nil
	}
	var t extract.Text
	if err := t.UnmarshalJSON(raw); err != nil {
		return nil, err
	}
	if t == "" {
		return nil, nil
	}
	return string(t), nil
}
