// Package duckdb lets tests read Parquet output with DuckDB, a reader that
// shares no code with ours. `make tools` (run by `make test`) installs it.
package duckdb

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// Root finds the repository root (the directory holding go.mod).
func Root() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("no go.mod above the working directory")
		}
		dir = parent
	}
}

// Query runs sql and returns its rows; numbers that DuckDB returns as big
// integers arrive as strings. The test fails if DuckDB is not installed.
func Query(t testing.TB, sql string) []map[string]any {
	t.Helper()
	rows, err := Run(sql)
	if err != nil {
		t.Fatalf("duckdb: %v", err)
	}
	return rows
}

// Run is Query without a test.
func Run(sql string) ([]map[string]any, error) {
	root, err := Root()
	if err != nil {
		return nil, err
	}
	script := filepath.Join(root, "internal", "duckdb", "query.js")
	if _, err := os.Stat(filepath.Join(root, ".cache", "duckdb", "node_modules", "@duckdb", "node-api")); err != nil && os.Getenv("ETL_DUCKDB_MODULES") == "" {
		return nil, fmt.Errorf("DuckDB's Node API is not installed: run `make tools` (make test does)")
	}
	cmd := exec.Command("node", script, sql)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("%v: %s\nquery: %s", err, strings.TrimSpace(stderr.String()), sql)
	}
	var rows []map[string]any
	if err := json.Unmarshal(stdout.Bytes(), &rows); err != nil {
		return nil, fmt.Errorf("reading DuckDB's answer: %v", err)
	}
	return rows, nil
}

// Glob is the read_parquet pattern of one table's partition under out.
func Glob(out, table, date string) string {
	return filepath.ToSlash(filepath.Join(out, table, "dt="+date, "*.parquet"))
}

// Int reads a count column (DuckDB's BIGINT arrives as a string).
func Int(t testing.TB, v any) int64 {
	t.Helper()
	switch x := v.(type) {
	case string:
		var n int64
		if _, err := fmt.Sscan(x, &n); err != nil {
			t.Fatalf("duckdb: %q is not an integer", x)
		}
		return n
	case float64:
		return int64(x)
	}
	t.Fatalf("duckdb: %v (%T) is not an integer", v, v)
	return 0
}
