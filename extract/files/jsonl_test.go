package files

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"

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
