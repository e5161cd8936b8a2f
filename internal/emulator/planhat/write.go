package planhat

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"regexp"

	"etl/internal/emulator/emu"
)

// upsertResult is Planhat's bulk answer.
type upsertResult struct {
	Created          int              `json:"created"`
	CreatedErrors    []map[string]any `json:"createdErrors"`
	InsertsKeys      []map[string]any `json:"insertsKeys"`
	Updated          int              `json:"updated"`
	UpdatedErrors    []map[string]any `json:"updatedErrors"`
	UpdatesKeys      []map[string]any `json:"updatesKeys"`
	NonUpdates       int              `json:"nonupdates"`
	Modified         []string         `json:"modified"`
	UpsertedIDs      []string         `json:"upsertedIds"`
	PermissionErrors []map[string]any `json:"permissionErrors"`
}

// MaxFieldLength: a longer value makes the whole payload invalid (400), the
// way a schema violation does, so clients must isolate the bad item.
const MaxFieldLength = 255

var emailRE = regexp.MustCompile(`^[^@\s]+@[^@\s]+\.[^@\s]+$`)

// upsert is PUT /endusers: items matched on _id > sourceId > externalId >
// email, else created. 200 when all succeed, 206 when some fail. updatedAt is
// bumped on every matched item, changed or not, as Planhat does.
func (e *Emulator) upsert(w http.ResponseWriter, r *http.Request, call *emu.Call) {
	body, err := io.ReadAll(io.LimitReader(r.Body, 64<<20))
	if err != nil {
		call.Error(w, http.StatusBadRequest, "unreadable body")
		return
	}
	var items []map[string]any
	if err := json.Unmarshal(body, &items); err != nil {
		call.Error(w, http.StatusBadRequest, "payload must be an array of end users")
		return
	}
	call.Items(len(items))
	for _, it := range items {
		for k, v := range it {
			s, ok := v.(string)
			if !ok && v != nil && k != "tags" && k != "otherEmails" && k != "custom" {
				call.Error(w, http.StatusBadRequest, fmt.Sprintf("invalid payload: %s must be a string", k))
				return
			}
			if len(s) > MaxFieldLength {
				call.Error(w, http.StatusBadRequest, fmt.Sprintf("invalid payload: %s longer than %d characters", k, MaxFieldLength))
				return
			}
		}
	}
	res := upsertResult{CreatedErrors: []map[string]any{}, InsertsKeys: []map[string]any{}, UpdatedErrors: []map[string]any{},
		UpdatesKeys: []map[string]any{}, Modified: []string{}, UpsertedIDs: []string{}, PermissionErrors: []map[string]any{}}
	e.mu.Lock()
	e.writes += len(items)
	now := e.Now().UTC().Format("2006-01-02T15:04:05.000Z")
	for _, it := range items {
		i := e.match(it)
		if msg := e.invalid(it, i); msg != "" {
			fail := map[string]any{"message": msg}
			for _, k := range []string{"_id", "sourceId", "externalId", "email"} {
				if v, ok := it[k]; ok {
					fail[k] = v
				}
			}
			if i < 0 {
				res.CreatedErrors = append(res.CreatedErrors, fail)
			} else {
				res.UpdatedErrors = append(res.UpdatedErrors, fail)
			}
			continue
		}
		if i < 0 {
			u := EndUser{ID: ObjectID(2_000_000_000 + e.next), CreateDate: now, UpdatedAt: now, Tags: []string{}, OtherEmails: []string{}}
			e.next++
			apply(&u, it)
			e.add(u)
			res.Created++
			res.InsertsKeys = append(res.InsertsKeys, map[string]any{"_id": u.ID})
			res.UpsertedIDs = append(res.UpsertedIDs, u.ID)
			continue
		}
		u := &e.users[i]
		if apply(u, it) {
			res.Updated++
			res.Modified = append(res.Modified, u.ID)
		} else {
			res.NonUpdates++
		}
		u.UpdatedAt = now // even for a no-op: why clients must send only changes
		e.changed(i)
		res.UpdatesKeys = append(res.UpdatesKeys, map[string]any{"_id": u.ID})
	}
	e.mu.Unlock()
	status := http.StatusOK
	if len(res.CreatedErrors)+len(res.UpdatedErrors)+len(res.PermissionErrors) > 0 {
		status = http.StatusPartialContent
	}
	out, _ := json.Marshal(res)
	call.Reply(w, status, out)
}

// match finds the user an item addresses; -1 when none.
func (e *Emulator) match(it map[string]any) int {
	for _, key := range []string{"_id", "sourceId", "externalId", "email"} {
		v, _ := it[key].(string)
		if v == "" {
			continue
		}
		for i, u := range e.users {
			var have string
			switch key {
			case "_id":
				have = u.ID
			case "sourceId":
				have = u.SourceID
			case "externalId":
				have = u.ExternalID
			case "email":
				have = u.Email
			}
			if have == v {
				return i
			}
		}
		if key == "_id" {
			return -1 // an unknown _id is not matched by other keys
		}
	}
	return -1
}

// invalid returns the item's validation failure, if any.
func (e *Emulator) invalid(it map[string]any, self int) string {
	email, _ := it["email"].(string)
	if email == "" {
		return ""
	}
	if !emailRE.MatchString(email) {
		return "invalid email"
	}
	for i, u := range e.users {
		if i != self && u.Email == email {
			return "email duplicated"
		}
	}
	return ""
}

// apply sets the item's fields; it reports whether anything changed.
func apply(u *EndUser, it map[string]any) bool {
	changed := false
	set := func(dst *string, key string) {
		if v, ok := it[key].(string); ok && *dst != v {
			*dst, changed = v, true
		}
	}
	set(&u.Email, "email")
	set(&u.FirstName, "firstName")
	set(&u.LastName, "lastName")
	set(&u.Name, "name")
	set(&u.ExternalID, "externalId")
	set(&u.SourceID, "sourceId")
	set(&u.Phone, "phone")
	set(&u.CompanyName, "companyName")
	return changed
}
