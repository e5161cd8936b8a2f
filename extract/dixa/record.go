package dixa

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
		return User{}, fmt.Errorf("not a Dixa end user: %w", err)
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

// keys are wire's, and attrKeys customAttribute's.
var (
	keys = extract.Keys{"id", "createdAt", "displayName", "email", "phoneNumber", "additionalEmails",
		"additionalPhoneNumbers", "firstName", "lastName", "middleNames", "avatarUrl", "externalId", "customAttributes"}
	attrKeys = extract.Keys{"name", "identifier", "value"}
)

// Decoder decodes end users one after another, each in one pass over its
// text (jsonscan). A record it cannot decode exactly as Decode does (an
// unusual form, or an error, which Decode words) goes to Decode.
type Decoder struct {
	sc    jsonscan.Scanner
	attrs []attr
}

// attr is one attribute as Decode sets it: a text or a list of texts.
type attr struct {
	key   string
	text  string
	list  []string
	isSet bool
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
	var created, avatar string
	var phones, middle []string
	d.attrs = d.attrs[:0]
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
		case "createdAt":
			f = 1 << 1
			created, ok = sc.Text()
		case "displayName":
			f = 1 << 2
			u.Name, ok = sc.Text()
		case "email":
			f = 1 << 3
			u.Email, ok = sc.Text()
		case "phoneNumber":
			f = 1 << 4
			u.Phone, ok = sc.Text()
		case "additionalEmails":
			f = 1 << 5
			u.Emails, ok = sc.Texts()
		case "additionalPhoneNumbers":
			f = 1 << 6
			phones, ok = sc.Texts()
		case "firstName":
			f = 1 << 7
			u.FirstName, ok = sc.Text()
		case "lastName":
			f = 1 << 8
			u.LastName, ok = sc.Text()
		case "middleNames":
			f = 1 << 9
			middle, ok = sc.Texts()
		case "avatarUrl":
			f = 1 << 10
			avatar, ok = sc.Text()
		case "externalId":
			f = 1 << 11
			u.ExternalID, ok = sc.Text()
		case "customAttributes":
			f = 1 << 12
			ok = d.customAttributes()
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
	if !(whole && sc.End() || !whole && sc.Ok()) || u.SourceID == "" {
		return u, false
	}
	var err error
	if u.CreatedAt, err = extract.ParseTime(created); err != nil {
		return u, false
	}
	// Dixa's own fields are set last: a custom attribute cannot mask them.
	if len(phones) > 0 {
		d.attrs = append(d.attrs, attr{key: "additionalPhoneNumbers", list: phones, isSet: true})
	}
	if len(middle) > 0 {
		d.attrs = append(d.attrs, attr{key: "middleNames", list: middle, isSet: true})
	}
	if avatar != "" {
		d.attrs = append(d.attrs, attr{key: "avatarUrl", text: avatar, isSet: true})
	}
	u.Attributes = d.canonical()
	return u, true
}

// customAttributes reads the list into d.attrs, in order; false for what
// Decode would refuse or might read otherwise.
func (d *Decoder) customAttributes() bool {
	sc := &d.sc
	if sc.Peek() == 'n' {
		_, _, ok := sc.Scalar()
		return ok
	}
	if !sc.Array() {
		return false
	}
	for first := true; sc.Element(first); first = false {
		if sc.Peek() == 'n' { // a zero customAttribute: no key
			if _, _, ok := sc.Scalar(); !ok {
				return false
			}
			continue
		}
		if !sc.Object() {
			return false
		}
		var name, identifier string
		var a attr
		var seen uint8
		for first := true; ; first = false {
			key, plain, more := sc.Member(first)
			if !more {
				break
			}
			if !plain {
				return false
			}
			var f uint8
			ok := true
			switch key {
			case "name":
				f = 1
				name, ok = sc.Text()
			case "identifier":
				f = 2
				identifier, ok = sc.Text()
			case "value":
				f = 4
				a, ok = d.value()
			default:
				if attrKeys.Folds(key) {
					return false
				}
				ok = sc.Skip()
			}
			if !ok || seen&f != 0 {
				return false
			}
			seen |= f
		}
		a.key = identifier
		if a.key == "" {
			a.key = name
		}
		if a.key != "" && a.isSet {
			d.attrs = append(d.attrs, a)
		}
	}
	return sc.Ok()
}

// value is attributeValue: a text or a list of texts, unset when null or empty.
func (d *Decoder) value() (attr, bool) {
	sc := &d.sc
	if sc.Peek() == '[' {
		list, ok := sc.Texts()
		return attr{list: list, isSet: len(list) > 0}, ok
	}
	v, ok := sc.Text()
	return attr{text: v, isSet: v != ""}, ok
}

// canonical is the canonical JSON of the attributes as Decode's map holds
// them: the last value of a key wins; nil for none.
func (d *Decoder) canonical() []byte {
	if len(d.attrs) == 0 {
		return nil
	}
	slices.SortStableFunc(d.attrs, func(a, b attr) int { return strings.Compare(a.key, b.key) })
	n := 2 // the text's length without escapes: allocated once
	for _, a := range d.attrs {
		n += len(a.key) + len(a.text) + 6
		for _, v := range a.list {
			n += len(v) + 3
		}
	}
	b := append(make([]byte, 0, n), '{')
	for i, a := range d.attrs {
		if i+1 < len(d.attrs) && d.attrs[i+1].key == a.key {
			continue
		}
		if len(b) > 1 {
			b = append(b, ',')
		}
		b = jsonscan.AppendString(b, a.key)
		b = append(b, ':')
		if a.list == nil {
			b = jsonscan.AppendString(b, a.text)
			continue
		}
		b = append(b, '[')
		for j, v := range a.list {
			if j > 0 {
				b = append(b, ',')
			}
			b = jsonscan.AppendString(b, v)
		}
		b = append(b, ']')
	}
	return append(b, '}')
}
