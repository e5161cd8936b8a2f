package dixa

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"etl/extract/extracttest"
	dixaemu "etl/internal/emulator/dixa"
	"etl/internal/emulator/people"
	"etl/internal/vendorhttp"
)

const token = "dixa-test-token-41c9"

func newExtractor(t *testing.T, url, tok string, pageSize int) *Extractor {
	t.Helper()
	c, err := vendorhttp.New("dixa", url, Auth(tok), nil)
	if err != nil {
		t.Fatal(err)
	}
	c.Retry = vendorhttp.Retry{Initial: time.Millisecond, Max: 10 * time.Millisecond, MaxElapsed: 5 * time.Second}
	return New(Options{Client: c, PageSize: pageSize})
}

func serve(t *testing.T, n int) (*dixaemu.Emulator, string) {
	t.Helper()
	em := dixaemu.New(token, dixaemu.FromPeople(people.Generate(3, n), 0))
	em.Enforce(false)
	srv := httptest.NewServer(em)
	t.Cleanup(srv.Close)
	return em, srv.URL
}

// bounded keeps a client that never stops from hanging the test binary.
func bounded(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func TestExtractEveryPageFieldByField(t *testing.T) {
	em, url := serve(t, 230)
	res := extracttest.Run(t, bounded(t), newExtractor(t, url, token, 50))
	if res.Err != nil {
		t.Fatal(res.Err)
	}
	users := em.Records()
	if len(res.Rows) != len(users) || len(res.ByID) != len(users) || res.Stats.Duplicates != 0 || len(res.Rejects) != 0 {
		t.Fatalf("%d rows (%d distinct), %d duplicates, %d rejects; want %d once each",
			len(res.Rows), len(res.ByID), res.Stats.Duplicates, len(res.Rejects), len(users))
	}
	if res.Stats.Pages != 5 || len(em.Log()) != 5 {
		t.Fatalf("%d pages in %d requests, want 5 (4 full, the last partial, no next)", res.Stats.Pages, len(em.Log()))
	}
	ps := people.Generate(3, 230)
	for i, u := range users {
		r, ok := res.ByID[u.ID]
		if !ok {
			t.Fatalf("user %s missing", u.ID)
		}
		p := ps[i]
		if r.Email != u.Email || r.ExternalID != u.ExternalID || r.FirstName != u.FirstName || r.LastName != u.LastName ||
			r.Name != u.DisplayName || r.Phone != u.PhoneNumber || strings.Join(r.Emails, ",") != strings.Join(u.AdditionalEmails, ",") {
			t.Fatalf("user %d: row %+v does not match %+v", i, r.Row, u)
		}
		if !r.CreatedAt.Equal(p.CreatedAt) || !r.UpdatedAt.IsZero() {
			t.Fatalf("user %d (createdAt %q): created %v updated %v, want %v and none", i, u.CreatedAt, r.CreatedAt, r.UpdatedAt, p.CreatedAt)
		}
	}
	// Person 5 has every optional field (5%8 == 5); person 3 is a chat-only user.
	r := res.ByID[users[5].ID]
	want := fmt.Sprintf(`{"additionalPhoneNumbers":["+4530000005"],"avatarUrl":"https://files.dixa.example/avatars/5.png","languages":["en","da"],"middleNames":["Marie"],"plan":"%s"}`, []string{"free", "pro", "team"}[5%3])
	if r.AttributesJSON != want {
		t.Fatalf("attributes\n got %s\nwant %s", r.AttributesJSON, want)
	}
	if r := res.ByID[users[3].ID]; r.ExternalID != "" || r.AttributesJSON != `{"plan":"free"}` {
		t.Fatalf("chat-only user: %+v %s", r.Row, r.AttributesJSON)
	}
	if !strings.HasSuffix(users[0].CreatedAt, "[GMT]") {
		t.Fatalf("emulator data lost its [GMT] createdAt: %q", users[0].CreatedAt)
	}
}

func TestEmptyPageEndsScanDespiteNext(t *testing.T) {
	em, url := serve(t, 100) // two full pages: the second offers a next to an empty page
	res := extracttest.Run(t, bounded(t), newExtractor(t, url, token, 50))
	if res.Err != nil {
		t.Fatal(res.Err)
	}
	if len(res.ByID) != 100 || len(em.Log()) != 3 {
		t.Fatalf("%d users in %d requests, want 100 in 3 (stop at the empty page)", len(res.ByID), len(em.Log()))
	}
}

// fake serves scripted pages and records what it was asked.
type fake struct {
	mu    sync.Mutex
	pages map[string]string // pageKey ("" first) → body
	asked []string
	auth  []string
}

func (f *fake) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	key := r.URL.Query().Get("pageKey")
	f.asked = append(f.asked, key)
	f.auth = append(f.auth, r.Header.Get("Authorization"))
	body, ok := f.pages[key]
	if !ok {
		w.WriteHeader(http.StatusNotFound)
		return
	}
	w.Write([]byte(body))
}

