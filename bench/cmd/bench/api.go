package main

import (
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"sort"
	"strings"
	"time"

	"etl/internal/emulator/dixa"
	"etl/internal/emulator/emu"
	"etl/internal/emulator/moesif"
	"etl/internal/emulator/planhat"
	"etl/internal/emulator/userlot"
	"etl/internal/vendors"
)

// emulators serves the four vendor emulators on loopback.
type emulators struct {
	servers []*http.Server
	emus    map[string]*emu.Server
	urls    map[string]string
}

const (
	phToken = "bench-planhat"
	dxToken = "bench-dixa"
	moToken = "bench-moesif"
	ulKey   = "bench-userlot"
)

// startEmulators serves per vendor records [0, n) of d.
func startEmulators(d dataset, n map[string]int) (*emulators, error) {
	e := &emulators{emus: map[string]*emu.Server{}, urls: map[string]string{}}
	for v, name := range vendors.Names {
		var h http.Handler
		switch recs := d.records(v, 0, n[name]).(type) {
		case []planhat.EndUser:
			x := planhat.New(phToken, recs)
			h, e.emus[name] = x, x.Server
		case []dixa.EndUser:
			x := dixa.New(dxToken, recs)
			h, e.emus[name] = x, x.Server
		case []moesif.User:
			x := moesif.New(moToken, recs)
			h, e.emus[name] = x, x.Server
		case []userlot.EndUser:
			x := userlot.New(ulKey, recs)
			h, e.emus[name] = x, x.Server
		}
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			e.close()
			return nil, err
		}
		srv := &http.Server{Handler: h}
		e.servers = append(e.servers, srv)
		go srv.Serve(ln)
		e.urls[name] = "http://" + ln.Addr().String()
	}
	return e, nil
}

func (e *emulators) close() {
	for _, s := range e.servers {
		s.Close()
	}
	e.servers = nil
	e.emus = nil
	runtime.GC()
	debug.FreeOSMemory()
}

// pipeline writes a pipeline file reading every emulator; extra is added to
// each source's block (page sizes, rate limits).
func (e *emulators) pipeline(path, out string, extra map[string]string) {
	src := fmt.Sprintf(`version: 1
sources:
  planhat: {base_url: %q, token: %s%s}
  dixa:    {base_url: %q, token: %s%s}
  moesif:  {base_url: %q, token: %s%s}
  userlot: {base_url: %q, api_key: %s%s}
output: {uri: %q}
`, e.urls[vendors.Planhat], phToken, extra[vendors.Planhat], e.urls[vendors.Dixa], dxToken, extra[vendors.Dixa],
		e.urls[vendors.Moesif], moToken, extra[vendors.Moesif], e.urls[vendors.Userlot], ulKey, extra[vendors.Userlot], out)
	mustWrite(path, src)
}

// api is bench 1: 1M records through the four emulators, limits off.
func (b *bench) api() error {
	d := dataset{total: b.n(1_000_000)}
	t0 := time.Now()
	n := map[string]int{}
	for _, v := range vendors.Names {
		n[v] = d.perVendor()
	}
	e, err := startEmulators(d, n)
	if err != nil {
		return err
	}
	defer e.close()
	for _, s := range e.emus {
		s.Enforce(false)
	}
	// Building them leaves garbage (the people, their renderings): it is
	// collected now, as part of the build, not while they serve.
	runtime.GC()
	gen := time.Since(t0)
	// The documented limits are the pacer's defaults: lift them, as the
	// emulators' are off too.
	nolimit := ", rate_limit: {per_second: 1000000, burst: 1000}"
	extra := map[string]string{}
	for _, v := range vendors.Names {
		extra[v] = nolimit
	}
	dir := filepath.Join(b.work, "api")
	os.RemoveAll(dir)
	os.MkdirAll(dir, 0o755)
	pipe := filepath.Join(dir, "pipeline.yaml")
	e.pipeline(pipe, filepath.Join(dir, "out"), extra)

	cpu0 := selfCPU()
	p, s, err := b.etl(b.etlBin, pipe)
	emuCPU := selfCPU() - cpu0
	sec := b.add(section{title: "1. End to end through the vendor APIs",
		intro: fmt.Sprintf("%s source records (%s per vendor; %s people, each in two vendors) served by the four "+
			"emulators on loopback with their rate limits off and the pacer lifted (`rate_limit: {per_second: 1000000, burst: 1000}`); "+
			"`etl run` to local Parquet. The emulators run in the bench process (built in %s: each record's JSON is rendered when it is stored, "+
			"as a vendor's store holds it, and list answers join the stored documents), so their CPU is not etl's.",
			count(d.total), count(d.perVendor()), count(d.people()), secs(gen))})
	if err != nil {
		return err
	}
	if got := s.extracted(); got != int64(d.total) {
		return fmt.Errorf("etl extracted %d records, want %d", got, d.total)
	}
	rate := float64(d.total) / p.Wall.Seconds()
	sec.rows = append(sec.rows,
		[4]string{"wall (whole `etl run`)", secs(p.Wall), "", ""},
		[4]string{"throughput", fmt.Sprintf("%.0f records/s", rate), "≥ 120,000 records/s", b.verdict(rate >= 120_000)},
		[4]string{"peak RSS of etl", mib(p.MaxRSS), "< 1 GB", b.verdict(p.MaxRSS < 1e9)},
		[4]string{"etl CPU (user+sys)", fmt.Sprintf("%s (%.2f cores busy; %.1f µs per record)", secs(p.CPU()), p.CPU().Seconds()/p.Wall.Seconds(),
			p.CPU().Seconds()/float64(d.total)*1e6), "", ""},
		[4]string{"emulators' CPU meanwhile (same 2 cores)", secs(emuCPU), "", ""},
	)
	var extracting float64
	for _, src := range s.Sources {
		extracting = max(extracting, src.Seconds)
	}
	sec.notes = append(sec.notes, "Per source (extract and normalise, all four at once): "+perSource(s)+
		fmt.Sprintf(". Persons resolved: %s. Of the run's %.2f s, extraction took %.2f s (the slowest source) and the tables after it %.2f s.",
			count(int(s.Resolve.Persons)), s.Seconds, extracting, s.Seconds-extracting))
	// The same run in-process under the CPU profiler, against the same emulators.
	top, err := b.profile(pipe, "api")
	if err != nil {
		return err
	}
	sec.notes = append(sec.notes, top)
	return nil
}

func perSource(s summary) string {
	var names []string
	for k := range s.Sources {
		names = append(names, k)
	}
	sort.Strings(names)
	var parts []string
	for _, k := range names {
		src := s.Sources[k]
		parts = append(parts, fmt.Sprintf("%s %s records, %d pages, %.2f s", k, count(int(src.Extracted)), src.Pages, src.Seconds))
	}
	return strings.Join(parts, "; ")
}
