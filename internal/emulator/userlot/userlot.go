// Package userlot emulates Userlot's /api/v1/end_users list as vendors.md
// describes it: ApiKey header, page (from 1) and per_page (default 100,
// above 500 clamped silently) over a bare JSON array that is empty after the
// last page, exact-match filters, custom fields as top-level snake_case keys,
// and 429s beyond 5 requests in any second. PUT upserts one record.
package userlot

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"time"

	"etl/internal/emulator/emu"
	"etl/internal/emulator/people"
	"etl/internal/vendors"
)

// EndUser is Userlot's wire format; Custom holds the custom fields, which
// Userlot sends as top-level keys beside the documented ones.
type EndUser struct {
	ID               string         `json:"id"`
	ExternalID       string         `json:"external_id,omitempty"`
	SourceExternalID string         `json:"source_external_id,omitempty"`
	FirstName        string         `json:"first_name,omitempty"`
	LastName         string         `json:"last_name,omitempty"`
	Name             string         `json:"name,omitempty"`
	Email            string         `json:"email,omitempty"`
	CompanyID        string         `json:"company_id,omitempty"`
	CreatedAt        string         `json:"created_at"`
	UpdatedAt        string         `json:"updated_at"`
	LastSeenAt       string         `json:"last_seen_at,omitempty"`
	Custom           map[string]any `json:"-"`
}

// documented are the keys Userlot defines; a custom field cannot take one.
var documented = map[string]bool{
	"id": true, "external_id": true, "source_external_id": true, "first_name": true, "last_name": true,
	"name": true, "email": true, "company_id": true, "created_at": true, "updated_at": true, "last_seen_at": true,
}

// MarshalJSON writes the custom fields at the top level, skipping any that
// has a documented field's name: one object with every key sorted (as
// json.Marshal writes a map), or the struct's own order without custom
// fields.
func (u EndUser) MarshalJSON() ([]byte, error) {
	type plain EndUser
	if len(u.Custom) == 0 {
		return json.Marshal(plain(u))
	}
	m := make(map[string]any, len(u.Custom)+len(documented))
	for k, v := range u.Custom {
		if !documented[k] {
			m[k] = v
		}
	}
	m["id"], m["created_at"], m["updated_at"] = u.ID, u.CreatedAt, u.UpdatedAt
	for k, v := range map[string]string{"external_id": u.ExternalID, "source_external_id": u.SourceExternalID,
		"first_name": u.FirstName, "last_name": u.LastName, "name": u.Name, "email": u.Email,
		"company_id": u.CompanyID, "last_seen_at": u.LastSeenAt} {
		if v != "" { // omitempty
			m[k] = v
		}
	}
	return json.Marshal(m)
}

// Emulator serves one Userlot product.
type Emulator struct {
	*emu.Server
	key string
	mu  sync.Mutex
	// users are in creation order, which is the listing order. A write
	// replaces a record (and its Custom map) whole, never edits it in place:
	// list answers marshal their copies after the lock is released.
	users []EndUser
	docs  [][]byte // docs[i] is users[i] rendered (emu.Render), redone on every change
	next  int      // id counter for inserted users
}

// New returns an emulator holding users, accepting key.
func New(key string, users []EndUser) *Emulator {
	e := &Emulator{key: key,
		Server: emu.NewServer(errorBody, vendors.Of[vendors.Userlot].Limits)}
	for _, u := range users {
		e.add(u)
	}
	return e
}

// add stores a new user, after every other; the caller holds e.mu (or
// owns e).
func (e *Emulator) add(u EndUser) {
	e.users = append(e.users, u)
	e.docs = append(e.docs, emu.Render(u))
}

// replace stores u in place of users[i]; the caller holds e.mu.
func (e *Emulator) replace(i int, u EndUser) {
	e.users[i] = u
	e.docs[i] = emu.Render(u)
}

func errorBody(_ int, msg string) []byte {
	b, _ := json.Marshal(map[string]string{"error": msg})
	return b
}

// UUID makes a deterministic uuid from n.
func UUID(n int) string {
	return fmt.Sprintf("0b1e7a00-%04x-4%03x-9%03x-%012x", n%0x10000, (n/0x10000)%0x1000, n%0x1000, n)
}

var channels = []string{"organic", "paid", "referral", "partner"}

