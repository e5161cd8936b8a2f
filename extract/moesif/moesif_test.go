package moesif

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"etl/extract/extracttest"
	"etl/internal/emulator/emu"
	moesifemu "etl/internal/emulator/moesif"
	"etl/internal/emulator/people"
	"etl/internal/vendorhttp"
)

const token = "moesif-test-key-93be"

func newExtractor(t *testing.T, url, tok string, pageSize int) *Extractor {
	t.Helper()
	c, err := vendorhttp.New("moesif", url, Auth(tok), nil)
	if err != nil {
		t.Fatal(err)
	}
	c.Retry = vendorhttp.Retry{Initial: time.Millisecond, Max: 10 * time.Millisecond, MaxElapsed: 5 * time.Second}
	return New(Options{Client: c, PageSize: pageSize})
}

// recorder keeps every search body the emulator was sent.
type recorder struct {
	h      http.Handler
	mu     sync.Mutex
	bodies []map[string]json.RawMessage
	auth   []string
}

func (r *recorder) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	b, _ := io.ReadAll(req.Body)
	var m map[string]json.RawMessage
	json.Unmarshal(b, &m)
	r.mu.Lock()
	r.bodies = append(r.bodies, m)
	r.auth = append(r.auth, req.Header.Get("Authorization"))
	r.mu.Unlock()
	req.Body = io.NopCloser(bytes.NewReader(b))
	r.h.ServeHTTP(w, req)
}

func serve(t *testing.T, users []moesifemu.User) (*moesifemu.Emulator, *recorder, string) {
	t.Helper()
	em := moesifemu.New(token, users)
	em.Enforce(false)
	rec := &recorder{h: em}
	srv := httptest.NewServer(rec)
	t.Cleanup(srv.Close)
	return em, rec, srv.URL
}

