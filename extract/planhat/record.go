package planhat

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"

	"etl/extract"
	"etl/internal/jsonscan"
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
		return User{}, fmt.Errorf("not a Planhat end user: %w", err)
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

// keys are wire's.
var keys = extract.Keys{"_id", "email", "firstName", "lastName", "name", "companyId", "companyName", "externalId",
	"phone", "tags", "otherEmails", "archived", "createDate", "updatedAt", "custom"}

// Decoder decodes end users one after another, each in one pass over its
// text (jsonscan). A record it cannot decode exactly as Decode does (an
// unusual form, or an error, which Decode words) goes to Decode.
type Decoder struct {
	sc  jsonscan.Scanner
	buf []byte
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
	var created, updated string
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
		case "_id":
			f = 1 << 0
			u.SourceID, ok = sc.Text()
		case "email":
			f = 1 << 1
			u.Email, ok = sc.Text()
		case "firstName":
			f = 1 << 2
			u.FirstName, ok = sc.Text()
		case "lastName":
			f = 1 << 3
			u.LastName, ok = sc.Text()
		case "name":
			f = 1 << 4
			u.Name, ok = sc.Text()
		case "companyId":
			f = 1 << 5
			u.CompanyID, ok = sc.Text()
		case "companyName":
			f = 1 << 6
			u.CompanyName, ok = sc.Text()
		case "externalId":
			f = 1 << 7
			u.ExternalID, ok = sc.Text()
		case "phone":
			f = 1 << 8
			u.Phone, ok = sc.Text()
		case "tags":
			f = 1 << 9
			u.Tags, ok = sc.Texts()
		case "otherEmails":
			f = 1 << 10
			u.Emails, ok = sc.Texts()
		case "archived":
			f = 1 << 11
			u.Archived, ok = sc.Bool()
		case "createDate":
			f = 1 << 12
			created, ok = sc.Text()
		case "updatedAt":
			f = 1 << 13
			updated, ok = sc.Text()
		case "custom":
			f = 1 << 14
			switch sc.Peek() {
			case '{': // custom fields decode into any: numbers are float64
				d.buf, ok = sc.Canonical(d.buf[:0], jsonscan.Float64)
				u.Attributes = bytes.Clone(d.buf)
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
		if !ok || seen&f != 0 { // a repeated key: encoding/json merges
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
	return u, true
}
