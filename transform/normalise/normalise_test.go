package normalise

import (
	"fmt"
	"strings"
	"testing"
	"time"
	"unicode"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"etl/schemas"
)

// raw is one extracted row, as a connector hands it on.
type raw struct {
	id, email, ext, first, last, name, phone, attrs string
	emails, tags                                    []string
	updated                                         time.Time
}

func rawBatch(mem memory.Allocator, rows []raw) arrow.Record {
	b := array.NewRecordBuilder(mem, schemas.EndUserSources)
	defer b.Release()
	str := func(col int, v string) {
		if v == "" {
			b.Field(col).AppendNull()
		} else {
			b.Field(col).(*array.StringBuilder).Append(v)
		}
	}
	list := func(col int, vs []string) {
		lb := b.Field(col).(*array.ListBuilder)
		if vs == nil {
			lb.AppendNull()
			return
		}
		lb.Append(true)
		for _, v := range vs {
			lb.ValueBuilder().(*array.StringBuilder).Append(v)
		}
	}
	for _, r := range rows {
		str(schemas.SrcSource, "dixa")
		b.Field(schemas.SrcSourceID).(*array.StringBuilder).Append(r.id)
		str(schemas.SrcPersonID, "")
		str(schemas.SrcEmail, r.email)
		list(schemas.SrcEmails, r.emails)
		str(schemas.SrcExternalID, r.ext)
		str(schemas.SrcFirstName, r.first)
		str(schemas.SrcLastName, r.last)
		str(schemas.SrcName, r.name)
		str(schemas.SrcPhone, r.phone)
		str(schemas.SrcCompanyID, "")
		str(schemas.SrcCompanyName, "")
		list(schemas.SrcTags, r.tags)
		b.Field(schemas.SrcCreatedAt).AppendNull()
		if r.updated.IsZero() {
			b.Field(schemas.SrcUpdatedAt).AppendNull()
		} else {
			b.Field(schemas.SrcUpdatedAt).(*array.TimestampBuilder).Append(arrow.Timestamp(r.updated.UnixMicro()))
		}
		str(schemas.SrcAttributes, r.attrs)
	}
	return b.NewRecord()
}

// cell renders one output value: null as "null", lists as [a b].
func cell(rec arrow.Record, col, row int) string {
	a := rec.Column(col)
	if a.IsNull(row) {
		return "null"
	}
	switch a := a.(type) {
	case *array.List:
		s, e := a.ValueOffsets(row)
		vals := a.ListValues().(*array.String)
		var out []string
		for j := s; j < e; j++ {
			out = append(out, vals.Value(int(j)))
		}
		return fmt.Sprint(out)
	case *array.Timestamp:
		return a.Value(row).ToTime(arrow.Microsecond).Format(time.RFC3339Nano)
	}
	return a.ValueStr(row)
}

// Each case would fail if its normalisation rule were dropped.
func TestBatch(t *testing.T) {
	cases := []struct {
		name   string
		in     raw
		region string
		col    int
		want   string
		stats  Stats
	}{
		{name: "email trimmed and lower-cased", in: raw{email: "  Ada.Lovelace@Example.COM\t"}, col: schemas.SrcEmail, want: "ada.lovelace@example.com"},
		{name: "invalid email is null", in: raw{email: "ada at example"}, col: schemas.SrcEmail, want: "null", stats: Stats{InvalidEmails: 1}},
		{name: "invalid email kept in attributes", in: raw{email: "ada at example"}, col: schemas.SrcAttributes, want: `{"email_raw":"ada at example"}`, stats: Stats{InvalidEmails: 1}},
		{name: "email needs a dot after the @", in: raw{email: "ada@localhost"}, col: schemas.SrcEmail, want: "null", stats: Stats{InvalidEmails: 1}},
		{name: "emails: every valid one, primary included, sorted, unique", in: raw{email: "B@x.io", emails: []string{" a@x.io", "b@x.io", "nope", ""}},
			col: schemas.SrcEmails, want: "[a@x.io b@x.io]", stats: Stats{InvalidEmails: 1}},
		{name: "no valid email: emails null", in: raw{emails: []string{"nope"}}, col: schemas.SrcEmails, want: "null", stats: Stats{InvalidEmails: 1}},
		{name: "external id trimmed, case kept", in: raw{ext: "  U-Ab1 "}, col: schemas.SrcExternalID, want: "U-Ab1"},
		{name: "blocked external id kept", in: raw{ext: " null "}, col: schemas.SrcExternalID, want: "null"},
		{name: "source_id exactly as the vendor has it", in: raw{id: " user 7 "}, col: schemas.SrcSourceID, want: " user 7 "},
		{name: "name composed from first and last", in: raw{first: "Ada", last: " Lovelace"}, col: schemas.SrcName, want: "Ada Lovelace"},
		{name: "name from the one present", in: raw{last: "Lovelace"}, col: schemas.SrcName, want: "Lovelace"},
		{name: "vendor's name kept", in: raw{first: "Ada", last: "Lovelace", name: "Countess  Lovelace"}, col: schemas.SrcName, want: "Countess Lovelace"},
		{name: "+ phone needs no region", in: raw{phone: "+45 20 12 34 56"}, col: schemas.SrcPhone, want: "+4520123456"},
		{name: "national phone with the source's region", in: raw{phone: "20 12 34 56"}, region: "DK", col: schemas.SrcPhone, want: "+4520123456"},
		{name: "00 phone with the source's region", in: raw{phone: "0044 20 7946 0958"}, region: "DK", col: schemas.SrcPhone, want: "+442079460958"},
		{name: "national phone without a region: null", in: raw{phone: "20 12 34 56"}, col: schemas.SrcPhone, want: "null", stats: Stats{UnparseablePhones: 1}},
		{name: "unparseable phone kept raw in attributes", in: raw{phone: " 20 12 34 56", attrs: `{"b":1,"a":{"z":2,"y":[3]}}`},
			col: schemas.SrcAttributes, want: `{"a":{"y":[3],"z":2},"b":1,"phone_raw":"20 12 34 56"}`, stats: Stats{UnparseablePhones: 1}},
		{name: "invalid number: null", in: raw{phone: "+45 1"}, col: schemas.SrcPhone, want: "null", stats: Stats{UnparseablePhones: 1}},
		{name: "tags de-duplicated and sorted", in: raw{tags: []string{"vip", " beta", "vip", "", "beta "}}, col: schemas.SrcTags, want: "[beta vip]"},
		{name: "attributes: keys sorted at every depth", in: raw{attrs: `{"z":1,"a":{"d":true,"c":null},"m":[{"y":1,"x":2}]}`},
			col: schemas.SrcAttributes, want: `{"a":{"c":null,"d":true},"m":[{"x":2,"y":1}],"z":1}`},
		{name: "attributes: numbers keep their digits, no HTML escaping", in: raw{attrs: `{"n":12345678901234567890,"f":1.50,"s":"<b>&"}`},
			col: schemas.SrcAttributes, want: `{"f":1.50,"n":12345678901234567890,"s":"<b>&"}`},
		{name: "attributes: not an object is kept as text", in: raw{attrs: `[1,2`}, col: schemas.SrcAttributes, want: `{"attributes_raw":"[1,2"}`},
		{name: "timestamps in UTC", in: raw{updated: time.Date(2026, 1, 2, 3, 4, 5, 6000, time.FixedZone("CET", 3600))},
			col: schemas.SrcUpdatedAt, want: "2026-01-02T02:04:05.000006Z"},
		{name: "invalid UTF-8 made valid", in: raw{first: "Ad\xffa"}, col: schemas.SrcFirstName, want: "Ad\uFFFDa"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
			defer mem.AssertSize(t, 0)
			if c.in.id == "" {
				c.in.id = "1"
			}
			in := rawBatch(mem, []raw{c.in})
			defer in.Release()
			out, rejects, st := Batch(mem, in, Options{PhoneRegion: c.region})
			defer out.Release()
			if len(rejects) != 0 || out.NumRows() != 1 {
				t.Fatalf("%d rows, rejects %v", out.NumRows(), rejects)
			}
			if got := cell(out, c.col, 0); got != c.want {
				t.Errorf("%s = %q, want %q", out.Schema().Field(c.col).Name, got, c.want)
			}
			if st != c.stats {
				t.Errorf("stats %+v, want %+v", st, c.stats)
			}
		})
	}
}

