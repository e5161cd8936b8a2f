package planhat

import (
	"context"
	"encoding/json"
	"net/http/httptest"
	"strings"
	"testing"

	"etl/extract/extracttest"
	"etl/internal/emulator/people"
	emulator "etl/internal/emulator/planhat"
	"etl/internal/vendorhttp"
)

// A record nested deeper than encoding/json reads is one reject with its
// reason; the other records of its page are kept (the page is not failed).
func TestDeepRecordIsOneReject(t *testing.T) {
	em := emulator.New("tok", emulator.FromPeople(people.Generate(5, 30), 0))
	em.Enforce(false)
	deep := `{"_id":"deep","custom":{"t":` + strings.Repeat("[", 10001) + strings.Repeat("]", 10001) + `}}`
	em.InsertRaw(json.RawMessage(deep), json.RawMessage(`{"_id":"after"}`))
	srv := httptest.NewServer(em)
	defer srv.Close()
	c, err := vendorhttp.New("planhat", srv.URL, Auth("tok"), nil)
	if err != nil {
		t.Fatal(err)
	}
	res := extracttest.Run(t, context.Background(), New(Options{Client: c, PageSize: 100}))
	if res.Err != nil {
		t.Fatal(res.Err)
	}
	if len(res.Rows) != 31 || res.ByID["after"].SourceID == "" {
		t.Fatalf("%d rows (want the 30 users and the record after the deep one)", len(res.Rows))
	}
	if len(res.Rejects) != 1 || !strings.Contains(res.Rejects[0].Reason, "exceeded max depth") || res.Rejects[0].Raw != deep {
		t.Fatalf("rejects %+v", res.Rejects)
	}
}
