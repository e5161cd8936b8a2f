package dixa

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"etl/internal/emulator/people"
)

// TestListAsMarshalled checks every list answer, byte for byte, against
// json.Marshal of the page (how the emulator answered before it kept each
// user's document), with and without a filter, before and after a write.
func TestListAsMarshalled(t *testing.T) {
	em := New("tok", FromPeople(people.Generate(5, 95), 0))
	em.Enforce(false)
	em.Insert(EndUser{Email: "a<b>&c@x.example", FirstName: "Zoë\u2028", CustomAttributes: []CustomAttribute{{Name: "a&b", Value: []string{"<x>"}}}})
	serve := func(method, target, body string) *httptest.ResponseRecorder {
		req := httptest.NewRequest(method, target, strings.NewReader(body))
		req.Header.Set("Authorization", "tok")
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
		target, seen := "/v1/endusers?pageLimit=10"+filter, 0
		for pages := 0; ; pages++ {
			rec := serve(http.MethodGet, target, "")
			var body struct {
				Data json.RawMessage `json:"data"`
				Meta struct {
					Next string `json:"next"`
				} `json:"meta"`
			}
			if rec.Code != 200 || json.Unmarshal(rec.Body.Bytes(), &body) != nil || pages > 20 {
				t.Fatalf("%s: %s: %d %s", stage, target, rec.Code, rec.Body)
			}
			page := want[seen:min(len(want), seen+10)]
			data, _ := json.Marshal(append([]EndUser{}, page...))
			meta := rec.Body.String()[len(`{"data":`)+len(body.Data):]
			if string(body.Data) != string(data) || !strings.HasPrefix(meta, `,"meta":{`) {
				t.Fatalf("%s: %s:\n%s\nwant data\n%s", stage, target, rec.Body, data)
			}
			seen += len(page)
			if len(page) == 0 || body.Meta.Next == "" {
				break
			}
			target = body.Meta.Next
		}
		if seen != len(want) {
			t.Fatalf("%s: %d users listed, want %d", stage, seen, len(want))
		}
	}
	all := func(EndUser) bool { return true }
	check("as stored", "", all)
	users := em.Records()
	patch := `{"data":[{"id":"` + users[7].ID + `","firstName":"Änne <x>"}]}`
	if rec := serve(http.MethodPatch, "/v1/endusers", patch); rec.Code != 200 || !strings.Contains(rec.Body.String(), "BulkActionSuccess") {
		t.Fatalf("PATCH: %d %s", rec.Code, rec.Body)
	}
	if rec := serve(http.MethodPost, "/v1/endusers/bulk", `{"data":[{"email":"new@x.example"}]}`); rec.Code != 201 {
		t.Fatalf("POST: %d %s", rec.Code, rec.Body)
	}
	check("after writes", "", all)
	check("filtered", "&email="+users[7].Email, func(u EndUser) bool { return u.Email == users[7].Email })
}
