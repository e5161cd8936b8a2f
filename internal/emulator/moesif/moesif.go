// Package moesif emulates Moesif's user search (POST /v1/search/~/search/users)
// as vendors.md describes it: Bearer management key, an Elasticsearch body
// whose sort is honoured and whose search_after is compared against the
// compound sort key (ties on every key are skipped, as in Elasticsearch),
// size above 1,000 and from+size above 10,000 refused with 400, date sort
// values as epoch milliseconds, 200 and 201 answers alternating, and 429s
// beyond 500 requests in any minute. Its Collector serves the collector
// host's batch user writes into the same users.
package moesif

import (
	"bytes"
	"cmp"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"etl/internal/emulator/emu"
	"etl/internal/emulator/people"
	"etl/internal/vendors"
)

// User is a user's _source as the search API returns it. The reserved
// top-level fields are always present, blank when unset, as Moesif stores them.
type User struct {
	UserID        string         `json:"user_id"`
	CompanyID     string         `json:"company_id,omitempty"`
	Email         string         `json:"email"`
	Name          string         `json:"name"`
	FirstName     string         `json:"first_name"`
	LastName      string         `json:"last_name"`
	Phone         string         `json:"phone"`
	FirstSeenTime string         `json:"first_seen_time,omitempty"`
	LastSeenTime  string         `json:"last_seen_time,omitempty"`
	ModifiedTime  string         `json:"modified_time"`
	IPAddress     string         `json:"ip_address,omitempty"`
	SessionToken  []string       `json:"session_token,omitempty"`
	Metadata      map[string]any `json:"metadata,omitempty"`
}

// MaxWindow is Elasticsearch's max_result_window: from+size beyond it is refused.
const MaxWindow = 10000

// Emulator serves one Moesif application's users.
type Emulator struct {
	*emu.Server
	token string
	mu    sync.Mutex
	// users are keyed by user_id, the customer's id. A write stores a new
	// *User (with a new Metadata map) and resets sorted, never edits one in
	// place: Records hands out shallow copies.
	users    map[string]*stored
	sorted   []*stored // users in the order of sortSpec; nil when stale
	sortSpec string
	searches int
}

// New returns an emulator holding users, accepting token as the management key.
func New(token string, users []User) *Emulator {
	e := &Emulator{token: token, users: map[string]*stored{},
		Server: emu.NewServer(errorBody, vendors.Of[vendors.Moesif].Limits)}
	e.Insert(users...)
	return e
}

func errorBody(status int, msg string) []byte {
	b, _ := json.Marshal(map[string]any{"moesif_error": map[string]any{"code": errorCode(status), "msg": msg}})
	return b
}

func errorCode(status int) string {
	switch status {
	case http.StatusBadRequest:
		return "bad_request"
	case http.StatusUnauthorized:
		return "auth_error"
	case http.StatusNotFound:
		return "not_found"
	case http.StatusTooManyRequests:
		return "rate_limited"
	}
	return "server_error"
}

// Moesif writes times as ISO 8601, without a zone (UTC) or with Z.
const (
	isoLocal = "2006-01-02T15:04:05.000"
	isoZ     = "2006-01-02T15:04:05.000Z"
)

var plans = []string{"free", "pro", "team"}

