// Package vendors records what each vendor API documents (vendors.md): page
// sizes, default pace, bulk-write limits and writable fields. The config
// validator, the connectors and the write-back all read these from here.
package vendors

import (
	"time"

	"etl/extract/pace"
)

// Vendor names, as used in pipeline files and the source column.
const (
	Planhat = "planhat"
	Dixa    = "dixa"
	Moesif  = "moesif"
	Userlot = "userlot"
)

// Names lists the API vendors in a stable order.
var Names = []string{Planhat, Dixa, Moesif, Userlot}

// Facts are one vendor's documented limits.
type Facts struct {
	MaxPageSize   int
	Pace          pace.Limits
	MaxWriteBatch int // items per bulk write request
	Writable      []string
}

// PageSize is n within the vendor's bounds: the maximum when unset (to spend
// the fewest requests) or too large.
func (f Facts) PageSize(n int) int {
	if n <= 0 || n > f.MaxPageSize {
		return f.MaxPageSize
	}
	return n
}

// Of maps a vendor name to its facts.
var Of = map[string]Facts{
	Planhat: {
		MaxPageSize: 2000,
		// 200/min with bursts of at most 20, never past 150 in one second.
		Pace:          pace.Limits{PerSecond: 200.0 / 60, Burst: 20, Windows: []pace.Window{{N: 200, Per: time.Minute}, {N: 150, Per: time.Second}}},
		MaxWriteBatch: 2000, // Planhat takes 5,000; this project caps at 2,000
		Writable:      []string{"external_id", "first_name", "last_name", "phone", "email"},
	},
	Dixa: {
		MaxPageSize:   1000,
		Pace:          pace.Limits{PerSecond: 10, Burst: 4},
		MaxWriteBatch: 1000,
		Writable:      []string{"external_id", "first_name", "last_name", "name", "phone", "email"},
	},
	Moesif: {
		MaxPageSize:   1000,
		Pace:          pace.Limits{Windows: []pace.Window{{N: 500, Per: time.Minute}}},
		MaxWriteBatch: 2000, // the collector takes 50 MB bodies; 2,000 users stay far below
		Writable:      []string{"first_name", "last_name", "name", "phone", "email"},
	},
	Userlot: {
		MaxPageSize:   500,
		Pace:          pace.Limits{Windows: []pace.Window{{N: 5, Per: time.Second}}},
		MaxWriteBatch: 1, // no bulk API: one record per PUT
		Writable:      []string{"external_id", "first_name", "last_name", "email"},
	},
}
