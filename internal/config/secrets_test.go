package config

import (
	"strings"
	"testing"
)

// Problems quote values, and a value may hold a token: they show the
// variable's name instead, even where the YAML library quotes a prefix.
func TestProblemsDoNotQuoteVariables(t *testing.T) {
	src := "version: 1\nsources:\n" +
		"  planhat: {base_url: \"api.planhat.com/?token=${PH}\", token: \"${PH}\"}\n" +
		"  dixa: {base_url: \"https://x.io\", token: \"${DX}\", page_size: \"${DX}\", max_response_bytes: -5}\n" +
		"output: {uri: o}\n"
	secrets := map[string]string{"PH": "q9Zph-secret-1", "DX": "w7Ydx-secret-22"}
	_, err := Parse("p.yaml", []byte(src), env(secrets), "2026-03-01")
	if err == nil {
		t.Fatal("the pipeline was accepted")
	}
	msg := err.Error()
	for _, s := range secrets {
		if strings.Contains(msg, s[:7]) {
			t.Errorf("a problem quotes %q:\n%s", s, msg)
		}
	}
	for _, want := range []string{`(got "api.planhat.com/?token=${PH}")`, "p.yaml:4: cannot unmarshal !!str `${DX}` into int",
		"sources.dixa.max_response_bytes: must be above 0 (got -5)"} {
		if !strings.Contains(msg, want) {
			t.Errorf("missing %q in:\n%s", want, msg)
		}
	}
}
