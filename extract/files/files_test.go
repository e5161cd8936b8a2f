package files

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"

	"etl/extract"
	"etl/extract/extracttest"
	"etl/internal/config"
)

func write(t *testing.T, path, body string) {
	t.Helper()
	os.MkdirAll(filepath.Dir(path), 0o755)
	if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
}

func run(t *testing.T, cfg config.File) extracttest.Result {
	t.Helper()
	if cfg.Name == "" {
		cfg.Name = "crm_export"
	}
	x, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return extracttest.Run(t, context.Background(), x)
}

func ids(res extracttest.Result) []string {
	var out []string
	for _, r := range res.Rows {
		out = append(out, r.SourceID)
	}
	return out
}

func reasons(res extracttest.Result) []string {
	var out []string
	for _, r := range res.Rejects {
		out = append(out, r.Reason)
	}
	return out
}

// hasReason fails unless a reject's reason starts with prefix.
func hasReason(t *testing.T, res extracttest.Result, prefix string) {
	t.Helper()
	for _, r := range reasons(res) {
		if strings.HasPrefix(r, prefix) {
			return
		}
	}
	t.Fatalf("no reject starting %q in %q", prefix, reasons(res))
}

func TestJSONLPlanhatAcrossFiles(t *testing.T) {
	dir := t.TempDir()
	write(t, filepath.Join(dir, "b.jsonl"), `{"_id":"u3","email":"C@x.io","tags":["vip"],"createDate":"2025-03-01T10:00:00Z","custom":{"plan":"pro"}}
{"email":"no-id@x.io"}
{"_id":"u1","email":"dup@x.io"}
`)
	write(t, filepath.Join(dir, "a.jsonl"), "\xef\xbb\xbf"+`{"_id":"u1","email":"a@x.io","otherEmails":"a2@x.io"}

{"_id":"u2", "email": oops}
{"_id":"u9","archived":true}
["not","an","object"]
{"_id":"u2","email":"b@x.io"}`) // no newline at the end
	write(t, filepath.Join(dir, "notes.txt"), "not matched")
	res := run(t, config.File{Path: filepath.Join(dir, "*.jsonl"), Format: "jsonl", Shape: "planhat"})
	if res.Err != nil {
		t.Fatal(res.Err)
	}
	// a.jsonl first; u1 again in b.jsonl is a duplicate, and since its
	// content differs it is also rejected.
	if got := ids(res); !slices.Equal(got, []string{"u1", "u2", "u3"}) {
		t.Fatalf("ids %v", got)
	}
	if res.Stats.Duplicates != 1 || res.Stats.Skipped != 1 || res.Stats.Pages != 2 || res.Stats.Rejected != 4 {
		t.Fatalf("stats %+v", res.Stats)
	}
	a, b := filepath.Join(dir, "a.jsonl"), filepath.Join(dir, "b.jsonl")
	hasReason(t, res, a+":3: invalid JSON: invalid character 'o'")
	hasReason(t, res, a+":5: not a JSON object")
	hasReason(t, res, b+":2: end user without _id")
	hasReason(t, res, "duplicate source_id with different content")
	u1, u3 := res.ByID["u1"], res.ByID["u3"]
	if u1.Email != "a@x.io" || !slices.Equal(u1.Emails, []string{"a2@x.io"}) {
		t.Fatalf("u1 %+v", u1)
	}
	if !u3.CreatedAt.Equal(time.Date(2025, 3, 1, 10, 0, 0, 0, time.UTC)) || u3.AttributesJSON != `{"plan":"pro"}` || !slices.Equal(u3.Tags, []string{"vip"}) {
		t.Fatalf("u3 %+v", u3)
	}
	if r := res.Rejects[0]; r.Raw == "" || r.Source != "crm_export" {
		t.Fatalf("reject %+v", r)
	}
}

func TestJSONLLineTooLong(t *testing.T) {
	p := filepath.Join(t.TempDir(), "a.jsonl")
	long := `{"_id":"big","name":"` + strings.Repeat("x", MaxLine) + `"}`
	write(t, p, `{"_id":"u1"}`+"\n"+long+"\n"+`{"_id":"u2"}`+"\n")
	res := run(t, config.File{Path: p, Format: "jsonl", Shape: "planhat"})
	if res.Err != nil {
		t.Fatal(res.Err)
	}
	if got := ids(res); !slices.Equal(got, []string{"u1", "u2"}) {
		t.Fatalf("ids %v", got)
	}
	hasReason(t, res, p+":2: line longer than 16 MiB")
}

