package moesif

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"etl/internal/emulator/people"
)

// TestSearchAsMarshalled checks every search answer, byte for byte,
// against json.Marshal of the answer as a map of hits (how the emulator
// answered before it kept each user's document), before and after a
// collector write.
func TestSearchAsMarshalled(t *testing.T) {
	em := New("key", FromPeople(people.Generate(9, 120)))
	em.Enforce(false)
	em.Insert(User{UserID: "u<&>", Email: "a<b>&c@x.example", FirstName: "Zoë\u2028", ModifiedTime: "2024-02-01T00:00:00.000",
		Metadata: map[string]any{"a&b": []any{"<x>", 1.5, nil}}})
	check := func(stage, sortSpec string) {
		t.Helper()
		keys, err := parseSort(mustRaw(t, sortSpec))
		if err != nil {
			t.Fatal(err)
		}
		em.mu.Lock()
		sorted := em.order(keys)
		var users []*User
		for _, s := range sorted {
			users = append(users, s.User)
		}
		em.mu.Unlock()
		after := ""
		for seen := 0; seen <= len(users); seen += 25 {
			body := `{"size":25,"sort":` + sortSpec + after + `}`
			req := httptest.NewRequest(http.MethodPost, "/v1/search/~/search/users", strings.NewReader(body))
			req.Header.Set("Authorization", "Bearer key")
			rec := httptest.NewRecorder()
			em.ServeHTTP(rec, req)
			hits := []map[string]any{}
			for _, u := range users[seen:min(len(users), seen+25)] {
				hits = append(hits, map[string]any{"_index": "users", "_id": u.UserID, "_score": nil, "_source": u, "sort": valuesBefore(keys, u)})
			}
			want, _ := json.Marshal(map[string]any{"took": 2, "timed_out": false,
				"hits": map[string]any{"total": len(users), "max_score": nil, "hits": hits}})
			if rec.Code/100 != 2 || rec.Body.String() != string(want) {
				t.Fatalf("%s: %s: %d\n%s\nwant\n%s", stage, body, rec.Code, rec.Body, want)
			}
			if len(hits) > 0 {
				last, _ := json.Marshal(hits[len(hits)-1]["sort"])
				after = `,"search_after":` + string(last)
			}
		}
	}
	const byTime = `[{"modified_time":"asc"},{"_id":"asc"}]`
	check("as stored", byTime)
	check("by id, descending", `[{"_id":{"order":"desc"}}]`)
	check("by first and last seen", `[{"first_seen_time":"desc"},"last_seen_time",{"_id":"asc"}]`)
	c := em.Collector("app")
	req := httptest.NewRequest(http.MethodPost, "/v1/users/batch", strings.NewReader(
		`[{"user_id":"u<&>","metadata":{"first_name":"Änne <x>"}},{"user_id":"new","metadata":{"email":"new@x.example"}}]`))
	req.Header.Set("X-Moesif-Application-Id", "app")
	rec := httptest.NewRecorder()
	c.ServeHTTP(rec, req)
	if rec.Code != 201 {
		t.Fatalf("batch: %d %s", rec.Code, rec.Body)
	}
	check("after a write", byTime)
}

func mustRaw(t *testing.T, s string) []json.RawMessage {
	var out []json.RawMessage
	if err := json.Unmarshal([]byte(s), &out); err != nil {
		t.Fatal(err)
	}
	return out
}

// valuesBefore are a user's sort values as the emulator computed them
// before it kept them beside each user.
func valuesBefore(keys []key, u *User) []any {
	out := make([]any, len(keys))
	for i, k := range keys {
		switch k.field {
		case "_id":
			out[i] = u.UserID
		case "modified_time":
			out[i] = millis(u.ModifiedTime)
		case "first_seen_time":
			out[i] = millis(u.FirstSeenTime)
		case "last_seen_time":
			out[i] = millis(u.LastSeenTime)
		}
	}
	return out
}
