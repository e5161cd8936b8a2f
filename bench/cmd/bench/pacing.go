package main

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"etl/internal/emulator/emu"
	"etl/internal/pace"
	"etl/internal/vendors"
)

// Pacing setup: small pages, so the run is requests, not records.
const (
	pacingPages    = 40
	pacingPageSize = 50
)

// pacing is bench 3: every emulator enforcing its limits, 40+ pages per
// vendor, all at once; the run against the fastest the documented limits allow.
func (b *bench) pacing() error {
	perVendor := pacingPages*pacingPageSize + pacingPageSize/2 // a short last page
	d := dataset{total: 4 * perVendor}
	n := map[string]int{}
	extra := map[string]string{}
	for _, v := range vendors.Names {
		n[v] = perVendor
		extra[v] = fmt.Sprintf(", page_size: %d", pacingPageSize)
	}
	e, err := startEmulators(d, n)
	if err != nil {
		return err
	}
	defer e.close()
	dir := filepath.Join(b.work, "pacing")
	os.RemoveAll(dir)
	os.MkdirAll(dir, 0o755)
	pipe := filepath.Join(dir, "pipeline.yaml")
	e.pipeline(pipe, filepath.Join(dir, "out"), extra)
	p, s, err := b.etl(b.etlBin, pipe)
	sec := b.add(section{title: "3. Pacing at the documented rate limits",
		intro: fmt.Sprintf("The four emulators enforcing the limits as each vendor counts them, %s records per vendor in pages of %d "+
			"(%d+ pages each), all vendors at once, the pacer at its defaults. The bound is the earliest the last request of the "+
			"busiest vendor may start under its documented limits (`vendors.Of[…].Pace`, without the pacer's %.0f%% margin) for the "+
			"requests it made; the vendors run concurrently, so the run's bound is the largest.",
			count(perVendor), pacingPageSize, pacingPages, pace.Margin*100)})
	if err != nil {
		return err
	}
	var bound time.Duration
	var per []string
	throttled := 0
	for _, v := range vendors.Names {
		log := e.emus[v].Log()
		throttled += emu.Count(log, http.StatusTooManyRequests)
		reqs := 0
		for _, en := range log {
			if en.Accepted {
				reqs++
			}
		}
		bv := limitBound(vendors.Of[v].Pace, reqs)
		bound = max(bound, bv)
		src := s.Sources[v]
		per = append(per, fmt.Sprintf("%s: %d requests, %d pages, bound %s, extracted in %.2f s", v, reqs, src.Pages, secs(bv), src.Seconds))
	}
	var extract float64
	for _, src := range s.Sources {
		extract = max(extract, src.Seconds)
	}
	ratio := p.Wall.Seconds() / bound.Seconds()
	sec.rows = append(sec.rows,
		[4]string{"bound implied by the limits", secs(bound), "", ""},
		[4]string{"wall (whole `etl run`)", secs(p.Wall), "", ""},
		[4]string{"wall / bound", fmt.Sprintf("%.3fx", ratio), "≤ 1.05x", verdict(ratio <= 1.05)},
		[4]string{"slowest source's extraction / bound", fmt.Sprintf("%.3fx (%.2f s)", extract/bound.Seconds(), extract), "", ""},
		[4]string{"429 answers (emulator logs)", fmt.Sprint(throttled), "0", verdict(throttled == 0)},
	)
	sec.notes = append(sec.notes, strings.Join(per, "; ")+".")
	return nil
}

// limitBound is when the last of n requests may start at the earliest, from
// a first one at 0, under l: a token bucket starting full and sliding windows.
func limitBound(l pace.Limits, n int) time.Duration {
	var at []float64
	t, tokens, last := 0.0, float64(l.Burst), 0.0
	refill := func() {
		if l.PerSecond > 0 {
			tokens = min(float64(l.Burst), tokens+(t-last)*l.PerSecond)
			last = t
		}
	}
	for k := range n {
		for _, w := range l.Windows {
			if k >= w.N {
				t = max(t, at[k-w.N]+w.Per.Seconds())
			}
		}
		if l.PerSecond > 0 {
			refill()
			if tokens < 1 {
				t += (1 - tokens) / l.PerSecond
				refill()
			}
			tokens--
		}
		at = append(at, t)
	}
	if n == 0 {
		return 0
	}
	return time.Duration(at[n-1] * float64(time.Second))
}
