package schemas

import (
	"encoding/json"
	"time"
)

// SourceRow is one end_user_sources row as Go values, before person_id: an
// extractor decodes a vendor record into one, normalisation cleans it in
// place, and the extractor's batch writer appends it to the batch once.
type SourceRow struct {
	SourceID    string
	Email       string
	Emails      []string // other emails besides Email
	ExternalID  string
	FirstName   string
	LastName    string
	Name        string
	Phone       string
	CompanyID   string
	CompanyName string
	Tags        []string
	CreatedAt   time.Time // zero: the vendor has none
	UpdatedAt   time.Time
	// Attributes holds the custom fields as a JSON object in canonical form
	// (internal/jsonscan): keys sorted at every depth, written as
	// encoding/json writes a map without HTML escaping. nil: none.
	Attributes json.RawMessage
}
