package extract

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"testing"
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
