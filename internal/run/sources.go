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
}

// sources builds the enabled sources, keeping only those in only (if set).
func sources(p *config.Pipeline, only []string) ([]source, error) {
	var out []source
	want := func(name string) bool { return len(only) == 0 || slices.Contains(only, name) }
	if s := p.Sources.Planhat; s != nil && want(vendors.Planhat) {
		c, err := client(vendors.Planhat, s.API, planhat.Auth(s.Token))
		if err != nil {
			return nil, err
		}
		out = append(out, source{name: vendors.Planhat,
			extractor: planhat.New(planhat.Options{Client: c, PageSize: s.PageSize, IncludeArchived: s.IncludeArchived}),
			normalise: normalise.Options{PhoneRegion: s.PhoneRegion},
			sender:    writeback.Planhat{Client: c}})
	}
	if s := p.Sources.Dixa; s != nil && want(vendors.Dixa) {
		c, err := client(vendors.Dixa, s.API, dixa.Auth(s.Token))
		if err != nil {
			return nil, err
		}
		out = append(out, source{name: vendors.Dixa,
			extractor: dixa.New(dixa.Options{Client: c, PageSize: s.PageSize}),
			normalise: normalise.Options{PhoneRegion: s.PhoneRegion},
			sender:    writeback.Dixa{Client: c}})
	}
	// Moesif's collector_url and application_id serve write-back only.
	if s := p.Sources.Moesif; s != nil && want(vendors.Moesif) {
		c, err := client(vendors.Moesif, s.API, moesif.Auth(s.Token))
		if err != nil {
			return nil, err
		}
		src := source{name: vendors.Moesif,
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
		c, err := client(vendors.Userlot, s.API, userlot.Auth(s.APIKey))
		if err != nil {
			return nil, err
		}
		out = append(out, source{name: vendors.Userlot,
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

// client builds the HTTP client of an API source with its pacer.
func client(vendor string, a config.API, auth func(http.Header)) (*vendorhttp.Client, error) {
	limits := vendors.Of[vendor].Pace
	if r := a.RateLimit; r != nil {
		limits = pace.Limits{PerSecond: r.PerSecond, Burst: r.Burst}
	}
	c, err := vendorhttp.New(vendor, a.BaseURL, auth, pace.New(limits))
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
