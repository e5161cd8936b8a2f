package moesif

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"etl/internal/vendors"
)

func startCollector(t *testing.T, users []User) (*Emulator, *Collector, string) {
	em := New("key", users)
	em.Enforce(false)
	c := em.Collector("app")
	srv := httptest.NewServer(c)
	t.Cleanup(srv.Close)
	return em, c, srv.URL + "/v1/users/batch"
}

func post(t *testing.T, url, appID string, body []byte) (int, []byte) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	req.Header.Set("X-Moesif-Application-Id", appID)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

func user(t *testing.T, em *Emulator, id string) User {
	t.Helper()
	for _, u := range em.Records() {
		if u.UserID == id {
			return u
		}
	}
	t.Fatalf("no user %q", id)
	return User{}
}

func TestBatchDeepMergesAndCreates(t *testing.T) {
	const old = "2024-05-01T00:00:00.000"
	em, c, url := startCollector(t, []User{{UserID: "u-1 ", FirstName: "Ada", ModifiedTime: old,
		Metadata: map[string]any{"plan": "pro", "first_name": "Ada", "sales_info": map[string]any{"stage": "Customer", "ltv": 10}}}})
	before := user(t, em, "u-1 ")
	code, b := post(t, url, "app", []byte(`[
		{"user_id":"u-1 ","metadata":{"first_name":"Augusta","phone":"+4520100000","sales_info":{"ltv":20}},"campaign":{"utm_source":"x"}},
		{"user_id":"u-2","company_id":"c-2","metadata":{"email":"new@acme.example"}}
	]`))
	if code != 201 {
		t.Fatalf("%d %s", code, b)
	}
	u := user(t, em, "u-1 ")
	info, _ := u.Metadata["sales_info"].(map[string]any)
	if u.FirstName != "Augusta" || u.Phone != "+4520100000" || u.Metadata["plan"] != "pro" || u.Metadata["first_name"] != "Augusta" ||
		info["stage"] != "Customer" || info["ltv"] != json.Number("20") {
		t.Fatalf("merged user: %+v", u)
	}
	if u.ModifiedTime == old {
		t.Fatal("a real change left modified_time alone")
	}
	if before.FirstName != "Ada" || before.Metadata["first_name"] != "Ada" {
		t.Fatalf("a copy handed out earlier changed: %+v", before)
	}
	if n := user(t, em, "u-2"); n.Email != "new@acme.example" || n.CompanyID != "c-2" || n.ModifiedTime == "" {
		t.Fatalf("created user: %+v", n)
	}
	// The same write again changes nothing, so modified_time stays.
	post(t, url, "app", []byte(`[{"user_id":"u-1 ","metadata":{"first_name":"Augusta","sales_info":{"ltv":20}}}]`))
	if again := user(t, em, "u-1 "); again.ModifiedTime != u.ModifiedTime {
		t.Fatalf("a no-op write moved modified_time from %s to %s", u.ModifiedTime, again.ModifiedTime)
	}
	if log := c.Log(); len(log) != 2 || log[0].Items != 2 || log[1].Items != 1 {
		t.Fatalf("collector log: %+v", log)
	}
	if len(em.Log()) != 0 {
		t.Fatal("collector requests landed in the search API's log")
	}
}

func TestBatchRefusals(t *testing.T) {
	em, _, url := startCollector(t, nil)
	for _, c := range []struct {
		appID, body string
		status      int
	}{
		{"wrong", `[{"user_id":"a"}]`, 401},
		{"app", `{"user_id":"a"}`, 400},
		{"app", `[{"user_id":"a"},{"metadata":{"email":"x@y.z"}}]`, 400},
		{"app", `[{"user_id":""}]`, 400},
		{"app", `[{"user_id":"a"}]` + strings.Repeat(" ", int(vendors.Of[vendors.Moesif].MaxBulkBytes)), 413},
	} {
		code, b := post(t, url, c.appID, []byte(c.body))
		var e result
		if code != c.status || json.Unmarshal(b, &e) != nil || e.Error.Msg == "" {
			t.Errorf("%.40s: %d %s, want %d with a moesif_error", c.body, code, b, c.status)
		}
	}
	if n := len(em.Records()); n != 0 {
		t.Fatalf("refused requests created %d users", n)
	}
}
