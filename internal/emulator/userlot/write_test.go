package userlot

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
)

func put(t *testing.T, url, body string) (int, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPut, url, strings.NewReader(body))
	req.Header.Set("ApiKey", "key")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("%d %s", resp.StatusCode, b)
	}
	return resp.StatusCode, m
}

func TestPutUpserts(t *testing.T) {
	em, url := start(t, 0)
	const stamp = "2024-01-01T00:00:00.000Z"
	em.Insert(
		EndUser{Email: "ada@acme.example", CreatedAt: stamp, UpdatedAt: stamp, Custom: map[string]any{"nps_score": 7}},
		EndUser{ExternalID: "u-2", CreatedAt: stamp, UpdatedAt: stamp},
		EndUser{SourceExternalID: "hs-3", CreatedAt: stamp, UpdatedAt: stamp},
	)
	users := em.Records()
	ada := users[0]

	// By id: a change bumps updated_at; custom fields are kept and merged.
	code, got := put(t, url, `{"id":"`+ada.ID+`","first_name":"Ada","external_id":"u-1","plan":"pro"}`)
	if code != 200 || got["first_name"] != "Ada" || got["external_id"] != "u-1" || got["plan"] != "pro" ||
		got["nps_score"] != 7.0 || got["updated_at"] == stamp || got["email"] != "ada@acme.example" {
		t.Fatalf("PUT by id: %d %v", code, got)
	}
	if ada.FirstName != "" || len(ada.Custom) != 1 {
		t.Fatalf("a copy handed out earlier changed: %+v", ada)
	}
	bumped := got["updated_at"]
	// The same PUT again changes nothing: updated_at stays.
	if code, again := put(t, url, `{"id":"`+ada.ID+`","first_name":"Ada","nps_score":7}`); code != 200 || again["updated_at"] != bumped {
		t.Fatalf("no-op PUT: %d %v, updated_at was %v", code, again, bumped)
	}
	// By external_id, then source_external_id, else created.
	if code, got := put(t, url, `{"external_id":"u-2","last_name":"Turing"}`); code != 200 || got["id"] != users[1].ID || got["last_name"] != "Turing" {
		t.Fatalf("PUT by external_id: %d %v", code, got)
	}
	if code, got := put(t, url, `{"external_id":"u-3","source_external_id":"hs-3"}`); code != 200 || got["id"] != users[2].ID || got["external_id"] != "u-3" {
		t.Fatalf("PUT by source_external_id: %d %v", code, got)
	}
	code, got = put(t, url, `{"external_id":"u-4","email":"grace@acme.example"}`)
	if code != 201 || got["id"] == "" || got["created_at"] == "" {
		t.Fatalf("PUT of a new record: %d %v", code, got)
	}
	if recs := em.Records(); len(recs) != 4 || recs[3].Email != "grace@acme.example" || recs[1].LastName != "Turing" {
		t.Fatalf("records: %+v", recs)
	}
}

func TestPutRefusals(t *testing.T) {
	em, url := start(t, 2)
	users := em.Records()
	for _, c := range []struct {
		body   string
		status int
	}{
		{`{"id":"no-such-id","first_name":"X"}`, 404},
		{`{"id":"` + users[0].ID + `","email":"not-an-email"}`, 422},
		{`{"id":"` + users[0].ID + `","external_id":"` + users[1].ExternalID + `"}`, 422},
		{`{"id":"` + users[0].ID + `","first_name":5}`, 422},
		{`[1]`, 400},
	} {
		code, got := put(t, url, c.body)
		if msg, _ := got["error"].(string); code != c.status || msg == "" {
			t.Errorf("%s: %d %v, want %d with an error", c.body, code, got, c.status)
		}
	}
	// Only what a PUT sets is validated.
	em.Insert(EndUser{Email: "stored-before-validation", ExternalID: users[0].ExternalID})
	stored := em.Records()[2]
	if code, got := put(t, url, `{"id":"`+stored.ID+`","first_name":"Ada"}`); code != 200 || got["first_name"] != "Ada" {
		t.Fatalf("PUT of another field of a record breaking the rules: %d %v", code, got)
	}
	if after := em.Records(); after[0].Email != users[0].Email || after[0].ExternalID != users[0].ExternalID || after[0].UpdatedAt != users[0].UpdatedAt {
		t.Fatalf("a refused PUT changed the record: %+v", after[0])
	}
}

// external_id is unique in the product: a PUT giving another record's id is
// refused as Userlot refuses it, while a record's own id is no conflict.
func TestPutExternalIDUnique(t *testing.T) {
	em, url := start(t, 0)
	em.Insert(EndUser{ExternalID: "u-1"}, EndUser{})
	u := em.Records()
	code, got := put(t, url, `{"id":"`+u[1].ID+`","external_id":"u-1"}`)
	if code != 422 || got["error"] != "External id u-1 has already been taken" {
		t.Fatalf("another record's external_id: %d %v", code, got)
	}
	if code, got := put(t, url, `{"id":"`+u[0].ID+`","external_id":"u-1","first_name":"Ada"}`); code != 200 || got["first_name"] != "Ada" {
		t.Fatalf("a record's own external_id: %d %v", code, got)
	}
	// Once u-1 is given up, another record may take it.
	if code, _ := put(t, url, `{"id":"`+u[0].ID+`","external_id":"u-0"}`); code != 200 {
		t.Fatalf("changing an external_id: %d", code)
	}
	if code, got := put(t, url, `{"id":"`+u[1].ID+`","external_id":"u-1"}`); code != 200 || got["external_id"] != "u-1" {
		t.Fatalf("a freed external_id: %d %v", code, got)
	}
}
