package planhat

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"sort"
	"strings"
	"testing"

	"etl/internal/emulator/people"
)

// TestListAsMarshalled checks every list answer, byte for byte, against
// json.Marshal of the page of users (how the emulator answered before it
// kept each user's document), before and after writes change users.
func TestListAsMarshalled(t *testing.T) {
	em := New("tok", FromPeople(people.GenerateHard(3, 230), 0))
	em.Enforce(false)
	em.Insert(EndUser{Email: "a<b>&c@x.example", FirstName: "Zoë\u2028", Custom: map[string]any{"a&b": "<x>", "n": 1.5}})
	all := em.Users()
	em.Archive(all[3].ID, all[40].ID)
	check := func(stage string) {
		t.Helper()
		users := em.Users()
		sort.Slice(users, func(i, j int) bool { return users[i].ID < users[j].ID })
		for _, q := range []struct {
			archived bool
			sort     string
		}{{true, "_id"}, {false, "_id"}, {true, "-_id"}, {false, ""}} {
			var visible []EndUser
			for _, u := range users {
				if !u.Archived || q.archived {
					visible = append(visible, u)
				}
			}
			if q.sort == "-_id" {
				sort.SliceStable(visible, func(i, j int) bool { return visible[i].ID > visible[j].ID })
			}
			for offset := 0; offset <= len(visible)+50; offset += 50 {
				url := "/endusers?limit=50&offset=" + itoa(offset) + "&sort=" + q.sort
				if q.archived {
					url += "&archived=true"
				}
				req := httptest.NewRequest(http.MethodGet, url, nil)
				req.Header.Set("Authorization", "Bearer tok")
				rec := httptest.NewRecorder()
				em.ServeHTTP(rec, req)
				page := []EndUser{}
				if offset < len(visible) {
					page = visible[offset:min(len(visible), offset+50)]
				}
				want, _ := json.Marshal(page)
				if rec.Code != 200 || rec.Body.String() != string(want) {
					t.Fatalf("%s: %s: %d\n%s\nwant\n%s", stage, url, rec.Code, rec.Body, want)
				}
			}
		}
	}
	check("as stored")
	body := `[{"_id":"` + all[5].ID + `","firstName":"Änne <x>"},{"email":"new@x.example","lastName":"New"}]`
	req := httptest.NewRequest(http.MethodPut, "/endusers", strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer tok")
	rec := httptest.NewRecorder()
	em.ServeHTTP(rec, req)
	if rec.Code != 200 {
		t.Fatalf("PUT: %d %s", rec.Code, rec.Body)
	}
	check("after a write")
}

func itoa(n int) string { b, _ := json.Marshal(n); return string(b) }
