// Package schemas holds the Arrow schemas of every table etl writes. Writers,
// readers and tests all take them from here, so a column is defined once.
package schemas

import "github.com/apache/arrow-go/v18/arrow"

var (
	str        = arrow.BinaryTypes.String
	stringList = arrow.ListOf(arrow.BinaryTypes.String)
	// Timestamp is UTC with microsecond precision: Parquet TIMESTAMP(MICROS, UTC),
	// which DuckDB, Spark, Trino and Athena all read as an instant.
	Timestamp = &arrow.TimestampType{Unit: arrow.Microsecond, TimeZone: "UTC"}
)

// Table names, as they appear in the output layout.
const (
	TableSources = "end_user_sources"
	TableUsers   = "end_users"
	TableRejects = "rejects"
	TablePlan    = "writeback_plan"
	TableChanges = "end_user_changes"
	// TableRuns is the run history: one file per invocation, outside the
	// partition commit, never replaced.
	TableRuns = "runs"
)

// Tables lists every table of a run date's partition, in the order they are
// committed.
var Tables = []string{TableSources, TableUsers, TableChanges, TableRejects, TablePlan}

// Column positions in EndUserSources. Extractors fill a batch of this schema
// with rows normalised as they are decoded (SourceRow); resolve fills
// person_id.
const (
	SrcSource = iota
	SrcSourceID
	SrcPersonID
	SrcEmail
	SrcEmails
	SrcExternalID
	SrcFirstName
	SrcLastName
	SrcName
	SrcPhone
	SrcCompanyID
	SrcCompanyName
	SrcTags
	SrcCreatedAt
	SrcUpdatedAt
	SrcAttributes
)

// EndUserSources is one row per vendor record.
var EndUserSources = arrow.NewSchema([]arrow.Field{
	{Name: "source", Type: str},
	{Name: "source_id", Type: str},
	{Name: "person_id", Type: str, Nullable: true},
	{Name: "email", Type: str, Nullable: true},
	{Name: "emails", Type: stringList, Nullable: true},
	{Name: "external_id", Type: str, Nullable: true},
	{Name: "first_name", Type: str, Nullable: true},
	{Name: "last_name", Type: str, Nullable: true},
	{Name: "name", Type: str, Nullable: true},
	{Name: "phone", Type: str, Nullable: true},
	{Name: "company_id", Type: str, Nullable: true},
	{Name: "company_name", Type: str, Nullable: true},
	{Name: "tags", Type: stringList, Nullable: true},
	{Name: "created_at", Type: Timestamp, Nullable: true},
	{Name: "updated_at", Type: Timestamp, Nullable: true},
	{Name: "attributes", Type: str, Nullable: true},
}, nil)

// Column positions in EndUsers.
const (
	UsrPersonID = iota
	UsrEmail
	UsrEmails
	UsrExternalID
	UsrFirstName
	UsrLastName
	UsrName
	UsrPhone
	UsrCompanyName
	UsrTags
	UsrSources
	UsrRecordCount
	UsrCreatedAt
	UsrUpdatedAt
)

// EndUsers is one row per resolved person.
var EndUsers = arrow.NewSchema([]arrow.Field{
	{Name: "person_id", Type: str},
	{Name: "email", Type: str, Nullable: true},
	{Name: "emails", Type: stringList, Nullable: true},
	{Name: "external_id", Type: str, Nullable: true},
	{Name: "first_name", Type: str, Nullable: true},
	{Name: "last_name", Type: str, Nullable: true},
	{Name: "name", Type: str, Nullable: true},
	{Name: "phone", Type: str, Nullable: true},
	{Name: "company_name", Type: str, Nullable: true},
	{Name: "tags", Type: stringList, Nullable: true},
	{Name: "sources", Type: stringList, Nullable: true},
	{Name: "record_count", Type: arrow.PrimitiveTypes.Int64},
	{Name: "created_at", Type: Timestamp, Nullable: true},
	{Name: "updated_at", Type: Timestamp, Nullable: true},
}, nil)

// Reject stages.
const (
	StageExtract   = "extract"
	StageNormalise = "normalise"
	StageWriteback = "writeback"
)

// Rejects holds records or write-back items that failed, with why.
var Rejects = arrow.NewSchema([]arrow.Field{
	{Name: "stage", Type: str},
	{Name: "source", Type: str},
	{Name: "source_id", Type: str, Nullable: true},
	{Name: "reason", Type: str},
	{Name: "raw", Type: str, Nullable: true},
}, nil)

// Reject is one row of the rejects table.
type Reject struct {
	Stage, Source, SourceID, Reason, Raw string
}

// WritebackPlan lists every field the write-back sets (or, with --dry-run,
// would set): one row per record and field.
var WritebackPlan = arrow.NewSchema([]arrow.Field{
	{Name: "target", Type: str},
	{Name: "source_id", Type: str},
	{Name: "person_id", Type: str},
	{Name: "field", Type: str},
	{Name: "old_value", Type: str, Nullable: true},
	{Name: "new_value", Type: str},
}, nil)

// Changes of a record since the previous partition.
const (
	ChangeAdded   = "added"
	ChangeRemoved = "removed"
	ChangeChanged = "changed"
)

// EndUserChanges is one row per source record added, removed or changed
// since the latest earlier complete partition: columns holds the sorted
// names of the end_user_sources columns that differ (empty for added and
// removed).
var EndUserChanges = arrow.NewSchema([]arrow.Field{
	{Name: "source", Type: str},
	{Name: "source_id", Type: str},
	{Name: "change", Type: str},
	{Name: "person_id", Type: str, Nullable: true},
	{Name: "previous_person_id", Type: str, Nullable: true},
	{Name: "columns", Type: stringList},
}, nil)

// Runs is the run history: one row per invocation (per date of a
// backfill), summary being the JSON summary line it printed last.
var Runs = arrow.NewSchema([]arrow.Field{
	{Name: "run_id", Type: str},
	{Name: "run_date", Type: arrow.FixedWidthTypes.Date32},
	{Name: "stage", Type: str},
	{Name: "status", Type: str},
	{Name: "error", Type: str, Nullable: true},
	{Name: "started_at", Type: Timestamp},
	{Name: "finished_at", Type: Timestamp},
	{Name: "summary", Type: str},
}, nil)
