package run

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"

	"github.com/apache/arrow-go/v18/arrow/memory"

	"etl/internal/config"
	"etl/internal/store"
)

// Stage all, then a forced write-back stage (which reads the tables back
// from the current snapshots), into Iceberg tables: no buffer is leaked,
// and the next date's progress estimate comes from the first date's build.
func TestIcebergRunsReleaseEverything(t *testing.T) {
	_, url := startEmulator(t, pairs(50))
	out := t.TempDir()
	src := fmt.Sprintf("version: 1\nsources:\n  planhat: {base_url: %q, token: tok, rate_limit: {per_second: 1000, burst: 100}}\n"+
		"output:\n  uri: %q\n  format: iceberg\n  catalog: {type: sql, uri: %q}\n"+
		"writeback:\n  - {target: planhat, fields: [external_id, phone, first_name]}\n", url, out, "sqlite://"+filepath.Join(out, "catalog.db"))
	p, err := config.Parse("ice.yaml", []byte(src), func(string) (string, bool) { return "", false }, "2026-05-01")
	if err != nil {
		t.Fatal(err)
	}
	for _, stage := range []string{StageAll, StageWriteback} {
		mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
		sum, err := Run(context.Background(), p, Options{RunDate: "2026-05-01", Stage: stage, Force: true, Mem: mem})
		if err != nil {
			t.Fatalf("stage %s: %v", stage, err)
		}
		if stage == StageAll && (sum.Tables["end_user_sources"].Rows != 100 || sum.Writeback["planhat"].Sent != 50) {
			t.Errorf("stage all: tables %+v, write-back %+v", sum.Tables, sum.Writeback["planhat"])
		}
		// The stage compares with the vendor values the tables hold, those
		// extracted before stage all wrote back: the same plan.
		if stage == StageWriteback && sum.Writeback["planhat"].Planned != 50 {
			t.Errorf("the write-back stage planned %d patches, stage all 50", sum.Writeback["planhat"].Planned)
		}
		mem.AssertSize(t, 0)
	}
	tbls, err := openTables(context.Background(), p, store.Local{Root: out}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tbls.close()
	from, counts := expected(context.Background(), tbls, &staging{store: store.Local{Root: out}, date: "2026-05-02"})
	if from != "2026-05-01" || counts["planhat"] != 100 {
		t.Errorf("estimate for 2026-05-02: %s %v", from, counts)
	}
}