// FromPeople renders people as Moesif users; user_id is the person's external
// id (a few carry a stray trailing space, as customers' ids sometimes do).
// Identity fields are spread between the top level and metadata's reserved
// keys, some modified_times are shared by a batch import (so sorting needs
// the _id tie-break), and metadata holds nested custom data.
func FromPeople(ps []people.Person) []User {
	imported := people.Epoch.Add(100 * 24 * time.Hour)
	out := make([]User, len(ps))
	for i, p := range ps {
		k := p.Index
		u := User{UserID: p.ExternalID, CompanyID: p.CompanyID,
			IPAddress:    fmt.Sprintf("203.0.113.%d", k%250+1),
			SessionToken: []string{fmt.Sprintf("sess-%08x", k*7919)},
			Metadata: map[string]any{"title": "Engineer", "plan": plans[k%3],
				"sales_info": map[string]any{"stage": "Customer", "lifetime_value": 1000 * (k % 50)}},
		}
		if k%17 == 5 {
			u.UserID += " "
		}
		switch k % 3 {
		case 0:
			u.Email = p.Email
		case 1:
			u.Metadata["email"] = p.Email
		default:
			u.Email, u.Metadata["email"] = p.Email, p.Email
		}
		switch k % 4 {
		case 0:
			u.FirstName, u.LastName = p.FirstName, p.LastName
		case 1:
			u.Metadata["first_name"], u.Metadata["last_name"] = p.FirstName, p.LastName
		case 2:
			u.Metadata["name"] = p.FirstName + " " + p.LastName
		default:
			u.Name = p.FirstName + " " + p.LastName
		}
		switch k % 5 {
		case 0:
			u.Metadata["phone"] = p.Phone
		case 1:
			u.Phone = p.Phone
		case 2:
			u.Metadata["photo_url"] = fmt.Sprintf("https://gravatar.example/%d.png", k)
		}
		layout := isoLocal
		if k%2 == 1 {
			layout = isoZ
		}
		u.FirstSeenTime = p.CreatedAt.Format(layout)
		u.LastSeenTime = p.UpdatedAt.Add(time.Hour).Format(layout)
		u.ModifiedTime = p.UpdatedAt.Format(layout)
		if k%4 == 0 {
			u.ModifiedTime = imported.Format(layout)
		}
		out[i] = u
	}
	return out
}

// Insert adds users, replacing any with the same user_id.
func (e *Emulator) Insert(users ...User) {
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, u := range users {
		e.put(&u)
	}
}

// stored is a user as the emulator keeps it, with what a search answers
// of it prepared when it is stored: its hit up to the sort values
// (emu.Render's _id and _source), nil when it cannot be rendered, and its
// dates' sort values (epoch millis).
type stored struct {
	*User
	hit   []byte
	id    []byte            // user_id rendered: the _id sort value
	times [len(dates)]int64 // the dates' sort values (epoch millis)
}

// put stores u, replacing any user with its user_id; the caller holds e.mu.
func (e *Emulator) put(u *User) {
	s := &stored{User: u, id: emu.Render(u.UserID)}
	for i, d := range dates {
		s.times[i] = millis(*d.of(u))
	}
	if src := emu.Render(u); src != nil {
		s.hit = append(append(append([]byte(`{"_id":`), s.id...), `,"_index":"users","_score":null,"_source":`...), src...)
	}
	e.users[u.UserID] = s
	e.sorted = nil
}

// Records returns a copy of every user, by user_id.
func (e *Emulator) Records() []User {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := make([]User, 0, len(e.users))
	for _, u := range e.users {
		out = append(out, *u.User)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].UserID < out[j].UserID })
	return out
}

func (e *Emulator) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	auth := e.token != "" && r.Header.Get("Authorization") == "Bearer "+e.token
	call := e.Begin(w, r, auth)
	if call == nil {
		return
	}
	switch {
	case r.URL.Path != "/v1/search/~/search/users":
		call.Error(w, http.StatusNotFound, "Not found")
	case r.Method == http.MethodPost:
		e.search(w, r, call)
	default:
		call.Error(w, http.StatusMethodNotAllowed, "Method not allowed")
	}
}

// request is the part of the Elasticsearch body the emulator understands;
// any other key is refused, as Elasticsearch refuses unknown keys.
type request struct {
	Size        *int              `json:"size"`
	From        int               `json:"from"`
	Sort        []json.RawMessage `json:"sort"`
	SearchAfter []json.RawMessage `json:"search_after"`
	Query       json.RawMessage   `json:"query"`
}

// key is one sort criterion: a date field (sorted as epoch millis) or _id.
type key struct {
	field string
	desc  bool
	date  int // 1 + the field's index in dates; 0 for _id
}

