package run

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"etl/internal/config"
	"etl/internal/emulator/dixa"
	"etl/internal/emulator/emu"
	"etl/internal/emulator/moesif"
	"etl/internal/emulator/people"
	"etl/internal/emulator/planhat"
	"etl/internal/emulator/userlot"
	"etl/internal/vendors"
)

// TestAllVendorsWithinRateLimits extracts 21 pages from each of the four
// vendors at once, then writes back into Userlot, with every emulator
// enforcing its limits, and checks from the emulators' own logs that the
// default pacing never drew a 429 nor exceeded a limit the way the vendor
// counts it. Userlot's write-back starts within a second of its last pages:
// it keeps the limit only if it spends the same budget as the extraction.
func TestAllVendorsWithinRateLimits(t *testing.T) {
	const n = 103 // 20 pages of 5, then a partial one
	const patches = 8
	ps := people.Generate(11, n)
	ph := planhat.New("ph-tok", planhat.FromPeople(ps, 0))
	dx := dixa.New("dx-tok", dixa.FromPeople(ps, 0))
	mo := moesif.New("mo-tok", moesif.FromPeople(ps))
	uls := userlot.FromPeople(ps, 0)
	for i := range patches {
		uls[i].FirstName = "" // for the write-back to fill
	}
	ul := userlot.New("ul-tok", uls)
	url := map[string]string{}
	for name, h := range map[string]http.Handler{"planhat": ph, "dixa": dx, "moesif": mo, "userlot": ul} {
		srv := httptest.NewServer(h)
		t.Cleanup(srv.Close)
		url[name] = srv.URL
	}
	src := fmt.Sprintf(`version: 1
sources:
  planhat: {base_url: %q, token: ph-tok, page_size: 5}
  dixa:    {base_url: %q, token: dx-tok, page_size: 5}
  moesif:  {base_url: %q, token: mo-tok, page_size: 5}
  userlot: {base_url: %q, api_key: ul-tok, page_size: 5}
output: {uri: %q}
writeback:
  - {target: userlot, fields: [first_name], concurrency: 4}
`, url["planhat"], url["dixa"], url["moesif"], url["userlot"], t.TempDir())
	p, err := config.Parse("limits.yaml", []byte(src), func(string) (string, bool) { return "", false }, "2026-05-02")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	sum, err := Run(ctx, p, Options{RunDate: "2026-05-02"})
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"planhat", "dixa", "moesif", "userlot"} {
		if st := sum.Sources[name]; st == nil || st.Extracted != n || st.Pages < 21 {
			t.Fatalf("%s: %+v, want %d records in 21+ pages", name, st, n)
		}
	}
	if wb := sum.Writeback["userlot"]; wb == nil || wb.Sent != patches || wb.Failed != 0 {
		t.Fatalf("userlot write-back: %+v, want %d sent", wb, patches)
	}

	logs := map[string][]emu.Entry{"planhat": ph.Log(), "dixa": dx.Log(), "moesif": mo.Log(), "userlot": ul.Log()}
	for name, log := range logs {
		if c := emu.Count(log, http.StatusTooManyRequests); c != 0 {
			t.Errorf("%s answered %d 429s", name, c)
		}
		for _, e := range emu.Exceeded(log, vendors.Of[name].Limits) {
			t.Errorf("%s: %s", name, e)
		}
	}
}
