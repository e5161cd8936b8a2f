package run

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/csv"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"
	"go.yaml.in/yaml/v3"

	"etl/internal/config"
	"etl/internal/demo"
	"etl/internal/duckdb"
	"etl/internal/emulator/dixa"
	"etl/internal/emulator/moesif"
	"etl/internal/emulator/people"
	"etl/internal/emulator/planhat"
	"etl/internal/emulator/userlot"
)

var updateDifferential = flag.Bool("update-differential", false,
	"rewrite testdata/differential.jsonl.gz from this code's output (only for an intended change of output)")

var updateDifferentialChanges = flag.Bool("update-differential-changes", false,
	"rewrite testdata/differential-changes.jsonl.gz from this code's output (only for an intended change of output)")

// TestDifferential is the oracle of the one-pass hot path (issue 13): every
// vendor shape through its API and as JSON lines, CSV and Parquet files,
// canonical files, ordinary and hostile records, run with --stage all and
// with --stage extract then resolve; every table must hold exactly the rows
// in testdata/differential.jsonl.gz, `attributes` and `raw` byte for byte.
// That file is the output of the code before the rewrite (the old path, at
// the commit "The house move"), so the new path answers as the old one did.
func TestDifferential(t *testing.T) {
	if testing.Short() {
		t.Skip("reads the tables with DuckDB")
	}
	dir := t.TempDir()
	env, err := demo.Start(demo.Options{People: 150, Dir: dir, Out: filepath.Join(dir, "unused")})
	if err != nil {
		t.Fatal(err)
	}
	defer env.Close()
	hostileAPIRecords(env)
	pipe := differentialPipeline(t, env, dir)

	var got, gotChanges []string
	// --stage all reads each source back from its staging (it keeps no
	// batch in hand by default); with a small budget it keeps some.
	defer func(b func(bool) int64) { handBudget = b }(handBudget)
	for i, stages := range [][]string{{StageAll}, {StageAll}, {StageExtract, StageResolve}} {
		if i == 1 {
			handBudget = func(bool) int64 { return 64 << 10 }
		}
		out := filepath.Join(dir, fmt.Sprintf("out-%d", i))
		p, err := config.Load(pipe, env.Lookup, "2026-01-01")
		if err != nil {
			t.Fatal(err)
		}
		p.Output.URI = out
		for _, stage := range stages {
			sum, err := Run(context.Background(), p, Options{RunDate: "2026-01-01", Stage: stage})
			if err != nil {
				t.Fatalf("stage %s: %v", stage, err)
			}
			if sum.Status != StatusSucceeded {
				t.Fatalf("stage %s: %s", stage, sum.Error)
			}
		}
		rows := tableRows(t, out, dir)
		chg := changesRows(t, out)
		if got == nil {
			got, gotChanges = rows, chg
		} else if !slices.Equal(got, rows) {
			t.Fatalf("--stage %s gave other tables than --stage all:\n%s", strings.Join(stages, ", "), diffLines(got, rows))
		} else if !slices.Equal(gotChanges, chg) {
			t.Fatalf("--stage %s gave another end_user_changes than --stage all:\n%s", strings.Join(stages, ", "), diffLines(gotChanges, chg))
		}
	}
	// end_user_changes came after the old path: its oracle is the output of
	// the code before its first date had a path of its own (every record
	// added, sharing the batch's arrays).
	goldenChanges := filepath.Join("testdata", "differential-changes.jsonl.gz")
	if *updateDifferentialChanges {
		writeGolden(t, goldenChanges, gotChanges)
	} else if want := readGolden(t, goldenChanges); !slices.Equal(gotChanges, want) {
		t.Fatalf("end_user_changes differs from its oracle (%d rows now, %d then):\n%s", len(gotChanges), len(want), diffLines(want, gotChanges))
	} else if len(want) < 1200 {
		t.Fatalf("only %d rows of end_user_changes: the inputs did not run", len(want))
	}
	golden := filepath.Join("testdata", "differential.jsonl.gz")
	if *updateDifferential {
		writeGolden(t, golden, got)
		return
	}
	want := readGolden(t, golden)
	if !slices.Equal(got, want) {
		t.Fatalf("tables differ from the old path's (%d rows now, %d then):\n%s", len(got), len(want), diffLines(want, got))
	}
	if len(want) < 1400 {
		t.Fatalf("only %d rows: the inputs did not run", len(want))
	}
}