func bounded(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func TestSearchAfterPagesEveryUserOnce(t *testing.T) {
	ps := people.Generate(5, 123)
	em, rec, url := serve(t, moesifemu.FromPeople(ps))
	res := extracttest.Run(t, bounded(t), newExtractor(t, url, token, 10))
	if res.Err != nil {
		t.Fatal(res.Err)
	}
	if res.Total != int64(len(ps)) {
		t.Errorf("total %d reported, Moesif's hits.total is %d", res.Total, len(ps))
	}
	// A quarter of the users share one modified_time: only the _id tie-break
	// lets search_after pass them without skipping any.
	if len(res.Rows) != 123 || len(res.ByID) != 123 || res.Stats.Duplicates != 0 || len(res.Rejects) != 0 {
		t.Fatalf("%d rows (%d distinct), %d duplicates, %d rejects; want 123 once each",
			len(res.Rows), len(res.ByID), res.Stats.Duplicates, len(res.Rejects))
	}
	if res.Stats.Pages != 13 || len(rec.bodies) != 13 {
		t.Fatalf("%d pages, %d requests; want 13 (12 full, then 3 hits)", res.Stats.Pages, len(rec.bodies))
	}
	if _, ok := rec.bodies[0]["search_after"]; ok {
		t.Fatal("the first search sent search_after")
	}
	for i, b := range rec.bodies {
		if _, ok := b["from"]; ok {
			t.Fatalf("search %d used from", i)
		}
		if string(b["size"]) != "10" || string(b["sort"]) != `[{"modified_time":"asc"},{"_id":"asc"}]` {
			t.Fatalf("search %d: size %s sort %s", i, b["size"], b["sort"])
		}
		if rec.auth[i] != "Bearer "+token {
			t.Fatalf("search %d: Authorization %q", i, rec.auth[i])
		}
		if i > 0 {
			var after []json.RawMessage
			if json.Unmarshal(b["search_after"], &after) != nil || len(after) != 2 || after[0][0] == '"' || after[1][0] != '"' {
				t.Fatalf("search %d: search_after %s, want [millis, \"_id\"]", i, b["search_after"])
			}
		}
	}
	if n200, n201 := emu.Count(em.Log(), 200), emu.Count(em.Log(), 201); n200 == 0 || n201 == 0 {
		t.Fatalf("the emulator answered %d 200s and %d 201s; both must occur", n200, n201)
	}

	imported := people.Epoch.Add(100 * 24 * time.Hour)
	for _, p := range ps {
		k, id := p.Index, p.ExternalID
		if k%17 == 5 {
			id += " "
		}
		r, ok := res.ByID[id]
		if !ok {
			t.Fatalf("user %q missing", id)
		}
		first, last, name, phone := p.FirstName, p.LastName, "", ""
		if k%4 >= 2 {
			first, last, name = "", "", p.FirstName+" "+p.LastName
		}
		if k%5 <= 1 {
			phone = p.Phone
		}
		updated := p.UpdatedAt
		if k%4 == 0 {
			updated = imported
		}
		if r.ExternalID != p.ExternalID || r.Email != p.Email || r.FirstName != first || r.LastName != last || r.Name != name ||
			r.Phone != phone || r.CompanyID != p.CompanyID || !r.CreatedAt.Equal(p.CreatedAt) || !r.UpdatedAt.Equal(updated) {
			t.Fatalf("person %d: row %+v", k, r.Row)
		}
	}
	// Person 22: user_id with a trailing space; email, name and photo_url in metadata only.
	p := ps[22]
	r := res.ByID[p.ExternalID+" "]
	want := fmt.Sprintf(`{"email":%q,"name":"%s %s","photo_url":"https://gravatar.example/22.png","plan":"pro","sales_info":{"lifetime_value":22000,"stage":"Customer"},"title":"Engineer"}`,
		p.Email, p.FirstName, p.LastName)
	var got, exp any
	json.Unmarshal([]byte(r.AttributesJSON), &got)
	json.Unmarshal([]byte(want), &exp)
	if g, _ := json.Marshal(got); !bytes.Equal(g, must(json.Marshal(exp))) {
		t.Fatalf("attributes\n got %s\nwant %s", r.AttributesJSON, want)
	}
}

func must(b []byte, _ error) []byte { return b }

func TestReservedMetadataKeys(t *testing.T) {
	u, err := Decode([]byte(`{"user_id":" 42 ","email":"  ","first_name":"Top","phone":"",
		"first_seen_time":"2024-03-01T10:00:00.000","modified_time":"2024-03-02T10:00:00.000Z",
		"metadata":{"email":"meta@x.example","first_name":"Meta","last_name":"Last","phone":4520100007,"photo_url":"p.png","n":12345678901234567890}}`))
	if err != nil {
		t.Fatal(err)
	}
	if u.SourceID != " 42 " || u.ExternalID != "42" || u.Email != "meta@x.example" || u.FirstName != "Top" ||
		u.LastName != "Last" || u.Name != "" || u.Phone != "4520100007" {
		t.Fatalf("%+v", u.Row)
	}
	if !u.CreatedAt.Equal(time.Date(2024, 3, 1, 10, 0, 0, 0, time.UTC)) || !u.UpdatedAt.Equal(time.Date(2024, 3, 2, 10, 0, 0, 0, time.UTC)) {
		t.Fatalf("times %v %v", u.CreatedAt, u.UpdatedAt)
	}
	if b, _ := json.Marshal(u.Attributes); !strings.Contains(string(b), `"n":12345678901234567890`) {
		t.Fatalf("metadata number not kept exact: %s", b)
	}
	if _, err := Decode([]byte(`{"email":"a@b.c"}`)); err == nil {
		t.Fatal("a user without user_id was accepted")
	}
}

func TestBadUserRejected(t *testing.T) {
	users := append(moesifemu.FromPeople(people.Generate(5, 4)), moesifemu.User{UserID: "bad", FirstSeenTime: "never"})
	_, _, url := serve(t, users)
	res := extracttest.Run(t, bounded(t), newExtractor(t, url, token, 10))
	if res.Err != nil || len(res.ByID) != 4 || len(res.Rejects) != 1 || res.Rejects[0].SourceID != "bad" {
		t.Fatalf("err %v, %d users, rejects %+v", res.Err, len(res.ByID), res.Rejects)
	}
}

func TestWrongKeyFailsFast(t *testing.T) {
	em, _, url := serve(t, moesifemu.FromPeople(people.Generate(5, 4)))
	res := extracttest.Run(t, bounded(t), newExtractor(t, url, "wrong", 10))
	var ae *vendorhttp.AuthError
	if !errors.As(res.Err, &ae) || len(em.Log()) != 1 {
		t.Fatalf("err %v after %d requests, want one 401", res.Err, len(em.Log()))
	}
}
