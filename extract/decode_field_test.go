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

var fieldCases = []string{
	`{}`, ` { } `, `{"data":[]}`, `{"data":null}`, `{"data":[{"a":1},{"b":"]}"}],"meta":{"next":"x"}}`,
	`{"meta":{"next":null},"data":[1,"two",null,{}]}`, `{"data":[{"a":1}],"data":[{"b":2}]}`,
	"{\n \"meta\" : {\"next\": \"/p?c=\\\"1\"} ,\r\n\t\"data\" : [ {\"id\" : \"x\"} ] , \"other\": [1,{\"data\":[]}]\n}\n",
	`{"d\u0061ta":[{"a":1}]}`, `{"met\u0061":{"next":"y"},"data":[]}`, `{"data":{}}`, `{"data":5}`, `{"data":"x"}`,
	`{"meta":5,"data":[]}`, `{"meta":{"next":5},"data":[]}`, `{"stop":1,"data":[{"a":1}]}`, `{"Data":[{"a":1}]}`,
	`[]`, `null`, `5`, ``, `  `, `{`, `{"data":[{"a":1}`, `{"data":[{"a":1}]`, `{"data":[{"a":1}]} x`,
	`{"data":[{"a":1}]}{}`, `{"data":[{"a":1},]}`, `{"data" [1]}`, `{"data":[1],}`, `{"meta":{"next":"x"}`,
	"{\"\x99\":null}", "{\"dat\xe1\":[1],\"data\":[2]}", `{"data":[{"a" 1}],"meta":{"next":"x"}}`, `{"data":[01]}`,
	`{"meta":{"next":"x"},"data":[{"a":[}]}`,
}

// fieldCalls records what DecodeArrayField did: the callback's keys and
// values, in order, and its items.
type fieldCalls struct {
	calls []string
	items []string
}

func fieldCallback(c *fieldCalls) func(string, *json.Decoder) error {
	return func(key string, dec *json.Decoder) error {
		if key == "stop" {
			return errors.New("stopped")
		}
		if key != "meta" {
			var skip json.RawMessage
			err := dec.Decode(&skip)
			c.calls = append(c.calls, key+"="+string(skip))
			return err
		}
		var meta struct {
			Next *string `json:"next"`
		}
		err := dec.Decode(&meta)
		if meta.Next != nil {
			c.calls = append(c.calls, "next="+*meta.Next)
		}
		return err
	}
}

func decodeField(t *testing.T, r func() io.Reader, body string, withOther bool) {
	t.Helper()
	var want, got fieldCalls
	var wantOther, gotOther func(string, *json.Decoder) error
	if withOther {
		wantOther, gotOther = fieldCallback(&want), fieldCallback(&got)
	}
	var ref Page
	werr := ref.decodeArrayField(json.NewDecoder(r()), "data", wantOther)
	want.items = ref.Items
	var p Page
	p.Items = append(p.Items, "stale") // a retried page
	gerr := checked(&p, p.DecodeArrayField(r(), "data", gotOther), "data")
	got.items = p.Items
	if fmt.Sprint(gerr) != fmt.Sprint(werr) {
		t.Errorf("%q: error %v, the decoder says %v", body, gerr, werr)
	}
	if werr != nil {
		return // the call is retried: what it did before failing is dropped
	}
	if !slices.Equal(got.calls, want.calls) {
		t.Errorf("%q: calls %q, with the decoder %q", body, got.calls, want.calls)
	}
	if !slices.Equal(got.items, want.items) {
		t.Errorf("%q: items %q, the decoder gives %q", body, got.items, want.items)
	}
}

func TestDecodeArrayFieldIsTheDecoders(t *testing.T) {
	for _, body := range fieldCases {
		for _, withOther := range []bool{true, false} {
			decodeField(t, func() io.Reader { return strings.NewReader(body) }, body, withOther)
		}
	}
}

// A body cut short fails as it did when the decoder read it.
func TestDecodeArrayFieldReadError(t *testing.T) {
	cut := errors.New("connection reset")
	for _, body := range []string{`{"data":[{"a":1},{"b"`, `{"data":[{"a":1}]}`, `{"data":[{"a" 1}`, `{"meta":{"next":"x"},"data":[]}`, ``} {
		decodeField(t, func() io.Reader { return io.MultiReader(strings.NewReader(body), failing{cut}) }, body, true)
	}
}

func FuzzDecodeArrayField(f *testing.F) {
	for _, c := range fieldCases {
		f.Add(c)
	}
	f.Fuzz(func(t *testing.T, body string) {
		decodeField(t, func() io.Reader { return strings.NewReader(body) }, body, true)
	})
}
