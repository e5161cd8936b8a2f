// Package demo serves every vendor emulator on loopback with overlapping
// synthetic people, and writes the pipeline file that reads them: what
// `etl demo` runs, and what end-to-end tests start from.
package demo

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"

	"etl/emulator/people"
	"etl/emulator/planhat"
)

// Seed makes the demo data the same on every run.
const Seed = 20261122

// Env is a running demo: emulators, credentials and a pipeline file.
type Env struct {
	Planhat  *planhat.Emulator
	People   []people.Person
	Pipeline string            // path of the pipeline file
	Vars     map[string]string // environment the pipeline file reads
	servers  []*http.Server
}

// Options size the demo.
type Options struct {
	People int    // default 2,000
	Dir    string // where the pipeline file is written
	Out    string // output.uri
}

// Start serves the emulators and writes the pipeline file.
func Start(opt Options) (*Env, error) {
	if opt.People <= 0 {
		opt.People = 2000
	}
	e := &Env{People: people.Generate(Seed, opt.People), Vars: map[string]string{}}
	e.Vars["PLANHAT_API_TOKEN"] = secret()
	e.Planhat = planhat.New(e.Vars["PLANHAT_API_TOKEN"], planhat.FromPeople(e.People, 0))
	phURL, err := e.serve(e.Planhat)
	if err != nil {
		e.Close()
		return nil, err
	}
	yaml := fmt.Sprintf(`version: 1
sources:
  planhat: {base_url: %q, token: "${PLANHAT_API_TOKEN}"}
output:
  uri: %q
`, phURL, opt.Out)
	e.Pipeline = filepath.Join(opt.Dir, "demo.yaml")
	if err := os.WriteFile(e.Pipeline, []byte(yaml), 0o644); err != nil {
		e.Close()
		return nil, err
	}
	return e, nil
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
