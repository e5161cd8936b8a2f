// Package demo serves every vendor emulator on loopback with overlapping
// synthetic people, and writes the pipeline file that reads them: what
// `etl demo` runs, and what end-to-end tests start from.
package demo

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	mrand "math/rand/v2"
	"net"
	"net/http"
	"os"
	"path/filepath"

	"etl/internal/emulator/dixa"
	"etl/internal/emulator/moesif"
	"etl/internal/emulator/people"
	"etl/internal/emulator/planhat"
	"etl/internal/emulator/userlot"
	"etl/internal/vendors"
)

// Seed makes the demo data the same on every run.
const Seed = 20261122

// Env is a running demo: emulators, credentials and a pipeline file.
type Env struct {
	Planhat *planhat.Emulator
	Dixa    *dixa.Emulator
	Moesif  *moesif.Emulator
	// MoesifCollector serves Moesif's writes, on its own host as Moesif's is.
	MoesifCollector *moesif.Collector
	Userlot         *userlot.Emulator
	People          []people.Person
	truth           map[string]map[string]int
	Pipeline        string            // path of the pipeline file
	Vars            map[string]string // environment the pipeline file reads
	servers         []*http.Server
}

// Options size the demo.
type Options struct {
	People int    // default 2,000
	Dir    string // where the pipeline file is written
	Out    string // output.uri
	// Format is output.format; iceberg keeps its SQLite catalog in Out.
	Format string
}

// Start serves the emulators and writes the pipeline file.
func Start(opt Options) (*Env, error) {
	if opt.People <= 0 {
		opt.People = 2000
	}
	e := &Env{People: people.GenerateHard(Seed, opt.People), Vars: map[string]string{}, truth: map[string]map[string]int{}}
	for _, k := range []string{"PLANHAT_API_TOKEN", "DIXA_API_TOKEN", "MOESIF_MANAGEMENT_TOKEN", "MOESIF_APPLICATION_ID", "USERLOT_API_KEY"} {
		e.Vars[k] = secret()
	}
	in := split(e.People)
	ph := planhat.FromPeople(in[vendors.Planhat], 0)
	dx := dixa.FromPeople(in[vendors.Dixa], 0)
	mo := moesif.FromPeople(in[vendors.Moesif])
	ul := userlot.FromPeople(in[vendors.Userlot], 0)
	for i := range ph {
		e.record(vendors.Planhat, ph[i].ID, in[vendors.Planhat][i])
	}
	for i := range dx {
		e.record(vendors.Dixa, dx[i].ID, in[vendors.Dixa][i])
	}
	for i := range mo {
		e.record(vendors.Moesif, mo[i].UserID, in[vendors.Moesif][i])
	}
	for i := range ul {
		e.record(vendors.Userlot, ul[i].ID, in[vendors.Userlot][i])
	}
	e.Planhat = planhat.New(e.Vars["PLANHAT_API_TOKEN"], ph)
	e.Dixa = dixa.New(e.Vars["DIXA_API_TOKEN"], dx)
	e.Moesif = moesif.New(e.Vars["MOESIF_MANAGEMENT_TOKEN"], mo)
	e.Userlot = userlot.New(e.Vars["USERLOT_API_KEY"], ul)
	e.MoesifCollector = e.Moesif.Collector(e.Vars["MOESIF_APPLICATION_ID"])
	var urls []any
	for _, h := range []http.Handler{e.Planhat, e.Dixa, e.Moesif, e.MoesifCollector, e.Userlot} {
		u, err := e.serve(h)
		if err != nil {
			e.Close()
			return nil, err
		}
		urls = append(urls, u)
	}
	output := fmt.Sprintf("output:\n  uri: %q\n", opt.Out)
	if opt.Format == "iceberg" {
		abs, err := filepath.Abs(opt.Out)
		if err != nil {
			e.Close()
			return nil, err
		}
		output += fmt.Sprintf("  format: iceberg\n  catalog: {type: sql, uri: %q}\n", "sqlite://"+filepath.Join(abs, "catalog.db"))
		// The catalog's file is made before the run opens it.
		if err := os.MkdirAll(abs, 0o755); err != nil {
			e.Close()
			return nil, err
		}
	}
	yaml := fmt.Sprintf(`version: 1
sources:
  planhat: {base_url: %q, token: "${PLANHAT_API_TOKEN}"}
  dixa:    {base_url: %q, token: "${DIXA_API_TOKEN}"}
  moesif:  {base_url: %q, token: "${MOESIF_MANAGEMENT_TOKEN}",
            collector_url: %q, application_id: "${MOESIF_APPLICATION_ID}"}
  userlot: {base_url: %q, api_key: "${USERLOT_API_KEY}"}
%s# Fill what each vendor lacks from the others. The demo data breaks no
# vendor's uniqueness rule, so nothing is refused.
writeback:
  - {target: planhat, fields: [external_id, phone, first_name, last_name], mode: fill}
  - {target: dixa,    fields: [external_id, first_name, last_name], mode: fill}
  - {target: moesif,  fields: [first_name, last_name, phone], mode: fill}
  - {target: userlot, fields: [external_id, first_name, last_name], mode: fill}
`, append(urls, output)...)
	e.Pipeline = filepath.Join(opt.Dir, "demo.yaml")
	if err := os.WriteFile(e.Pipeline, []byte(yaml), 0o644); err != nil {
		e.Close()
		return nil, err
	}
	return e, nil
}

