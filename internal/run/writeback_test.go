package run

import (
	"context"
	"fmt"
	"net/http/httptest"
	"strings"
	"testing"

	"etl/internal/config"
	"etl/internal/duckdb"
	"etl/internal/emulator/planhat"
)

// pairs makes n people, each held twice in Planhat: a full record, and a
// second one sharing only the email, with no external id or phone.
func pairs(n int) []planhat.EndUser {
	var us []planhat.EndUser
	for i := 0; i < n; i++ {
		email := fmt.Sprintf("p%d@acme.example", i)
		us = append(us,
			planhat.EndUser{ID: planhat.ObjectID(2 * i), Email: email, ExternalID: fmt.Sprintf("u-%d", i), FirstName: "Ada",
				Phone: fmt.Sprintf("+4520%06d", 100000+i), UpdatedAt: "2025-01-01T00:00:00.000Z"},
			planhat.EndUser{ID: planhat.ObjectID(2*i + 1), Email: strings.ToUpper(email), UpdatedAt: "2024-01-01T00:00:00.000Z"})
	}
	return us
}

func runPipeline(t *testing.T, url, out, writeback string, dryRun bool) (*Summary, error) {
	t.Helper()
	src := fmt.Sprintf("version: 1\nsources:\n  planhat: {base_url: %q, token: tok, rate_limit: {per_second: 1000, burst: 100}}\noutput: {uri: %q}\nwriteback:\n%s", url, out, writeback)
	p, err := config.Parse("wb.yaml", []byte(src), func(string) (string, bool) { return "", false }, "2026-05-01")
	if err != nil {
		t.Fatal(err)
	}
	return Run(context.Background(), p, Options{RunDate: "2026-05-01", DryRun: dryRun})
}

func startEmulator(t *testing.T, users []planhat.EndUser) (*planhat.Emulator, string) {
	em := planhat.New("tok", users)
	em.Enforce(false)
	srv := httptest.NewServer(em)
	t.Cleanup(srv.Close)
	return em, srv.URL
}

func TestWritebackFillsAndSecondRunSendsNothing(t *testing.T) {
	em, url := startEmulator(t, pairs(50))
	out := t.TempDir()
	wb := "  - {target: planhat, fields: [external_id, phone, first_name], chunk_size: 7, concurrency: 2}\n"
	sum, err := runPipeline(t, url, out, wb, false)
	if err != nil {
		t.Fatal(err)
	}
	st := sum.Writeback["planhat"]
	if st.Sent != 50 || st.Failed != 0 || st.Unchanged != 50 || st.Fields["external_id"] != 50 || st.Fields["first_name"] != 50 {
		t.Fatalf("write-back stats: %+v", st)
	}
	for i, u := range em.Users() {
		p := i / 2
		if u.ExternalID != fmt.Sprintf("u-%d", p) || u.Phone != fmt.Sprintf("+4520%06d", 100000+p) || u.FirstName != "Ada" {
			t.Fatalf("user %d after write-back: %+v", i, u)
		}
	}
	log := em.Log()
	sentItems := 0
	for _, e := range log {
		if e.Method == "PUT" {
			sentItems += e.Items
			if e.Items > 7 {
				t.Fatalf("a request carried %d items, chunk_size is 7", e.Items)
			}
		}
	}
	if sentItems != 50 {
		t.Fatalf("the emulator received %d items, the summary says 50", sentItems)
	}
	if m := em.MaxInFlight(); m > 2 {
		t.Fatalf("%d requests in flight, concurrency is 2", m)
	}

	before := em.Writes()
	sum, err = runPipeline(t, url, out, wb, false)
	if err != nil {
		t.Fatal(err)
	}
	if em.Writes() != before || sum.Writeback["planhat"].Sent != 0 || sum.Writeback["planhat"].Unchanged != 100 {
		t.Fatalf("second run wrote %d items; stats %+v", em.Writes()-before, sum.Writeback["planhat"])
	}
}

