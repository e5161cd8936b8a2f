package run

import (
	"context"
	"fmt"
	"maps"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"etl/internal/config"
	"etl/internal/demo"
	"etl/internal/duckdb"
	"etl/internal/emulator/dixa"
	"etl/internal/emulator/emu"
	"etl/internal/emulator/moesif"
	"etl/internal/emulator/planhat"
	"etl/internal/emulator/userlot"
)

const wbDate = "2026-05-02"

// wbEnv is the four vendors' emulators holding the same people, each vendor
// lacking something another one has.
type wbEnv struct {
	planhat   *planhat.Emulator
	dixa      *dixa.Emulator
	moesif    *moesif.Emulator
	collector *moesif.Collector
	userlot   *userlot.Emulator
	urls      map[string]string
}

func serveEmulator(t *testing.T, e interface {
	ServeHTTP(w http.ResponseWriter, r *http.Request)
	Enforce(bool)
}) string {
	e.Enforce(false)
	srv := httptest.NewServer(e)
	t.Cleanup(srv.Close)
	return srv.URL
}

// Person i: Planhat has everything (updated last) but the phone when
// i%4 == 1, which Dixa has; Dixa, Moesif and Userlot know the person by email
// (Moesif: by user_id too) and lack the names and ids, except when i%5 == 4,
// where they have it all. Where i%3 == 0, Dixa's and Moesif's first name is
// a stale "Stale", which fill keeps and overwrite replaces.
func newWBEnv(t *testing.T, n int) *wbEnv {
	var ph []planhat.EndUser
	var dx []dixa.EndUser
	var mo []moesif.User
	var ul []userlot.EndUser
	for i := range n {
		email, ext, first, last, phone := fmt.Sprintf("p%d@acme.example", i), fmt.Sprintf("u-%d", i), fmt.Sprintf("F%d", i), fmt.Sprintf("L%d", i), fmt.Sprintf("+4520%06d", 100000+i)
		full, stale := i%5 == 4, i%3 == 0 && i%5 != 4
		p := planhat.EndUser{ID: planhat.ObjectID(i), Email: email, ExternalID: ext, FirstName: first, LastName: last, Phone: phone,
			UpdatedAt: "2025-01-01T00:00:00.000Z"}
		d := dixa.EndUser{ID: dixa.UUID(i), Email: strings.ToUpper(email[:1]) + email[1:], CreatedAt: "2024-01-01T00:00:00.000Z"}
		m := moesif.User{UserID: ext, ModifiedTime: "2024-01-01T00:00:00.000", Metadata: map[string]any{"email": email, "plan": "pro"}}
		u := userlot.EndUser{ID: userlot.UUID(i), Email: email, CreatedAt: "2024-01-01T00:00:00.000Z", UpdatedAt: "2024-01-01T00:00:00.000Z"}
		if i%4 == 1 {
			p.Phone, d.PhoneNumber = "", phone
		}
		if full {
			d.ExternalID, d.FirstName, d.LastName = ext, first, last
			m.FirstName, m.LastName, m.Phone = first, last, phone
			u.ExternalID, u.FirstName, u.LastName = ext, first, last
		}
		if stale {
			d.FirstName, m.FirstName = "Stale", "Stale"
		}
		ph, dx, mo, ul = append(ph, p), append(dx, d), append(mo, m), append(ul, u)
	}
	e := &wbEnv{planhat: planhat.New("ptok", ph), dixa: dixa.New("dtok", dx), moesif: moesif.New("mtok", mo), userlot: userlot.New("ukey", ul)}
	e.collector = e.moesif.Collector("app")
	e.urls = map[string]string{"planhat": serveEmulator(t, e.planhat), "dixa": serveEmulator(t, e.dixa), "moesif": serveEmulator(t, e.moesif),
		"collector": serveEmulator(t, e.collector), "userlot": serveEmulator(t, e.userlot)}
	return e
}

