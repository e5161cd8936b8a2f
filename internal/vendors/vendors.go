// Package vendors is the one home of what each vendor API documents
// (vendors.md): page sizes, rate limits, bulk-write
// limits, and the fields write-back may set or must keep unique. The
// connectors, the write-back, the pipeline validator and the emulators all
// read these facts from here, so a limit changes in one place.
package vendors

import (
	"time"

	"etl/internal/pace"
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

// Field is a writable field: our column and the vendor's name for it.
type Field struct {
	Column string // end_user_sources column, as in the pipeline's writeback fields
	Wire   string // the vendor's key in a write request
}

// Facts are one vendor's documented limits.
type Facts struct {
	DefaultPageSize int // records a list request returns when none is asked for
	MaxPageSize     int // the most one list request may ask for

	// Limits are the rate limits as the vendor counts them: the emulators
	// enforce exactly these, and the pacer keeps to them (with pace.Margin)
	// unless a pipeline's rate_limit replaces them.
	Limits pace.Limits

	MaxBulk       int   // items the vendor's bulk write takes in one request
	MaxBulkBytes  int64 // bytes of one bulk write body, where that is the limit
	MaxWriteBatch int   // items per write request we send: ≤ 2,000 and ≤ MaxBulk

	Writable []Field  // fields write-back may set, in the order docs list them
	Unique   []string // writable columns the vendor keeps unique among its records
}

// PageSize is n within the vendor's bounds: the maximum when unset (to spend
// the fewest requests) or too large.
func (f Facts) PageSize(n int) int {
	if n <= 0 || n > f.MaxPageSize {
		return f.MaxPageSize
	}
	return n
}

// WritableColumns lists the columns write-back may set.
func (f Facts) WritableColumns() []string {
	cols := make([]string, len(f.Writable))
	for i, w := range f.Writable {
		cols[i] = w.Column
	}
	return cols
}

// Wire maps a writable column to the vendor's key; "" when not writable.
func (f Facts) Wire(column string) string {
	for _, w := range f.Writable {
		if w.Column == column {
			return w.Wire
		}
	}
	return ""
}

// Of maps a vendor name to its facts.
var Of = map[string]Facts{
	Planhat: {
		DefaultPageSize: 100,
		MaxPageSize:     2000, // a larger limit is clamped to 2,000
		// 150 in any second (hard) and 200 in any minute (soft).
		Limits:        pace.Limits{Windows: []pace.Window{{N: 150, Per: time.Second}, {N: 200, Per: time.Minute}}},
		MaxBulk:       5000,
		MaxWriteBatch: 2000, // Planhat takes 5,000; this project caps at 2,000
		Writable: []Field{{"external_id", "externalId"}, {"first_name", "firstName"}, {"last_name", "lastName"},
			{"phone", "phone"}, {"email", "email"}},
	},
	Dixa: {
		DefaultPageSize: 50,
		MaxPageSize:     1000,                                 // [assumed]: pageLimit outside 1..1000 is a 400
		Limits:          pace.Limits{PerSecond: 10, Burst: 4}, // per token
		MaxBulk:         1000,                                 // [assumed]
		MaxWriteBatch:   1000,
		Writable: []Field{{"external_id", "externalId"}, {"first_name", "firstName"}, {"last_name", "lastName"},
			{"name", "displayName"}, {"phone", "phoneNumber"}, {"email", "email"}},
		// Per organisation: a second record with the same value is refused
		// (EmailExists, PhoneNumberExists).
		Unique: []string{"email", "phone"},
	},
	Moesif: {
		DefaultPageSize: 10,                                                              // Elasticsearch's default size
		MaxPageSize:     1000,                                                            // [assumed]: size above 1,000 is a 400
		Limits:          pace.Limits{Windows: []pace.Window{{N: 500, Per: time.Minute}}}, // search; the collector is unmetered
		MaxBulkBytes:    50 << 20,
		MaxWriteBatch:   2000, // the collector takes 50 MB bodies; 2,000 users stay far below
		// Into metadata, under Moesif's reserved keys; user_id never changes.
		Writable: []Field{{"first_name", "first_name"}, {"last_name", "last_name"}, {"name", "name"},
			{"phone", "phone"}, {"email", "email"}},
	},
	Userlot: {
		DefaultPageSize: 100,
		MaxPageSize:     500, // [assumed]: a larger per_page is clamped
		// None documented: this project stays at 5 in any second.
		Limits:        pace.Limits{Windows: []pace.Window{{N: 5, Per: time.Second}}},
		MaxBulk:       1, // no bulk API: one record per PUT
		MaxWriteBatch: 1,
		Writable: []Field{{"external_id", "external_id"}, {"first_name", "first_name"}, {"last_name", "last_name"},
			{"email", "email"}},
		Unique: []string{"external_id"}, // per product
	},
}
