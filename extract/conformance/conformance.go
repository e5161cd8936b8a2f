// Package conformance is the suite every connector runs, as rclone's fstests
// is for its backends: a connector's test file is one call,
//
//	func TestConformance(t *testing.T) {
//		conformance.Run(t, conformance.Target{Name: "planhat", Start: start})
//	}
//
// where start serves records (an emulator, or files) and returns an extractor
// pointed at them. The suite then proves what every source must do: write
// each record exactly once, send unreadable ones to rejects, survive the
// faults vendors produce (429s, 5xx, cut and truncated bodies, slow answers),
// fail fast on refused credentials and within the retry cap on a vendor that
// never recovers, stop promptly when cancelled, and leak no Arrow memory.
package conformance

import (
	"net/http"
	"slices"
	"testing"
	"time"

	"etl/extract"
	"etl/internal/emulator/emu"
	"etl/internal/pace"
	"etl/internal/vendorhttp"
	"etl/internal/vendors"
)

// Group names a set of cases. Completeness and Cancel apply to every
// connector; a Target declares any other group that does not fit it.
type Group string

const (
	Completeness Group = "Completeness" // every record once, whatever the paging
	Cancel       Group = "Cancel"       // a cancelled context stops the extraction
	Duplicates   Group = "Duplicates"   // a record served twice is written once
	Rejects      Group = "Rejects"      // an unreadable record goes to rejects
	Insert       Group = "Insert"       // records added during a scan
	HTTP         Group = "HTTP"         // vendor API faults, credentials, retry cap, pacing
)

// optional are the groups a Target may declare not applicable.
var optional = []Group{Duplicates, Rejects, Insert, HTTP}

// Target is one connector as the suite drives it.
type Target struct {
	// Name is the source name the rows carry (the extractor's Source()).
	Name string
	// Start serves n distinct records and returns an extractor reading them,
	// configured as opts says. It is called once per case, in parallel with
	// other cases; it registers its own cleanup on t.
	Start func(t *testing.T, n int, opts Options) Fixture
	// NotApplicable declares, with the reason, each optional group that does
	// not fit this connector. A group is never skipped otherwise: an adapter
	// that cannot serve what a case needs fails that case.
	NotApplicable map[Group]string
}

// Options say what one case needs from the adapter.
type Options struct {
	// PageSize is the records per page the extractor asks for; for file
	// connectors, the records per file.
	PageSize int
	// Repeat: serve the first Repeat records a second time later in the scan,
	// as a shifted offset page or a vendor's own duplicate would.
	Repeat int
	// Bad: serve Bad more records that cannot be decoded, besides the n good ones.
	Bad int
	// WrongToken: give the extractor credentials the server refuses.
	WrongToken bool
	// Paced: pace at the vendor's documented limits; otherwise do not pace.
	// The emulator enforces its limits only in cases that set Paced.
	Paced bool
	// Timeout bounds one attempt; Retry bounds the retrying of one call.
	Timeout time.Duration
	Retry   vendorhttp.Retry
}

// Client returns an HTTP client for an adapter, set up as opts asks.
func (o Options) Client(t *testing.T, vendor, baseURL string, auth func(http.Header)) *vendorhttp.Client {
	t.Helper()
	p := pace.Unlimited()
	if o.Paced {
		p = pace.New(vendors.Of[vendor].Limits)
	}
	c, err := vendorhttp.New(vendor, baseURL, auth, p)
	if err != nil {
		t.Fatal(err)
	}
	c.Timeout, c.Retry = o.Timeout, o.Retry
	return c
}

// Fixture is what an adapter's Start returns.
type Fixture struct {
	Extractor extract.Extractor
	// IDs are the source_ids of the n records: a complete extraction writes
	// each exactly once and nothing else.
	IDs []string
	// BadIDs are the source_ids of the Options.Bad records, "" where a
	// record's id cannot be read either.
	BadIDs []string
	// Server injects faults and logs requests; nil for connectors without
	// HTTP (which declare the HTTP group not applicable).
	Server *emu.Server
	// Secrets are the credentials in play; none may appear in an error.
	Secrets []string
	// Insert adds n records while a scan runs (the suite calls it after the
	// first page) and returns the ids the scan must still write.
	Insert func(n int) []string
}

// Run runs every case against tg.
func Run(t *testing.T, tg Target) {
	if tg.Name == "" || tg.Start == nil {
		t.Fatal("conformance: Target needs a Name and a Start")
	}
	for g, why := range tg.NotApplicable {
		if !slices.Contains(optional, g) {
			t.Fatalf("conformance: group %s applies to every connector; it cannot be declared not applicable", g)
		}
		if why == "" {
			t.Fatalf("conformance: group %s is declared not applicable without a reason", g)
		}
	}
	for _, c := range cases {
		t.Run(string(c.group)+"/"+c.name, func(t *testing.T) {
			if why, ok := tg.NotApplicable[c.group]; ok {
				t.Skipf("not applicable to %s: %s", tg.Name, why)
			}
			t.Parallel()
			c.run(t, tg)
		})
	}
}
