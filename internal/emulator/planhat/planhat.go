// Package planhat emulates Planhat's /endusers API as vendors.md describes it:
// Bearer auth, offset paging over a bare JSON array with the limit clamped to
// 2,000, archived users hidden unless asked for, extra fields the client must
// ignore, and 429s beyond 150 requests in any second or 200 in any minute.
package planhat

import (
	"encoding/json"
	"fmt"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"etl/internal/emulator/emu"
	"etl/internal/emulator/people"
	"etl/internal/vendors"
)

// EndUser is Planhat's wire format.
type EndUser struct {
	ID          string         `json:"_id"`
	Email       string         `json:"email,omitempty"`
	FirstName   string         `json:"firstName,omitempty"`
	LastName    string         `json:"lastName,omitempty"`
	Name        string         `json:"name,omitempty"`
	CompanyID   string         `json:"companyId,omitempty"`
	CompanyName string         `json:"companyName,omitempty"`
	ExternalID  string         `json:"externalId,omitempty"`
	SourceID    string         `json:"sourceId,omitempty"`
	Position    string         `json:"position,omitempty"`
	Phone       string         `json:"phone,omitempty"`
	Tags        []string       `json:"tags"`
	OtherEmails []string       `json:"otherEmails"`
	Featured    bool           `json:"featured"`
	Primary     bool           `json:"primary"`
	Archived    bool           `json:"archived"`
	NPS         *int           `json:"nps"`
	CreateDate  string         `json:"createDate,omitempty"`
	UpdatedAt   string         `json:"updatedAt,omitempty"`
	LastActive  string         `json:"lastActive,omitempty"`
	Custom      map[string]any `json:"custom,omitempty"`
	// Fields real responses carry that clients must ignore.
	EmailMd5  string  `json:"emailMd5,omitempty"`
	V         int     `json:"__v"`
	Relevance float64 `json:"relevance,omitempty"`
}

// Writes counts the items of every PUT /endusers accepted so far.
func (e *Emulator) Writes() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.writes
}

// Emulator serves one Planhat tenant.
type Emulator struct {
	*emu.Server
	token string
	mu    sync.Mutex
	users []EndUser // kept sorted by _id; insertion order is _id order too
	docs  [][]byte  // docs[i] is users[i] rendered (emu.Render), redone on every change
	next  int       // ObjectId counter
	// OnList, when set, runs after each list request has been answered
	// (with the count of list requests so far): tests use it to change data
	// in the middle of a scan.
	OnList func(n int)
	lists  int
	writes int
	raw    []json.RawMessage // InsertRaw's records, listed after every user
	// Now stamps updatedAt on writes (tests pin it).
	Now func() time.Time
}

// New returns an emulator holding users, accepting token.
func New(token string, users []EndUser) *Emulator {
	e := &Emulator{token: token,
		Server: emu.NewServer(errorBody, vendors.Of[vendors.Planhat].Limits)}
	e.users = append(e.users, users...)
	sort.Slice(e.users, func(i, j int) bool { return e.users[i].ID < e.users[j].ID })
	e.docs = make([][]byte, len(e.users))
	for i := range e.users {
		e.docs[i] = emu.Render(e.users[i])
	}
	e.next = len(users)
	e.Now = time.Now
	return e
}

func errorBody(_ int, msg string) []byte {
	b, _ := json.Marshal(map[string]string{"error": msg})
	return b
}

// ObjectID makes a 24-hex id that grows with n, as Mongo ObjectIds grow with time.
func ObjectID(n int) string {
	return fmt.Sprintf("%08x%016x", 0x65000000+n, n)
}

// FromPeople renders people as Planhat end users, one each, with ids from start.
func FromPeople(ps []people.Person, start int) []EndUser {
	out := make([]EndUser, len(ps))
	for i, p := range ps {
		out[i] = EndUser{
			ID: ObjectID(start + i), Email: p.Email, FirstName: p.FirstName, LastName: p.LastName,
			Name: strings.TrimSpace(p.FirstName + " " + p.LastName), CompanyID: p.CompanyID, CompanyName: p.CompanyName,
			ExternalID: p.ExternalID, Phone: p.Phone, Tags: p.Tags, OtherEmails: p.OtherEmails,
			CreateDate: p.CreatedAt.Format("2006-01-02T15:04:05.000Z"), UpdatedAt: p.UpdatedAt.Format("2006-01-02T15:04:05.000Z"),
			Custom:   map[string]any{"Days in Phase": i % 30, "Plan Tier": []string{"free", "pro", "team"}[i%3]},
			EmailMd5: fmt.Sprintf("%032x", i), V: 0, Relevance: 1,
		}
	}
	return out
}

