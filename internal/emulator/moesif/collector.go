package moesif

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"time"

	"etl/internal/emulator/emu"
	"etl/internal/pace"
	"etl/internal/vendors"
)

// Collector is Moesif's collector API (another host than search, with its
// own key: X-Moesif-Application-Id) writing into the same users. It is
// unmetered, and has its own request log.
type Collector struct {
	*emu.Server
	e     *Emulator
	appID string
}

// Collector returns a collector writing into e's users, accepting
// applicationID. Each call returns a new handler with its own log.
func (e *Emulator) Collector(applicationID string) *Collector {
	// The collector is unmetered.
	return &Collector{Server: emu.NewServer(errorBody, pace.Limits{}), e: e, appID: applicationID}
}

// reserved are the metadata keys Moesif derives the user's profile from.
var reserved = map[string]func(*User) *string{
	"email":      func(u *User) *string { return &u.Email },
	"name":       func(u *User) *string { return &u.Name },
	"first_name": func(u *User) *string { return &u.FirstName },
	"last_name":  func(u *User) *string { return &u.LastName },
	"phone":      func(u *User) *string { return &u.Phone },
}

func (c *Collector) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	auth := c.appID != "" && r.Header.Get("X-Moesif-Application-Id") == c.appID
	call := c.Begin(w, r, auth)
	if call == nil {
		return
	}
	switch {
	case r.URL.Path != "/v1/users/batch":
		call.Error(w, http.StatusNotFound, "Not found")
	case r.Method == http.MethodPost:
		c.batch(w, r, call)
	default:
		call.Error(w, http.StatusMethodNotAllowed, "Method not allowed")
	}
}

// batchUser is what the emulator keeps of an item of POST /v1/users/batch;
// other keys (campaign…) are accepted and dropped.
type batchUser struct {
	UserID       *string        `json:"user_id"`
	CompanyID    *string        `json:"company_id"`
	ModifiedTime *string        `json:"modified_time"`
	Metadata     map[string]any `json:"metadata"`
}

// batch upserts users: existing ones are deep-merged (metadata key by key),
// missing ones created. The answer is 201 with no per-item results; an item
// without user_id refuses the whole request.
func (c *Collector) batch(w http.ResponseWriter, r *http.Request, call *emu.Call) {
	body, err := io.ReadAll(io.LimitReader(r.Body, vendors.Of[vendors.Moesif].MaxBulkBytes+1))
	if err != nil {
		call.Error(w, http.StatusBadRequest, "unreadable body")
		return
	}
	if int64(len(body)) > vendors.Of[vendors.Moesif].MaxBulkBytes {
		call.Error(w, http.StatusRequestEntityTooLarge, "request body larger than 50 MB")
		return
	}
	var raw []json.RawMessage
	if err := json.Unmarshal(body, &raw); err != nil {
		call.Error(w, http.StatusBadRequest, "body must be a JSON array of users")
		return
	}
	call.Items(len(raw))
	items := make([]batchUser, len(raw))
	for i, it := range raw {
		dec := json.NewDecoder(bytes.NewReader(it))
		dec.UseNumber() // metadata numbers stay exact
		if err := dec.Decode(&items[i]); err != nil {
			call.Error(w, http.StatusBadRequest, fmt.Sprintf("users[%d]: %v", i, err))
			return
		}
		if items[i].UserID == nil || *items[i].UserID == "" {
			call.Error(w, http.StatusBadRequest, fmt.Sprintf("users[%d]: user_id is required", i))
			return
		}
	}
	now := time.Now().UTC().Format(isoZ)
	c.e.mu.Lock()
	for _, it := range items {
		c.e.upsert(it, now)
	}
	c.e.mu.Unlock()
	call.Reply(w, http.StatusCreated, nil)
}

// upsert applies one batch item; the caller holds e.mu. The stored user is
// replaced, never edited, and modified_time moves only on a real change.
func (e *Emulator) upsert(it batchUser, now string) {
	old, exists := e.users[*it.UserID]
	u := User{UserID: *it.UserID, FirstSeenTime: now}
	if exists {
		u = *old.User
	}
	u.Metadata = merged(u.Metadata, it.Metadata)
	if it.CompanyID != nil {
		u.CompanyID = *it.CompanyID
	}
	for key, field := range reserved {
		if s, ok := it.Metadata[key].(string); ok {
			*field(&u) = s
		}
	}
	if exists && same(*old.User, u) {
		return
	}
	u.ModifiedTime = now
	if it.ModifiedTime != nil && *it.ModifiedTime != "" {
		u.ModifiedTime = *it.ModifiedTime
	}
	e.put(&u)
}

// merged returns a new map: old with patch deep-merged into it.
func merged(old, patch map[string]any) map[string]any {
	if old == nil && patch == nil {
		return nil
	}
	out := make(map[string]any, len(old)+len(patch))
	for k, v := range old {
		out[k] = v
	}
	for k, v := range patch {
		pm, pok := v.(map[string]any)
		om, ook := out[k].(map[string]any)
		if pok && ook {
			out[k] = merged(om, pm)
			continue
		}
		out[k] = v
	}
	return out
}

// same compares users as the search API would show them (numbers decoded
// from a request and numbers seeded as Go ints compare by their JSON).
func same(a, b User) bool {
	x, _ := json.Marshal(a)
	y, _ := json.Marshal(b)
	return bytes.Equal(x, y)
}