func TestCSVCanonical(t *testing.T) {
	p := filepath.Join(t.TempDir(), "people.csv")
	write(t, p, `source_id,email,emails,first_name,tags,created_at,updated_at,attributes,person_id
c1,Ann@X.io,"[""ann2@x.io""]","Ann, Jr.",vip; beta ,2025-01-02T03:04:05Z,1735787045,"{""plan"":""pro"",""seats"":12}",ignored
c2,bo@x.io,,Bo,,,,,
c3,cy@x.io,x
,nobody@x.io,,,,,,,
c4,dee@x.io,,,,yesterday,,,
c5,ed@x.io,,,,,,not json,
`)
	res := run(t, config.File{Path: p, Format: "csv", Shape: "canonical"})
	if res.Err != nil {
		t.Fatal(res.Err)
	}
	if got := ids(res); !slices.Equal(got, []string{"c1", "c2"}) {
		t.Fatalf("ids %v (rejects %q)", got, reasons(res))
	}
	c1 := res.ByID["c1"]
	want := extract.Row{SourceID: "c1", Email: "Ann@X.io", Emails: []string{"ann2@x.io"}, FirstName: "Ann, Jr.",
		Tags: []string{"vip", "beta"}, CreatedAt: time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC),
		UpdatedAt: time.Unix(1735787045, 0).UTC()}
	if !reflect.DeepEqual(c1.Row, want) || c1.AttributesJSON != `{"plan":"pro","seats":12}` {
		t.Fatalf("c1\n got %+v %s\nwant %+v", c1.Row, c1.AttributesJSON, want)
	}
	hasReason(t, res, p+":4: malformed CSV: 3 fields, the header has 9")
	hasReason(t, res, p+":5: source_id is missing")
	hasReason(t, res, p+":6: created_at: unreadable timestamp")
	hasReason(t, res, p+":7: attributes: not a JSON object")
	if len(res.Rejects) != 4 || res.Rejects[3].SourceID != "c5" {
		t.Fatalf("rejects %+v", res.Rejects)
	}
}

func TestCSVPlanhat(t *testing.T) {
	p := filepath.Join(t.TempDir(), "ph.csv")
	write(t, p, "_id,email,otherEmails,tags,custom,updatedAt\n"+
		`p1,a@x.io,a2@x.io;a3@x.io,"[""x"",""y""]","{""tier"":""gold""}",2025-06-01`+"\n")
	res := run(t, config.File{Path: p, Format: "csv", Shape: "planhat"})
	if res.Err != nil || len(res.Rows) != 1 {
		t.Fatalf("%v %q", res.Err, reasons(res))
	}
	r := res.Rows[0]
	if !slices.Equal(r.Emails, []string{"a2@x.io", "a3@x.io"}) || !slices.Equal(r.Tags, []string{"x", "y"}) ||
		r.AttributesJSON != `{"tier":"gold"}` || !r.UpdatedAt.Equal(time.Date(2025, 6, 1, 0, 0, 0, 0, time.UTC)) {
		t.Fatalf("row %+v", r)
	}
}

// Files longer than the sample that sizes the set of ids seen (JSONL's
// first chunk, CSV's first rows) keep every record, and drop a repeat.
func TestManyRecordsSizedFromASample(t *testing.T) {
	dir := t.TempDir()
	var jl, cs strings.Builder
	cs.WriteString("_id,email\n")
	const n = 3 * csvSample
	for i := range n {
		fmt.Fprintf(&jl, `{"_id":"p%d","email":"a%d@x.io"}`+"\n", i, i)
		fmt.Fprintf(&cs, "p%d,a%d@x.io\n", i, i)
	}
	jl.WriteString(`{"_id":"p7","email":"a7@x.io"}` + "\n")
	cs.WriteString("p7,a7@x.io\n")
	write(t, filepath.Join(dir, "a.jsonl"), jl.String())
	write(t, filepath.Join(dir, "a.csv"), cs.String())
	for _, f := range []string{"jsonl", "csv"} {
		res := run(t, config.File{Path: filepath.Join(dir, "a."+f), Format: f, Shape: "planhat"})
		if res.Err != nil || len(res.Rows) != n || res.Stats.Duplicates != 1 {
			t.Fatalf("%s: %v, %d rows, stats %+v", f, res.Err, len(res.Rows), res.Stats)
		}
	}
}

