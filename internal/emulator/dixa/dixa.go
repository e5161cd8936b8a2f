// Package dixa emulates Dixa's /v1/endusers API as vendors.md describes it:
// raw or Bearer token auth, pageLimit 1..1000 (else 400), opaque pageKey
// cursors in meta.next (a relative path on even pages, an absolute URL on odd
// ones), an empty last page that still offers a next link when the data ends
// on a page boundary, mutually exclusive filters, and 429s beyond a token
// bucket of 10 requests/s with capacity 4. Bulk writes (PATCH /v1/endusers,
// POST /v1/endusers/bulk) answer one outcome per item, in input order.
package dixa

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"etl/internal/emulator/emu"
	"etl/internal/emulator/people"
	"etl/internal/vendors"
)

// EndUser is Dixa's wire format.
type EndUser struct {
	ID                     string            `json:"id"`
	CreatedAt              string            `json:"createdAt"`
	DisplayName            string            `json:"displayName,omitempty"`
	Email                  string            `json:"email,omitempty"`
	PhoneNumber            string            `json:"phoneNumber,omitempty"` // E.164
	AdditionalEmails       []string          `json:"additionalEmails"`
	AdditionalPhoneNumbers []string          `json:"additionalPhoneNumbers"`
	FirstName              string            `json:"firstName,omitempty"`
	LastName               string            `json:"lastName,omitempty"`
	MiddleNames            []string          `json:"middleNames"`
	AvatarURL              string            `json:"avatarUrl,omitempty"`
	ExternalID             string            `json:"externalId,omitempty"`
	CustomAttributes       []CustomAttribute `json:"customAttributes"`
}

// CustomAttribute is one of an end user's custom attributes; Value is a
// string or a list of strings.
type CustomAttribute struct {
	ID         string `json:"id"`
	Name       string `json:"name"`
	Identifier string `json:"identifier"`
	Value      any    `json:"value"`
}

// Emulator serves one Dixa organisation.
type Emulator struct {
	*emu.Server
	token string
	mu    sync.Mutex
	// users are in creation order, which is the listing order. A write
	// replaces a record (and its slices) whole, never edits it in place:
	// Records hands out shallow copies.
	users []EndUser
	docs  [][]byte // docs[i] is users[i] rendered (emu.Render), redone on every change
	next  int      // id counter for inserted users
}

// New returns an emulator holding users, accepting token.
func New(token string, users []EndUser) *Emulator {
	e := &Emulator{token: token,
		Server: emu.NewServer(errorBody, vendors.Of[vendors.Dixa].Limits)}
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
	b, _ := json.Marshal(map[string]string{"message": msg})
	return b
}

// UUID makes a deterministic version-4-shaped uuid from n.
func UUID(n int) string {
	return fmt.Sprintf("%08x-%04x-4%03x-8%03x-%012x", 0xd1a0000+n/1_000_000, n%0x10000, n%0x1000, (n/7)%0x1000, n)
}

var plans = []string{"free", "pro", "team"}