// shares are the chances that a person is in each vendor.
var shares = []struct {
	vendor string
	p      float64
}{{vendors.Planhat, 0.6}, {vendors.Dixa, 0.5}, {vendors.Moesif, 0.4}, {vendors.Userlot, 0.5}}

// split deals people to vendors, overlapping and the same on every run;
// someone drawn for none goes to one vendor, so everyone is somewhere.
func split(ps []people.Person) map[string][]people.Person {
	rng := mrand.New(mrand.NewPCG(Seed, 0x5eed))
	out := map[string][]people.Person{}
	for i, p := range ps {
		placed := false
		for _, s := range shares {
			if rng.Float64() < s.p && p.In(s.vendor) {
				out[s.vendor] = append(out[s.vendor], p)
				placed = true
			}
		}
		if !placed {
			v := shares[i%len(shares)].vendor
			if !p.In(v) {
				v = p.Vendors[0]
			}
			out[v] = append(out[v], p)
		}
	}
	return out
}

func (e *Env) record(source, sourceID string, p people.Person) {
	if e.truth[source] == nil {
		e.truth[source] = map[string]int{}
	}
	e.truth[source][sourceID] = p.Index
}

// Truth is the ground truth of the demo data: source → source_id → the index
// of the person (in People) the record was made from. Records with the same
// index are one person; resolution should find exactly that. The maps are a copy.
func (e *Env) Truth() map[string]map[string]int {
	out := make(map[string]map[string]int, len(e.truth))
	for src, ids := range e.truth {
		m := make(map[string]int, len(ids))
		for id, i := range ids {
			m[id] = i
		}
		out[src] = m
	}
	return out
}

// Lookup resolves the pipeline's variables from the demo's own credentials.
func (e *Env) Lookup(name string) (string, bool) {
	if v, ok := e.Vars[name]; ok {
		return v, true
	}
	return os.LookupEnv(name)
}

// Secrets are the demo's credentials.
func (e *Env) Secrets() []string {
	var out []string
	for _, v := range e.Vars {
		out = append(out, v)
	}
	return out
}

func (e *Env) serve(h http.Handler) (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	srv := &http.Server{Handler: h}
	e.servers = append(e.servers, srv)
	go srv.Serve(ln)
	return "http://" + ln.Addr().String(), nil
}

// Close stops the emulators.
func (e *Env) Close() {
	for _, s := range e.servers {
		s.Close()
	}
}

func secret() string {
	var b [16]byte
	rand.Read(b[:])
	return "demo-" + hex.EncodeToString(b[:])
}