// writeParquet writes one record batch as a Parquet file.
func writeParquet(t *testing.T, path string, rec arrow.Record) {
	t.Helper()
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
}

// canonicalParquet writes rows as one end_user_sources batch.
func canonicalParquet(t *testing.T, path string, rows []extract.Row) {
	t.Helper()
	var recs []arrow.Record
	w := extract.NewWriter("earlier", memory.DefaultAllocator, 0, func(r arrow.Record) error { recs = append(recs, r); return nil }, nil)
	for i := range rows {
		w.Append(&rows[i])
	}
	w.Close()
	writeParquet(t, path, recs[0])
	recs[0].Release()
}

// Parquet in end_user_sources' own schema (an earlier run's output) reads
// back as canonical records, field for field.
func TestParquetCanonicalRoundTrip(t *testing.T) {
	in := []extract.Row{
		{SourceID: "r1", Email: "a@x.io", Emails: []string{"b@x.io"}, ExternalID: "E1", FirstName: "A", LastName: "B",
			Name: "A B", Phone: "+4512345678", CompanyID: "co", CompanyName: "Co", Tags: []string{"t1", "t2"},
			CreatedAt: time.Date(2024, 5, 6, 7, 8, 9, 123000, time.UTC), UpdatedAt: time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC),
			Attributes: []byte(`{"k":"v"}`)},
		{SourceID: "r2"},
	}
	p := filepath.Join(t.TempDir(), "part-0.parquet")
	canonicalParquet(t, p, in)

	res := run(t, config.File{Path: p, Format: "parquet", Shape: "canonical"})
	if res.Err != nil || len(res.Rejects) > 0 {
		t.Fatalf("%v %q", res.Err, reasons(res))
	}
	if len(res.Rows) != 2 || res.Rows[0].AttributesJSON != `{"k":"v"}` {
		t.Fatalf("rows %+v", res.Rows)
	}
	in[0].Attributes = nil
	for i := range in {
		if !reflect.DeepEqual(res.Rows[i].Row, in[i]) {
			t.Fatalf("row %d\n got %+v\nwant %+v", i, res.Rows[i].Row, in[i])
		}
	}
}

func TestParquetPlanhat(t *testing.T) {
	schema := arrow.NewSchema([]arrow.Field{
		{Name: "_id", Type: arrow.BinaryTypes.String, Nullable: true},
		{Name: "email", Type: arrow.BinaryTypes.String, Nullable: true},
		{Name: "tags", Type: arrow.ListOf(arrow.BinaryTypes.String), Nullable: true},
		{Name: "createDate", Type: &arrow.TimestampType{Unit: arrow.Millisecond}, Nullable: true},
		{Name: "archived", Type: arrow.FixedWidthTypes.Boolean, Nullable: true},
		{Name: "custom", Type: arrow.BinaryTypes.String, Nullable: true},
	}, nil)
	b := array.NewRecordBuilder(memory.DefaultAllocator, schema)
	defer b.Release()
	add := func(id, email string, tags []string, created int64, archived bool, custom string) {
		if id == "" {
			b.Field(0).AppendNull()
		} else {
			b.Field(0).(*array.StringBuilder).Append(id)
		}
		b.Field(1).(*array.StringBuilder).Append(email)
		lb := b.Field(2).(*array.ListBuilder)
		lb.Append(true)
		for _, tg := range tags {
			lb.ValueBuilder().(*array.StringBuilder).Append(tg)
		}
		b.Field(3).(*array.TimestampBuilder).Append(arrow.Timestamp(created))
		b.Field(4).(*array.BooleanBuilder).Append(archived)
		b.Field(5).(*array.StringBuilder).Append(custom)
	}
	add("p1", "a@x.io", []string{"x"}, 1700000000000, false, `{"n":1}`)
	add("", "anon@x.io", nil, 0, false, "")
	add("p2", "arch@x.io", nil, 0, true, "")
	rec := b.NewRecord()
	defer rec.Release()
	p := filepath.Join(t.TempDir(), "ph.parquet")
	writeParquet(t, p, rec)

	res := run(t, config.File{Path: p, Format: "parquet", Shape: "planhat"})
	if res.Err != nil {
		t.Fatal(res.Err)
	}
	if got := ids(res); !slices.Equal(got, []string{"p1"}) || res.Stats.Skipped != 1 {
		t.Fatalf("ids %v, stats %+v, rejects %q", got, res.Stats, reasons(res))
	}
	hasReason(t, res, p+": row 2: end user without _id")
	r := res.Rows[0]
	if !r.CreatedAt.Equal(time.UnixMilli(1700000000000)) || !slices.Equal(r.Tags, []string{"x"}) || r.AttributesJSON != `{"n":1}` {
		t.Fatalf("row %+v", r)
	}
}