func page(next string, ids ...string) string {
	data := []map[string]string{}
	for _, id := range ids {
		data = append(data, map[string]string{"id": id, "createdAt": "2021-12-01T12:46:36.581Z[GMT]"})
	}
	m := map[string]any{}
	if next != "" {
		m["next"] = next
	}
	b, _ := json.Marshal(map[string]any{"data": data, "meta": m})
	return string(b)
}

func TestNextLinkRelativeAndAbsolute(t *testing.T) {
	f := &fake{}
	srv := httptest.NewServer(f)
	defer srv.Close()
	f.pages = map[string]string{
		"":  page("/v1/endusers?pageKey=b", "u1", "u2"),
		"b": page(srv.URL+"/v1/endusers?pageKey=c", "u3"),
		"c": page("", "u4"),
	}
	res := extracttest.Run(t, bounded(t), newExtractor(t, srv.URL, token, 2))
	if res.Err != nil {
		t.Fatal(res.Err)
	}
	if len(res.ByID) != 4 || strings.Join(f.asked, ",") != ",b,c" {
		t.Fatalf("got %d users asking pageKeys %q, want 4 from \"\",b,c", len(res.ByID), f.asked)
	}
	for _, a := range f.auth {
		if a != token {
			t.Fatalf("Authorization %q, want the raw token", a)
		}
	}
	if got := res.ByID["u1"].CreatedAt; !got.Equal(time.Date(2021, 12, 1, 12, 46, 36, 581e6, time.UTC)) {
		t.Fatalf("createdAt with [GMT] read as %v", got)
	}
}

func TestNextLinkToAnotherHostRefused(t *testing.T) {
	f := &fake{pages: map[string]string{"": page("https://elsewhere.example/v1/endusers?pageKey=b", "u1")}}
	srv := httptest.NewServer(f)
	defer srv.Close()
	res := extracttest.Run(t, bounded(t), newExtractor(t, srv.URL, token, 1))
	if res.Err == nil || !strings.Contains(res.Err.Error(), "another host") {
		t.Fatalf("err = %v, want a refusal of the other host", res.Err)
	}
	if len(f.asked) != 1 {
		t.Fatalf("%d requests, want 1", len(f.asked))
	}
}

func TestEmptyDataWithNextStops(t *testing.T) {
	f := &fake{pages: map[string]string{"": page("/v1/endusers?pageKey=b", "u1"), "b": page("/v1/endusers?pageKey=c")}}
	srv := httptest.NewServer(f)
	defer srv.Close()
	res := extracttest.Run(t, bounded(t), newExtractor(t, srv.URL, token, 1))
	if res.Err != nil || len(res.ByID) != 1 || len(f.asked) != 2 {
		t.Fatalf("err %v, %d users, asked %q; want 1 user in 2 requests", res.Err, len(res.ByID), f.asked)
	}
}

func TestBadRecordsRejected(t *testing.T) {
	good := dixaemu.FromPeople(people.Generate(3, 3), 0)
	bad := []dixaemu.EndUser{{ID: "bad-time", CreatedAt: "yesterday"}, {CreatedAt: "2021-01-01T00:00:00Z"}}
	em := dixaemu.New(token, append(good, bad...))
	em.Enforce(false)
	srv := httptest.NewServer(em)
	defer srv.Close()
	res := extracttest.Run(t, bounded(t), newExtractor(t, srv.URL, token, 10))
	if res.Err != nil {
		t.Fatal(res.Err)
	}
	if len(res.ByID) != 3 || len(res.Rejects) != 2 || res.Rejects[0].SourceID != "bad-time" || !strings.Contains(res.Rejects[0].Reason, "createdAt") {
		t.Fatalf("%d users, rejects %+v", len(res.ByID), res.Rejects)
	}
}

func TestWrongTokenFailsFast(t *testing.T) {
	em, url := serve(t, 10)
	res := extracttest.Run(t, bounded(t), newExtractor(t, url, "wrong", 5))
	var ae *vendorhttp.AuthError
	if !errors.As(res.Err, &ae) || ae.Status != http.StatusUnauthorized || len(em.Log()) != 1 {
		t.Fatalf("err %v after %d requests, want one 401", res.Err, len(em.Log()))
	}
}

func TestDecodeLenient(t *testing.T) {
	u, err := Decode([]byte(`{"id":"x","externalId":12345,"createdAt":"2020-12-16T09:41:43Z","phoneNumber":"+4520123456",
		"customAttributes":[{"id":"a","name":"Tier Name","identifier":"","value":7},{"id":"b","name":"n","identifier":"tags","value":["a",2]},
		{"id":"c","name":"unset","identifier":"unset","value":null}],"emailMd5":"ignored"}`))
	if err != nil {
		t.Fatal(err)
	}
	attrs, _ := json.Marshal(u.Attributes)
	if u.ExternalID != "12345" || u.Phone != "+4520123456" || string(attrs) != `{"Tier Name":"7","tags":["a","2"]}` {
		t.Fatalf("%+v %s", u.Row, attrs)
	}
	if _, err := Decode([]byte(`{"id":"x","customAttributes":[{"identifier":"o","value":{"nested":1}}]}`)); err == nil {
		t.Fatal("an object attribute value was accepted")
	}
}