func TestBatchRejectsRecordsWithoutID(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	in := rawBatch(mem, []raw{{id: "1"}, {id: "  "}, {id: "2"}})
	defer in.Release()
	out, rejects, st := Batch(mem, in, Options{})
	defer out.Release()
	if out.NumRows() != 2 || len(rejects) != 1 || st.Rejected != 1 || rejects[0].Stage != schemas.StageNormalise {
		t.Fatalf("rows %d, rejects %+v, stats %+v", out.NumRows(), rejects, st)
	}
}

func FuzzEmail(f *testing.F) {
	f.Fuzz(func(t *testing.T, s string) {
		got, ok := Email(s)
		if again, ok2 := Email(" " + s + "\n"); again != got || ok2 != ok {
			t.Fatalf("surrounding whitespace changed %q: %q %v, then %q %v", s, got, ok, again, ok2)
		}
		if !ok {
			if emailRE.MatchString(strings.ToLower(strings.TrimSpace(s))) {
				t.Fatalf("%q refused, but it matches the contract's pattern", s)
			}
			return
		}
		if !emailRE.MatchString(got) || strings.Count(got, "@") != 1 || got != strings.TrimFunc(got, unicode.IsSpace) {
			t.Fatalf("%q gave %q, which is not a valid address", s, got)
		}
		if got != strings.ToLower(got) {
			t.Fatalf("%q gave %q, not lower-cased", s, got)
		}
		if again, ok := Email(got); !ok || again != got {
			t.Fatalf("not idempotent: %q → %q → %q %v", s, got, again, ok)
		}
	})
}

// FuzzPhone: any input and region gives phonenumbers' answer (checkPhone),
// which is E.164 in form (phonenumbers allows national numbers of up to
// 17 digits, more than E.164 does) and idempotent. Seeds: testdata/fuzz/FuzzPhone.
func FuzzPhone(f *testing.F) {
	for _, s := range []string{"+4520123456", "+1 (201) 555-0123", "020 7946 0000", "+44 (0) 20 7946 0000", "0039 06 1234 5678", "+800 1234 5678"} {
		f.Add(s, "GB")
	}
	f.Fuzz(func(t *testing.T, raw, region string) {
		checkPhone(t, raw, region)
		got, ok := Phone(raw, region)
		if !ok {
			if got != "" {
				t.Fatalf("refused %q (%s) but returned %q", raw, region, got)
			}
			return
		}
		if len(got) < 3 || len(got) > 1+3+maxNSNLength || got[0] != '+' || strings.Trim(got[1:], "0123456789") != "" {
			t.Fatalf("%q (%s) gave %q, which is not E.164", raw, region, got)
		}
		// E.164 parses without a region, to itself.
		if again, ok := Phone(got, ""); !ok || again != got {
			t.Fatalf("not idempotent: %q (%s) → %q → %q %v", raw, region, got, again, ok)
		}
	})
}
