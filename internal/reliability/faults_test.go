package reliability

import (
	"math/rand/v2"
	"strings"
	"testing"

	"etl/internal/emulator/emu"
	"etl/internal/vendors"
)

// Every vendor misbehaving at once, through extraction and write-back: the
// run retries its way to the same tables and vendor records as a run
// without faults.
func TestVendorFaults(t *testing.T) {
	sd := seed(t)
	t.Logf("seed %d", sd)
	rng := rand.New(rand.NewPCG(sd, 3))
	ref := newReference(t, false)
	e := startEnv(t, envOpts{})
	for _, srv := range e.emulators() {
		srv.InjectRates(&emu.Rates{Throttle: 0.20, ServerError: 0.10, Cut: 0.02, Truncate: 0.02, Seed: rng.Uint64()})
	}
	p := e.run(t)
	s := p.summary(t)
	if p.code != 0 || s.Status != "succeeded" {
		t.Fatalf("exit %d, summary %s\nstderr: %s", p.code, s.line, tail(p.stderr.String()))
	}
	reconcile(t, s)
	complete(t, e.dir)
	var retries, throttled int64
	for _, v := range vendors.Names {
		retries += s.Sources[v].Retries
		throttled += s.Sources[v].Throttled
	}
	if retries == 0 || throttled == 0 {
		t.Errorf("no faults were met (retries %d, throttled %d): the test tests nothing", retries, throttled)
	}
	if d := compareTables(t, ref.env.dir, e.dir, allColumns); d.lost+d.extra+d.dupKeys != 0 {
		t.Errorf("the tables differ from a run without faults: %+v", d)
	}
	sameVendors(t, ref.vendors, e.vendorState(t))
	noSecrets(t, e.secrets, []string{p.stdout.String(), p.stderr.String()}, e.dir)
}

// A vendor that never recovers fails the run once its retry time is spent,
// and the failure names it.
func TestVendorNeverRecovers(t *testing.T) {
	e := startEnv(t, envOpts{edit: func(p map[string]any) {
		p["sources"].(map[string]any)[vendors.Userlot].(map[string]any)["max_retry_time"] = "2s"
	}})
	e.Userlot.InjectRates(&emu.Rates{ServerError: 1})
	p := e.run(t)
	s := p.summary(t)
	if p.code != 1 || s.Status != "failed" {
		t.Fatalf("exit %d, summary %s; want exit 1, failed", p.code, s.line)
	}
	if !strings.Contains(s.Error, "userlot") || !strings.Contains(s.Error, "giving up after") {
		t.Errorf("the error does not name the vendor and its retries: %s", s.Error)
	}
	if n := len(e.Userlot.Log()); n < 2 {
		t.Errorf("userlot was asked %d times: it was not retried", n)
	}
	noSuccess(t, e.dir)
	noSecrets(t, e.secrets, []string{p.stdout.String(), p.stderr.String()}, e.dir)
}