// Every vendor shape reaches its connector's decoder.
func TestVendorShapes(t *testing.T) {
	dir := t.TempDir()
	for shape, line := range map[string]string{
		"dixa":    `{"id":"d1","email":"d@x.io","additionalEmails":["d2@x.io"]}`,
		"moesif":  `{"user_id":"m1","metadata":{"email":"m@x.io"}}`,
		"userlot": `{"id":"l1","email":"l@x.io","total_revenue":10}`,
	} {
		p := filepath.Join(dir, shape+".jsonl")
		write(t, p, line+"\n{}\n")
		res := run(t, config.File{Path: p, Format: "jsonl", Shape: shape})
		if res.Err != nil || len(res.Rows) != 1 || res.Rows[0].Email == "" || len(res.Rejects) != 1 {
			t.Fatalf("%s: %v rows %+v rejects %q", shape, res.Err, res.Rows, reasons(res))
		}
	}
}

func TestNoFileMatches(t *testing.T) {
	x, err := New(config.File{Name: "crm", Path: filepath.Join(t.TempDir(), "*.jsonl"), Format: "jsonl", Shape: "planhat"})
	if err != nil {
		t.Fatal(err)
	}
	res := extracttest.Run(t, context.Background(), x)
	if res.Err == nil || !strings.Contains(res.Err.Error(), "no file matches") {
		t.Fatalf("err %v", res.Err)
	}
	if _, err := New(config.File{Name: "crm", Path: "x", Format: "xml", Shape: "planhat"}); err == nil {
		t.Fatal("New accepted format xml")
	}
	if _, err := New(config.File{Name: "crm", Path: "x", Format: "csv", Shape: "hubspot"}); err == nil {
		t.Fatal("New accepted shape hubspot")
	}
}

// A source of several files is expected whole when its first file starts
// (its files' sizes over what the first records took), so that what its
// records go to is sized once, not file after file.
func TestExpectsEveryFileAtTheFirst(t *testing.T) {
	dir := t.TempDir()
	const files, per = 3, 2000
	for f := range files {
		var jl strings.Builder
		for i := range per {
			fmt.Fprintf(&jl, `{"_id":"p%d-%04d","email":"a%d@x.io"}`+"\n", f, i, i)
		}
		write(t, filepath.Join(dir, fmt.Sprintf("part-%d.jsonl", f)), jl.String())
	}
	x, err := New(config.File{Name: "crm_export", Path: filepath.Join(dir, "*.jsonl"), Format: "jsonl", Shape: "planhat"})
	if err != nil {
		t.Fatal(err)
	}
	var heard []int64
	var atFirst int64 = -1
	w := extract.NewWriter("crm_export", memory.DefaultAllocator, 0, func(r arrow.Record) error { r.Release(); return nil }, nil)
	w.OnExpect = func(more int64) {
		if atFirst < 0 {
			atFirst = w.Stats.Extracted
		}
		heard = append(heard, more)
	}
	if err := x.Extract(context.Background(), w); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	var sum int64
	for _, n := range heard {
		sum += n
	}
	if atFirst != 0 || heard[0] < files*per*9/10 || sum < files*per*9/10 || sum > files*per*11/10 {
		t.Fatalf("heard %v (first after %d records), want about %d at once, before the first", heard, atFirst, files*per)
	}
}
