package iceberg

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/compute"
	"github.com/apache/arrow-go/v18/arrow/memory"
	ice "github.com/apache/iceberg-go"
	"github.com/apache/iceberg-go/table"
)

// View is a table as one load of its metadata found it: its current
// snapshot and properties stay those however the table moves meanwhile, so
// that reading a date twice gives the same rows, and a date's record
// (Info) describes the rows read.
type View struct {
	t   *Table
	tbl *table.Table
}

// View loads the table's current metadata.
func (t *Table) View(ctx context.Context) (*View, error) {
	if err := t.refresh(ctx); err != nil {
		return nil, err
	}
	return &View{t: t, tbl: t.tbl}, nil
}

// ReadDate calls fn with every batch of the current snapshot's rows of
// date, in the table's own schema (without dt); fn must not keep rec.
func (t *Table) ReadDate(ctx context.Context, date string, mem memory.Allocator, fn func(rec arrow.Record) error) error {
	v, err := t.View(ctx)
	if err != nil {
		return err
	}
	return v.Read(ctx, date, mem, fn)
}

// Read calls fn with every batch of the view's rows of date, in the
// table's own schema (without dt); fn must not keep rec.
func (v *View) Read(ctx context.Context, date string, mem memory.Allocator, fn func(rec arrow.Record) error) error {
	t := v.t
	d, err := Date(date)
	if err != nil {
		return err
	}
	snap := v.tbl.CurrentSnapshot()
	if snap == nil {
		return nil
	}
	if mem == nil {
		mem = memory.DefaultAllocator
	}
	names := make([]string, t.schema.NumFields())
	for i, f := range t.schema.Fields() {
		names[i] = f.Name
	}
	scan := v.tbl.Scan(table.WithRowFilter(dateFilter(d)), table.WithSelectedFields(names...), table.WithSnapshotID(snap.SnapshotID))
	defer scan.Close()
	_, recs, err := scan.ToArrowRecords(compute.WithAllocator(ctx, mem))
	if err != nil {
		return fmt.Errorf("iceberg table %s: reading dt=%s: %w", t.name, date, err)
	}
	for rec, err := range recs {
		if err != nil {
			return fmt.Errorf("iceberg table %s: reading dt=%s: %w", t.name, date, err)
		}
		// The scan names list elements as Iceberg does ("element"); the
		// batch is given with the table's own Arrow schema.
		out, err := conform(rec, t.schema)
		rec.Release()
		if err != nil {
			return fmt.Errorf("iceberg table %s: reading dt=%s: %w", t.name, date, err)
		}
		err = fn(out)
		out.Release()
		if err != nil {
			return err
		}
	}
	return nil
}

// conform gives rec's columns schema, whose types must have the same
// layout (list element names and field metadata aside).
func conform(rec arrow.RecordBatch, schema *arrow.Schema) (arrow.RecordBatch, error) {
	if int(rec.NumCols()) != schema.NumFields() {
		return nil, fmt.Errorf("the scan gave %d columns, expected %d", rec.NumCols(), schema.NumFields())
	}
	cols := make([]arrow.Array, rec.NumCols())
	for i, col := range rec.Columns() {
		want := schema.Field(i).Type
		if arrow.TypeEqual(col.DataType(), want) {
			col.Retain()
			cols[i] = col
			continue
		}
		if col.DataType().ID() != want.ID() {
			return nil, fmt.Errorf("column %s is %s, expected %s", schema.Field(i).Name, col.DataType(), want)
		}
		data := array.NewData(want, col.Len(), col.Data().Buffers(), col.Data().Children(), col.NullN(), col.Data().Offset())
		cols[i] = array.MakeFromData(data)
		data.Release()
	}
	out := array.NewRecordBatch(schema, cols, rec.NumRows())
	for _, c := range cols {
		c.Release()
	}
	return out, nil
}

// Rows counts the view's rows of date from its manifests (no data file is
// read).
func (v *View) Rows(ctx context.Context, date string) (int64, error) {
	d, err := Date(date)
	if err != nil {
		return 0, err
	}
	var n int64
	err = v.eachLiveFile(ctx, func(df ice.DataFile, dd ice.Date) {
		if dd == d {
			n += df.Count()
		}
	})
	return n, err
}

// eachLiveFile calls fn with each data file of the view's snapshot (the
// manifests' entries not marked deleted) and its dt.
func (v *View) eachLiveFile(ctx context.Context, fn func(ice.DataFile, ice.Date)) error {
	t := v.t
	snap := v.tbl.CurrentSnapshot()
	if snap == nil {
		return nil
	}
	fs, err := v.tbl.FS(ctx)
	if err != nil {
		return err
	}
	spec := v.tbl.Spec()
	dtField := spec.Field(0).FieldID
	manifests, err := snap.Manifests(fs)
	if err != nil {
		return fmt.Errorf("iceberg table %s: %w", t.name, err)
	}
	for _, m := range manifests {
		if m.ManifestContent() != ice.ManifestContentData {
			continue
		}
		for e, err := range m.Entries(fs, true) {
			if err != nil {
				return fmt.Errorf("iceberg table %s: %w", t.name, err)
			}
			d, ok := e.DataFile().Partition()[dtField].(ice.Date)
			if !ok {
				return fmt.Errorf("iceberg table %s: data file %s has no dt", t.name, e.DataFile().FilePath())
			}
			fn(e.DataFile(), d)
		}
	}
	return nil
}

// Info returns the table property InfoProperty(date): what the run that
// last replaced date recorded; "" when no run did.
func (t *Table) Info(ctx context.Context, date string) (string, error) {
	v, err := t.View(ctx)
	if err != nil {
		return "", err
	}
	return v.Info(date), nil
}

// Info is the view's InfoProperty(date), committed with its rows of date.
func (v *View) Info(date string) string { return v.tbl.Properties()[InfoProperty(date)] }

// Dates lists the dates some run replaced (those with InfoProperty), in order.
func (t *Table) Dates(ctx context.Context) ([]string, error) {
	v, err := t.View(ctx)
	if err != nil {
		return nil, err
	}
	var out []string
	for k := range v.tbl.Properties() {
		if d, ok := strings.CutPrefix(k, "etl.dt."); ok {
			out = append(out, d)
		}
	}
	slices.Sort(out)
	return out, nil
}
