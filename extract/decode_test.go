package extract

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

var pageCases = []string{
	`[]`, ` [ ] `, `[{}]`, `[{"a":1},{"b":[1,2,{"c":"]}"}]}]`, "[\n {\"a\": \"x\\\"]\"} ,\t{\"b\":null}\r\n]\n",
	`[1, "two", true, null, -3.5e2, [], {}]`, `["\\", "\u00e9", "a,b]"]`, `null`, `{"a":[]}`, `5`, `"x"`, ``, `   `,
	`[`, `[{"a":1}`, `[{"a":1},]`, `[{"a":1}] x`, `[{"a":1}] [2]`, `[{"a":1}`, `[1 2]`, `[{"a" 1}]`, `[{"a":"\x"}]`, `[{"a":01}]`,
	`[tru]`, `[1,{"a":[}]`, `[{"a":1}}]`, `[{"a":"` + "\t" + `"}]`,
}

// referencePage is DecodeArray as the decoder alone does it.
func referencePage(r io.Reader) ([]string, error) {
	var p Page
	dec := json.NewDecoder(r)
	if err := p.decodeArray(dec); err != nil {
		return p.Items, err
	}
	return p.Items, atEOF(dec)
}

// checked is what a connector makes of a page: its records checked as they
// are decoded, a record that is not JSON making the page invalid.
func checked(p *Page, err error, key string) error {
	if err != nil {
		return err
	}
	for _, it := range p.Items {
		if !json.Valid([]byte(it)) {
			return p.Invalid(key)
		}
	}
	return nil
}

func TestDecodeArrayIsTheDecoders(t *testing.T) {
	for _, body := range pageCases {
		want, werr := referencePage(strings.NewReader(body))
		var p Page
		p.Items = append(p.Items, "stale") // a retried page
		gerr := checked(&p, p.DecodeArray(strings.NewReader(body)), "")
		if fmt.Sprint(gerr) != fmt.Sprint(werr) {
			t.Errorf("%q: error %v, the decoder says %v", body, gerr, werr)
		}
		if werr == nil && !slices.Equal(p.Items, want) {
			t.Errorf("%q: items %q, the decoder gives %q", body, p.Items, want)
		}
	}
}

// A body cut short fails as it did when the decoder read it.
func TestDecodeArrayReadError(t *testing.T) {
	cut := errors.New("connection reset")
	for _, body := range []string{`[{"a":1},{"b"`, `[{"a":1}]`, `[{"a" 1}`} {
		_, werr := referencePage(io.MultiReader(strings.NewReader(body), failing{cut}))
		var p Page
		gerr := checked(&p, p.DecodeArray(io.MultiReader(strings.NewReader(body), failing{cut})), "")
		if fmt.Sprint(gerr) != fmt.Sprint(werr) {
			t.Errorf("%q: error %v, the decoder says %v", body, gerr, werr)
		}
	}
}

func FuzzDecodeArray(f *testing.F) {
	for _, c := range pageCases {
		f.Add(c)
	}
	f.Fuzz(func(t *testing.T, body string) {
		want, werr := referencePage(strings.NewReader(body))
		var p Page
		gerr := checked(&p, p.DecodeArray(strings.NewReader(body)), "")
		if fmt.Sprint(gerr) != fmt.Sprint(werr) {
			t.Fatalf("%q: error %v, the decoder says %v", body, gerr, werr)
		}
		if werr == nil && !slices.Equal(p.Items, want) {
			t.Fatalf("%q: items %q, the decoder gives %q", body, p.Items, want)
		}
	})
}

