package main

import (
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"etl/internal/duckdb"
	"etl/internal/emulator/dixa"
	"etl/internal/emulator/emu"
	"etl/internal/emulator/moesif"
	"etl/internal/emulator/people"
	"etl/internal/emulator/planhat"
	"etl/internal/emulator/userlot"
	"etl/internal/etlbin"
)

// placeholderTenant is a small tenant where four people's Planhat records
// carry the same placeholder external id, under the holder limit, so they
// resolve as one person with one phone and one external id; that person's
// Dixa records lack a phone and its Userlot records an external id. Dixa
// also holds one household phone on two people's records.
type placeholderTenant struct {
	planhat   *planhat.Emulator
	dixa      *dixa.Emulator
	moesif    *moesif.Emulator
	collector *moesif.Collector
	userlot   *userlot.Emulator
	pipeline  string
	merged    []int // the people sharing the placeholder
}

func newPlaceholderTenant(t *testing.T, out string) *placeholderTenant {
	ps := people.Generate(11, 60)
	e := &placeholderTenant{merged: []int{4, 8, 12, 16}}
	var ph []planhat.EndUser
	var dx []dixa.EndUser
	var mo []moesif.User
	var ul []userlot.EndUser
	for i, p := range ps {
		ext := p.ExternalID
		if slices.Contains(e.merged, i) {
			ext = people.PlaceholderID
		}
		ph = append(ph, planhat.EndUser{ID: planhat.ObjectID(i), Email: p.Email, ExternalID: ext, FirstName: p.FirstName,
			LastName: p.LastName, Phone: p.Phone, UpdatedAt: p.UpdatedAt.Format("2006-01-02T15:04:05.000Z")})
		if i%2 == 0 {
			d := dixa.EndUser{ID: dixa.UUID(i), Email: p.Email, CreatedAt: "2024-01-01T00:00:00.000Z"}
			if i == 2 {
				d.PhoneNumber = ps[6].Phone // person 6's phone, on person 2's record: 6's is taken
			}
			dx = append(dx, d)
		}
		if i%3 == 0 || slices.Contains(e.merged, i) {
			ul = append(ul, userlot.EndUser{ID: userlot.UUID(i), Email: p.Email, FirstName: p.FirstName, LastName: p.LastName,
				CreatedAt: "2024-01-01T00:00:00.000Z", UpdatedAt: "2024-01-01T00:00:00.000Z"})
		}
		if i%5 == 0 && !slices.Contains(e.merged, i) {
			mo = append(mo, moesif.User{UserID: p.ExternalID, ModifiedTime: "2024-01-01T00:00:00.000", Metadata: map[string]any{"email": p.Email}})
		}
	}
	e.planhat, e.dixa, e.moesif, e.userlot = planhat.New("ptok", ph), dixa.New("dtok", dx), moesif.New("mtok", mo), userlot.New("ukey", ul)
	e.collector = e.moesif.Collector("app")
	urls := map[string]string{}
	for name, h := range map[string]interface {
		http.Handler
		Enforce(bool)
	}{"planhat": e.planhat, "dixa": e.dixa, "moesif": e.moesif, "collector": e.collector, "userlot": e.userlot} {
		h.Enforce(false)
		srv := httptest.NewServer(h)
		t.Cleanup(srv.Close)
		urls[name] = srv.URL
	}
	fast := "rate_limit: {per_second: 1000, burst: 100}"
	e.pipeline = filepath.Join(t.TempDir(), "tenant.yaml")
	body := fmt.Sprintf(`version: 1
sources:
  planhat: {base_url: %q, token: ptok, %s}
  dixa:    {base_url: %q, token: dtok, %s}
  moesif:  {base_url: %q, token: mtok, collector_url: %q, application_id: app, %s}
  userlot: {base_url: %q, api_key: ukey, %s}
output: {uri: %q}
writeback:
  - {target: planhat, fields: [external_id, phone]}
  - {target: dixa,    fields: [external_id, email, phone, first_name]}
  - {target: moesif,  fields: [first_name, phone]}
  - {target: userlot, fields: [external_id, first_name]}
`, urls["planhat"], fast, urls["dixa"], fast, urls["moesif"], urls["collector"], fast, urls["userlot"], fast, out)
	if err := os.WriteFile(e.pipeline, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return e
}

// writes counts the write requests each vendor received.
func (e *placeholderTenant) writes() map[string]int {
	out := map[string]int{"moesif": len(e.collector.Log())}
	for name, log := range map[string][]emu.Entry{"planhat": e.planhat.Log(), "dixa": e.dixa.Log(), "userlot": e.userlot.Log()} {
		for _, x := range log {
			if x.Method != "GET" {
				out[name]++
			}
		}
	}
	return out
}

type wbSummary struct {
	Status    string `json:"status"`
	Error     string `json:"error"`
	Writeback map[string]struct {
		Planned   int64 `json:"planned"`
		Sent      int64 `json:"sent"`
		Failed    int64 `json:"failed"`
		Conflicts int64 `json:"conflicts"`
		Unchanged int64 `json:"unchanged"`
	} `json:"writeback"`
}

func (e *placeholderTenant) run(t *testing.T, wantCode int, args ...string) wbSummary {
	t.Helper()
	res := etlbin.Run(t, nil, append([]string{"run", e.pipeline, "--run-date", runDate}, args...)...)
	var s wbSummary
	if err := json.Unmarshal([]byte(etlbin.LastLine(res.Stdout)), &s); err != nil || res.Code != wantCode {
		t.Fatalf("etl run %v: exit %d (want %d), %v\n%s\n%s", args, res.Code, wantCode, err, res.Stdout, res.Stderr)
	}
	return s
}

// conflictRejects are the write-back rejects of the date's partition.
func conflictRejects(t *testing.T, out string) []string {
	t.Helper()
	rows := duckdb.Query(t, fmt.Sprintf(`SELECT source || ' ' || source_id || ' | ' || reason || ' | ' || raw AS r
		FROM read_parquet('%s') WHERE stage = 'writeback' ORDER BY r`, duckdb.Glob(out, "rejects", runDate)))
	var got []string
	for _, r := range rows {
		got = append(got, r["r"].(string))
	}
	return got
}

// The tenant: a placeholder external id merges four people, whose
// phone and external id can go to one record each. The run succeeds with
// the rest of the write-back done and the conflicts counted and in rejects;
// a second run sends nothing; a value taken by someone else after
// extraction is still a real refusal that fails the run.
func TestWritebackConflictsPlaceholderTenant(t *testing.T) {
	out := t.TempDir()
	e := newPlaceholderTenant(t, out)
	ps := people.Generate(11, 60)
	// The merged person's phone and first name are those of its most
	// recently updated Planhat record.
	latest := e.merged[0]
	for _, i := range e.merged {
		if ps[i].UpdatedAt.After(ps[latest].UpdatedAt) {
			latest = i
		}
	}
	phone := ps[latest].Phone
	var dixaIDs, userlotIDs []string
	for _, i := range e.merged {
		dixaIDs, userlotIDs = append(dixaIDs, dixa.UUID(i)), append(userlotIDs, userlot.UUID(i))
	}
	slices.Sort(dixaIDs)
	slices.Sort(userlotIDs)
	var want []string
	for _, id := range dixaIDs[1:] {
		want = append(want, fmt.Sprintf(`dixa %s | conflict: phone %s is held by %s | {"phone":"%s"}`, id, phone, dixaIDs[0], phone))
	}
	want = append(want, fmt.Sprintf(`dixa %s | conflict: phone %s is held by %s | {"phone":"%s"}`, dixa.UUID(6), ps[6].Phone, dixa.UUID(2), ps[6].Phone))
	for _, id := range userlotIDs[1:] {
		want = append(want, fmt.Sprintf(`userlot %s | conflict: external_id %s is held by %s | {"external_id":"%s"}`, id, people.PlaceholderID, userlotIDs[0], people.PlaceholderID))
	}
	slices.Sort(want)

	// A dry run shows the conflicts and sends nothing.
	s := e.run(t, 0, "--dry-run")
	if d, u := s.Writeback["dixa"], s.Writeback["userlot"]; d.Conflicts != 4 || u.Conflicts != 3 || d.Sent+u.Sent != 0 {
		t.Fatalf("dry run: %+v", s.Writeback)
	}
	if got := conflictRejects(t, out); !slices.Equal(got, want) {
		t.Fatalf("dry run rejects:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	for name, n := range e.writes() {
		if n != 0 {
			t.Fatalf("the dry run sent %d requests to %s", n, name)
		}
	}

	// The first run: exit 0, conflicts counted apart from sent and failed.
	s = e.run(t, 0)
	// Dixa: the 30 even people's records get external_id, first_name and
	// (but for 4 conflicts and person 2, who has one) a phone; Userlot: 23
	// records get external_id but for 3 conflicts, which empty their patches.
	if d := s.Writeback["dixa"]; d.Planned != 30 || d.Sent != 30 || d.Failed != 0 || d.Conflicts != 4 || d.Unchanged != 0 {
		t.Fatalf("dixa: %+v", d)
	}
	if u := s.Writeback["userlot"]; u.Planned != 20 || u.Sent != 20 || u.Failed != 0 || u.Conflicts != 3 || u.Unchanged != 3 {
		t.Fatalf("userlot: %+v", u)
	}
	if p, m := s.Writeback["planhat"], s.Writeback["moesif"]; p.Sent != 0 || p.Conflicts != 0 || m.Sent != 12 || m.Conflicts != 0 {
		t.Fatalf("planhat %+v, moesif %+v", p, m)
	}
	if got := conflictRejects(t, out); !slices.Equal(got, want) {
		t.Fatalf("rejects:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	holders := map[string]int{}
	for _, u := range e.dixa.Records() {
		if u.ExternalID == "" || u.FirstName == "" {
			t.Fatalf("dixa record not filled: %+v", u)
		}
		holders["dixa "+u.PhoneNumber]++
	}
	for _, u := range e.userlot.Records() {
		holders["userlot "+u.ExternalID]++
	}
	if holders["dixa "+phone] != 1 || holders["dixa "+ps[6].Phone] != 1 || holders["dixa "] != 4 || holders["userlot "+people.PlaceholderID] != 1 || holders["userlot "] != 3 {
		t.Fatalf("the vendors hold %v", holders)
	}

	// A second run sends nothing new, and still reports the conflicts.
	before := e.writes()
	s = e.run(t, 0)
	for name, st := range s.Writeback {
		if st.Sent != 0 || st.Planned != 0 {
			t.Errorf("second run, %s: %+v", name, st)
		}
	}
	if d, u := s.Writeback["dixa"], s.Writeback["userlot"]; d.Conflicts != 4 || u.Conflicts != 3 {
		t.Fatalf("second run: %+v", s.Writeback)
	}
	if after := e.writes(); !maps.Equal(after, before) {
		t.Fatalf("the second run sent write requests: %v, before %v", after, before)
	}

	// A new person's phone is taken in Dixa after extraction: Dixa refuses
	// it, which fails the write-back stage.
	e.planhat.Insert(planhat.EndUser{Email: "new@acme.example", ExternalID: "u-new", Phone: "+4520999999", UpdatedAt: "2025-01-01T00:00:00.000Z"})
	e.dixa.Insert(dixa.EndUser{Email: "new@acme.example", CreatedAt: "2024-01-01T00:00:00.000Z"})
	e.run(t, 0, "--stage", "extract", "--force")
	e.run(t, 0, "--stage", "resolve")
	e.dixa.Insert(dixa.EndUser{Email: "other@acme.example", PhoneNumber: "+4520999999", CreatedAt: "2024-01-01T00:00:00.000Z"})
	s = e.run(t, 1, "--stage", "writeback")
	if d := s.Writeback["dixa"]; s.Status != "failed" || !strings.Contains(s.Error, "1 of 1 items failed") || d.Sent != 1 || d.Failed != 1 || d.Conflicts != 4 {
		t.Fatalf("refused by Dixa: %s %q %+v", s.Status, s.Error, d)
	}
	got := conflictRejects(t, out)
	refused := slices.IndexFunc(got, func(r string) bool { return strings.Contains(r, "PhoneNumberExists") })
	if len(got) != len(want)+1 || refused < 0 || !slices.Equal(slices.Delete(slices.Clone(got), refused, refused+1), want) {
		t.Fatalf("rejects after a refusal:\n%s", strings.Join(got, "\n"))
	}
}
