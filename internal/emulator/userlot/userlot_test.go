package userlot

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"etl/internal/emulator/emu"
	"etl/internal/emulator/people"
)

func get(t *testing.T, url, key string) (int, []byte) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	if key != "" {
		req.Header.Set("ApiKey", key)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

func start(t *testing.T, n int) (*Emulator, string) {
	em := New("key", FromPeople(people.Generate(1, n), 0))
	em.Enforce(false)
	srv := httptest.NewServer(em)
	t.Cleanup(srv.Close)
	return em, srv.URL + "/api/v1/end_users"
}

func TestPerPageClampedAndEmptyAfterLast(t *testing.T) {
	_, url := start(t, 620)
	for _, c := range []struct {
		query string
		n     int
	}{{"", 100}, {"?per_page=1000", 500}, {"?per_page=1000&page=2", 120}, {"?per_page=1000&page=3", 0}} {
		code, body := get(t, url+c.query, "key")
		var users []map[string]any
		if code != 200 || json.Unmarshal(body, &users) != nil || users == nil || len(users) != c.n {
			t.Fatalf("%s: %d, %d users, want %d", c.query, code, len(users), c.n)
		}
	}
}

func TestRefusals(t *testing.T) {
	_, url := start(t, 3)
	for _, c := range []struct {
		query, key string
		status     int
	}{{"", "", 401}, {"", "wrong", 401}, {"?page=0", "key", 400}, {"?per_page=x", "key", 400}} {
		code, body := get(t, url+c.query, c.key)
		var e struct {
			Error string `json:"error"`
		}
		if code != c.status || json.Unmarshal(body, &e) != nil || e.Error == "" {
			t.Errorf("%s (%q): %d %s, want %d with an error", c.query, c.key, code, body, c.status)
		}
	}
}

func TestCustomFieldsAtTopLevel(t *testing.T) {
	em, url := start(t, 4)
	em.Insert(EndUser{ExternalID: "x-1", CreatedAt: "2024-01-01T00:00:00.000Z", Custom: map[string]any{"email": "masked@x.example", "plan_name": "Scale"}})
	em.Insert(EndUser{ExternalID: "x-2", Email: "real@x.example", Custom: map[string]any{"email": "masked@x.example"}})
	_, body := get(t, url+"?external_id=x-2", "key")
	var users []map[string]any
	if json.Unmarshal(body, &users) != nil || len(users) != 1 || users[0]["email"] != "real@x.example" {
		t.Fatalf("a custom field masked a documented one: %s", body)
	}
	_, body = get(t, url+"?external_id=x-1", "key")
	users = nil
	if json.Unmarshal(body, &users) != nil || len(users) != 1 || users[0]["plan_name"] != "Scale" || users[0]["id"] == "" || users[0]["email"] != nil {
		t.Fatalf("custom field not at the top level: %s", body)
	}
}

func TestSlidingWindow(t *testing.T) {
	em, url := start(t, 1)
	em.Enforce(true)
	for range 12 {
		get(t, url, "key")
	}
	// Replaying the log through Userlot's window (5 in any second) must give
	// exactly the emulator's answers.
	w := &emu.SlidingWindow{N: 5, Per: 1e9}
	for i, e := range em.Log() {
		ok := w.Check(e.At)
		if ok {
			w.Allow(e.At)
		}
		if ok != (e.Status == 200) || (!ok && e.Status != 429) {
			t.Fatalf("request %d answered %d, but the window says accepted=%v", i, e.Status, ok)
		}
	}
}
