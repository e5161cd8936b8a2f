package dixa

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	"etl/internal/vendors"
)

func send(t *testing.T, method, url, body string) (int, []byte) {
	t.Helper()
	req, _ := http.NewRequest(method, url, strings.NewReader(body))
	req.Header.Set("Authorization", "tok")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

type bulkAnswer struct {
	Data []Outcome `json:"data"`
}

func TestPatchOutcomesInInputOrder(t *testing.T) {
	em, srv := start(t, 0)
	em.Insert(
		EndUser{Email: "Ada@acme.example", PhoneNumber: "+4520100000", FirstName: "Ada"},
		EndUser{Email: "bob@acme.example"},
		EndUser{},
	)
	users := em.Records()
	before := users[2]
	body := fmt.Sprintf(`{"data":[
		{"id":%q,"firstName":"Bobby","externalId":"u-2","whatever":1},
		{"id":%q,"email":"ada@ACME.example"},
		{"id":%q,"phoneNumber":"+4520100000"},
		{"id":%q,"phoneNumber":"20 10 00 01"},
		{"id":%q,"unknownField":"x"},
		{"id":"no-such-id","firstName":"X"},
		{"id":%q,"email":"ada@acme.example","firstName":"Ada2"},
		{"id":%q,"email":"carl@acme.example","lastName":"Lang","middleNames":["M"]}
	]}`, users[1].ID, users[2].ID, users[2].ID, users[2].ID, users[2].ID, users[0].ID, users[2].ID)
	code, b := send(t, http.MethodPatch, srv.URL+"/v1/endusers", body)
	var ans bulkAnswer
	if code != 200 || json.Unmarshal(b, &ans) != nil || len(ans.Data) != 8 {
		t.Fatalf("%d %s", code, b)
	}
	want := []string{"", "EmailExists", "PhoneNumberExists", "Validation", "EmptyPatchSet", "NotFound", "", ""}
	for i, o := range ans.Data {
		switch {
		case want[i] == "" && (o.Type != "BulkActionSuccess" || o.Data == nil):
			t.Errorf("item %d: %+v, want a success", i, o)
		case want[i] != "" && (o.Type != "BulkActionFailure" || o.Error == nil || o.Error.Type != want[i] || o.Error.Message == ""):
			t.Errorf("item %d: %+v, want a %s failure", i, o, want[i])
		}
	}
	got := em.Records()
	if u := got[1]; u.FirstName != "Bobby" || u.ExternalID != "u-2" || u.Email != "bob@acme.example" {
		t.Fatalf("patched user: %+v", u)
	}
	if u := got[0]; u.Email != "ada@acme.example" || u.FirstName != "Ada2" {
		t.Fatalf("a user's own email (case changed) must not conflict with itself: %+v", u)
	}
	if u := got[2]; u.Email != "carl@acme.example" || u.LastName != "Lang" || len(u.MiddleNames) != 1 || u.PhoneNumber != "" {
		t.Fatalf("user after failed and successful items: %+v", u)
	}
	if before.Email != "" || len(before.MiddleNames) != 0 {
		t.Fatalf("a copy handed out earlier changed: %+v", before)
	}
	if log := em.Log(); log[len(log)-1].Items != 8 {
		t.Fatalf("logged %d items", log[len(log)-1].Items)
	}
}

func TestBulkCreateAndRefusedBodies(t *testing.T) {
	em, srv := start(t, 2)
	code, b := send(t, http.MethodPost, srv.URL+"/v1/endusers/bulk",
		`{"data":[{"email":"new@acme.example","displayName":"New"},{"email":"NEW@acme.example"}]}`)
	var ans bulkAnswer
	if code != 201 || json.Unmarshal(b, &ans) != nil || len(ans.Data) != 2 ||
		ans.Data[0].Type != "BulkActionSuccess" || ans.Data[1].Error == nil || ans.Data[1].Error.Type != "EmailExists" {
		t.Fatalf("%d %s", code, b)
	}
	if got := em.Records(); len(got) != 3 || got[2].ID != ans.Data[0].Data.ID || got[2].DisplayName != "New" {
		t.Fatalf("records after create: %+v", got)
	}
	many := strings.TrimSuffix(strings.Repeat(`{"id":"x"},`, vendors.Of[vendors.Dixa].MaxBulk+1), ",")
	for _, body := range []string{`[]`, `{"data":{}}`, `{"data":[1]}`, `{}`, `{"data":[` + many + `]}`} {
		code, b := send(t, http.MethodPatch, srv.URL+"/v1/endusers", body)
		var msg struct {
			Message string `json:"message"`
		}
		if code != 400 || json.Unmarshal(b, &msg) != nil || msg.Message == "" {
			t.Errorf("%.40s: %d %s, want 400 with a message", body, code, b)
		}
	}
	if log := em.Log(); log[len(log)-1].Items != vendors.Of[vendors.Dixa].MaxBulk+1 {
		t.Fatalf("an oversized body logged %d items", log[len(log)-1].Items)
	}
}

// Email and phone are unique in the organisation within one request too:
// the first item to take a value gets it, a later one is refused, and a value
// an earlier item gave up is free again.
func TestPatchUniqueWithinOneRequest(t *testing.T) {
	em, srv := start(t, 0)
	em.Insert(EndUser{PhoneNumber: "+4520100000"}, EndUser{}, EndUser{}, EndUser{})
	u := em.Records()
	body := fmt.Sprintf(`{"data":[
		{"id":%q,"phoneNumber":"+4520100001","email":"Shared@acme.example"},
		{"id":%q,"phoneNumber":"+4520100001"},
		{"id":%q,"email":"shared@ACME.example"},
		{"id":%q,"phoneNumber":"+4520100000"},
		{"id":%q,"phoneNumber":"+4520100000"}
	]}`, u[1].ID, u[2].ID, u[3].ID, u[0].ID, u[0].ID)
	// u[0]'s last two items keep its own phone: no conflict with itself.
	code, b := send(t, http.MethodPatch, srv.URL+"/v1/endusers", body)
	var ans bulkAnswer
	if code != 200 || json.Unmarshal(b, &ans) != nil || len(ans.Data) != 5 {
		t.Fatalf("%d %s", code, b)
	}
	want := []string{"", "PhoneNumberExists", "EmailExists", "", ""}
	for i, o := range ans.Data {
		typ := ""
		if o.Type != "BulkActionSuccess" {
			typ = o.Type
			if o.Error != nil {
				typ = o.Error.Type
			}
		}
		if typ != want[i] {
			t.Errorf("item %d: %+v, want %q", i, o, want[i])
		}
	}
	// u[1] gives its phone up, and a later item of the same request takes it.
	code, b = send(t, http.MethodPatch, srv.URL+"/v1/endusers", fmt.Sprintf(`{"data":[
		{"id":%q,"phoneNumber":"+4520100009"},
		{"id":%q,"phoneNumber":"+4520100001"}
	]}`, u[1].ID, u[2].ID))
	if code != 200 || json.Unmarshal(b, &ans) != nil || ans.Data[0].Type != "BulkActionSuccess" || ans.Data[1].Type != "BulkActionSuccess" {
		t.Fatalf("a value given up in the same request: %d %s", code, b)
	}
	got := em.Records()
	if got[1].PhoneNumber != "+4520100009" || got[2].PhoneNumber != "+4520100001" || got[3].Email != "" || got[1].Email != "Shared@acme.example" {
		t.Fatalf("records: %+v", got)
	}
}
