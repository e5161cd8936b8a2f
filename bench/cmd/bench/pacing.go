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

// Pacing setup: small pages, so a run is requests, not records.
const pacingPageSize = 50

// pacingPages are the sizes bench 3 runs: pages per vendor.
var pacingPages = []int{40, 300}

// pacing is bench 3: every emulator enforcing its limits, all four vendors
// at once, at each size of pacingPages; each vendor's span in its emulator's
// log against the least time its limits allow for the requests it made.
func (b *bench) pacing() error {
	sec := b.add(section{title: "3. Pacing at the documented rate limits",
		intro: fmt.Sprintf("The four emulators enforcing the limits as each vendor counts them (`vendors.Of[…].Limits`), all vendors at once, "+
			"the pacer at its defaults, in pages of %d records; one run with %d pages per vendor and one with %d (plus a short last page). "+
			"A vendor's *span* is from the first request to the last in its emulator's log; its *least* is the earliest the last of "+
			"those requests may start under the vendor's limits, the first starting at 0 and requests taking no time "+
			"(`pace.Least`: e.g. Planhat's 201st request goes 60 s after its 1st). The target applies where the least is at least "+
			"a second; the pacer adds its %.0f%% margin and each request's round trip.",
			pacingPageSize, pacingPages[0], pacingPages[1], pace.Margin*100)})
	for _, pages := range pacingPages {
		if err := b.pacingRun(sec, pages); err != nil {
			return err
		}
	}
	return nil
}

func (b *bench) pacingRun(sec *section, pages int) error {
	perVendor := pages*pacingPageSize + pacingPageSize/2 // a short last page
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
	dir := filepath.Join(b.work, fmt.Sprintf("pacing-%d", pages))
	os.RemoveAll(dir)
	os.MkdirAll(dir, 0o755)
	pipe := filepath.Join(dir, "pipeline.yaml")
	e.pipeline(pipe, filepath.Join(dir, "out"), extra)
	p, _, err := b.etl(b.etlBin, pipe)
	if err != nil {
		return err
	}
	throttled, exceeded := 0, []string{}
	for _, v := range vendors.Names {
		log := e.emus[v].Log()
		if len(log) == 0 {
			return fmt.Errorf("%s: no requests in the emulator's log", v)
		}
		limits := vendors.Of[v].Limits
		throttled += emu.Count(log, http.StatusTooManyRequests)
		for _, x := range emu.Exceeded(log, limits) {
			exceeded = append(exceeded, v+": "+x)
		}
		span := log[len(log)-1].At.Sub(log[0].At)
		least := pace.Least(limits, len(log))
		row := [4]string{fmt.Sprintf("%s at %s: %d pages, %d requests", v, limits, pages, len(log)), "", "≤ 1.05x", ""}
		if least >= time.Second {
			ratio := span.Seconds() / least.Seconds()
			row[1] = fmt.Sprintf("span %s, least %s: **%.3fx**", secs(span), secs(least), ratio)
			row[3] = verdict(ratio <= 1.05)
		} else {
			row[1] = fmt.Sprintf("span %s, least %s", secs(span), secs(least))
			row[2], row[3] = "(least under 1 s)", "—"
		}
		sec.rows = append(sec.rows, row)
	}
	none := "none"
	if len(exceeded) > 0 {
		none = strings.Join(exceeded, "; ")
	}
	sec.rows = append(sec.rows,
		[4]string{fmt.Sprintf("%d pages: 429 answers; limits exceeded in the logs (every request counted)", pages),
			fmt.Sprintf("%d; %s", throttled, none), "0; none", verdict(throttled == 0 && len(exceeded) == 0)})
	sec.notes = append(sec.notes, fmt.Sprintf("%d pages: the whole `etl run` took %s.", pages, secs(p.Wall)))
	return nil
}
