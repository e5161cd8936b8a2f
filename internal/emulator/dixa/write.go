package dixa

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"time"

	"etl/internal/emulator/emu"
	"etl/internal/vendors"
)

var (
	e164    = regexp.MustCompile(`^\+[1-9][0-9]{1,14}$`)
	emailRE = regexp.MustCompile(`^[^@\s]+@[^@\s]+\.[^@\s]+$`)
)

// Outcome is one item's result in a bulk answer.
type Outcome struct {
	Data  *EndUser `json:"data,omitempty"`
	Error *Failure `json:"error,omitempty"`
	Type  string   `json:"_type"` // BulkActionSuccess or BulkActionFailure
}

// Failure says why an item failed; Type is Validation, EmailExists,
// PhoneNumberExists, EmptyPatchSet or NotFound.
type Failure struct {
	ID      string `json:"id,omitempty"`
	Message string `json:"message"`
	Type    string `json:"_type"`
}

// stringFields and listFields are the end user keys a bulk write may set;
// any other key is ignored, as Dixa ignores unknown patch fields.
var stringFields = map[string]func(*EndUser) *string{
	"displayName": func(u *EndUser) *string { return &u.DisplayName },
	"email":       func(u *EndUser) *string { return &u.Email },
	"phoneNumber": func(u *EndUser) *string { return &u.PhoneNumber },
	"firstName":   func(u *EndUser) *string { return &u.FirstName },
	"lastName":    func(u *EndUser) *string { return &u.LastName },
	"avatarUrl":   func(u *EndUser) *string { return &u.AvatarURL },
	"externalId":  func(u *EndUser) *string { return &u.ExternalID },
}

var listFields = map[string]func(*EndUser) *[]string{
	"additionalEmails":       func(u *EndUser) *[]string { return &u.AdditionalEmails },
	"additionalPhoneNumbers": func(u *EndUser) *[]string { return &u.AdditionalPhoneNumbers },
	"middleNames":            func(u *EndUser) *[]string { return &u.MiddleNames },
}

// holders indexes who holds each primary email (lower-cased) and phone, to
// check uniqueness without scanning the organisation for every item.
type holders map[string][]int

func (h holders) other(key string, self int) bool {
	return slices.ContainsFunc(h[key], func(i int) bool { return i != self })
}

func (h holders) move(old, now string, self int) {
	if old == now {
		return
	}
	if old != "" {
		h[old] = slices.DeleteFunc(h[old], func(i int) bool { return i == self })
	}
	if now != "" {
		h[now] = append(h[now], self)
	}
}

