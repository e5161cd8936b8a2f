package normalise

import "testing"

var attributeCases = []string{
	`{"a":1}`, `{"a":1,"b":"x"}`, `{"b":1,"a":2}`, `{"a":1,"a":2}`, `{"a":{"y":1,"x":2}}`, `{"a":{"x":[1,{"q":null,"p":true}]}}`,
	`{"a":[]}`, `{"a":{}}`, `{}`, `null`, `[1]`, `"x"`, `{"a":1} `, ` {"a":1}`, `{"a": 1}`, `{"a":1}x`, `{"a":1,}`, `{"a":}`,
	`{"a":"<b>&"}`, `{"a":"\u003c"}`, `{"a":"line\nbreak"}`, `{"a":"é ü"}`, "{\"a\":\"\xff\"}", "{\"a\":\"\u2028\"}",
	`{"a":-0}`, `{"a":1.50}`, `{"a":1e5}`, `{"a":1E+05}`, `{"a":01}`, `{"a":1.}`, `{"a":.5}`, `{"a":-}`, `{"a":1e}`,
	`{"a":12345678901234567890123}`, `{"a":tru}`, `{"a":falsey}`, `{"":1,"a":2}`, `{"A":1,"a":2}`, `{"a":1,"A":2}`,
	`{"a":[1,2,]}`, `{"a":[1 2]}`, `{"a":{"b":1}`, `{"a":"x`, `{"a":1}}`,
}

// A text that canonical passes through must be exactly what the round trip
// through maps would have made of it.
func TestCanonicalIsReencoded(t *testing.T) {
	passed := 0
	for _, in := range attributeCases {
		if canonical(in) {
			passed++
			if got := reencode(in, nil); got != in {
				t.Errorf("canonical(%q), but reencoded it is %q", in, got)
			}
		}
	}
	if passed < 10 {
		t.Errorf("only %d cases took the fast path", passed)
	}
}

func FuzzCanonical(f *testing.F) {
	for _, c := range attributeCases {
		f.Add(c)
	}
	f.Fuzz(func(t *testing.T, in string) {
		if canonical(in) {
			if got := reencode(in, nil); got != in {
				t.Fatalf("canonical(%q), but reencoded it is %q", in, got)
			}
		}
	})
}