// tableRows reads every table of the run date with DuckDB, one JSON line
// per row (prefixed with its table), sorted; dir, in rejects' places, is
// written DIR.
func tableRows(t *testing.T, out, dir string) []string {
	var lines []string
	for _, table := range []string{"end_user_sources", "end_users", "rejects", "writeback_plan"} {
		glob := filepath.Join(out, table, "dt=2026-01-01", "*.parquet")
		sel := "*"
		if table == "end_user_sources" || table == "end_users" {
			sel = "* REPLACE (epoch_us(created_at) AS created_at, epoch_us(updated_at) AS updated_at)"
		}
		for _, r := range duckdb.Query(t, fmt.Sprintf("SELECT %s FROM read_parquet('%s')", sel, glob)) {
			b, err := json.Marshal(r) // keys sorted
			if err != nil {
				t.Fatal(err)
			}
			lines = append(lines, table+" "+strings.ReplaceAll(string(b), dir, "DIR"))
		}
	}
	sort.Strings(lines)
	return lines
}

// changesRows reads end_user_changes of the run date, as tableRows does.
func changesRows(t *testing.T, out string) []string {
	var lines []string
	glob := filepath.Join(out, "end_user_changes", "dt=2026-01-01", "*.parquet")
	for _, r := range duckdb.Query(t, fmt.Sprintf("SELECT * FROM read_parquet('%s')", glob)) {
		b, err := json.Marshal(r)
		if err != nil {
			t.Fatal(err)
		}
		lines = append(lines, "end_user_changes "+string(b))
	}
	sort.Strings(lines)
	return lines
}

func diffLines(want, got []string) string {
	var b strings.Builder
	n := 0
	for _, l := range want {
		if _, ok := slices.BinarySearch(got, l); !ok && n < 20 {
			fmt.Fprintf(&b, "- %.600s\n", l)
			n++
		}
	}
	for _, l := range got {
		if _, ok := slices.BinarySearch(want, l); !ok && n < 40 {
			fmt.Fprintf(&b, "+ %.600s\n", l)
			n++
		}
	}
	return b.String()
}

