// Package icebergread lets tests read Iceberg tables with a reader that
// shares no code with iceberg-go (read.mjs): the SQL catalog's SQLite row
// (the sqlite3 command), the metadata JSON, the Avro manifest list and
// manifests (npm avsc) and the live data files (DuckDB's read_parquet).
// `make tools` (run by `make test`) installs avsc.
package icebergread

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"etl/internal/duckdb"
)

// Request names the tables to read.
type Request struct {
	Catalog   string   `json:"catalog"` // the SQLite file of the SQL catalog
	Namespace string   `json:"namespace,omitempty"`
	Tables    []string `json:"tables"`
	// S3Root is the S3 test server's directory: s3://bucket/key is read
	// from S3Root/bucket/key.
	S3Root string `json:"s3_root,omitempty"`
	// SQL, if set, runs in DuckDB over each table, with {files} standing
	// for read_parquet of its current snapshot's live data files.
	SQL string `json:"sql,omitempty"`
}

// Table is what the reader found.
type Table struct {
	Exists                   bool              `json:"exists"`
	MetadataLocation         string            `json:"metadata_location"`
	PreviousMetadataLocation string            `json:"previous_metadata_location"`
	FormatVersion            int               `json:"format_version"`
	Location                 string            `json:"location"`
	Properties               map[string]string `json:"properties"`
	CurrentSnapshotID        string            `json:"current_snapshot_id"` // a decimal string: ids pass 2^53
	Snapshots                []Snapshot        `json:"snapshots"`
	MetadataLog              []string          `json:"metadata_log"`
	Schema                   []Field           `json:"schema"`
	PartitionSpec            []map[string]any  `json:"partition_spec"`
	Manifests                []map[string]any  `json:"manifests"`
	Files                    []File            `json:"files"` // live data files of the current snapshot
	Rows                     []map[string]any  `json:"rows"`  // the SQL's answer
}

// Snapshot is one snapshot of the metadata JSON.
type Snapshot struct {
	SnapshotID       string            `json:"snapshot_id"`
	ParentSnapshotID *string           `json:"parent_snapshot_id"`
	TimestampMs      int64             `json:"timestamp_ms"`
	Operation        string            `json:"operation"`
	Summary          map[string]string `json:"summary"`
	ManifestList     string            `json:"manifest_list"`
}

// Field is a column of the current schema.
type Field struct {
	Name     string `json:"name"`
	Type     string `json:"type"`
	Required bool   `json:"required"`
}

// File is a live data file, as its manifest entry describes it.
type File struct {
	Path    string `json:"path"`
	Local   string `json:"local"`
	DT      string `json:"dt"`
	Records int64  `json:"records"`
}

// Current is the current snapshot; nil when there is none.
func (t *Table) Current() *Snapshot {
	for i := range t.Snapshots {
		if t.Snapshots[i].SnapshotID == t.CurrentSnapshotID {
			return &t.Snapshots[i]
		}
	}
	return nil
}

// Read reads the tables; the test fails if the reader cannot, or finds a
// data file that disagrees with its manifest entry.
func Read(t testing.TB, req Request) map[string]*Table {
	t.Helper()
	tbl, err := Run(req)
	if err != nil {
		t.Fatalf("icebergread: %v", err)
	}
	return tbl
}

// Run is Read without a test.
func Run(req Request) (map[string]*Table, error) {
	root, err := duckdb.Root()
	if err != nil {
		return nil, err
	}
	if _, err := os.Stat(filepath.Join(root, ".cache", "icebergread", "node_modules", "avsc")); err != nil && os.Getenv("ETL_ICEBERG_MODULES") == "" {
		return nil, fmt.Errorf("avsc is not installed: run `make tools` (make test does)")
	}
	body, _ := json.Marshal(req)
	cmd := exec.Command("node", filepath.Join(root, "internal", "icebergread", "read.mjs"), string(body))
	cmd.Env = os.Environ()
	// tools.sh unpacks sqlite3 here on a machine without one.
	if local := filepath.Join(root, ".cache", "sqlite", "usr", "bin", "sqlite3"); fileExists(local) {
		cmd.Env = append(cmd.Env, "ETL_SQLITE3="+local, "LD_LIBRARY_PATH="+filepath.Join(root, ".cache", "sqlite", "usr", "lib", "x86_64-linux-gnu"))
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("%v: %s", err, strings.TrimSpace(stderr.String()))
	}
	var res struct {
		Tables map[string]*Table `json:"tables"`
	}
	if err := json.Unmarshal(stdout.Bytes(), &res); err != nil {
		return nil, fmt.Errorf("reading the reader's answer: %v", err)
	}
	return res.Tables, nil
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}