func (e *wbEnv) pipeline(t *testing.T, out, writeback string) *config.Pipeline {
	t.Helper()
	fast := "rate_limit: {per_second: 1000, burst: 100}"
	src := fmt.Sprintf(`version: 1
sources:
  planhat: {base_url: %q, token: ptok, %s}
  dixa:    {base_url: %q, token: dtok, %s}
  moesif:  {base_url: %q, token: mtok, collector_url: %q, application_id: app, %s}
  userlot: {base_url: %q, api_key: ukey, %s}
output: {uri: %q}
writeback:
%s`, e.urls["planhat"], fast, e.urls["dixa"], fast, e.urls["moesif"], e.urls["collector"], fast, e.urls["userlot"], fast, out, writeback)
	p, err := config.Parse("wb.yaml", []byte(src), func(string) (string, bool) { return "", false }, wbDate)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func (e *wbEnv) run(t *testing.T, out, writeback string, opt Options) *Summary {
	t.Helper()
	opt.RunDate = wbDate
	sum, err := Run(context.Background(), e.pipeline(t, out, writeback), opt)
	if err != nil {
		t.Fatalf("run (stage %q): %v", opt.Stage, err)
	}
	return sum
}

// writes are the write requests each vendor received: every non-GET
// request, and every request to Moesif's collector (its search is a POST).
func (e *wbEnv) writes() map[string][]emu.Entry {
	out := map[string][]emu.Entry{}
	for name, log := range map[string][]emu.Entry{"planhat": e.planhat.Log(), "dixa": e.dixa.Log(), "userlot": e.userlot.Log()} {
		for _, x := range log {
			if x.Method != "GET" {
				out[name] = append(out[name], x)
			}
		}
	}
	out["moesif"] = e.collector.Log()
	return out
}

// state is every record's writable values (no timestamps), by vendor and id.
func (e *wbEnv) state() map[string]string {
	out := map[string]string{}
	for _, u := range e.planhat.Users() {
		out["planhat/"+u.ID] = strings.Join([]string{u.Email, u.ExternalID, u.FirstName, u.LastName, u.Phone}, "|")
	}
	for _, u := range e.dixa.Records() {
		out["dixa/"+u.ID] = strings.Join([]string{u.Email, u.ExternalID, u.FirstName, u.LastName, u.DisplayName, u.PhoneNumber}, "|")
	}
	for _, u := range e.moesif.Records() {
		out["moesif/"+u.UserID] = fmt.Sprint(u.Email, "|", u.FirstName, "|", u.LastName, "|", u.Phone, "|", u.Metadata)
	}
	for _, u := range e.userlot.Records() {
		out["userlot/"+u.ID] = strings.Join([]string{u.Email, u.ExternalID, u.FirstName, u.LastName}, "|")
	}
	return out
}

const fillAll = `  - {target: planhat, fields: [phone, first_name], chunk_size: 3, concurrency: 2}
  - {target: dixa,    fields: [external_id, first_name, last_name], chunk_size: 7, concurrency: 2}
  - {target: moesif,  fields: [first_name, last_name, phone], chunk_size: 5, concurrency: 3}
  - {target: userlot, fields: [external_id, first_name, last_name], concurrency: 2}
`

// checkFilled checks every vendor holds what fillAll gives; with overwrite,
// the stale first names are replaced too.
func (e *wbEnv) checkFilled(t *testing.T, n int, overwrite bool) {
	t.Helper()
	for i, u := range e.planhat.Users() {
		if u.Phone != fmt.Sprintf("+4520%06d", 100000+i) {
			t.Fatalf("planhat %d: %+v", i, u)
		}
	}
	first := func(i int) string {
		if i%3 == 0 && i%5 != 4 && !overwrite {
			return "Stale"
		}
		return fmt.Sprintf("F%d", i)
	}
	for i, u := range e.dixa.Records() {
		if u.ExternalID != fmt.Sprintf("u-%d", i) || u.FirstName != first(i) || u.LastName != fmt.Sprintf("L%d", i) {
			t.Fatalf("dixa %d: %+v", i, u)
		}
	}
	ms := e.moesif.Records()
	for i := range n {
		j := slices.IndexFunc(ms, func(u moesif.User) bool { return u.UserID == fmt.Sprintf("u-%d", i) })
		u := ms[j]
		if u.FirstName != first(i) || u.LastName != fmt.Sprintf("L%d", i) || u.Phone != fmt.Sprintf("+4520%06d", 100000+i) || u.Metadata["plan"] != "pro" {
			t.Fatalf("moesif %d: %+v", i, u)
		}
	}
	for i, u := range e.userlot.Records() {
		if u.ExternalID != fmt.Sprintf("u-%d", i) || u.FirstName != fmt.Sprintf("F%d", i) || u.LastName != fmt.Sprintf("L%d", i) {
			t.Fatalf("userlot %d: %+v", i, u)
		}
	}
	if len(ms) != n || len(e.userlot.Records()) != n || len(e.dixa.Records()) != n || len(e.planhat.Users()) != n {
		t.Fatal("the write-back created records")
	}
}

func TestWritebackAllVendorsFillThenNothing(t *testing.T) {
	const n = 30
	e := newWBEnv(t, n)
	// Slow answers make requests overlap, so that a broken concurrency bound
	// would show in the emulators' in-flight counts.
	for _, s := range []*emu.Server{e.planhat.Server, e.dixa.Server, e.collector.Server, e.userlot.Server} {
		for range 30 {
			s.Inject(emu.Fault{Delay: 10 * time.Millisecond})
		}
	}
	out := t.TempDir()
	sum := e.run(t, out, fillAll, Options{})
	e.checkFilled(t, n, false)

	// The summary's counts, and the vendors' own logs of what they received.
	want := map[string][3]int64{ // sent, unchanged, chunk size
		"planhat": {8, 22, 3}, // the phones of i%4 == 1
		"dixa":    {24, 6, 7}, "moesif": {24, 6, 5}, "userlot": {24, 6, 1},
	}
	limits := map[string]int{"planhat": 2, "dixa": 2, "moesif": 3, "userlot": 2}
	inflight := map[string]int{"planhat": e.planhat.MaxInFlight(), "dixa": e.dixa.MaxInFlight(),
		"moesif": e.collector.MaxInFlight(), "userlot": e.userlot.MaxInFlight()}
	writes := e.writes()
	for name, w := range want {
		st := sum.Writeback[name]
		if st.Sent != w[0] || st.Failed != 0 || st.Unchanged != w[1] || st.Planned != w[0] {
			t.Errorf("%s: stats %+v, want sent %d, unchanged %d", name, st, w[0], w[1])
		}
		items := 0
		for _, x := range writes[name] {
			if x.Items > int(w[2]) || x.Status/100 != 2 {
				t.Errorf("%s: a write carried %d items (chunk_size %d), answered %d", name, x.Items, w[2], x.Status)
			}
			items += x.Items
		}
		if int64(items) != st.Sent {
			t.Errorf("%s received %d items, the summary says %d sent", name, items, st.Sent)
		}
		if name == "userlot" && int64(len(writes[name])) != st.Sent {
			t.Errorf("userlot received %d PUTs for %d records", len(writes[name]), st.Sent)
		}
		if inflight[name] > limits[name] {
			t.Errorf("%s: %d requests in flight, concurrency is %d", name, inflight[name], limits[name])
		}
	}
	if len(writes["dixa"]) < 4 || len(writes["moesif"]) < 5 {
		t.Fatalf("the writes were not chunked: %d to dixa, %d to moesif", len(writes["dixa"]), len(writes["moesif"]))
	}
	rows := duckdb.Query(t, fmt.Sprintf(`SELECT count(*) AS n FROM read_parquet('%s') WHERE stage = 'writeback'`, duckdb.Glob(out, "rejects", wbDate)))
	if duckdb.Int(t, rows[0]["n"]) != 0 {
		t.Fatalf("write-back rejects: %v", rows)
	}

	// A second run over the same data sends nothing.
	before := e.state()
	sum = e.run(t, t.TempDir(), fillAll, Options{})
	for name, ws := range e.writes() {
		if len(ws) != len(writes[name]) {
			t.Errorf("the second run sent %d write requests to %s", len(ws)-len(writes[name]), name)
		}
		if st := sum.Writeback[name]; st.Sent != 0 || st.Unchanged != n {
			t.Errorf("second run, %s: %+v", name, st)
		}
	}
	if after := e.state(); !maps.Equal(before, after) {
		t.Fatal("the second run changed the vendors' data")
	}
}

func TestWritebackOverwriteReplacesStaleValues(t *testing.T) {
	const n = 30
	e := newWBEnv(t, n)
	wb := strings.ReplaceAll(fillAll, "concurrency: 2}", "concurrency: 2, mode: overwrite}")
	wb = strings.ReplaceAll(wb, "concurrency: 3}", "concurrency: 3, mode: overwrite}")
	sum := e.run(t, t.TempDir(), wb, Options{})
	e.checkFilled(t, n, true)
	// The stale first names (i%3 == 0, i%5 != 4: 8 of them) are sent too.
	if d, m := sum.Writeback["dixa"], sum.Writeback["moesif"]; d.Fields["first_name"] != 24 || m.Fields["first_name"] != 24 {
		t.Fatalf("first names overwritten: dixa %+v, moesif %+v", d, m)
	}
	// Moesif's profile shows what the collector wrote, so nothing is left to send.
	writes := e.writes()
	sum = e.run(t, t.TempDir(), wb, Options{})
	for name, ws := range e.writes() {
		if len(ws) != len(writes[name]) || sum.Writeback[name].Sent != 0 {
			t.Errorf("the second overwrite run sent %d write requests to %s: %+v", len(ws)-len(writes[name]), name, sum.Writeback[name])
		}
	}
}

func TestWritebackAllVendorsDryRun(t *testing.T) {
	e := newWBEnv(t, 30)
	out := t.TempDir()
	sum := e.run(t, out, fillAll, Options{DryRun: true})
	for name, ws := range e.writes() {
		if len(ws) != 0 {
			t.Errorf("a dry run sent %d write requests to %s", len(ws), name)
		}
	}
	rows := duckdb.Query(t, fmt.Sprintf(`SELECT target, count(*) AS n, count(DISTINCT source_id) AS records FROM read_parquet('%s') GROUP BY target ORDER BY target`,
		duckdb.Glob(out, "writeback_plan", wbDate)))
	if len(rows) != 4 {
		t.Fatalf("writeback_plan: %v", rows)
	}
	for _, r := range rows {
		st := sum.Writeback[r["target"].(string)]
		var fields int64
		for _, c := range st.Fields {
			fields += c
		}
		if !st.DryRun || st.Sent != 0 || duckdb.Int(t, r["records"]) != st.Planned || duckdb.Int(t, r["n"]) != fields {
			t.Errorf("%v: plan rows do not match the summary %+v", r, st)
		}
	}
	// userlot: external_id, first_name and last_name of 24 records.
	if got := duckdb.Query(t, fmt.Sprintf(`SELECT count(*) AS n FROM read_parquet('%s') WHERE target = 'userlot' AND field = 'first_name' AND old_value IS NULL AND new_value = 'F0'`,
		duckdb.Glob(out, "writeback_plan", wbDate))); duckdb.Int(t, got[0]["n"]) != 1 {
		t.Fatalf("userlot's plan for person 0: %v", got)
	}
}

// The staged DAG (extract, resolve, then writeback from the committed
// tables) writes what the inline run writes.
func TestWritebackStageMatchesInline(t *testing.T) {
	const n = 20
	inline, staged := newWBEnv(t, n), newWBEnv(t, n)
	inline.run(t, t.TempDir(), fillAll, Options{})
	out := t.TempDir()
	for _, stage := range []string{StageExtract, StageResolve} {
		staged.run(t, out, fillAll, Options{Stage: stage})
	}
	if ws := staged.writes(); len(ws["dixa"])+len(ws["moesif"])+len(ws["userlot"])+len(ws["planhat"]) != 0 {
		t.Fatalf("extract and resolve wrote to the vendors: %v", ws)
	}
	sum := staged.run(t, out, fillAll, Options{Stage: StageWriteback})
	if sum.Writeback["userlot"].Sent == 0 {
		t.Fatalf("the writeback stage sent nothing: %+v", sum.Writeback)
	}
	a, b := inline.state(), staged.state()
	for k, v := range a {
		if b[k] != v {
			t.Errorf("%s: inline %q, staged %q", k, v, b[k])
		}
	}
	staged.checkFilled(t, n, false)
}

// wbRejects reads the write-back rejects of a target as "source_id | reason
// | raw", sorted.
func wbRejects(t *testing.T, out, target string) []string {
	t.Helper()
	rows := duckdb.Query(t, fmt.Sprintf(`SELECT source_id || ' | ' || reason || ' | ' || raw AS r FROM read_parquet('%s')
		WHERE stage = 'writeback' AND source = '%s' ORDER BY r`, duckdb.Glob(out, "rejects", wbDate), target))
	got := []string{}
	for _, r := range rows {
		got = append(got, r["r"].(string))
	}
	return got
}

// Dixa keeps a primary email unique: the plan leaves out what another
// record holds, the run succeeds, and a second run sends nothing. A value
// taken after extraction is Dixa's own refusal, and that fails the run.
func TestWritebackDixaConflictsThenRefusal(t *testing.T) {
	e := newWBEnv(t, 0)
	e.dixa.Insert(
		dixa.EndUser{Email: "A@acme.example", ExternalID: "u-a", CreatedAt: "2024-01-01T00:00:00.000Z"},
		dixa.EndUser{ExternalID: "u-a", CreatedAt: "2024-01-01T00:00:00.000Z"}, // a's second record: its email is taken
		dixa.EndUser{ExternalID: "u-c", CreatedAt: "2024-01-01T00:00:00.000Z"},
	)
	e.planhat.Insert(planhat.EndUser{Email: "c@acme.example", ExternalID: "u-c"})
	ids := e.dixa.Records()
	out := t.TempDir()
	wb := "  - {target: dixa, fields: [email]}\n"
	sum := e.run(t, out, wb, Options{})
	if st := sum.Writeback["dixa"]; st.Planned != 1 || st.Sent != 1 || st.Failed != 0 || st.Conflicts != 1 || st.Unchanged != 2 || sum.Status != StatusSucceeded {
		t.Fatalf("dixa: %+v, status %s", st, sum.Status)
	}
	if got := e.dixa.Records(); got[1].Email != "" || got[2].Email != "c@acme.example" {
		t.Fatalf("dixa after write-back: %+v", got)
	}
	if ws := e.writes()["dixa"]; len(ws) != 1 || ws[0].Items != 1 {
		t.Fatalf("dixa received %v; the conflict must not be sent", ws)
	}
	want := []string{ids[1].ID + ` | conflict: email a@acme.example is held by ` + ids[0].ID + ` | {"email":"a@acme.example"}`}
	if got := wbRejects(t, out, "dixa"); !slices.Equal(got, want) {
		t.Fatalf("rejects: %v, want %v", got, want)
	}
	// A second run sends nothing and counts the conflict again.
	sum = e.run(t, t.TempDir(), wb, Options{})
	if st := sum.Writeback["dixa"]; st.Sent != 0 || st.Conflicts != 1 || st.Unchanged != 3 || len(e.writes()["dixa"]) != 1 {
		t.Fatalf("second run: %+v, %d write requests", st, len(e.writes()["dixa"]))
	}

	// d's email is taken by a record created after extraction: Dixa refuses it.
	e.dixa.Insert(dixa.EndUser{ExternalID: "u-d", CreatedAt: "2024-01-01T00:00:00.000Z"})
	e.planhat.Insert(planhat.EndUser{Email: "d@acme.example", ExternalID: "u-d"})
	out = t.TempDir()
	e.run(t, out, wb, Options{Stage: StageExtract})
	e.run(t, out, wb, Options{Stage: StageResolve})
	e.dixa.Insert(dixa.EndUser{Email: "d@acme.example", CreatedAt: "2024-01-01T00:00:00.000Z"})
	sum, err := Run(context.Background(), e.pipeline(t, out, wb), Options{RunDate: wbDate, Stage: StageWriteback})
	if err == nil || !strings.Contains(err.Error(), "1 of 1 items failed") || sum.Status != StatusFailed {
		t.Fatalf("a refusal by Dixa must fail the run: %v", err)
	}
	if st := sum.Writeback["dixa"]; st.Sent != 1 || st.Failed != 1 || st.Conflicts != 1 {
		t.Fatalf("dixa: %+v", st)
	}
	got := wbRejects(t, out, "dixa")
	want = append(want, e.dixa.Records()[3].ID+` | dixa: EmailExists: An end user with email d@acme.example already exists | {"email":"d@acme.example"}`)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Fatalf("rejects: %v, want %v", got, want)
	}
}