// FromPeople renders people as Dixa end users, one each, with ids from start.
// The variety is Dixa's: createdAt sometimes with a "[GMT]" zone suffix,
// chat-only users without externalId, users known only by a display name,
// mixed-case emails, phones only sometimes (always E.164), and custom
// attributes with string or list values.
func FromPeople(ps []people.Person, start int) []EndUser {
	out := make([]EndUser, len(ps))
	for i, p := range ps {
		k := p.Index
		u := EndUser{
			ID: UUID(start + i), Email: p.Email, FirstName: p.FirstName, LastName: p.LastName,
			DisplayName: strings.TrimSpace(p.FirstName + " " + p.LastName), ExternalID: p.ExternalID,
			AdditionalEmails: append([]string{}, p.OtherEmails...), AdditionalPhoneNumbers: []string{}, MiddleNames: []string{},
			CustomAttributes: []CustomAttribute{{ID: UUID(9_000_000 + start + i), Name: "Plan", Identifier: "plan", Value: plans[k%3]}},
		}
		switch k % 3 {
		case 0:
			u.CreatedAt = p.CreatedAt.Format("2006-01-02T15:04:05.000Z") + "[GMT]"
		case 1:
			u.CreatedAt = p.CreatedAt.Format(time.RFC3339)
		default:
			u.CreatedAt = p.CreatedAt.Format("2006-01-02T15:04:05.000Z")
		}
		if k%4 == 3 { // started as an anonymous chat: no id from the customer's product
			u.ExternalID = ""
		}
		if k%5 == 2 { // only a display name was ever captured
			u.FirstName, u.LastName = "", ""
		}
		if k%6 == 1 && u.Email != "" {
			u.Email = strings.ToUpper(u.Email[:1]) + u.Email[1:]
		}
		if k%2 == 0 {
			u.PhoneNumber = p.Phone
		}
		if k%8 == 5 {
			u.AdditionalPhoneNumbers = []string{fmt.Sprintf("+4530%06d", k%1_000_000)}
			u.MiddleNames = []string{"Marie"}
			u.AvatarURL = fmt.Sprintf("https://files.dixa.example/avatars/%d.png", k)
			u.CustomAttributes = append(u.CustomAttributes,
				CustomAttribute{ID: UUID(8_000_000 + start + i), Name: "Languages", Identifier: "languages", Value: []string{"en", "da"}})
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
	a := r.Header.Get("Authorization")
	auth := e.token != "" && (a == e.token || a == "Bearer "+e.token)
	call := e.Begin(w, r, auth)
	if call == nil {
		return
	}
	switch {
	case r.URL.Path == "/v1/endusers/bulk" && r.Method == http.MethodPost:
		e.bulk(w, r, call, true)
	case r.URL.Path != "/v1/endusers":
		call.Error(w, http.StatusNotFound, "An entity in this request could not be found")
	case r.Method == http.MethodGet:
		e.list(w, r, call)
	case r.Method == http.MethodPatch:
		e.bulk(w, r, call, false)
	default:
		call.Error(w, http.StatusMethodNotAllowed, "Method not allowed")
	}
}

// cursor is what a pageKey encodes; clients must treat it as opaque.
type cursor struct {
	Offset int `json:"o"`
	Limit  int `json:"l"`
}

func (c cursor) key() string {
	b, _ := json.Marshal(c)
	return base64.RawURLEncoding.EncodeToString(b)
}

func (e *Emulator) list(w http.ResponseWriter, r *http.Request, call *emu.Call) {
	q := r.URL.Query()
	cur := cursor{Limit: vendors.Of[vendors.Dixa].DefaultPageSize}
	if v := q.Get("pageKey"); v != "" {
		b, err := base64.RawURLEncoding.DecodeString(v)
		if err != nil || json.Unmarshal(b, &cur) != nil || cur.Offset < 0 {
			call.Error(w, http.StatusBadRequest, "Invalid value for: query parameter pageKey")
			return
		}
	}
	if v := q.Get("pageLimit"); v != "" {
		cur.Limit, _ = strconv.Atoi(v) // unreadable is 0: refused below
	}
	if cur.Limit < 1 || cur.Limit > vendors.Of[vendors.Dixa].MaxPageSize {
		call.Error(w, http.StatusBadRequest, "Invalid value for: query parameter pageLimit")
		return
	}
	var filter func(EndUser) bool
	for _, f := range []struct {
		param string
		field func(EndUser) string
	}{
		{"email", func(u EndUser) string { return u.Email }},
		{"phone", func(u EndUser) string { return u.PhoneNumber }},
		{"externalId", func(u EndUser) string { return u.ExternalID }},
	} {
		if v := q.Get(f.param); v != "" {
			if filter != nil {
				call.Error(w, http.StatusBadRequest, "Invalid filters: Cannot provide more than one filter")
				return
			}
			filter = func(u EndUser) bool { return f.field(u) == v }
		}
	}
	// Only the page's documents are taken (a write replaces a document,
	// never edits one).
	e.mu.Lock()
	var match [][]byte
	if filter == nil {
		match = e.docs
	} else {
		for i, u := range e.users {
			if filter(u) {
				match = append(match, e.docs[i])
			}
		}
	}
	var page [][]byte
	if cur.Offset < len(match) {
		page = append(page, match[cur.Offset:min(len(match), cur.Offset+cur.Limit)]...)
	}
	e.mu.Unlock()

	// A full page always offers a next link, even when nothing follows, and
	// so does the empty page past the end: clients must stop on empty data.
	type meta struct {
		Previous string `json:"previous,omitempty"`
		Next     string `json:"next,omitempty"`
	}
	var m meta
	if len(page) == cur.Limit || len(page) == 0 {
		m.Next = e.link(r, q, cursor{Offset: cur.Offset + len(page), Limit: cur.Limit})
	}
	if cur.Offset > 0 {
		m.Previous = e.link(r, q, cursor{Offset: max(0, cur.Offset-cur.Limit), Limit: cur.Limit})
	}
	// {"data":[…],"meta":{…}}, as json.Marshal writes the two fields.
	body, ok := emu.Join(append(emu.Body(), `{"data":`...), page)
	if !ok {
		call.Error(w, http.StatusInternalServerError, "An end user cannot be rendered")
		return
	}
	body = append(body, `,"meta":`...)
	body = append(body, emu.Render(m)...)
	call.Reply(w, http.StatusOK, append(body, '}'))
}

// link renders a page link carrying the request's filters: a relative path
// for even pages, an absolute URL for odd ones, so clients meet both forms.
func (e *Emulator) link(r *http.Request, q url.Values, c cursor) string {
	lq := url.Values{"pageKey": {c.key()}}
	for _, k := range []string{"email", "phone", "externalId"} {
		if v := q.Get(k); v != "" {
			lq.Set(k, v)
		}
	}
	path := "/v1/endusers?" + lq.Encode()
	if (c.Offset/c.Limit)%2 == 1 {
		scheme := "http"
		if r.TLS != nil {
			scheme = "https"
		}
		return scheme + "://" + r.Host + path
	}
	return path
}