// dates are the date fields a search sorts on.
var dates = [...]struct {
	field string
	of    func(*User) *string
}{
	{"modified_time", func(u *User) *string { return &u.ModifiedTime }},
	{"first_seen_time", func(u *User) *string { return &u.FirstSeenTime }},
	{"last_seen_time", func(u *User) *string { return &u.LastSeenTime }},
}

func (e *Emulator) search(w http.ResponseWriter, r *http.Request, call *emu.Call) {
	var req request
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<20))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		call.Error(w, http.StatusBadRequest, "Invalid search body: "+err.Error())
		return
	}
	size := vendors.Of[vendors.Moesif].DefaultPageSize
	if req.Size != nil {
		size = *req.Size
	}
	switch {
	case size < 0 || size > vendors.Of[vendors.Moesif].MaxPageSize:
		call.Error(w, http.StatusBadRequest, fmt.Sprintf("size must be between 0 and %d", vendors.Of[vendors.Moesif].MaxPageSize))
		return
	case req.From < 0 || req.From+size > MaxWindow:
		call.Error(w, http.StatusBadRequest, fmt.Sprintf("Result window is too large, from + size must be less than or equal to: [%d]; use search_after", MaxWindow))
		return
	case req.From > 0 && req.SearchAfter != nil:
		call.Error(w, http.StatusBadRequest, "from must be 0 when search_after is used")
		return
	}
	if q := bytes.TrimSpace(req.Query); len(q) > 0 && string(q) != "null" && !bytes.Equal(compact(q), []byte(`{"match_all":{}}`)) {
		call.Error(w, http.StatusBadRequest, "the emulator supports no query but match_all")
		return
	}
	keys, err := parseSort(req.Sort)
	if err != nil {
		call.Error(w, http.StatusBadRequest, err.Error())
		return
	}
	var after []any
	if req.SearchAfter != nil {
		if after, err = parseAfter(keys, req.SearchAfter); err != nil {
			call.Error(w, http.StatusBadRequest, err.Error())
			return
		}
	}

	e.mu.Lock()
	users := e.order(keys)
	start := req.From
	if after != nil {
		start = sort.Search(len(users), func(i int) bool { return compareAfter(keys, users[i], after) > 0 })
	}
	// The answer is written as json.Marshal writes maps (keys sorted), each
	// hit around its user's stored _source.
	start = min(start, len(users))
	page := users[start:min(start+size, len(users))]
	n := 100
	for _, u := range page {
		n += len(u.hit) + 64
	}
	body := append(slices.Grow(emu.Body(), n), `{"hits":{"hits":[`...)
	for i, u := range page {
		if u.hit == nil {
			e.mu.Unlock()
			call.Error(w, http.StatusInternalServerError, "a user cannot be rendered")
			return
		}
		if i > 0 {
			body = append(body, ',')
		}
		body = append(body, u.hit...)
		body = append(body, `,"sort":[`...)
		for j, k := range keys {
			if j > 0 {
				body = append(body, ',')
			}
			if k.date == 0 {
				body = append(body, u.id...)
			} else {
				body = strconv.AppendInt(body, u.times[k.date-1], 10)
			}
		}
		body = append(body, "]}"...)
	}
	body = append(body, `],"max_score":null,"total":`...)
	body = strconv.AppendInt(body, int64(len(users)), 10)
	body = append(body, `},"timed_out":false,"took":2}`...)
	e.searches++
	status := http.StatusOK
	if e.searches%2 == 0 { // older API versions answered 201; clients must take both
		status = http.StatusCreated
	}
	e.mu.Unlock()
	call.Reply(w, status, body)
}

func compact(b []byte) []byte {
	var buf bytes.Buffer
	if json.Compact(&buf, b) != nil {
		return nil
	}
	return buf.Bytes()
}