// bulk is PATCH /v1/endusers (create false) and POST /v1/endusers/bulk
// (create true): one outcome per item, in input order. A body that is not
// {"data":[objects]}, or carries more than the vendor's MaxBulk items, is refused whole.
func (e *Emulator) bulk(w http.ResponseWriter, r *http.Request, call *emu.Call, create bool) {
	raw, err := io.ReadAll(io.LimitReader(r.Body, 64<<20))
	var body struct {
		Data []json.RawMessage `json:"data"`
	}
	if err != nil || json.Unmarshal(raw, &body) != nil || body.Data == nil {
		call.Error(w, http.StatusBadRequest, `Invalid request body: expected {"data":[…]}`)
		return
	}
	call.Items(len(body.Data))
	if max := vendors.Of[vendors.Dixa].MaxBulk; len(body.Data) > max {
		call.Error(w, http.StatusBadRequest, fmt.Sprintf("Invalid request body: at most %d items per request", max))
		return
	}
	items := make([]map[string]any, len(body.Data))
	for i, it := range body.Data {
		if json.Unmarshal(it, &items[i]) != nil || items[i] == nil {
			call.Error(w, http.StatusBadRequest, fmt.Sprintf("Invalid request body: data[%d] is not an object", i))
			return
		}
	}
	e.mu.Lock()
	ids := make(map[string]int, len(e.users))
	emails, phones := holders{}, holders{}
	for i, u := range e.users {
		ids[u.ID] = i
		emails.move("", strings.ToLower(u.Email), i)
		phones.move("", u.PhoneNumber, i)
	}
	outs := make([]Outcome, len(items))
	for n, it := range items {
		self, u := -1, EndUser{ID: UUID(200_000_000 + e.next), CreatedAt: time.Now().UTC().Format("2006-01-02T15:04:05.000Z"),
			AdditionalEmails: []string{}, AdditionalPhoneNumbers: []string{}, MiddleNames: []string{}, CustomAttributes: []CustomAttribute{}}
		if !create {
			id, _ := it["id"].(string)
			i, ok := ids[id]
			if !ok {
				outs[n] = Outcome{Error: &Failure{ID: id, Message: fmt.Sprintf("End user %q not found", id), Type: "NotFound"}, Type: "BulkActionFailure"}
				continue
			}
			self, u = i, e.users[i]
		}
		old := u
		if f := apply(&u, it, self, emails, phones); f != nil {
			if !create {
				f.ID = u.ID
			}
			outs[n] = Outcome{Error: f, Type: "BulkActionFailure"}
			continue
		}
		if create {
			e.next++
			self = len(e.users)
			e.add(u)
			ids[u.ID] = self
			old = EndUser{}
		} else {
			e.replace(self, u) // replaced whole: copies handed out stay as they were
		}
		emails.move(strings.ToLower(old.Email), strings.ToLower(u.Email), self)
		phones.move(old.PhoneNumber, u.PhoneNumber, self)
		outs[n] = Outcome{Data: &u, Type: "BulkActionSuccess"}
	}
	e.mu.Unlock()
	status := http.StatusOK
	if create {
		status = http.StatusCreated
	}
	out, _ := json.Marshal(map[string]any{"data": outs})
	call.Reply(w, status, out)
}

// apply sets an item's known fields on u (a copy: lists are replaced, never
// edited) and checks them; self is u's index, -1 for a new end user.
func apply(u *EndUser, it map[string]any, self int, emails, phones holders) *Failure {
	keys := make([]string, 0, len(it))
	for k := range it {
		keys = append(keys, k)
	}
	slices.Sort(keys) // the first invalid field is named the same way every time
	known := false
	for _, k := range keys {
		if field, ok := stringFields[k]; ok {
			s, ok := it[k].(string)
			if !ok {
				return &Failure{Message: k + " must be a string", Type: "Validation"}
			}
			*field(u), known = s, true
		}
		if field, ok := listFields[k]; ok {
			list, ok := stringList(it[k])
			if !ok {
				return &Failure{Message: k + " must be a list of strings", Type: "Validation"}
			}
			*field(u), known = list, true
		}
	}
	if !known {
		if self < 0 {
			return &Failure{Message: "An end user needs at least one field", Type: "Validation"}
		}
		return &Failure{Message: "The patch set is empty", Type: "EmptyPatchSet"}
	}
	// Uniqueness is checked only for what the item sets: data that already
	// breaks it must not block a change of another field.
	if _, ok := it["email"]; ok && u.Email != "" {
		if !emailRE.MatchString(u.Email) {
			return &Failure{Message: fmt.Sprintf("Invalid email address %q", u.Email), Type: "Validation"}
		}
		if emails.other(strings.ToLower(u.Email), self) {
			return &Failure{Message: fmt.Sprintf("An end user with email %s already exists", u.Email), Type: "EmailExists"}
		}
	}
	if _, ok := it["phoneNumber"]; ok && u.PhoneNumber != "" {
		if !e164.MatchString(u.PhoneNumber) {
			return &Failure{Message: fmt.Sprintf("Invalid phone number %q: must be E.164", u.PhoneNumber), Type: "Validation"}
		}
		if phones.other(u.PhoneNumber, self) {
			return &Failure{Message: fmt.Sprintf("An end user with phone number %s already exists", u.PhoneNumber), Type: "PhoneNumberExists"}
		}
	}
	return nil
}

func stringList(v any) ([]string, bool) {
	vs, ok := v.([]any)
	if !ok {
		return nil, false
	}
	out := make([]string, len(vs))
	for i, x := range vs {
		if out[i], ok = x.(string); !ok {
			return nil, false
		}
	}
	return out, true
}
