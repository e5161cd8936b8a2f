package moesif

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"etl/internal/emulator/people"
)

type result struct {
	Hits struct {
		Total int `json:"total"`
		Hits  []struct {
			ID     string            `json:"_id"`
			Source User              `json:"_source"`
			Sort   []json.RawMessage `json:"sort"`
		} `json:"hits"`
	} `json:"hits"`
	Error struct {
		Code string `json:"code"`
		Msg  string `json:"msg"`
	} `json:"moesif_error"`
}

func search(t *testing.T, url, auth, body string) (int, result) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, url+"/v1/search/~/search/users", strings.NewReader(body))
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var r result
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatalf("%d: %s", resp.StatusCode, b)
	}
	return resp.StatusCode, r
}

func start(t *testing.T, users []User) string {
	em := New("key", users)
	em.Enforce(false)
	srv := httptest.NewServer(em)
	t.Cleanup(srv.Close)
	return srv.URL
}

func TestRefusals(t *testing.T) {
	url := start(t, FromPeople(people.Generate(1, 3)))
	for _, c := range []struct {
		auth, body string
		status     int
	}{
		{"", `{}`, 401},
		{"Bearer nope", `{}`, 401},
		{"Bearer key", `{"size":1001}`, 400},
		{"Bearer key", `{"size":10,"from":10001}`, 400},
		{"Bearer key", `{"size":10,"from":9995}`, 400},
		{"Bearer key", `{"size":1,"from":1,"sort":["_id"],"search_after":["a"]}`, 400},
		{"Bearer key", `{"size":1,"sort":[{"modified_time":"asc"},{"_id":"asc"}],"search_after":[1]}`, 400},
		{"Bearer key", `{"size":1,"sort":[{"modified_time":"asc"}],"search_after":["x"]}`, 400},
		{"Bearer key", `{"size":1,"sise":2}`, 400},
		{"Bearer key", `{"size":1,"query":{"term":{"email":"a"}}}`, 400},
		{"Bearer key", `{"size":1000,"from":9000,"query":{"match_all":{}}}`, 0},
	} {
		code, r := search(t, url, c.auth, c.body)
		if c.status == 0 {
			if code/100 != 2 {
				t.Errorf("%s: %d, want success", c.body, code)
			}
			continue
		}
		if code != c.status || r.Error.Code == "" || r.Error.Msg == "" {
			t.Errorf("%s (%q): %d %+v, want %d with a moesif_error", c.body, c.auth, code, r.Error, c.status)
		}
	}
}

func TestSearchAfterCompoundKey(t *testing.T) {
	at := "2024-05-01T00:00:00.000"
	users := []User{
		{UserID: "c", ModifiedTime: at}, {UserID: "a", ModifiedTime: at}, {UserID: "b", ModifiedTime: at},
		{UserID: "d", ModifiedTime: "2024-04-01T00:00:00.000Z"},
	}
	url := start(t, users)
	millis := time.Date(2024, 5, 1, 0, 0, 0, 0, time.UTC).UnixMilli()
	ids := func(r result) string {
		var s []string
		for _, h := range r.Hits.Hits {
			s = append(s, h.ID)
		}
		return strings.Join(s, ",")
	}
	sortBy := `"sort":[{"modified_time":"asc"},{"_id":"asc"}]`
	code, r := search(t, url, "Bearer key", `{"size":2,`+sortBy+`}`)
	if code/100 != 2 || ids(r) != "d,a" || r.Hits.Total != 4 {
		t.Fatalf("first page: %d %s", code, ids(r))
	}
	last := r.Hits.Hits[1].Sort
	if len(last) != 2 || string(last[0]) != "1714521600000" || string(last[1]) != `"a"` {
		t.Fatalf("sort values %s, want [%d,\"a\"]", last, millis)
	}
	_, r = search(t, url, "Bearer key", `{"size":2,`+sortBy+`,"search_after":[1714521600000,"a"]}`)
	if ids(r) != "b,c" {
		t.Fatalf("after (t, a): %s, want b,c", ids(r))
	}
	// On modified_time alone, ties with the search_after value are passed over, as in Elasticsearch.
	_, r = search(t, url, "Bearer key", `{"size":5,"sort":[{"modified_time":"asc"}],"search_after":[1714521600000]}`)
	if ids(r) != "" {
		t.Fatalf("after t on modified_time alone: %q, want none", ids(r))
	}
	_, r = search(t, url, "Bearer key", `{"size":5,"sort":[{"_id":{"order":"desc"}}]}`)
	if ids(r) != "d,c,b,a" {
		t.Fatalf("_id desc: %s", ids(r))
	}
}

func TestFromPeopleIsMoesifShaped(t *testing.T) {
	ps := people.Generate(1, 40)
	for i, u := range FromPeople(ps) {
		if strings.TrimSpace(u.UserID) != ps[i].ExternalID {
			t.Fatalf("user_id %q is not the person's external id %q", u.UserID, ps[i].ExternalID)
		}
		if u.Email == "" && u.Metadata["email"] == nil {
			t.Fatalf("user %q has no email anywhere", u.UserID)
		}
	}
}