// Insert adds users with fresh ObjectIds (so they sort after every existing one).
func (e *Emulator) Insert(users ...EndUser) {
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, u := range users {
		u.ID = ObjectID(1_000_000_000 + e.next)
		e.next++
		e.add(u)
	}
}

// add stores a new user, after every other; the caller holds e.mu.
func (e *Emulator) add(u EndUser) {
	e.users = append(e.users, u)
	e.docs = append(e.docs, emu.Render(u))
}

// changed renders users[i] again after a change; the caller holds e.mu.
func (e *Emulator) changed(i int) { e.docs[i] = emu.Render(e.users[i]) }

// Archive marks users archived, as Planhat's UI does: they stay in the
// list only for clients that ask for archived users.
func (e *Emulator) Archive(ids ...string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	for i := range e.users {
		for _, id := range ids {
			if e.users[i].ID == id {
				e.users[i].Archived = true
				e.changed(i)
			}
		}
	}
}

// Users returns a copy of every end user, archived included.
func (e *Emulator) Users() []EndUser {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]EndUser(nil), e.users...)
}

func (e *Emulator) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	auth := r.Header.Get("Authorization") == "Bearer "+e.token
	if r.URL.Path != "/endusers" {
		call := e.Begin(w, r, auth)
		if call != nil {
			call.Error(w, http.StatusNotFound, "Not found")
		}
		return
	}
	call := e.Begin(w, r, auth)
	if call == nil {
		return
	}
	switch r.Method {
	case http.MethodGet:
		e.list(w, r, call)
	case http.MethodPut:
		e.upsert(w, r, call)
	default:
		call.Error(w, http.StatusMethodNotAllowed, "method not allowed")
	}
}

func (e *Emulator) list(w http.ResponseWriter, r *http.Request, call *emu.Call) {
	q := r.URL.Query()
	limit, offset := 100, 0
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			call.Error(w, http.StatusBadRequest, "invalid limit")
			return
		}
		limit = min(n, vendors.Of[vendors.Planhat].MaxPageSize)
	}
	if v := q.Get("offset"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			call.Error(w, http.StatusBadRequest, "invalid offset")
			return
		}
		offset = n
	}
	archived := q.Get("archived") == "true"
	sortBy := q.Get("sort")
	if sortBy != "" && sortBy != "_id" && sortBy != "-_id" {
		e.mu.Lock()
		e.lists++
		e.mu.Unlock()
		call.Error(w, http.StatusBadRequest, "unsupported sort")
		return
	}
	// Only the page's documents are taken (a write replaces a document,
	// never edits one), so that listing a large tenant (make bench serves
	// 250,000) stays cheap.
	e.mu.Lock()
	var page [][]byte
	visible := len(e.users)
	if archived && sortBy != "-_id" { // every user, in _id order
		if offset < visible {
			page = append(page, e.docs[offset:min(visible, offset+limit)]...)
		}
	} else {
		var idx []int
		for i := range e.users {
			if !e.users[i].Archived || archived {
				idx = append(idx, i)
			}
		}
		if sortBy == "-_id" {
			sort.SliceStable(idx, func(i, j int) bool { return e.users[idx[i]].ID > e.users[idx[j]].ID })
		}
		if visible = len(idx); offset < visible {
			for _, i := range idx[offset:min(visible, offset+limit)] {
				page = append(page, e.docs[i])
			}
		}
	}
	var raw []json.RawMessage
	if lo, hi := max(offset-visible, 0), offset+limit-visible; hi > 0 && lo < len(e.raw) {
		raw = e.raw[lo:min(len(e.raw), hi)]
	}
	e.lists++
	n := e.lists
	e.mu.Unlock()
	body, ok := emu.Join(emu.Body(), page)
	if !ok {
		call.Error(w, http.StatusInternalServerError, "an end user cannot be rendered")
		return
	}
	body = appendRaw(body, raw)
	call.Reply(w, http.StatusOK, body)
	if e.OnList != nil {
		e.OnList(n)
	}
}