// Userlot keeps external_id unique per product; Planhat keeps nothing
// unique, so both of a person's Planhat records get the phone.
func TestWritebackUserlotConflictPlanhatUntouched(t *testing.T) {
	e := newWBEnv(t, 0)
	e.userlot.Insert(
		userlot.EndUser{Email: "x@acme.example", ExternalID: "u-x"},
		userlot.EndUser{Email: "x@acme.example"}, // the same person twice: u-x is taken
		userlot.EndUser{Email: "z@acme.example"},
	)
	e.planhat.Insert(
		planhat.EndUser{Email: "z@acme.example", ExternalID: "u-z", Phone: "+4520100009"},
		planhat.EndUser{Email: "x@acme.example", ExternalID: "u-x", UpdatedAt: "2025-01-01T00:00:00.000Z", Phone: "+4520100007"},
		planhat.EndUser{Email: "X@acme.example"},
		planhat.EndUser{Email: "x@acme.example"},
	)
	ids := e.userlot.Records()
	out := t.TempDir()
	sum := e.run(t, out, "  - {target: userlot, fields: [external_id]}\n  - {target: planhat, fields: [phone]}\n", Options{})
	if st := sum.Writeback["userlot"]; st.Sent != 1 || st.Failed != 0 || st.Conflicts != 1 || st.Unchanged != 2 {
		t.Fatalf("userlot: %+v", st)
	}
	if st := sum.Writeback["planhat"]; st.Sent != 2 || st.Conflicts != 0 {
		t.Fatalf("planhat: %+v", st)
	}
	if got := e.userlot.Records(); got[1].ExternalID != "" || got[2].ExternalID != "u-z" {
		t.Fatalf("userlot after write-back: %+v", got)
	}
	if puts := len(e.writes()["userlot"]); puts != 1 {
		t.Fatalf("%d PUTs for 1 item sent", puts)
	}
	want := []string{ids[1].ID + ` | conflict: external_id u-x is held by ` + ids[0].ID + ` | {"external_id":"u-x"}`}
	if got := wbRejects(t, out, "userlot"); !slices.Equal(got, want) {
		t.Fatalf("rejects: %v, want %v", got, want)
	}
	if got := wbRejects(t, out, "planhat"); len(got) != 0 {
		t.Fatalf("planhat rejects: %v", got)
	}
	for _, u := range e.planhat.Users()[2:] {
		if u.Phone != "+4520100007" {
			t.Fatalf("planhat after write-back: %+v", u)
		}
	}
}