// FromPeople renders people as Userlot end users, one each, with ids from
// start. Times are Rails-style, some with a +01:00 offset; some users carry
// a CRM id (source_external_id); custom fields vary in type, and some are null.
func FromPeople(ps []people.Person, start int) []EndUser {
	cet := time.FixedZone("CET", 3600)
	out := make([]EndUser, len(ps))
	for i, p := range ps {
		k := p.Index
		u := EndUser{ID: UUID(start + i), ExternalID: p.ExternalID, FirstName: p.FirstName, LastName: p.LastName,
			Name: p.FirstName + " " + p.LastName, Email: p.Email, CompanyID: p.CompanyID,
			Custom: map[string]any{
				"total_revenue":  float64(k%97) * 12.5,
				"nps_score":      k % 11,
				"is_trial":       k%5 == 0,
				"signup_channel": channels[k%len(channels)],
			}}
		created, updated := p.CreatedAt, p.UpdatedAt
		if k%3 == 1 {
			created, updated = created.In(cet), updated.In(cet)
		}
		u.CreatedAt = created.Format("2006-01-02T15:04:05.000Z07:00")
		u.UpdatedAt = updated.Format("2006-01-02T15:04:05.000Z07:00")
		if k%2 == 0 {
			u.LastSeenAt = updated.Add(2 * time.Hour).Format("2006-01-02T15:04:05.000Z07:00")
		}
		if k%3 == 0 {
			u.SourceExternalID = fmt.Sprintf("hs-%d", 50_000+k)
		}
		if k%7 == 3 {
			u.Custom["churn_reason"] = nil
		}
		out[i] = u
	}
	return out
}

// Insert adds users with fresh ids, after every existing one.
func (e *Emulator) Insert(users ...EndUser) {
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, u := range users {
		u.ID = UUID(100_000_000 + e.next)
		e.next++
		e.add(u)
	}
}

// Records returns a copy of every end user, in listing order.
func (e *Emulator) Records() []EndUser {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]EndUser(nil), e.users...)
}

func (e *Emulator) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	auth := e.key != "" && r.Header.Get("ApiKey") == e.key
	call := e.Begin(w, r, auth)
	if call == nil {
		return
	}
	switch {
	case r.URL.Path != "/api/v1/end_users":
		call.Error(w, http.StatusNotFound, "Not found")
	case r.Method == http.MethodGet:
		e.list(w, r, call)
	case r.Method == http.MethodPut:
		e.upsert(w, r, call)
	default:
		call.Error(w, http.StatusMethodNotAllowed, "Method not allowed")
	}
}

func (e *Emulator) list(w http.ResponseWriter, r *http.Request, call *emu.Call) {
	q := r.URL.Query()
	page, perPage := 1, vendors.Of[vendors.Userlot].DefaultPageSize
	for _, p := range []struct {
		name string
		v    *int
	}{{"page", &page}, {"per_page", &perPage}} {
		if s := q.Get(p.name); s != "" {
			n, err := strconv.Atoi(s)
			if err != nil || n < 1 {
				call.Error(w, http.StatusBadRequest, p.name+" must be a positive integer")
				return
			}
			*p.v = n
		}
	}
	perPage = min(perPage, vendors.Of[vendors.Userlot].MaxPageSize)
	filters := map[string]func(EndUser) string{
		"external_id":        func(u EndUser) string { return u.ExternalID },
		"source_external_id": func(u EndUser) string { return u.SourceExternalID },
		"email":              func(u EndUser) string { return u.Email },
		"name":               func(u EndUser) string { return u.Name },
	}
	type filter struct {
		field func(EndUser) string
		want  string
	}
	var active []filter
	for param, field := range filters {
		if v := q.Get(param); v != "" {
			active = append(active, filter{field, v})
		}
	}
	// Only the page's documents are taken (a write replaces a document,
	// never edits one), so that listing a large tenant (make bench serves
	// 250,000) stays linear in its pages.
	var out [][]byte
	from := (page - 1) * perPage // < 0: overflow, an empty page
	e.mu.Lock()
	switch {
	case from < 0:
	case len(active) == 0:
		if from < len(e.docs) {
			out = append(out, e.docs[from:min(len(e.docs), from+perPage)]...)
		}
	default:
		for n, i := 0, 0; i < len(e.users) && n-from < perPage; i++ {
			ok := true
			for _, f := range active {
				ok = ok && f.field(e.users[i]) == f.want
			}
			if !ok {
				continue
			}
			if n >= from {
				out = append(out, e.docs[i])
			}
			n++
		}
	}
	e.mu.Unlock()
	body, ok := emu.Join(emu.Body(), out)
	if !ok {
		call.Error(w, http.StatusInternalServerError, "An end user cannot be rendered")
		return
	}
	call.Reply(w, http.StatusOK, body)
}
