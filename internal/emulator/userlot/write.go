package userlot

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"regexp"
	"time"

	"etl/internal/emulator/emu"
)

var emailRE = regexp.MustCompile(`^[^@\s]+@[^@\s]+\.[^@\s]+$`)

// writable are the documented keys a PUT may set; id, created_at and
// updated_at are Userlot's own, and every other key is a custom field.
var writable = map[string]func(*EndUser) *string{
	"external_id":        func(u *EndUser) *string { return &u.ExternalID },
	"source_external_id": func(u *EndUser) *string { return &u.SourceExternalID },
	"first_name":         func(u *EndUser) *string { return &u.FirstName },
	"last_name":          func(u *EndUser) *string { return &u.LastName },
	"name":               func(u *EndUser) *string { return &u.Name },
	"email":              func(u *EndUser) *string { return &u.Email },
	"company_id":         func(u *EndUser) *string { return &u.CompanyID },
	"last_seen_at":       func(u *EndUser) *string { return &u.LastSeenAt },
}

// upsert is PUT /api/v1/end_users: one record, matched on id, then
// external_id, then source_external_id, else created (201). An unknown id
// is 404; an invalid email or an external_id another record has is 422. A
// PUT that changes nothing leaves updated_at alone.
func (e *Emulator) upsert(w http.ResponseWriter, r *http.Request, call *emu.Call) {
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	var in map[string]any
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber() // custom numbers stay exact
	if err != nil || dec.Decode(&in) != nil || in == nil {
		call.Error(w, http.StatusBadRequest, "body must be a JSON object")
		return
	}
	call.Items(1)
	e.mu.Lock()
	u, status, msg := e.put(in)
	e.mu.Unlock()
	if msg != "" {
		call.Error(w, status, msg)
		return
	}
	out, err := json.Marshal(u)
	if err != nil {
		call.Error(w, http.StatusInternalServerError, err.Error())
		return
	}
	call.Reply(w, status, out)
}

// put applies one PUT body; the caller holds e.mu. It returns the record
// and the status, or the status and message of a refusal.
func (e *Emulator) put(in map[string]any) (EndUser, int, string) {
	str := func(k string) string { s, _ := in[k].(string); return s }
	i := -1
	if id := str("id"); id != "" {
		if i = e.find(func(u EndUser) string { return u.ID }, id); i < 0 {
			return EndUser{}, http.StatusNotFound, fmt.Sprintf("End user %s not found", id)
		}
	} else {
		if x := str("external_id"); x != "" {
			i = e.find(func(u EndUser) string { return u.ExternalID }, x)
		}
		if x := str("source_external_id"); i < 0 && x != "" {
			i = e.find(func(u EndUser) string { return u.SourceExternalID }, x)
		}
	}
	var u EndUser
	if i >= 0 {
		u = e.users[i]
	}
	u.Custom = maps.Clone(u.Custom) // replaced whole: copies handed out keep theirs
	if u.Custom == nil {
		u.Custom = map[string]any{}
	}
	for k, v := range in {
		field, ok := writable[k]
		switch {
		case ok && v == nil:
			*field(&u) = ""
		case ok:
			s, isStr := v.(string)
			if !isStr {
				return EndUser{}, http.StatusUnprocessableEntity, k + " must be a string"
			}
			*field(&u) = s
		case !documented[k]:
			u.Custom[k] = v
		}
	}
	// Only what the PUT sets is validated: a record stored before a rule
	// existed must still take changes to its other fields.
	if str("email") != "" && !emailRE.MatchString(u.Email) {
		return EndUser{}, http.StatusUnprocessableEntity, "Email is invalid"
	}
	if x := str("external_id"); x != "" {
		for j, o := range e.users {
			if j != i && o.ExternalID == x {
				return EndUser{}, http.StatusUnprocessableEntity, fmt.Sprintf("External id %s has already been taken", x)
			}
		}
	}
	now := time.Now().UTC().Format("2006-01-02T15:04:05.000Z07:00")
	switch {
	case i < 0:
		u.ID = UUID(200_000_000 + e.next)
		e.next++
		u.CreatedAt, u.UpdatedAt = now, now
		e.add(u)
		return u, http.StatusCreated, ""
	case same(e.users[i], u):
		return e.users[i], http.StatusOK, ""
	}
	u.UpdatedAt = now
	e.replace(i, u)
	return u, http.StatusOK, ""
}

// find returns the index of the first record whose key is v; -1 if none.
func (e *Emulator) find(key func(EndUser) string, v string) int {
	for i, u := range e.users {
		if key(u) == v {
			return i
		}
	}
	return -1
}

// same compares records as the list API shows them.
func same(a, b EndUser) bool {
	x, _ := json.Marshal(a)
	y, _ := json.Marshal(b)
	return bytes.Equal(x, y)
}
