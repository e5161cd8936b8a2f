package run

import (
	"context"
	"fmt"
	"testing"

	"github.com/apache/arrow-go/v18/arrow/memory"

	"etl/internal/config"
)

// Two dates in one process, with every allocation checked: end_user_changes
// frees what it takes, and its second pass (beside end_users and the
// write-back) counts what the data holds.
func TestChangesInProcess(t *testing.T) {
	out := t.TempDir()
	run := func(date string, n int) *Summary {
		_, url := startEmulator(t, pairs(n))
		src := fmt.Sprintf("version: 1\nsources:\n  planhat: {base_url: %q, token: tok, rate_limit: {per_second: 1000, burst: 100}}\n"+
			"output: {uri: %q}\nguards: {max_source_drop: 1}\nwriteback:\n  - {target: planhat, fields: [first_name]}\n", url, out)
		p, err := config.Parse("p.yaml", []byte(src), func(string) (string, bool) { return "", false }, date)
		if err != nil {
			t.Fatal(err)
		}
		mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
		sum, err := Run(context.Background(), p, Options{RunDate: date, Mem: mem, BatchRows: 16})
		if err != nil {
			t.Fatal(err)
		}
		mem.AssertSize(t, 0)
		return sum
	}
	first := run("2026-05-01", 40)
	if c := first.Changes; c == nil || c.Added != 80 || c.ComparedWith != "" {
		t.Fatalf("first date: %+v", first.Changes)
	}
	// Ten people fewer: their twenty records removed.
	second := run("2026-05-02", 30)
	if c := second.Changes; c.ComparedWith != "2026-05-01" || c.Added != 0 || c.Removed != 20 || c.Changed != 0 {
		t.Fatalf("second date: %+v", second.Changes)
	}
	if g := second.Guard.Sources["planhat"]; g.Previous != 80 || g.Extracted != 60 || g.Refused {
		t.Fatalf("guard: %+v", second.Guard)
	}
}