func TestWritebackDryRunSendsNothing(t *testing.T) {
	em, url := startEmulator(t, pairs(10))
	out := t.TempDir()
	sum, err := runPipeline(t, url, out, "  - {target: planhat, fields: [external_id]}\n", true)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range em.Log() {
		if e.Method != "GET" {
			t.Fatalf("dry run sent %s %s", e.Method, e.Path)
		}
	}
	if st := sum.Writeback["planhat"]; st.Planned != 10 || st.Sent != 0 || !st.DryRun || len(st.Sample) != 5 {
		t.Fatalf("plan: %+v", st)
	}
	rows := duckdb.Query(t, fmt.Sprintf(`SELECT count(*) AS n, count(DISTINCT source_id) AS d, min(field) AS f FROM read_parquet('%s')`,
		duckdb.Glob(out, "writeback_plan", "2026-05-01")))
	if duckdb.Int(t, rows[0]["n"]) != 10 || rows[0]["f"] != "external_id" {
		t.Fatalf("writeback_plan: %v", rows)
	}
}

func TestWritebackItemErrorsAndBisection(t *testing.T) {
	users := pairs(20)
	// Pair 3's full record has a first name Planhat refuses as a payload
	// (too long), so the chunk carrying it is refused whole.
	users[6].FirstName = strings.Repeat("x", planhat.MaxFieldLength+1)
	em, url := startEmulator(t, users)
	out := t.TempDir()
	wb := "  - {target: planhat, fields: [external_id, first_name], chunk_size: 20, max_failed_ratio: 0.5}\n"
	sum, err := runPipeline(t, url, out, wb, false)
	if err != nil {
		t.Fatal(err)
	}
	st := sum.Writeback["planhat"]
	if st.Sent != 20 || st.Failed != 1 {
		t.Fatalf("stats: %+v", st)
	}
	rows := duckdb.Query(t, fmt.Sprintf(`SELECT stage, source, source_id, reason FROM read_parquet('%s')`, duckdb.Glob(out, "rejects", "2026-05-01")))
	if len(rows) != 1 || rows[0]["source_id"] != users[7].ID || rows[0]["stage"] != "writeback" || !strings.Contains(rows[0]["reason"].(string), "longer than") {
		t.Fatalf("rejects: %v", rows)
	}
	for i, u := range em.Users() {
		if i%2 == 1 && i != 7 && u.ExternalID == "" {
			t.Fatalf("user %d was not written: %+v", i, u)
		}
	}
}

func TestWritebackVendorItemErrorLandsInRejects(t *testing.T) {
	em, url := startEmulator(t, []planhat.EndUser{
		{ID: planhat.ObjectID(1), Email: "c@acme.example", ExternalID: "u-c"},
		{ID: planhat.ObjectID(2), ExternalID: "u-c"}, // same person, no email: fill would duplicate c@acme.example
	})
	out := t.TempDir()
	sum, err := runPipeline(t, url, out, "  - {target: planhat, fields: [email]}\n", false)
	if err == nil || !strings.Contains(err.Error(), "1 of 1 items failed") {
		t.Fatalf("want a write-back failure, got %v", err)
	}
	if sum.Status != StatusFailed || sum.Tables["rejects"].Rows != 1 {
		t.Fatalf("summary: %+v", sum)
	}
	rows := duckdb.Query(t, fmt.Sprintf(`SELECT reason FROM read_parquet('%s')`, duckdb.Glob(out, "rejects", "2026-05-01")))
	if len(rows) != 1 || rows[0]["reason"] != "planhat: email duplicated" {
		t.Fatalf("rejects: %v", rows)
	}
	if em.Users()[1].Email != "" {
		t.Fatal("the refused email was applied")
	}
	// The tables are complete even though the write-back failed.
	if got := duckdb.Query(t, fmt.Sprintf(`SELECT count(*) AS n FROM read_parquet('%s')`, duckdb.Glob(out, "end_user_sources", "2026-05-01"))); duckdb.Int(t, got[0]["n"]) != 2 {
		t.Fatalf("end_user_sources: %v", got)
	}
}
