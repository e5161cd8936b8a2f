package userlot

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"

	"etl/internal/emulator/people"
)

// marshalBefore is how EndUser was marshalled before MarshalJSON wrote its
// keys in one pass: the struct encoded, decoded into a map, the custom
// fields added, encoded again. The oracle of TestMarshalAsBefore.
func marshalBefore(u EndUser) ([]byte, error) {
	type plain EndUser
	b, err := json.Marshal(plain(u))
	if err != nil || len(u.Custom) == 0 {
		return b, err
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, err
	}
	for k, v := range u.Custom {
		if !documented[k] {
			m[k] = v
		}
	}
	return json.Marshal(m)
}

func odd() []EndUser {
	return []EndUser{
		{ID: "x", Email: "a<b>&c@x.example", FirstName: "Zoë\u2028", CreatedAt: "t", Custom: map[string]any{
			"a&b": []any{"<x>", 1.5, nil}, "email": "shadowed", "id": "shadowed", "n": json.Number("12.50"), "z": map[string]any{"k": true}}},
		{ID: "y"},
		{ID: "z", Custom: map[string]any{}},
	}
}

// TestMarshalAsBefore: the same bytes as the old encode-decode-encode.
func TestMarshalAsBefore(t *testing.T) {
	for _, u := range append(FromPeople(people.Generate(4, 60), 0), odd()...) {
		got, err := json.Marshal(u)
		want, werr := marshalBefore(u)
		if err != nil || werr != nil || string(got) != string(want) {
			t.Fatalf("%v %v\n%s\nwant\n%s", err, werr, got, want)
		}
	}
}

// TestListAsMarshalled checks every list answer, byte for byte, against
// json.Marshal of the page (how the emulator answered before it kept each
// user's document), with and without a filter, before and after writes.
func TestListAsMarshalled(t *testing.T) {
	em := New("key", FromPeople(people.Generate(5, 95), 0))
	em.Enforce(false)
	em.Insert(odd()...)
	serve := func(method, target, body string) *httptest.ResponseRecorder {
		req := httptest.NewRequest(method, target, strings.NewReader(body))
		req.Header.Set("ApiKey", "key")
		rec := httptest.NewRecorder()
		em.ServeHTTP(rec, req)
		return rec
	}
	check := func(stage, filter string, keep func(EndUser) bool) {
		t.Helper()
		var want []EndUser
		for _, u := range em.Records() {
			if keep(u) {
				want = append(want, u)
			}
		}
		for page := 1; (page-2)*10 <= len(want); page++ {
			target := "/api/v1/end_users?per_page=10&page=" + strconv.Itoa(page) + filter
			rec := serve(http.MethodGet, target, "")
			from := min(len(want), (page-1)*10)
			body, _ := json.Marshal(append([]EndUser{}, want[from:min(len(want), from+10)]...))
			if rec.Code != 200 || rec.Body.String() != string(body) {
				t.Fatalf("%s: %s: %d\n%s\nwant\n%s", stage, target, rec.Code, rec.Body, body)
			}
		}
	}
	all := func(EndUser) bool { return true }
	check("as stored", "", all)
	users := em.Records()
	if rec := serve(http.MethodPut, "/api/v1/end_users", `{"id":"`+users[7].ID+`","first_name":"Änne <x>","plan":"pro"}`); rec.Code != 200 {
		t.Fatalf("PUT: %d %s", rec.Code, rec.Body)
	}
	if rec := serve(http.MethodPut, "/api/v1/end_users", `{"external_id":"new","email":"new@x.example"}`); rec.Code != 201 {
		t.Fatalf("PUT: %d %s", rec.Code, rec.Body)
	}
	check("after writes", "", all)
	check("filtered", "&name=Z", func(u EndUser) bool { return u.Name == "Z" })
	check("filtered", "&email="+users[3].Email, func(u EndUser) bool { return u.Email == users[3].Email })
}
