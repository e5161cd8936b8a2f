package normalise

import (
	"fmt"
	"strings"
	"testing"
	"unicode"

	"etl/schemas"
)

// out renders the column col of a normalised row as the table shows it:
// null for empty, lists as [a b].
func out(r *schemas.SourceRow, col int) string {
	str := func(v string) string {
		if v == "" {
			return "null"
		}
		return v
	}
	list := func(vs []string) string {
		if len(vs) == 0 {
			return "null"
		}
		return fmt.Sprint(vs)
	}
	switch col {
	case schemas.SrcSourceID:
		return r.SourceID
	case schemas.SrcEmail:
		return str(r.Email)
	case schemas.SrcEmails:
		return list(r.Emails)
	case schemas.SrcExternalID:
		return str(r.ExternalID)
	case schemas.SrcFirstName:
		return str(r.FirstName)
	case schemas.SrcName:
		return str(r.Name)
	case schemas.SrcPhone:
		return str(r.Phone)
	case schemas.SrcTags:
		return list(r.Tags)
	case schemas.SrcAttributes:
		return str(string(r.Attributes))
	}
	panic(col)
}

// Each case would fail if its normalisation rule were dropped.
func TestRow(t *testing.T) {
	cases := []struct {
		name   string
		in     schemas.SourceRow
		region string
		col    int
		want   string
		stats  Stats
	}{
		{name: "email trimmed and lower-cased", in: schemas.SourceRow{Email: "  Ada.Lovelace@Example.COM\t"}, col: schemas.SrcEmail, want: "ada.lovelace@example.com"},
		{name: "invalid email is null", in: schemas.SourceRow{Email: "ada at example"}, col: schemas.SrcEmail, want: "null", stats: Stats{InvalidEmails: 1}},
		{name: "invalid email kept in attributes", in: schemas.SourceRow{Email: "ada at example"}, col: schemas.SrcAttributes, want: `{"email_raw":"ada at example"}`, stats: Stats{InvalidEmails: 1}},
		{name: "email needs a dot after the @", in: schemas.SourceRow{Email: "ada@localhost"}, col: schemas.SrcEmail, want: "null", stats: Stats{InvalidEmails: 1}},
		{name: "emails: every valid one, primary included, sorted, unique", in: schemas.SourceRow{Email: "B@x.io", Emails: []string{" a@x.io", "b@x.io", "nope", ""}},
			col: schemas.SrcEmails, want: "[a@x.io b@x.io]", stats: Stats{InvalidEmails: 1}},
		{name: "no valid email: emails null", in: schemas.SourceRow{Emails: []string{"nope"}}, col: schemas.SrcEmails, want: "null", stats: Stats{InvalidEmails: 1}},
		{name: "external id trimmed, case kept", in: schemas.SourceRow{ExternalID: "  U-Ab1 "}, col: schemas.SrcExternalID, want: "U-Ab1"},
		{name: "blocked external id kept", in: schemas.SourceRow{ExternalID: " null "}, col: schemas.SrcExternalID, want: "null"},
		{name: "source_id exactly as the vendor has it", in: schemas.SourceRow{SourceID: " user 7 "}, col: schemas.SrcSourceID, want: " user 7 "},
		{name: "name composed from first and last", in: schemas.SourceRow{FirstName: "Ada", LastName: " Lovelace"}, col: schemas.SrcName, want: "Ada Lovelace"},
		{name: "composed name marked in attributes", in: schemas.SourceRow{FirstName: "Ada", Attributes: []byte(`{"a":1,"z":2}`)}, col: schemas.SrcAttributes, want: `{"a":1,"name_composed":"true","z":2}`},
		{name: "name from the one present", in: schemas.SourceRow{LastName: "Lovelace"}, col: schemas.SrcName, want: "Lovelace"},
		{name: "vendor's name kept", in: schemas.SourceRow{FirstName: "Ada", LastName: "Lovelace", Name: "Countess  Lovelace"}, col: schemas.SrcName, want: "Countess Lovelace"},
		{name: "+ phone needs no region", in: schemas.SourceRow{Phone: "+45 20 12 34 56"}, col: schemas.SrcPhone, want: "+4520123456"},
		{name: "national phone with the source's region", in: schemas.SourceRow{Phone: "20 12 34 56"}, region: "DK", col: schemas.SrcPhone, want: "+4520123456"},
		{name: "00 phone with the source's region", in: schemas.SourceRow{Phone: "0044 20 7946 0958"}, region: "DK", col: schemas.SrcPhone, want: "+442079460958"},
		{name: "national phone without a region: null", in: schemas.SourceRow{Phone: "20 12 34 56"}, col: schemas.SrcPhone, want: "null", stats: Stats{UnparseablePhones: 1}},
		{name: "unparseable phone kept raw in attributes", in: schemas.SourceRow{Phone: " 20 12 34 56", Attributes: []byte(`{"a":{"y":[3],"z":2},"phone_raw":"old","q":1}`)},
			col: schemas.SrcAttributes, want: `{"a":{"y":[3],"z":2},"phone_raw":"20 12 34 56","q":1}`, stats: Stats{UnparseablePhones: 1}},
		{name: "raw values beside keys that need escaping", in: schemas.SourceRow{Email: "x", Attributes: []byte(`{"k\"q":1,"é":"<"}`)},
			col: schemas.SrcAttributes, want: `{"email_raw":"x","k\"q":1,"é":"<"}`, stats: Stats{InvalidEmails: 1}},
		{name: "empty attributes are null", in: schemas.SourceRow{Attributes: []byte(`{}`)}, col: schemas.SrcAttributes, want: "null"},
		{name: "invalid number: null", in: schemas.SourceRow{Phone: "+45 1"}, col: schemas.SrcPhone, want: "null", stats: Stats{UnparseablePhones: 1}},
		{name: "tags de-duplicated and sorted", in: schemas.SourceRow{Tags: []string{"vip", " beta", "vip", "", "beta "}}, col: schemas.SrcTags, want: "[beta vip]"},
		{name: "invalid UTF-8 made valid", in: schemas.SourceRow{FirstName: "Ad\xffa"}, col: schemas.SrcFirstName, want: "Ad\uFFFDa"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if c.in.SourceID == "" {
				c.in.SourceID = "1"
			}
			n := New(Options{PhoneRegion: c.region})
			if reason, ok := n.Row(&c.in); !ok {
				t.Fatalf("refused: %s", reason)
			}
			if got := out(&c.in, c.col); got != c.want {
				t.Errorf("column %d = %q, want %q", c.col, got, c.want)
			}
			if n.Stats != c.stats {
				t.Errorf("stats %+v, want %+v", n.Stats, c.stats)
			}
		})
	}
}

