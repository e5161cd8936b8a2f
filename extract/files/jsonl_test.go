package files

import (
	"encoding/json"
	"fmt"
	"io"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"testing/iotest"

	"etl/internal/config"
)

// jsonlCases are lines that are not, or only just, valid JSON objects.
var jsonlCases = []string{
	`{"id":"1", "email": oops}`, `{"id":"1",}`, `{"_id":"1"} x`, `{"user_id":"1"}{}`, `{`, `{"id":"1"`,
	"{\"id\":\"\x01\"}", `{"id" "1"}`, `{"id":'1'}`, `{"id":"1"]`, `{"id":"\x"}`, `{"id":01}`,
	`[1,2]`, `[1,2`, `"str"`, `5`, `nul`, `null`, `true`, `}`,
	`{}`, `{"_id":5,"id":{},"source_id":[],"user_id":true}`, `{"x":"\ud800"}`, "{\"id\":\"\xff\"}",
	`{"id":"a","_id":"a","source_id":"a","user_id":"a","email":"a@x.io"}`,
}

// referenceReason is the reason the lines above were rejected for when each
// was validated (json.Valid) before being decoded; "" when it was not.
func referenceReason(sh shape, at place, line []byte) string {
	switch {
	case !json.Valid(line):
		var v any
		return fmt.Sprintf("%s: invalid JSON: %v", at, json.Unmarshal(line, &v))
	case line[0] != '{':
		return at.String() + ": not a JSON object"
	}
	if _, _, err := sh.decoder()(string(line)); err != nil {
		return at.String() + ": " + err.Error()
	}
	return ""
}

// A line is parsed once: only its shape's decoder validates it, so a line
// that decodes must be valid JSON, and a bad line keeps its reason.
func TestJSONLRejectsAsWhenValidatedFirst(t *testing.T) {
	for name, sh := range shapes {
		for _, line := range jsonlCases {
			if _, _, err := sh.decoder()(line); err == nil && !json.Valid([]byte(line)) {
				t.Errorf("%s: %q decodes but is not valid JSON", name, line)
			}
		}
		p := filepath.Join(t.TempDir(), "a.jsonl")
		write(t, p, strings.Join(jsonlCases, "\n")+"\n")
		res := run(t, config.File{Path: p, Format: "jsonl", Shape: name})
		if res.Err != nil {
			t.Fatal(res.Err)
		}
		var want []string
		for i, line := range jsonlCases {
			if r := referenceReason(sh, place{file: p, n: i + 1}, []byte(line)); r != "" {
				want = append(want, r)
			}
		}
		if got := reasons(res); !slices.Equal(got, want) {
			t.Errorf("%s: reasons\n%q\nwant\n%q", name, got, want)
		}
	}
}

// Lines are cut the same whatever the chunks they straddle, however the
// reader hands out its bytes: every "\r" before a line's end dropped, a
// last line without an end kept.
func TestLineReaderChunks(t *testing.T) {
	text := "{\"a\":1}\r\n\n{\"b\":2}\r\r\n  \n" + strings.Repeat("x", 300) + "\n{\"c\":3}"
	want := []string{`{"a":1}`, "", `{"b":2}`, "  ", strings.Repeat("x", 300), `{"c":3}`}
	for _, size := range []int{1, 2, 3, 7, 64, 1 << 20} {
		for _, one := range []bool{false, true} {
			var r io.Reader = strings.NewReader(text)
			if one {
				r = iotest.OneByteReader(r)
			}
			lr := lineReader{r: r, size: size}
			var got []string
			for {
				line, long, err := lr.next()
				if err == io.EOF {
					break
				}
				if err != nil || long {
					t.Fatalf("chunks of %d: %v (long %v)", size, err, long)
				}
				got = append(got, line)
			}
			if !slices.Equal(got, want) {
				t.Errorf("chunks of %d (one byte a read: %v): %q, want %q", size, one, got, want)
			}
		}
	}
}
