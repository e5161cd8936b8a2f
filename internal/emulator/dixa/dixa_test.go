package dixa

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"etl/internal/emulator/emu"
	"etl/internal/emulator/people"
)

func get(t *testing.T, url, auth string) (int, []byte) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

type listing struct {
	Data []EndUser `json:"data"`
	Meta struct {
		Next string `json:"next"`
	} `json:"meta"`
}

func start(t *testing.T, n int) (*Emulator, *httptest.Server) {
	em := New("tok", FromPeople(people.Generate(1, n), 0))
	em.Enforce(false)
	srv := httptest.NewServer(em)
	t.Cleanup(srv.Close)
	return em, srv
}

func TestLinksAlternateAndEndEmpty(t *testing.T) {
	_, srv := start(t, 6)
	url, forms := srv.URL+"/v1/endusers?pageLimit=2", []string{}
	var sizes []int
	for range 10 {
		code, body := get(t, url, "tok")
		var l listing
		if code != 200 || json.Unmarshal(body, &l) != nil {
			t.Fatalf("%d %s", code, body)
		}
		sizes = append(sizes, len(l.Data))
		if len(l.Data) == 0 {
			if l.Meta.Next == "" {
				t.Fatal("the empty page past the end offers no next link")
			}
			break
		}
		if strings.HasPrefix(l.Meta.Next, "/") {
			forms = append(forms, "relative")
			url = srv.URL + l.Meta.Next
		} else {
			forms = append(forms, "absolute")
			url = l.Meta.Next
		}
		if strings.Contains(l.Meta.Next, "pageLimit") || strings.Contains(l.Meta.Next, "offset") {
			t.Fatalf("next link is not opaque: %s", l.Meta.Next)
		}
	}
	if got := strings.Join(forms, ","); got != "absolute,relative,absolute" {
		t.Fatalf("link forms %s", got)
	}
	if len(sizes) != 4 || sizes[3] != 0 {
		t.Fatalf("page sizes %v, want 2,2,2,0", sizes)
	}
}

func TestRefusals(t *testing.T) {
	_, srv := start(t, 3)
	for _, c := range []struct {
		path, auth string
		status     int
	}{
		{"/v1/endusers", "", 401},
		{"/v1/endusers", "Bearer wrong", 401},
		{"/v1/endusers?pageLimit=0", "tok", 400},
		{"/v1/endusers?pageLimit=1001", "tok", 400},
		{"/v1/endusers?pageKey=not-a-key!", "tok", 400},
		{"/v1/endusers?email=a@b.c&phone=%2B4520100000", "tok", 400},
		{"/v1/endusers?pageLimit=1000", "Bearer tok", 200},
	} {
		code, body := get(t, srv.URL+c.path, c.auth)
		var msg struct {
			Message string `json:"message"`
		}
		if code != c.status || (code != 200 && (json.Unmarshal(body, &msg) != nil || msg.Message == "")) {
			t.Errorf("%s (%q): %d %s, want %d with a message", c.path, c.auth, code, body, c.status)
		}
	}
}

func TestFilter(t *testing.T) {
	em, srv := start(t, 5)
	want := em.Records()[2]
	code, body := get(t, srv.URL+"/v1/endusers?externalId="+want.ExternalID, "tok")
	var l listing
	if code != 200 || json.Unmarshal(body, &l) != nil || len(l.Data) != 1 || l.Data[0].ID != want.ID {
		t.Fatalf("%d %s", code, body)
	}
}

func TestTokenBucket(t *testing.T) {
	em, srv := start(t, 1)
	em.Enforce(true)
	for range 12 {
		get(t, srv.URL+"/v1/endusers", "tok")
	}
	// Replaying the log through Dixa's bucket (10/s, capacity 4) must give
	// exactly the emulator's answers.
	b := &emu.TokenBucket{Rate: 10, Cap: 4}
	for i, e := range em.Log() {
		ok := b.Check(e.At)
		if ok {
			b.Allow(e.At)
		}
		if ok != (e.Status == 200) || (!ok && e.Status != 429) {
			t.Fatalf("request %d answered %d, but the bucket says accepted=%v", i, e.Status, ok)
		}
	}
}

func TestFromPeopleIsDixaShaped(t *testing.T) {
	for _, u := range FromPeople(people.Generate(1, 50), 0) {
		if u.PhoneNumber != "" && !strings.HasPrefix(u.PhoneNumber, "+") {
			t.Fatalf("phone %q is not E.164", u.PhoneNumber)
		}
		if u.Email == "" && u.ExternalID == "" {
			t.Fatalf("user %s cannot be resolved", u.ID)
		}
	}
}