// A dry run plans around conflicts too: counted, in rejects, out of the plan.
func TestWritebackConflictsDryRun(t *testing.T) {
	e := newWBEnv(t, 0)
	e.dixa.Insert(
		dixa.EndUser{ExternalID: "u-a", CreatedAt: "2024-01-01T00:00:00.000Z"},
		dixa.EndUser{ExternalID: "u-a", CreatedAt: "2024-01-01T00:00:00.000Z"},
	)
	e.planhat.Insert(planhat.EndUser{Email: "a@acme.example", ExternalID: "u-a", FirstName: "Ada", Phone: "+4520100001"})
	ids := e.dixa.Records()
	out := t.TempDir()
	sum := e.run(t, out, "  - {target: dixa, fields: [email, phone, first_name]}\n", Options{DryRun: true})
	if st := sum.Writeback["dixa"]; !st.DryRun || st.Sent != 0 || st.Planned != 2 || st.Conflicts != 2 || st.Fields["email"] != 1 || st.Fields["phone"] != 1 || st.Fields["first_name"] != 2 {
		t.Fatalf("dixa: %+v", st)
	}
	if ws := e.writes()["dixa"]; len(ws) != 0 {
		t.Fatalf("a dry run sent %d requests", len(ws))
	}
	want := []string{
		ids[1].ID + ` | conflict: email a@acme.example is held by ` + ids[0].ID + ` | {"email":"a@acme.example"}`,
		ids[1].ID + ` | conflict: phone +4520100001 is held by ` + ids[0].ID + ` | {"phone":"+4520100001"}`,
	}
	if got := wbRejects(t, out, "dixa"); !slices.Equal(got, want) {
		t.Fatalf("rejects: %v, want %v", got, want)
	}
	rows := duckdb.Query(t, fmt.Sprintf(`SELECT source_id, string_agg(field, ',' ORDER BY field) AS fields FROM read_parquet('%s') GROUP BY source_id`,
		duckdb.Glob(out, "writeback_plan", wbDate)))
	plan := map[string]string{}
	for _, r := range rows {
		plan[r["source_id"].(string)] = r["fields"].(string)
	}
	if want := map[string]string{ids[0].ID: "email,first_name,phone", ids[1].ID: "first_name"}; !maps.Equal(plan, want) {
		t.Fatalf("writeback_plan: %v, want %v", plan, want)
	}
}

