package jsonscan

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"unicode/utf8"
)

// viaMaps is what the code before the scanner wrote for a custom object:
// decoded into any (numbers exact or float64), encoded with sorted keys and
// without HTML escaping.
func viaMaps(raw string, nums Numbers) (string, error) {
	d := json.NewDecoder(strings.NewReader(raw))
	if nums == Exact {
		d.UseNumber()
	}
	var v any
	if err := d.Decode(&v); err != nil {
		return "", err
	}
	if _, err := d.Token(); err == nil {
		return "", errTrailing
	}
	var b strings.Builder
	e := json.NewEncoder(&b)
	e.SetEscapeHTML(false)
	if err := e.Encode(v); err != nil {
		return "", err
	}
	return strings.TrimSuffix(b.String(), "\n"), nil
}

var errTrailing = json.Unmarshal([]byte("1 2"), new(any))

func depth(raw string) int {
	d, deepest := 0, 0
	inStr := false
	for i := 0; i < len(raw); i++ {
		switch c := raw[i]; {
		case inStr && c == '\\':
			i++
		case c == '"':
			inStr = !inStr
		case !inStr && (c == '{' || c == '['):
			d++
			deepest = max(deepest, d)
		case !inStr && (c == '}' || c == ']'):
			d--
		}
	}
	return deepest
}

// checkCanonical fails unless Canonical agrees with encoding/json on raw:
// the same text when both accept it, and no text encoding/json refuses.
func checkCanonical(t *testing.T, raw string) {
	t.Helper()
	for _, nums := range []Numbers{Exact, Float64} {
		var sc Scanner
		sc.Reset(raw)
		got, ok := sc.Canonical(nil, nums)
		ok = ok && sc.End()
		want, err := viaMaps(raw, nums)
		switch {
		case ok && err != nil:
			t.Fatalf("%q (numbers %d): scanner accepted %q, encoding/json says %v", raw, nums, got, err)
		case ok && string(got) != want:
			t.Fatalf("%q (numbers %d):\n got %s\nwant %s", raw, nums, got, want)
		case !ok && err == nil && json.Valid([]byte(raw)) && depth(raw) < MaxDepth:
			t.Fatalf("%q (numbers %d): scanner refused what encoding/json reads as %s", raw, nums, want)
		}
	}
}

var samples = []string{
	`{"z":1,"a":{"y":[1,2.50,-0,1E2,0.000001,1e-7,123456789012345678901234],"x":"<&>\u2028"},"m":null,"dup":1,"dup":2,"\u00e9":"é","k\"q":true}`,
	`{}`, `[]`, `""`, `0`, `-0.0e+00`, `true`, `null`, ` { "b" : [ ] , "a" : { } } `,
	"{\"k\xff\":\"v\xfe\",\"\\ud800\":\"\\udc00x\\ud83d\\ude00\"}",
	`{"c":"\u0001\u001f\t\r\b\f\/\\","d":"` + "\u007f\u2029" + `"}`,
	`{"a":1e400}`, `{"a":1}x`, `{"a":}`, `{"a" 1}`, `[1,]`, `{"a":1,}`, `{"a":01}`, `{"a":1.}`, `{"a":.5}`, `{"a":"\x"}`,
	`{"a":"` + "\t" + `"}`, `{"a":tru}`, `{"a":nulll}`, `{"a":[1 2]}`, `"\u12"`, `{"a":1}}`,
	strings.Repeat("[", 999) + strings.Repeat("]", 999),
	strings.Repeat("[", 1001) + strings.Repeat("]", 1001),
}

func TestCanonicalMatchesEncodingJSON(t *testing.T) {
	for _, s := range samples {
		checkCanonical(t, s)
	}
}

// FuzzCanonical: on any input, Canonical accepts only what encoding/json
// reads and writes what encoding/json writes. Seeds: testdata/fuzz/FuzzCanonical.
func FuzzCanonical(f *testing.F) {
	for _, s := range samples {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		checkCanonical(t, raw)
	})
}

// viaMapsAdd is AppendMembers the way normalisation did it before: decoded,
// keys set, encoded.
func viaMapsAdd(obj string, add []Member) string {
	m := map[string]any{}
	if obj != "" {
		d := json.NewDecoder(strings.NewReader(obj))
		d.UseNumber()
		d.Decode(&m)
	}
	for _, a := range add {
		m[a.Key] = a.Value
	}
	var b bytes.Buffer
	e := json.NewEncoder(&b)
	e.SetEscapeHTML(false)
	e.Encode(m)
	return strings.TrimSuffix(b.String(), "\n")
}

func FuzzAppendMembers(f *testing.F) {
	f.Add(`{"a":1,"name_composed":{"x":[1]},"z":"<"}`, "raw\xff\u2028", true)
	f.Add(``, "x", false)
	f.Add(`{"email_raw":"old"}`, "new", true)
	f.Fuzz(func(t *testing.T, raw, value string, composed bool) {
		var sc Scanner
		sc.Reset(raw)
		obj := ""
		if raw != "" {
			b, ok := sc.CanonicalObject(nil, Exact, func(string, string, int) {})
			if !ok || !sc.End() {
				return
			}
			obj = string(b)
		}
		add := []Member{{"email_raw", value}}
		if composed {
			add = append(add, Member{"name_composed", "true"})
		}
		add = append(add, Member{"phone_raw", value + "1"})
		out, ok := AppendMembers([]byte("kept"), obj, add)
		got := strings.TrimPrefix(string(out), "kept")
		if !ok {
			if strings.ContainsRune(obj, '\\') {
				return // escaped keys are left to encoding/json
			}
			t.Fatalf("AppendMembers(%q) refused", obj)
		}
		if want := viaMapsAdd(obj, add); got != want {
			t.Fatalf("AppendMembers(%q, %q):\n got %s\nwant %s", obj, add, got, want)
		}
	})
}

func TestAppendString(t *testing.T) {
	for _, s := range []string{"", "plain", "<&>", "\x00\x1f\x7f", "\xff\xfe", "\u2028\u2029", "é😀", `"\`, "\b\f\n\r\t"} {
		var b bytes.Buffer
		e := json.NewEncoder(&b)
		e.SetEscapeHTML(false)
		e.Encode(s)
		if got, want := string(AppendString(nil, s)), strings.TrimSuffix(b.String(), "\n"); got != want {
			t.Fatalf("AppendString(%q) = %s, want %s", s, got, want)
		}
	}
	if !utf8.ValidString(string(AppendString(nil, "\xff"))) {
		t.Fatal("invalid UTF-8 written")
	}
}

func BenchmarkCanonical(b *testing.B) {
	raw := `{"Days in Phase":12,"Plan Tier":"pro","sales_info":{"stage":"Customer","lifetime_value":1000},"title":"Engineer"}`
	var sc Scanner
	var buf []byte
	for b.Loop() {
		sc.Reset(raw)
		buf, _ = sc.Canonical(buf[:0], Exact)
	}
}