func TestRowRefusesRecordsWithoutID(t *testing.T) {
	n := New(Options{})
	for _, id := range []string{"1", "  ", "2"} {
		r := schemas.SourceRow{SourceID: id}
		if reason, ok := n.Row(&r); ok == (id == "  ") || !ok && reason != "record has no id" {
			t.Fatalf("%q: %v %q", id, ok, reason)
		}
	}
	if n.Stats.Rejected != 1 {
		t.Fatalf("stats %+v", n.Stats)
	}
}

var emailSeeds = []string{"ada@example.com", "Ada@Example.com", " ada@example.com", "ada@example.com\v", "a@b@c.d", "@b.c",
	"a@b.", "a@.c", "a@bc", "ad\x7fa@ex.com", "é@ü.ß", "a b@c.d", "", "@", "a@b.c", "a@b.cÉ", "\xff@x.io"}

func FuzzEmail(f *testing.F) {
	for _, s := range emailSeeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, ok := Email(s)
		// What it was before its one-look path: trimmed, lower-cased, matched.
		if want := strings.ToLower(strings.TrimSpace(s)); got != want || ok != emailRE.MatchString(want) {
			t.Fatalf("Email(%q) = %q %v, want %q %v", s, got, ok, want, emailRE.MatchString(want))
		}
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

// cleanByFields is text as it was before its one-look path: clean(valid(s)).
func cleanByFields(s string) string {
	s = strings.TrimSpace(valid(s))
	if strings.Contains(s, "  ") || strings.ContainsAny(s, "\t\n\r") {
		s = strings.Join(strings.Fields(s), " ")
	}
	return s
}

var cleanSeeds = []string{"", " ", "a", "Ada Lovelace", " Ada", "Ada ", "Ada  Lovelace", "Ada\tL", "Ada\u00a0L", "\u00a0Ada",
	"Ada\u2003", "Zoë Ørsted", "a b c", "a\vb", "\v", "a\x7fb", "\xff", "a \xff", " a", "a ", "a\n", "\x01a\x01", "a\x00b"}

func TestTextAndEmailAsBefore(t *testing.T) {
	for _, s := range cleanSeeds {
		if got, want := text(s), cleanByFields(s); got != want {
			t.Errorf("text(%q) = %q, want %q", s, got, want)
		}
		if got, want := trimmed(s), strings.TrimSpace(valid(s)); got != want {
			t.Errorf("trimmed(%q) = %q, want %q", s, got, want)
		}
	}
	for _, s := range emailSeeds {
		got, ok := Email(s)
		if want := strings.ToLower(strings.TrimSpace(s)); got != want || ok != emailRE.MatchString(want) {
			t.Errorf("Email(%q) = %q %v, want %q %v", s, got, ok, want, emailRE.MatchString(want))
		}
	}
}

func FuzzText(f *testing.F) {
	for _, s := range cleanSeeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if got, want := text(s), cleanByFields(s); got != want {
			t.Fatalf("text(%q) = %q, want %q", s, got, want)
		}
		if got, want := trimmed(s), strings.TrimSpace(valid(s)); got != want {
			t.Fatalf("trimmed(%q) = %q, want %q", s, got, want)
		}
	})
}

// BenchmarkRow: rows as the vendors' exports hold them
// (`go test -run '^$' -bench Row ./transform/normalise/`).
func BenchmarkRow(b *testing.B) {
	rows := make([]schemas.SourceRow, 1000)
	for i := range rows {
		rows[i] = schemas.SourceRow{SourceID: fmt.Sprintf("u-%08d", i), Email: fmt.Sprintf("grace.wilson.%d@gringotts.example", i),
			FirstName: "Grace", LastName: "Wilson", Name: "Grace Wilson", CompanyID: "c-017", CompanyName: "Gringotts",
			ExternalID: fmt.Sprintf("u-%08d", i), Phone: fmt.Sprintf("+45201%05d", i), Tags: []string{"vip", "beta"},
			Attributes: []byte(`{"Plan Tier":"free"}`)}
	}
	n := New(Options{})
	for i := 0; b.Loop(); i++ {
		r := rows[i%len(rows)]
		r.Tags = append([]string(nil), r.Tags...)
		if _, ok := n.Row(&r); !ok {
			b.Fatal("refused")
		}
	}
}
