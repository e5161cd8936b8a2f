package planhat

import (
	"encoding/json"
	"errors"
	"fmt"

	"etl/extract"
)

// wire is the part of Planhat's end user we read; unknown fields are ignored.
type wire struct {
	ID          extract.Text   `json:"_id"`
	Email       extract.Text   `json:"email"`
	FirstName   extract.Text   `json:"firstName"`
	LastName    extract.Text   `json:"lastName"`
	Name        extract.Text   `json:"name"`
	CompanyID   extract.Text   `json:"companyId"`
	CompanyName extract.Text   `json:"companyName"`
	ExternalID  extract.Text   `json:"externalId"`
	Phone       extract.Text   `json:"phone"`
	Tags        extract.Texts  `json:"tags"`
	OtherEmails extract.Texts  `json:"otherEmails"`
	Archived    bool           `json:"archived"`
	CreateDate  extract.Text   `json:"createDate"`
	UpdatedAt   extract.Text   `json:"updatedAt"`
	Custom      map[string]any `json:"custom"`
}

// User is one decoded Planhat end user.
type User struct {
	extract.Row
	Archived bool
}

// Decode maps one end user object onto a Row. Custom fields become attributes.
func Decode(raw []byte) (User, error) {
	var w wire
	if err := json.Unmarshal(raw, &w); err != nil {
		return User{}, fmt.Errorf("not a Planhat end user: %v", err)
	}
	if w.ID == "" {
		return User{}, errors.New("end user without _id")
	}
	u := User{Archived: w.Archived, Row: extract.Row{
		SourceID: string(w.ID), Email: string(w.Email), Emails: w.OtherEmails,
		ExternalID: string(w.ExternalID), FirstName: string(w.FirstName), LastName: string(w.LastName),
		Name: string(w.Name), Phone: string(w.Phone), CompanyID: string(w.CompanyID),
		CompanyName: string(w.CompanyName), Tags: w.Tags, Attributes: extract.CanonicalMap(w.Custom),
	}}
	var err error
	if u.CreatedAt, err = extract.ParseTime(string(w.CreateDate)); err != nil {
		return User{}, fmt.Errorf("createDate: %v", err)
	}
	if u.UpdatedAt, err = extract.ParseTime(string(w.UpdatedAt)); err != nil {
		return User{}, fmt.Errorf("updatedAt: %v", err)
	}
	return u, nil
}
