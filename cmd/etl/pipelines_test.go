package main

import (
	"path/filepath"
	"testing"

	"etl/internal/duckdb"
	"etl/internal/etlbin"
)

// The example pipelines must stay valid as the loader evolves.
func TestExamplePipelinesValidate(t *testing.T) {
	root, err := duckdb.Root()
	if err != nil {
		t.Fatal(err)
	}
	files, _ := filepath.Glob(filepath.Join(root, "pipelines", "*.yaml"))
	if len(files) == 0 {
		t.Fatal("no example pipelines")
	}
	env := map[string]string{"PLANHAT_API_TOKEN": "t1", "DIXA_API_TOKEN": "t2", "MOESIF_MANAGEMENT_TOKEN": "t3",
		"MOESIF_APPLICATION_ID": "t4", "USERLOT_API_KEY": "t5"}
	for _, f := range files {
		if res := etlbin.Run(t, env, "validate", f); res.Code != 0 {
			t.Errorf("%s: exit %d\n%s", filepath.Base(f), res.Code, res.Stderr)
		}
	}
}