// The demo's write-back is refused nothing, and converges: a second run over
// the vendors it filled sends nothing.
func TestWritebackDemoConverges(t *testing.T) {
	env, err := demo.Start(demo.Options{People: 400, Dir: t.TempDir(), Out: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(env.Close)
	p, err := config.Load(env.Pipeline, env.Lookup, wbDate)
	if err != nil {
		t.Fatal(err)
	}
	e := &wbEnv{planhat: env.Planhat, dixa: env.Dixa, moesif: env.Moesif, collector: env.MoesifCollector, userlot: env.Userlot}
	sum, err := Run(context.Background(), p, Options{RunDate: wbDate})
	if err != nil {
		t.Fatal(err)
	}
	var sent int64
	for name, st := range sum.Writeback {
		if st.Failed != 0 {
			t.Errorf("%s refused %d items of the demo", name, st.Failed)
		}
		sent += st.Sent
	}
	if sent == 0 || len(sum.Writeback) != 4 {
		t.Fatalf("the demo wrote nothing back: %+v", sum.Writeback)
	}
	writes := e.writes()
	sum, err = Run(context.Background(), p, Options{RunDate: wbDate})
	if err != nil {
		t.Fatal(err)
	}
	for name, ws := range e.writes() {
		if len(ws) != len(writes[name]) || sum.Writeback[name].Sent != 0 {
			t.Errorf("the demo's second run sent %d write requests to %s: %+v", len(ws)-len(writes[name]), name, sum.Writeback[name])
		}
	}
}
