package userlot

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"etl/extract/extracttest"
	"etl/internal/emulator/people"
	userlotemu "etl/internal/emulator/userlot"
	"etl/internal/vendorhttp"
)

const key = "userlot-test-key-5d02"

func newExtractor(t *testing.T, url, k string, pageSize int) *Extractor {
	t.Helper()
	c, err := vendorhttp.New("userlot", url, Auth(k), nil)
	if err != nil {
		t.Fatal(err)
	}
	c.Retry = vendorhttp.Retry{Initial: time.Millisecond, Max: 10 * time.Millisecond, MaxElapsed: 5 * time.Second}
	return New(Options{Client: c, PageSize: pageSize})
}

func serve(t *testing.T, users []userlotemu.EndUser) (*userlotemu.Emulator, string) {
	t.Helper()
	em := userlotemu.New(key, users)
	em.Enforce(false)
	srv := httptest.NewServer(em)
	t.Cleanup(srv.Close)
	return em, srv.URL
}

func bounded(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func TestPagesUntilEmptyFieldByField(t *testing.T) {
	ps := people.Generate(9, 97)
	em, url := serve(t, userlotemu.FromPeople(ps, 0))
	res := extracttest.Run(t, bounded(t), newExtractor(t, url, key, 20))
	if res.Err != nil {
		t.Fatal(res.Err)
	}
	if len(res.Rows) != 97 || len(res.ByID) != 97 || res.Stats.Duplicates != 0 || len(res.Rejects) != 0 {
		t.Fatalf("%d rows (%d distinct), %d duplicates, %d rejects; want 97 once each",
			len(res.Rows), len(res.ByID), res.Stats.Duplicates, len(res.Rejects))
	}
	// Pages of 20, 20, 20, 20, 17, then the empty page that ends the scan.
	if res.Stats.Pages != 6 || len(em.Log()) != 6 {
		t.Fatalf("%d pages in %d requests, want 6", res.Stats.Pages, len(em.Log()))
	}
	for i, u := range em.Records() {
		p, r := ps[i], res.ByID[u.ID]
		if r.ExternalID != p.ExternalID || r.Email != p.Email || r.FirstName != p.FirstName || r.LastName != p.LastName ||
			r.Name != p.FirstName+" "+p.LastName || r.CompanyID != p.CompanyID ||
			!r.CreatedAt.Equal(p.CreatedAt) || !r.UpdatedAt.Equal(p.UpdatedAt) {
			t.Fatalf("user %d: row %+v", i, r.Row)
		}
		var attrs map[string]any
		if err := json.Unmarshal([]byte(r.AttributesJSON), &attrs); err != nil {
			t.Fatalf("user %d: attributes %q", i, r.AttributesJSON)
		}
		if _, ok := attrs["last_seen_at"]; ok || attrs["signup_channel"] == nil || attrs["total_revenue"] == nil {
			t.Fatalf("user %d: attributes %s", i, r.AttributesJSON)
		}
	}
	// Person 3 has a CRM id and a null churn_reason (left out); person 1 a +01:00 time.
	want := `{"is_trial":false,"nps_score":3,"signup_channel":"partner","source_external_id":"hs-50003","total_revenue":37.5}`
	if got := res.ByID[em.Records()[3].ID].AttributesJSON; got != want {
		t.Fatalf("attributes\n got %s\nwant %s", got, want)
	}
	if u := em.Records()[1]; !strings.HasSuffix(u.CreatedAt, "+01:00") {
		t.Fatalf("emulator data lost its offset time: %q", u.CreatedAt)
	}
}

func TestDecodeCustomFields(t *testing.T) {
	u, err := Decode([]byte(`{"id":17,"external_id":9001,"email":"a@b.example","created_at":"2023-02-07T07:52:58.000Z",
		"updated_at":null,"last_seen_at":"2023-02-08T00:00:00.000Z","total_revenue":12345678901234.25,
		"plan_name":"Scale","health":{"score":7},"tags_list":["x"],"gone":null}`))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(u.Attributes)
	if u.SourceID != "17" || u.ExternalID != "9001" || !u.UpdatedAt.IsZero() ||
		string(b) != `{"health":{"score":7},"plan_name":"Scale","tags_list":["x"],"total_revenue":12345678901234.25}` {
		t.Fatalf("%+v %s", u.Row, b)
	}
	if _, err := Decode([]byte(`{"email":"a@b.example"}`)); err == nil {
		t.Fatal("an end user without id was accepted")
	}
}

func TestBadRecordRejected(t *testing.T) {
	users := append(userlotemu.FromPeople(people.Generate(9, 3), 0), userlotemu.EndUser{ID: "bad", CreatedAt: "soon"})
	_, url := serve(t, users)
	res := extracttest.Run(t, bounded(t), newExtractor(t, url, key, 2))
	if res.Err != nil || len(res.ByID) != 3 || len(res.Rejects) != 1 || res.Rejects[0].SourceID != "bad" {
		t.Fatalf("err %v, %d users, rejects %+v", res.Err, len(res.ByID), res.Rejects)
	}
}

func TestAPIIgnoringPageFails(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte(`[{"id":"1"},{"id":"2"}]`))
	}))
	defer srv.Close()
	res := extracttest.Run(t, bounded(t), newExtractor(t, srv.URL, key, 2))
	if res.Err == nil || !strings.Contains(res.Err.Error(), "repeats") || len(res.ByID) != 2 {
		t.Fatalf("err %v with %d users, want a refusal to loop", res.Err, len(res.ByID))
	}
}

func TestWrongKeyFailsFast(t *testing.T) {
	em, url := serve(t, userlotemu.FromPeople(people.Generate(9, 3), 0))
	res := extracttest.Run(t, bounded(t), newExtractor(t, url, "nope", 2))
	var ae *vendorhttp.AuthError
	if !errors.As(res.Err, &ae) || len(em.Log()) != 1 {
		t.Fatalf("err %v after %d requests, want one 401", res.Err, len(em.Log()))
	}
}
