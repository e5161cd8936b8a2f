package files_test

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"

	"etl/extract/conformance"
	"etl/extract/files"
	"etl/internal/config"
	"etl/internal/emulator/people"
	phemu "etl/internal/emulator/planhat"
	"etl/internal/vendors"
)

// Each format is a connector of its own to the suite: pages are files.
func TestConformance(t *testing.T) {
	for _, f := range []format{jsonl, csvFormat, parquetFormat} {
		t.Run(f.name, func(t *testing.T) {
			conformance.Run(t, conformance.Target{Name: "crm_export", Start: f.start,
				NotApplicable: map[conformance.Group]string{
					conformance.HTTP:   "reads files (locally here; S3 faults are the S3 client's)",
					conformance.Insert: "the files are listed when the scan starts, as an export is complete when it lands",
				}})
		})
	}
}

// record is what every format writes; a bad one is written so that it
// cannot be decoded.
type record struct {
	id, email, first, last, created string
	bad                             bool
}

type format struct {
	name, shape string
	// write writes one file and returns, for each bad record in it, the id
	// its reject can carry ("" when the id cannot be read either).
	write func(t *testing.T, path string, recs []record) []string
}

var columns = []string{"source_id", "email", "first_name", "last_name", "created_at"}

// values are a canonical row; a bad one has an unreadable created_at.
func (r record) values() []string {
	if r.bad {
		r.created = "the day before yesterday"
	}
	return []string{r.id, r.email, r.first, r.last, r.created}
}

// jsonl holds Planhat exports; a bad line is not JSON, so its id is unknown.
var jsonl = format{name: "jsonl", shape: vendors.Planhat,
	write: func(t *testing.T, path string, recs []record) []string {
		var b strings.Builder
		var bad []string
		for _, r := range recs {
			if r.bad {
				fmt.Fprintf(&b, "{\"_id\": %q, \"email\": oops\n", r.id)
				bad = append(bad, "")
				continue
			}
			line, _ := json.Marshal(map[string]string{"_id": r.id, "email": r.email, "firstName": r.first, "lastName": r.last, "createDate": r.created})
			b.Write(line)
			b.WriteByte('\n')
		}
		if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
			t.Fatal(err)
		}
		return bad
	}}

var csvFormat = format{name: "csv", shape: files.Canonical,
	write: func(t *testing.T, path string, recs []record) []string {
		var b strings.Builder
		b.WriteString(strings.Join(columns, ",") + "\n")
		for _, r := range recs {
			b.WriteString(strings.Join(r.values(), ",") + "\n")
		}
		if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
			t.Fatal(err)
		}
		return badIDs(recs)
	}}

// parquetFormat holds canonical rows as string columns.
var parquetFormat = format{name: "parquet", shape: files.Canonical,
	write: func(t *testing.T, path string, recs []record) []string {
		fields := make([]arrow.Field, len(columns))
		for i, c := range columns {
			fields[i] = arrow.Field{Name: c, Type: arrow.BinaryTypes.String}
		}
		b := array.NewRecordBuilder(memory.DefaultAllocator, arrow.NewSchema(fields, nil))
		defer b.Release()
		for _, r := range recs {
			for i, v := range r.values() {
				b.Field(i).(*array.StringBuilder).Append(v)
			}
		}
		rec := b.NewRecord()
		defer rec.Release()
		f, err := os.Create(path)
		if err != nil {
			t.Fatal(err)
		}
		fw, err := pqarrow.NewFileWriter(rec.Schema(), f, nil, pqarrow.DefaultWriterProps())
		if err != nil {
			t.Fatal(err)
		}
		if err := fw.Write(rec); err != nil {
			t.Fatal(err)
		}
		if err := fw.Close(); err != nil {
			t.Fatal(err)
		}
		return badIDs(recs)
	}}

func badIDs(recs []record) []string {
	var ids []string
	for _, r := range recs {
		if r.bad {
			ids = append(ids, r.id)
		}
	}
	return ids
}

// start writes the n records, the repeated ones again after them (an export
// that overlaps the previous one) and the bad ones, PageSize to a file; an
// empty source is one empty file, since no file at all is an error.
func (f format) start(t *testing.T, n int, opts conformance.Options) conformance.Fixture {
	var recs []record
	var fx conformance.Fixture
	for i, p := range people.Generate(51, n+opts.Bad) {
		r := record{id: phemu.ObjectID(i), email: p.Email, first: p.FirstName, last: p.LastName,
			created: p.CreatedAt.Format("2006-01-02T15:04:05Z"), bad: i >= n}
		recs = append(recs, r)
		if !r.bad {
			fx.IDs = append(fx.IDs, r.id)
		}
	}
	recs = slices.Concat(recs[:n], recs[:opts.Repeat], recs[n:])
	dir := t.TempDir()
	for file, from := 0, 0; from < len(recs) || file == 0; file, from = file+1, from+opts.PageSize {
		path := filepath.Join(dir, fmt.Sprintf("part-%04d.%s", file, f.name))
		fx.BadIDs = append(fx.BadIDs, f.write(t, path, recs[from:min(len(recs), from+opts.PageSize)])...)
	}
	x, err := files.New(config.File{Name: "crm_export", Path: filepath.Join(dir, "*."+f.name), Format: f.name, Shape: f.shape})
	if err != nil {
		t.Fatal(err)
	}
	fx.Extractor = x
	return fx
}
