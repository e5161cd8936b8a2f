package config

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// FuzzParse: any file either loads or is refused with problems; the loader
// never panics. Seeds: testdata/fuzz/FuzzParse and the example pipelines.
func FuzzParse(f *testing.F) {
	examples, _ := filepath.Glob(filepath.Join("..", "pipelines", "*.yaml"))
	for _, path := range examples {
		if b, err := os.ReadFile(path); err == nil {
			f.Add(b)
		}
	}
	vars := env(map[string]string{"PH": "secret-token", "PLANHAT_API_TOKEN": "t1", "DIXA_API_TOKEN": "t2",
		"MOESIF_MANAGEMENT_TOKEN": "t3", "MOESIF_APPLICATION_ID": "t4", "USERLOT_API_KEY": "t5"})
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := Parse("f.yaml", data, vars, "2026-03-01")
		if err != nil {
			var ps Problems
			if p != nil || !errors.As(err, &ps) || len(ps) == 0 {
				t.Fatalf("refused without problems: %v (pipeline %v)", err, p)
			}
			return
		}
		if p == nil || p.Version != 1 || p.Output.URI == "" {
			t.Fatalf("loaded an invalid pipeline: %+v", p)
		}
	})
}