// parseSort reads ["field"], [{"field":"asc"}] or [{"field":{"order":"desc"}}]
// items; without a sort, users are listed by _id.
func parseSort(items []json.RawMessage) ([]key, error) {
	if len(items) == 0 {
		return []key{{field: "_id"}}, nil
	}
	var keys []key
	for _, it := range items {
		var k key
		var name string
		if json.Unmarshal(it, &name) == nil {
			k.field = name
		} else {
			var m map[string]json.RawMessage
			if json.Unmarshal(it, &m) != nil || len(m) != 1 {
				return nil, fmt.Errorf("unreadable sort item %s", it)
			}
			for f, v := range m {
				k.field = f
				var order string
				if json.Unmarshal(v, &order) != nil {
					var o struct {
						Order string `json:"order"`
					}
					if json.Unmarshal(v, &o) != nil {
						return nil, fmt.Errorf("unreadable sort order for %s", f)
					}
					order = o.Order
				}
				switch order {
				case "", "asc":
				case "desc":
					k.desc = true
				default:
					return nil, fmt.Errorf("sort order %q for %s", order, f)
				}
			}
		}
		for i, d := range dates {
			if d.field == k.field {
				k.date = i + 1
			}
		}
		if k.date == 0 && k.field != "_id" {
			return nil, fmt.Errorf("the emulator cannot sort on %q", k.field)
		}
		keys = append(keys, k)
	}
	return keys, nil
}

// parseAfter reads search_after: one value per sort key, epoch millis for
// dates and a string for _id.
func parseAfter(keys []key, raw []json.RawMessage) ([]any, error) {
	if len(raw) != len(keys) {
		return nil, fmt.Errorf("search_after has %d values but the sort has %d", len(raw), len(keys))
	}
	out := make([]any, len(keys))
	for i, k := range keys {
		if k.field == "_id" {
			var s string
			if err := json.Unmarshal(raw[i], &s); err != nil {
				return nil, fmt.Errorf("search_after[%d] must be a string for _id", i)
			}
			out[i] = s
			continue
		}
		n, err := strconv.ParseInt(string(bytes.TrimSpace(raw[i])), 10, 64)
		if err != nil {
			return nil, fmt.Errorf("search_after[%d] must be epoch milliseconds for %s", i, k.field)
		}
		out[i] = n
	}
	return out, nil
}

// order returns the users sorted by keys, cached until the data changes.
func (e *Emulator) order(keys []key) []*stored {
	spec := fmt.Sprint(keys)
	if e.sorted != nil && e.sortSpec == spec {
		return e.sorted
	}
	users := make([]*stored, 0, len(e.users))
	for _, u := range e.users {
		users = append(users, u)
	}
	slices.SortFunc(users, func(a, b *stored) int {
		for _, k := range keys {
			var c int
			if k.date == 0 {
				c = strings.Compare(a.UserID, b.UserID)
			} else {
				c = cmp.Compare(a.times[k.date-1], b.times[k.date-1])
			}
			if k.desc {
				c = -c
			}
			if c != 0 {
				return c
			}
		}
		return strings.Compare(a.UserID, b.UserID) // a stable order for equal keys
	})
	e.sorted, e.sortSpec = users, spec
	return users
}

// compareAfter compares u's sort values with search_after's.
func compareAfter(keys []key, u *stored, after []any) int {
	a := make([]any, len(keys))
	for i, k := range keys {
		if k.date == 0 {
			a[i] = u.UserID
		} else {
			a[i] = u.times[k.date-1]
		}
	}
	return compare(keys, a, after)
}

func compare(keys []key, a, b []any) int {
	for i, k := range keys {
		var c int
		switch x := a[i].(type) {
		case string:
			c = strings.Compare(x, b[i].(string))
		case int64:
			c = cmp.Compare(x, b[i].(int64))
		}
		if k.desc {
			c = -c
		}
		if c != 0 {
			return c
		}
	}
	return 0
}

// millis reads a stored time (ISO 8601, UTC when it has no zone); 0 if unset.
func millis(s string) int64 {
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05.999999999"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UnixMilli()
		}
	}
	return 0
}