// parseTimeByLayouts is ParseTime as it was before parseISO: every form
// through time.Parse, the oracle parseISO answers as.
func parseTimeByLayouts(s string) (time.Time, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return time.Time{}, nil
	}
	if i := strings.IndexByte(s, '['); i > 0 && strings.HasSuffix(s, "]") {
		s = s[:i]
	}
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05.999999999", "2006-01-02 15:04:05.999999999Z07:00", "2006-01-02 15:04:05.999999999", "2006-01-02"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC(), nil
		}
	}
	if n, err := strconv.ParseFloat(s, 64); err == nil {
		if n > 1e11 {
			return time.UnixMilli(int64(n)).UTC(), nil
		}
		return time.Unix(int64(n), 0).UTC(), nil
	}
	return time.Time{}, fmt.Errorf("unreadable timestamp %q", s)
}

var timeSeeds = []string{
	"2024-01-02T05:00:00.000Z", "2024-01-03T21:26:40.000", "2024-01-05T09:10:01.000+01:00", "2024-01-02T10:43:21.000Z[GMT]",
	"2024-01-02T10:43:21Z", "2024-01-02T10:43:21", "2024-01-02T10:43:21.1", "2024-01-02T10:43:21.123456789Z",
	"2024-01-02T10:43:21.1234567891Z", "2024-01-02T10:43:21.Z", "2024-01-02T10:43:21.", "2024-01-02T10:43:21,5Z",
	"2024-02-29T00:00:00Z", "2023-02-29T00:00:00Z", "1900-02-29T00:00:00Z", "2000-02-29T00:00:00Z", "2024-04-31T00:00:00Z",
	"2024-13-01T00:00:00Z", "2024-00-01T00:00:00Z", "2024-01-00T00:00:00Z", "2024-01-01T24:00:00Z", "2024-01-01T23:60:00Z",
	"2024-01-01T23:59:60Z", "2024-01-01T23:59:59-23:59", "2024-01-01T23:59:59+24:00", "2024-01-01T23:59:59+05:60",
	"2024-01-01T23:59:59-00:00", "2024-01-01T23:59:59+0100", "2024-01-01t23:59:59Z", "2024-01-01T23:59:59z",
	"0000-01-01T00:00:00Z", "9999-12-31T23:59:59.999999999-12:00", "2024-01-01T1:02:03Z", "+024-01-01T00:00:00Z",
	"2024-01-01 10:00:00", "2024-01-01", "1704067200", "1704067200000", " 2024-01-01T00:00:00Z ", "",
	"2024-01-01T00:00:00.000+01:00[Europe/Paris]", "2024-01-01T00:00:00.0000000000", "2024-01-01T00:00:00 Z",
}

// ParseTime answers what time.Parse answered with its layouts, for every
// form (parseISO's and the others), byte for byte of the time value.
func TestParseTimeAsByLayouts(t *testing.T) {
	for _, s := range timeSeeds {
		checkParseTime(t, s)
	}
}

func FuzzParseTime(f *testing.F) {
	for _, s := range timeSeeds {
		f.Add(s)
	}
	f.Fuzz(checkParseTime)
}

func checkParseTime(t *testing.T, s string) {
	got, err := ParseTime(s)
	want, werr := parseTimeByLayouts(s)
	if got != want || (err == nil) != (werr == nil) || err != nil && err.Error() != werr.Error() {
		t.Errorf("ParseTime(%q) = %v, %v; want %v, %v", s, got, err, want, werr)
	}
}

// BenchmarkParseTime: the vendors' usual forms, by ParseTime and by the
// layouts alone (`go test -run '^$' -bench ParseTime ./extract/`).
func BenchmarkParseTime(b *testing.B) {
	forms := []string{"2024-01-02T05:00:00.000Z", "2024-01-03T21:26:40.000", "2024-01-05T09:10:01.000+01:00", "2024-01-02T10:43:21.000Z[GMT]"}
	for name, parse := range map[string]func(string) (time.Time, error){"ParseTime": ParseTime, "layouts": parseTimeByLayouts} {
		b.Run(name, func(b *testing.B) {
			for i := 0; b.Loop(); i++ {
				if _, err := parse(forms[i%len(forms)]); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
