package reliability

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"etl/internal/duckdb"
	"etl/internal/emulator/dixa"
	"etl/internal/emulator/moesif"
	"etl/internal/emulator/userlot"
	"etl/internal/vendors"
)

// Hostile records among ordinary ones: each is a row of end_user_sources or
// a reject with its reason, the counts reconcile, and nothing panics.
func TestHostileRecords(t *testing.T) {
	e := startEnv(t, envOpts{edit: func(p map[string]any) { delete(p, "writeback") }})
	deep := strings.Repeat(`{"a":`, 2000) + `1` + strings.Repeat(`}`, 2000)
	big := strings.Repeat("x", 1<<20)
	records := map[string]string{
		"h-utf8-row":    "{\"_id\":\"h-utf8-row\",\"firstName\":\"Ad\xffa\",\"email\":\"a\xfe@example.com\",\"custom\":{\"k\xff\":\"v\xfe\"}}",
		"h-utf8-reject": "{\"_id\":\"h-utf8-reject\",\"firstName\":{\"x\":\"\xff\xfe\"}}",
		"h-1mb":         `{"_id":"h-1mb","firstName":"` + big + `","custom":{"Notes":"` + big + `"}}`,
		"h-deep":        `{"_id":"h-deep","custom":{"Tree":` + deep + `}}`,
		"h-number":      `{"_id":"h-number","firstName":12345,"lastName":true,"externalId":987654321}`,
		"h-object":      `{"_id":"h-object","email":{"address":"a@example.com"}}`,
		"h-list":        `{"_id":"h-list","tags":{"a":1},"createDate":[2024]}`,
		"h-time":        `{"_id":"h-time","updatedAt":"yesterday"}`,
		"h-dup":         `{"_id":"h-dup","email":"first@example.com","firstName":"First"}`,
	}
	var raws []json.RawMessage
	for _, r := range records {
		raws = append(raws, json.RawMessage(r))
	}
	// The same id again with other content: the first copy is kept.
	raws = append(raws, json.RawMessage(`{"_id":"h-dup","email":"second@example.com","firstName":"Second"}`))
	e.Planhat.InsertRaw(raws...)
	var tree any = "leaf"
	for range 2000 {
		tree = map[string]any{"a": tree}
	}
	e.Dixa.Insert(
		dixa.EndUser{Email: "h-dixa-object@example.com", CustomAttributes: []dixa.CustomAttribute{{ID: "1", Identifier: "tree", Value: tree}}},
		dixa.EndUser{Email: "h-dixa-1mb@example.com", DisplayName: big, CustomAttributes: []dixa.CustomAttribute{{ID: "2", Identifier: "notes", Value: big}}},
		dixa.EndUser{Email: "h-dixa-number@example.com", CustomAttributes: []dixa.CustomAttribute{{ID: "3", Identifier: "n", Value: 12345}}})
	e.Moesif.Insert(
		moesif.User{UserID: "h-moesif-deep", ModifiedTime: "2024-01-01T00:00:00.000Z", Metadata: map[string]any{"tree": tree, "email": 12345}},
		moesif.User{UserID: "h-moesif-1mb", ModifiedTime: "2024-01-01T00:00:00.000Z", Name: big, Metadata: map[string]any{"notes": big}})
	e.Userlot.Insert(
		userlot.EndUser{Email: "h-userlot-deep@example.com", CreatedAt: "2024-01-01T00:00:00Z", UpdatedAt: "2024-01-01T00:00:00Z", Custom: map[string]any{"tree": tree}},
		userlot.EndUser{Email: "h-userlot-1mb@example.com", CreatedAt: "2024-01-01T00:00:00Z", UpdatedAt: "yesterday", Custom: map[string]any{"notes": big}})
	want := map[string]bool{} // source/source_id of every hostile record
	for id := range records {
		want[vendors.Planhat+"/"+id] = true
	}
	for _, u := range e.Dixa.Records() {
		if strings.HasPrefix(u.Email, "h-") {
			want[vendors.Dixa+"/"+u.ID] = true
		}
	}
	want[vendors.Moesif+"/h-moesif-deep"], want[vendors.Moesif+"/h-moesif-1mb"] = true, true
	for _, u := range e.Userlot.Records() {
		if strings.HasPrefix(u.Email, "h-") {
			want[vendors.Userlot+"/"+u.ID] = true
		}
	}

	p := e.run(t)
	s := p.summary(t)
	if p.code != 0 || s.Status != "succeeded" {
		t.Fatalf("exit %d, summary %s\nstderr: %s", p.code, s.line, tail(p.stderr.String()))
	}
	reconcile(t, s)
	complete(t, e.dir)
	if d := s.Sources[vendors.Planhat].Duplicates; d != 1 {
		t.Errorf("planhat duplicates %d, want 1 (the second h-dup)", d)
	}

	rows := duckdb.Query(t, fmt.Sprintf(`SELECT 'row' AS t, source || '/' || source_id AS id, '' AS reason, coalesce(first_name, '') AS v FROM read_parquet('%s')
		UNION ALL SELECT 'reject', source || '/' || coalesce(source_id, ''), reason, '' FROM read_parquet('%s')`,
		duckdb.Glob(e.dir, "end_user_sources", runDate), duckdb.Glob(e.dir, "rejects", runDate)))
	landed := map[string]int{}
	dup := map[string]int{} // h-dup's landings, by table
	for _, r := range rows {
		id := r["id"].(string)
		if !want[id] {
			continue
		}
		landed[id]++
		if r["t"] == "reject" && strings.TrimSpace(r["reason"].(string)) == "" {
			t.Errorf("%s rejected without a reason", id)
		}
		if id == vendors.Planhat+"/h-dup" {
			// The first copy is the row; the second, differing, is rejected.
			if r["t"] == "row" && r["v"] != "First" {
				t.Errorf("h-dup: kept %v, want the first copy", r["v"])
			}
			if r["t"] == "reject" && !strings.Contains(r["reason"].(string), "duplicate source_id with different content") {
				t.Errorf("h-dup rejected for %v", r["reason"])
			}
			dup[r["t"].(string)]++
			continue
		}
		t.Logf("%s: %s %s", id, r["t"], r["reason"])
	}
	if dup["row"] != 1 || dup["reject"] != 1 {
		t.Errorf("h-dup landed as %v, want one row (the first copy) and one reject", dup)
	}
	for id := range want {
		if id == vendors.Planhat+"/h-dup" {
			continue
		}
		if landed[id] != 1 {
			t.Errorf("%s landed %d times in end_user_sources and rejects, want once", id, landed[id])
		}
	}
	for _, id := range []string{"h-utf8-row", "h-1mb", "h-deep", "h-number"} {
		if r := duckdb.Query(t, fmt.Sprintf(`SELECT count(*) AS n FROM read_parquet('%s') WHERE source_id = '%s'`, duckdb.Glob(e.dir, "end_user_sources", runDate), id)); duckdb.Int(t, r[0]["n"]) != 1 {
			t.Errorf("%s is not a row of end_user_sources", id)
		}
	}
	noSecrets(t, e.secrets, []string{p.stdout.String(), p.stderr.String()}, e.dir)
}
