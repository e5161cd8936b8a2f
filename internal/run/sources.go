package run

import (
	"fmt"
	"net/http"
	"slices"

	"etl/extract"
	"etl/extract/dixa"
	"etl/extract/files"
	"etl/extract/moesif"
	"etl/extract/planhat"
	"etl/extract/userlot"
	"etl/internal/config"
	"etl/internal/pace"
	"etl/internal/vendorhttp"
	"etl/internal/vendors"
	"etl/load/writeback"
	"etl/transform/normalise"
)

// source is one enabled source, ready to extract.
type source struct {
	name      string
	extractor extract.Extractor
	normalise normalise.Options
	// sender writes back into the vendor through the extractor's client, so
	// both share one pacer; nil for sources that cannot be written to.
	sender writeback.Sender
	// pacer is the vendor's one pacer of the run (nil for file sources):
	// extraction and write-back spend one budget, as the vendor counts them
	// under one token. writePacer is the sender's: the same, or nil where
	// write-back goes to an unmetered API (Moesif's collector).
	pacer, writePacer *pace.Pacer
}

// sources builds the enabled sources, keeping only those in only (if set).
func sources(p *config.Pipeline, only []string) ([]source, error) {
	var out []source
	want := func(name string) bool { return len(only) == 0 || slices.Contains(only, name) }
	if s := p.Sources.Planhat; s != nil && want(vendors.Planhat) {
		pc := pacer(vendors.Planhat, s.API)
		c, err := client(vendors.Planhat, s.API, planhat.Auth(s.Token), pc)
		if err != nil {
			return nil, err
		}
		out = append(out, source{name: vendors.Planhat, pacer: pc, writePacer: pc,
			extractor: planhat.New(planhat.Options{Client: c, PageSize: s.PageSize, IncludeArchived: s.IncludeArchived}),
			normalise: normalise.Options{PhoneRegion: s.PhoneRegion},
			sender:    writeback.Planhat{Client: c}})
	}
	if s := p.Sources.Dixa; s != nil && want(vendors.Dixa) {
		pc := pacer(vendors.Dixa, s.API)
		c, err := client(vendors.Dixa, s.API, dixa.Auth(s.Token), pc)
		if err != nil {
			return nil, err
		}
		out = append(out, source{name: vendors.Dixa, pacer: pc, writePacer: pc,
			extractor: dixa.New(dixa.Options{Client: c, PageSize: s.PageSize}),
			normalise: normalise.Options{PhoneRegion: s.PhoneRegion},
			sender:    writeback.Dixa{Client: c}})
	}
	// Moesif's collector_url and application_id serve write-back only.
	if s := p.Sources.Moesif; s != nil && want(vendors.Moesif) {
		pc := pacer(vendors.Moesif, s.API)
		c, err := client(vendors.Moesif, s.API, moesif.Auth(s.Token), pc)
		if err != nil {
			return nil, err
		}
		src := source{name: vendors.Moesif, pacer: pc,
			extractor: moesif.New(moesif.Options{Client: c, PageSize: s.PageSize}),
			normalise: normalise.Options{PhoneRegion: s.PhoneRegion}}
		if s.CollectorURL != "" {
			// The collector is another host with its own key, and unmetered.
			cc, err := vendorhttp.New(vendors.Moesif, s.CollectorURL, writeback.MoesifAuth(s.ApplicationID), pace.Unlimited())
			if err != nil {
				return nil, err
			}
			tune(cc, s.API)
			if s.MaxResponseBytes > 0 {
				cc.MaxBody = s.MaxResponseBytes
			}
			src.sender = writeback.Moesif{Client: cc}
		}
		out = append(out, src)
	}
	if s := p.Sources.Userlot; s != nil && want(vendors.Userlot) {
		pc := pacer(vendors.Userlot, s.API)
		c, err := client(vendors.Userlot, s.API, userlot.Auth(s.APIKey), pc)
		if err != nil {
			return nil, err
		}
		out = append(out, source{name: vendors.Userlot, pacer: pc, writePacer: pc,
			extractor: userlot.New(userlot.Options{Client: c, PageSize: s.PageSize}),
			normalise: normalise.Options{PhoneRegion: s.PhoneRegion},
			sender:    writeback.Userlot{Client: c}})
	}
	// A file source's name is its rows' source column.
	for _, f := range p.Sources.Files {
		if !want(f.Name) {
			continue
		}
		x, err := files.New(f)
		if err != nil {
			return nil, err
		}
		out = append(out, source{name: f.Name, extractor: x, normalise: normalise.Options{PhoneRegion: f.PhoneRegion}})
	}
	for _, name := range only {
		if !slices.ContainsFunc(out, func(s source) bool { return s.name == name }) {
			return nil, fmt.Errorf("--only %s: no such source in the pipeline", name)
		}
	}
	return out, nil
}

// pacer keeps to the vendor's documented limits, or to the one token bucket
// of the source's rate_limit, which replaces them all.
func pacer(vendor string, a config.API) *pace.Pacer {
	if r := a.RateLimit; r != nil {
		return pace.New(pace.Limits{PerSecond: r.PerSecond, Burst: r.Burst})
	}
	return pace.New(vendors.Of[vendor].Limits)
}

// client builds the HTTP client of an API source.
func client(vendor string, a config.API, auth func(http.Header), p *pace.Pacer) (*vendorhttp.Client, error) {
	c, err := vendorhttp.New(vendor, a.BaseURL, auth, p)
	if err != nil {
		return nil, err
	}
	tune(c, a)
	if a.MaxResponseBytes > 0 {
		c.MaxBody = a.MaxResponseBytes
	}
	return c, nil
}

// tune applies a source's timeout and retry cap to one of its clients.
func tune(c *vendorhttp.Client, a config.API) {
	if a.Timeout > 0 {
		c.Timeout = a.Timeout
	}
	if a.MaxRetryTime > 0 {
		c.Retry.MaxElapsed = a.MaxRetryTime
	}
}
