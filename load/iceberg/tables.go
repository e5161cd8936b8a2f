package iceberg

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	ice "github.com/apache/iceberg-go"
	"github.com/apache/iceberg-go/catalog"
	"github.com/apache/iceberg-go/table"
)

// DateColumn is the partition column every table gets after its own.
const DateColumn = "dt"

// WithDate is schema with the dt column appended: the Arrow schema of the
// Iceberg table, which every batch written must match exactly.
func WithDate(schema *arrow.Schema) *arrow.Schema {
	fields := append(schema.Fields(), arrow.Field{Name: DateColumn, Type: arrow.FixedWidthTypes.Date32})
	return arrow.NewSchema(fields, nil)
}

// tableProperties are set on the tables etl creates.
func (c *Catalog) tableProperties() ice.Properties {
	return ice.Properties{
		"format-version": "2",
		// The same row groups and compression as the Parquet layout.
		table.ParquetRowGroupLimitKey:    "131072",
		table.ParquetCompressionKey:      "zstd",
		table.ParquetCompressionLevelKey: "1",
		// Runs of other dates may commit to a table at the same moment:
		// the loser reloads and replays its snapshot (a run of the same
		// date never does; the run-date lock and the overwrite's
		// partition check both stop that).
		table.CommitNumRetriesKey:                 "4",
		table.CommitTotalRetryTimeoutMsKey:        strconv.FormatInt((5 * time.Minute).Milliseconds(), 10),
		table.MetadataDeleteAfterCommitEnabledKey: "true",
		// runs gets one append an invocation: its manifests are merged
		// once there are 100 (as Java's writers do by default), so
		// readers do not open thousands of tiny ones.
		table.ManifestMergeEnabledKey:        "true",
		table.MetadataPreviousVersionsMaxKey: "100",
	}
}

// Table is one of the ETL's Iceberg tables.
type Table struct {
	c      *Catalog
	name   string
	schema *arrow.Schema // without dt
	tbl    *table.Table
}

// Table loads table name, creating it (with schema plus dt, partitioned by
// dt) when the catalog does not have it. An existing table must have
// exactly those columns.
func (c *Catalog) Table(ctx context.Context, name string, schema *arrow.Schema) (*Table, error) {
	ident := catalog.ToIdentifier(c.ns, name)
	tbl, err := c.cat.LoadTable(ctx, ident)
	if errors.Is(err, catalog.ErrNoSuchTable) {
		tbl, err = c.create(ctx, ident, name, schema)
	}
	if err != nil {
		return nil, fmt.Errorf("iceberg table %s.%s: %w", c.ns, name, err)
	}
	t := &Table{c: c, name: name, schema: schema, tbl: tbl}
	if err := t.check(); err != nil {
		return nil, err
	}
	return t, nil
}

func (c *Catalog) create(ctx context.Context, ident table.Identifier, name string, schema *arrow.Schema) (*table.Table, error) {
	isc, err := table.ArrowSchemaToIcebergWithFreshIDs(WithDate(schema), false)
	if err != nil {
		return nil, err
	}
	spec, err := ice.NewPartitionSpecOpts(ice.AddPartitionFieldByName(DateColumn, DateColumn, ice.IdentityTransform{}, isc, nil))
	if err != nil {
		return nil, err
	}
	tbl, err := c.cat.CreateTable(ctx, ident, isc, catalog.WithPartitionSpec(&spec),
		catalog.WithLocation(c.TableLocation(name)), catalog.WithProperties(c.tableProperties()))
	if errors.Is(err, catalog.ErrTableAlreadyExists) {
		// Another run created it meanwhile.
		return c.cat.LoadTable(ctx, ident)
	}
	return tbl, err
}

// check refuses a table whose columns are not the ETL's: the writer would
// accept some differences (a required column given nullable values, a
// missing optional column) and readers would then disagree with the
// contract.
func (t *Table) check() error {
	want, err := table.ArrowSchemaToIcebergWithFreshIDs(WithDate(t.schema), false)
	if err != nil {
		return err
	}
	wantArrow, err := table.SchemaToArrowSchema(want, nil, false, false)
	if err != nil {
		return err
	}
	have, err := table.SchemaToArrowSchema(t.tbl.Schema(), nil, false, false)
	if err != nil {
		return err
	}
	if !have.Equal(wantArrow) {
		return fmt.Errorf("iceberg table %s.%s has other columns than etl writes:\n  table: %s\n  etl:   %s",
			t.c.ns, t.name, t.tbl.Schema(), want)
	}
	// The run-date lock lives under output.uri: a table another output
	// wrote (same catalog and namespace, other uri) would not be covered.
	if loc := strings.TrimRight(t.tbl.Location(), "/"); loc != t.c.TableLocation(t.name) {
		return fmt.Errorf("iceberg table %s.%s lives at %s, not under output.uri (%s): another pipeline writes it; "+
			"give each output its own catalog namespace", t.c.ns, t.name, loc, t.c.TableLocation(t.name))
	}
	spec := t.tbl.Spec()
	if spec.NumFields() != 1 || spec.Field(0).Name != DateColumn {
		return fmt.Errorf("iceberg table %s.%s is not partitioned by %s alone (spec %s)", t.c.ns, t.name, DateColumn, spec)
	}
	return nil
}

// Name is the table's name in the namespace.
func (t *Table) Name() string { return t.name }

// refresh reloads the table's current metadata from the catalog.
func (t *Table) refresh(ctx context.Context) error {
	tbl, err := t.c.cat.LoadTable(ctx, catalog.ToIdentifier(t.c.ns, t.name))
	if err != nil {
		return fmt.Errorf("iceberg table %s.%s: %w", t.c.ns, t.name, err)
	}
	t.tbl = tbl
	return nil
}

// Date is a YYYY-MM-DD run date as Iceberg's date (days since 1970-01-01).
func Date(date string) (ice.Date, error) {
	d, err := time.Parse(time.DateOnly, date)
	if err != nil {
		return 0, fmt.Errorf("run date %q: %w", date, err)
	}
	return ice.Date(d.Unix() / 86400), nil
}

// dateString is the inverse of Date.
func dateString(d ice.Date) string {
	return time.Unix(int64(d)*86400, 0).UTC().Format(time.DateOnly)
}

func dateFilter(d ice.Date) ice.BooleanExpression {
	return ice.EqualTo(ice.Reference(DateColumn), d)
}