func writeGolden(t *testing.T, path string, lines []string) {
	var buf bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	for _, l := range lines {
		zw.Write([]byte(l + "\n"))
	}
	zw.Close()
	os.MkdirAll(filepath.Dir(path), 0o755)
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

func readGolden(t *testing.T, path string) []string {
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	var lines []string
	sc := bufio.NewScanner(zr)
	sc.Buffer(nil, 1<<24)
	for sc.Scan() {
		lines = append(lines, sc.Text())
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return lines
}

// hostileAPIRecords adds records that test the decoders' edges to the
// emulators, beside the demo's people.
func hostileAPIRecords(env *demo.Env) {
	var raws []json.RawMessage
	for _, l := range hostileLines["planhat"] {
		if json.Valid([]byte(l)) && strings.HasPrefix(l, "{") && strings.Contains(l, `"_id"`) {
			raws = append(raws, json.RawMessage(l))
		}
	}
	env.Planhat.InsertRaw(raws...)
	var tree any = "leaf"
	for range 50 {
		tree = map[string]any{"b": tree, "a": []any{1.5, "x<y>&z"}}
	}
	env.Dixa.Insert(
		dixa.EndUser{Email: "Dixa.Hostile@Example.com ", DisplayName: "  Dixa   Hostile ", PhoneNumber: "20 12 34 56",
			CustomAttributes: []dixa.CustomAttribute{{ID: "1", Identifier: "tree", Value: "x"}, {ID: "2", Name: "Name Only", Value: []string{"a", "", "b"}}, {ID: "3", Identifier: "n", Value: 12345}, {ID: "4", Identifier: "empty", Value: nil}}},
		dixa.EndUser{Email: "dixa.obj@example.com", CustomAttributes: []dixa.CustomAttribute{{ID: "5", Identifier: "obj", Value: map[string]any{"a": 1}}}})
	env.Moesif.Insert(
		moesif.User{UserID: " m-spaced ", ModifiedTime: "2024-01-01T00:00:00.000", Metadata: map[string]any{"tree": tree, "email": "M@Example.com", "phone": 4520123456, "big": json.Number("12345678901234567890")}},
		moesif.User{UserID: "m-blank-top", Email: "  ", Name: "", FirstName: " ", ModifiedTime: "1700000000000", Metadata: map[string]any{"first_name": "Meta", "last_name": true, "name": "Meta Name"}})
	env.Userlot.Insert(
		userlot.EndUser{Email: "u.hostile@example.com", ExternalID: "0000", CreatedAt: "2024-01-01 10:00:00", UpdatedAt: "2024-01-02",
			Custom: map[string]any{"tree": tree, "ltv": json.Number("1e400"), "nothing": nil, "list": []any{"<b>", 2, false}}},
		userlot.EndUser{Email: "u.time@example.com", CreatedAt: "2024-01-01T00:00:00Z", UpdatedAt: "yesterday"})
}

// differentialPipeline is the demo's API sources (without write-back) and
// one file source per shape and format.
func differentialPipeline(t *testing.T, env *demo.Env, dir string) string {
	body, err := os.ReadFile(env.Pipeline)
	if err != nil {
		t.Fatal(err)
	}
	var p map[string]any
	if err := yaml.Unmarshal(body, &p); err != nil {
		t.Fatal(err)
	}
	delete(p, "writeback")
	srcs := p["sources"].(map[string]any)
	srcs["dixa"].(map[string]any)["phone_region"] = "DK"
	var files []map[string]any
	for _, shape := range []string{"planhat", "dixa", "moesif", "userlot", "canonical"} {
		recs := shapeRecords(t, shape)
		for _, format := range []string{"jsonl", "csv", "parquet"} {
			name := shape + "_" + format
			path := filepath.Join(dir, "files", name)
			os.MkdirAll(path, 0o755)
			writeShape(t, filepath.Join(path, "part-0."+format), format, recs)
			if format == "jsonl" {
				// The hostile lines only JSON lines can hold, in a second file.
				var b strings.Builder
				b.WriteString("\xef\xbb\xbf")
				for _, l := range hostileLines[shape] {
					b.WriteString(l + "\n")
				}
				os.WriteFile(filepath.Join(path, "part-1.jsonl"), []byte(b.String()), 0o644)
			}
			f := map[string]any{"name": name, "path": filepath.Join(path, "*."+format), "format": format, "shape": shape}
			if shape == "dixa" || format == "csv" {
				f["phone_region"] = "DK"
			}
			files = append(files, f)
		}
	}
	srcs["files"] = files
	out, err := yaml.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "differential.yaml")
	if err := os.WriteFile(path, out, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// shapeRecords are generated people in shape's wire format, as JSON objects.
func shapeRecords(t *testing.T, shape string) []map[string]any {
	ps := people.GenerateHard(13, 60)
	var recs []any
	switch shape {
	case "planhat":
		for _, u := range planhat.FromPeople(ps, 0) {
			recs = append(recs, u)
		}
	case "dixa":
		for _, u := range dixa.FromPeople(ps, 0) {
			recs = append(recs, u)
		}
	case "moesif":
		for _, u := range moesif.FromPeople(ps) {
			recs = append(recs, u)
		}
	case "userlot":
		for _, u := range userlot.FromPeople(ps, 0) {
			recs = append(recs, u)
		}
	case "canonical":
		for i, p := range ps {
			recs = append(recs, map[string]any{"source_id": fmt.Sprintf("c-%d", i), "email": p.Email, "emails": p.OtherEmails,
				"external_id": p.ExternalID, "first_name": p.FirstName, "last_name": p.LastName, "phone": p.Phone,
				"company_id": p.CompanyID, "company_name": p.CompanyName, "tags": p.Tags,
				"created_at": p.CreatedAt.Format("2006-01-02T15:04:05Z"), "updated_at": p.UpdatedAt.Unix(),
				"attributes": map[string]any{"plan": []string{"free", "pro"}[i%2], "seats": i, "note": "a<b"}})
		}
	}
	var out []map[string]any
	for _, r := range recs {
		b, err := json.Marshal(r)
		if err != nil {
			t.Fatal(err)
		}
		var m map[string]any
		d := json.NewDecoder(bytes.NewReader(b))
		d.UseNumber()
		if err := d.Decode(&m); err != nil {
			t.Fatal(err)
		}
		out = append(out, m)
	}
	return out
}

// writeShape writes records as one file of format: JSON lines; CSV with a
// header of every key (lists joined by ';' in even rows, as JSON in odd
// ones; objects as JSON); Parquet with a string column per key (a list
// column for lists of strings). CSV and Parquet leave out boolean fields,
// which their text cells cannot give (Planhat's archived would reject all).
func writeShape(t *testing.T, path, format string, recs []map[string]any) {
	keys := map[string]bool{}
	lists := map[string]bool{}
	for _, r := range recs {
		for k, v := range r {
			if _, ok := v.(bool); ok && format != "jsonl" {
				continue
			}
			keys[k] = true
			if items, ok := v.([]any); ok && !lists[k] {
				lists[k] = !slices.ContainsFunc(items, func(it any) bool { _, s := it.(string); return !s })
			}
		}
	}
	cols := slices.Sorted(func(yield func(string) bool) {
		for k := range keys {
			if !yield(k) {
				return
			}
		}
	})
	cell := func(v any, row int) (string, bool) {
		switch x := v.(type) {
		case nil:
			return "", false
		case string:
			return x, true
		case json.Number:
			return x.String(), true
		case []any:
			allText := true
			var items []string
			for _, it := range x {
				s, ok := it.(string)
				allText = allText && ok
				items = append(items, s)
			}
			if allText && row%2 == 0 {
				return strings.Join(items, ";"), true
			}
		}
		b, _ := json.Marshal(v)
		return string(b), true
	}
	switch format {
	case "jsonl":
		var b strings.Builder
		for _, r := range recs {
			line, _ := json.Marshal(r)
			b.Write(line)
			b.WriteByte('\n')
		}
		os.WriteFile(path, []byte(b.String()), 0o644)
	case "csv":
		var b bytes.Buffer
		w := csv.NewWriter(&b)
		w.Write(cols)
		for i, r := range recs {
			row := make([]string, len(cols))
			for j, c := range cols {
				row[j], _ = cell(r[c], i)
			}
			w.Write(row)
		}
		w.Flush()
		os.WriteFile(path, b.Bytes(), 0o644)
	case "parquet":
		var fields []arrow.Field
		for _, c := range cols {
			typ := arrow.DataType(arrow.BinaryTypes.String)
			if lists[c] {
				typ = arrow.ListOf(arrow.BinaryTypes.String)
			}
			fields = append(fields, arrow.Field{Name: c, Type: typ, Nullable: true})
		}
		b := array.NewRecordBuilder(memory.DefaultAllocator, arrow.NewSchema(fields, nil))
		defer b.Release()
		for i, r := range recs {
			for j, c := range cols {
				if lb, ok := b.Field(j).(*array.ListBuilder); ok {
					items, _ := r[c].([]any)
					if r[c] == nil {
						lb.AppendNull()
						continue
					}
					lb.Append(true)
					for _, it := range items {
						s, _ := cell(it, 1)
						lb.ValueBuilder().(*array.StringBuilder).Append(s)
					}
					continue
				}
				if s, ok := cell(r[c], i); ok {
					b.Field(j).(*array.StringBuilder).Append(s)
				} else {
					b.Field(j).AppendNull()
				}
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
	}
}

// deep is nested beyond encoding/json's limit of 10,000.
var deep = strings.Repeat(`[`, 10001) + strings.Repeat(`]`, 10001)

// hostileLines are JSON lines at the decoders' edges, per shape: escapes,
// invalid UTF-8, numbers where text is expected, keys in other cases and
// repeated, custom fields with every kind of value, bad JSON, deep nesting,
// odd timestamps, duplicates.
var hostileLines = map[string][]string{
	"planhat": {
		`{"_id":"ph-esc","email":"Esc\u00e9@Example.COM","firstName":"A\"b\\c\/d\n","lastName":"\ud83d\ude00\ud800x","name":"  Spaced   Name  ","phone":"+45 20 12 34 56","tags":["b","a","b"," "],"custom":{"z":1,"a":{"y":[1,2.50,-0,1E2,0.000001,1e-7,123456789012345678901234],"x":"<&>\u2028"},"m":null,"dup":1,"dup":2,"\u00e9":"é","k\"q":true}}`,
		"{\"_id\":\"ph-utf8\",\"firstName\":\"Ad\xffa\",\"email\":\"a\xfe@example.com\",\"custom\":{\"k\xff\":\"v\xfe\"}}",
		`{"_id":12345,"email":"num@example.com","externalId":987654321,"firstName":true,"lastName":null,"createDate":1700000000,"updatedAt":"1700000000123"}`,
		`{"_id":"ph-case","Email":"case@example.com","FIRSTNAME":"Case","externalid":"x-1"}`,
		`{"_id":"ph-repeat","email":"one@example.com","email":"two@example.com","custom":{"a":1},"custom":{"b":2}}`,
		`{"_id":"ph-archived","archived":true,"email":"arch@example.com"}`,
		`{"_id":"ph-archived-str","archived":"true"}`,
		`{"_id":"ph-bignum","custom":{"n":1e400}}`,
		`{"_id":"ph-custom-list","custom":[1,2]}`,
		`{"_id":"ph-custom-empty","custom":{},"otherEmails":[],"tags":[]}`,
		`{"_id":"ph-lists","otherEmails":"single@example.com","tags":"solo","email":"not an email"}`,
		`{"_id":"ph-list-bad","tags":[{"a":1}]}`,
		`{"_id":"ph-time","createDate":"2024-01-02 03:04:05","updatedAt":"2024-01-02T03:04:05.123456789+02:00"}`,
		`{"_id":"ph-time-bad","updatedAt":"yesterday"}`,
		`{"_id":"ph-time-zone","createDate":"2024-01-02T03:04:05Z[Europe/Copenhagen]","updatedAt":"2024-03-04"}`,
		`{"_id":"   ","email":"blank-id@example.com"}`,
		`{"_id":"","email":"empty-id@example.com"}`,
		`{"email":"no-id@example.com"}`,
		`{"_id":"ph-obj-id","email":{"a":1}}`,
		`{"_id":"ph-dup","email":"first@example.com"}`,
		`{"_id":"ph-dup","email":"first@example.com"}`,
		`{"_id":"ph-dup","email":"second@example.com","custom":{"x":"<"}}`,
		`{"_id":"ph-names","firstName":" Ann ","lastName":"Lee\tSmith"}`,
		`{"_id":"ph-raws","email":"bad@","phone":"12","custom":{"email_raw":"kept?","phone_raw":1,"name_composed":false,"aaa":1,"zzz":2}}`,
		`{"_id":"ph-phones","phone":"0045 20 12 34 56"}`,
		`{"_id":"ph-deep","custom":{"t":` + deep + `}}`,
		`{"_id":"ph-trailing"} x`,
		`{"_id": "ph-bad", "email": oops`,
		`["not","an","object"]`,
		`"just a string"`,
		`{"_id":"ph-ws" , "email" : "ws@example.com" , "custom" : { "b" : 1 , "a" : [ ] } }`,
		`{"_id":"ph-html","custom":{"h":"<script>&amp;</script>"},"companyName":"A&B <Co>"}`,
		`{"_id":"ph-ctrl","custom":{"c":"\u0001\u001f\t\r\b\f"},"firstName":"\u0000x"}`,
		``,
		`   `,
	},
	"dixa": {
		`{"id":"dx-esc","email":"Esc\u00e9@Example.COM","displayName":" D\u00e9 ","phoneNumber":"20123456","additionalEmails":["X@Example.com","bad",""],"additionalPhoneNumbers":["+4520000000"],"middleNames":["M"],"avatarUrl":"http://a/<b>","customAttributes":[{"id":"1","name":"Plan","identifier":"plan","value":"pro"},{"id":"2","name":"Seats Name","value":["1","2"]},{"id":"3","identifier":"n","value":12.50},{"id":"4","identifier":"nil","value":null},{"id":"5","identifier":"plan","value":"team"},{"id":"6","identifier":"e","value":[]},{"id":"7","identifier":"avatarUrl","value":"masked"}]}`,
		`{"id":"dx-obj","customAttributes":[{"id":"1","identifier":"o","value":{"a":1}}]}`,
		`{"id":"dx-notlist","customAttributes":{"id":"1"}}`,
		`{"id":"dx-null-elem","customAttributes":[null,{"identifier":"k","value":true}]}`,
		`{"id":"dx-case","Email":"case@example.com","customAttributes":[{"IDENTIFIER":"up","value":"v"}]}`,
		`{"id":"dx-time","createdAt":"2024-01-02T10:43:21.000Z[GMT]"}`,
		`{"id":"dx-time-bad","createdAt":"soon"}`,
		`{"id":7,"email":"num-id@example.com"}`,
		`{"email":"no-id@example.com"}`,
		`{"id":"dx-deep","customAttributes":[{"identifier":"d","value":` + deep + `}]}`,
		`{"id":"dx-bad",`,
		`{"id":"dx-dup","email":"a@example.com"}`,
		`{"id":"dx-dup","email":"b@example.com"}`,
		"{\"id\":\"dx-utf8\",\"displayName\":\"\xc3\x28\"}",
	},
	"moesif": {
		`{"user_id":" ms-spaced ","email":"","name":"","first_name":"","last_name":"","phone":"","modified_time":"2024-04-10T00:00:00.000","metadata":{"email":"Meta@Example.com","phone":4520123456,"first_name":"F","last_name":"L","name":"","z":{"b":1,"a":2},"n":12345678901234567890,"f":1.50}}`,
		`{"user_id":"ms-top","email":" Top@Example.com ","name":"Top Name","phone":"+4520999999","metadata":{"email":"meta@example.com","name":"Meta","phone":"+4520888888"}}`,
		`{"user_id":"ms-meta-types","metadata":{"email":true,"phone":{"a":1},"first_name":null,"last_name":["x"]}}`,
		`{"user_id":"ms-meta-notobj","metadata":"x"}`,
		`{"user_id":"ms-meta-null","metadata":null,"first_seen_time":"1700000000","modified_time":"2024-01-01 00:00:00"}`,
		`{"user_id":"","email":"no-id@example.com"}`,
		`{"user_id":42,"company_id":7}`,
		`{"user_id":"ms-case","User_Id":"other","Metadata":{"a":1}}`,
		`{"user_id":"ms-dupmeta","metadata":{"email":"a@example.com","email":"b@example.com"}}`,
		`{"user_id":"ms-deep","metadata":{"d":` + deep + `}}`,
		`{"user_id":"ms-time-bad","modified_time":"never"}`,
		`{"user_id":"ms-esc","metadata":{"k\u00e9y":"v\u2029","\/":"\/"}}`,
		`nonsense`,
	},
	"userlot": {
		`{"id":"ul-custom","email":"UL@Example.com","external_id":" E-1 ","source_external_id":123,"total_revenue":1187.50,"nps_score":10,"is_trial":true,"signup_channel":null,"plan":{"b":[1,{"d":1,"c":2}],"a":"<x>"},"last_seen_at":"2024-01-01T00:00:00Z","created_at":"2024-01-05T09:10:01.000+01:00","updated_at":"2024-01-08T07:10:01.000+01:00"}`,
		`{"id":"ul-none","created_at":"2024-01-01T00:00:00Z","updated_at":"2024-01-01T00:00:00Z"}`,
		`{"id":"ul-case","ID":"other","Email":"case@example.com","Custom":1}`,
		`{"id":"ul-dup-custom","x":1,"x":2,"y":null}`,
		`{"id":"ul-dup-doc","email":"a@example.com","email":"b@example.com"}`,
		`{"id":"ul-big","n":1e400,"m":-0.0,"o":0.1e-10}`,
		`{"id":"ul-deep","d":` + deep + `}`,
		`{"id":"ul-time","created_at":"bad"}`,
		`{"id":null,"email":"null-id@example.com"}`,
		`{"id":"ul-esc","k\u00e9y":"\u00e9","\u2028":"line","a\"b":"q"}`,
		`{"id":"ul-obj-field","first_name":{"a":1}}`,
		`[1]`,
	},
	"canonical": {
		`{"source_id":"cn-text","email":"Text@Example.com","emails":"one@example.com","tags":"t","attributes":"{\"b\":1,\"a\":{\"d\":[1,2],\"c\":\"<\"}}","person_id":"ignored","source":"ignored"}`,
		`{"source_id":"cn-obj","attributes":{"z":1.50,"a":null,"m":{"y":true,"x":false}},"created_at":"2024-01-02T03:04:05.999999999Z","updated_at":1735787045}`,
		`{"source_id":"cn-notobj","attributes":"[1,2]"}`,
		`{"source_id":"cn-badjson","attributes":"{\"a\":"}`,
		`{"source_id":"cn-trailing","attributes":"{\"a\":1} junk"}`,
		`{"source_id":"cn-null","attributes":null,"emails":null}`,
		`{"source_id":"cn-empty","attributes":"  ","tags":["b","a"]}`,
		`{"source_id":"cn-list-attr","attributes":[1]}`,
		`{"source_id":"cn-deep","attributes":{"d":` + deep + `}}`,
		`{"source_id":"cn-time","created_at":"2024-13-45"}`,
		`{"email":"no-id@example.com"}`,
		`{"source_id":"cn-case","EMAIL":"case@example.com","Attributes":{"a":1}}`,
	},
}
