package main

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"

	"etl/internal/config"
	"etl/internal/demo"
	"etl/internal/duckdb"
	"etl/internal/run"
)

// demoPersonIDs runs the pipeline over the demo's emulators and reads
// source → source_id → person_id back from the Parquet output with DuckDB.
func demoPersonIDs(t *testing.T, env *demo.Env, out string) (map[string]map[string]string, *run.Summary) {
	t.Helper()
	p, err := config.Load(env.Pipeline, env.Lookup, runDate)
	if err != nil {
		t.Fatal(err)
	}
	sum, err := run.Run(context.Background(), p, run.Options{RunDate: runDate})
	if err != nil {
		t.Fatalf("run: %v", err)
	}
	rows := duckdb.Query(t, fmt.Sprintf(`SELECT source, source_id, person_id FROM read_parquet('%s')`,
		duckdb.Glob(out, "end_user_sources", runDate)))
	got := map[string]map[string]string{}
	for _, r := range rows {
		src, id := r["source"].(string), r["source_id"].(string)
		if got[src] == nil {
			got[src] = map[string]string{}
		}
		if _, dup := got[src][id]; dup {
			t.Fatalf("%s record %q appears twice", src, id)
		}
		got[src][id] = r["person_id"].(string)
	}
	return got, sum
}

// On the demo data, whose generator knows who is who (hard cases included:
// shared mailboxes, placeholder and blocked external ids, links only by
// other emails, case and space variants, records with no identifier), the
// clustering is exactly the ground truth: pairwise precision and recall 1.
func TestDemoClusteringMatchesTruth(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "out")
	env, err := demo.Start(demo.Options{People: 2000, Dir: dir, Out: out})
	if err != nil {
		t.Fatal(err)
	}
	defer env.Close()
	truth := env.Truth()
	got, sum := demoPersonIDs(t, env, out)

	type cell struct {
		pid    string
		person int
	}
	both, byPID, byPerson := map[cell]int{}, map[string]int{}, map[int]int{}
	for src, ids := range truth {
		for id, person := range ids {
			pid, ok := got[src][id]
			if !ok {
				t.Fatalf("%s record %q (person %d) is not in end_user_sources", src, id, person)
			}
			both[cell{pid, person}]++
			byPID[pid]++
			byPerson[person]++
		}
	}
	pairs := func(n int) int { return n * (n - 1) / 2 }
	var tp, predicted, actual int
	for _, n := range both {
		tp += pairs(n)
	}
	for _, n := range byPID {
		predicted += pairs(n)
	}
	for _, n := range byPerson {
		actual += pairs(n)
	}
	if tp == 0 || tp != predicted || tp != actual {
		for c := range both {
			if both[c] != byPID[c.pid] || both[c] != byPerson[c.person] {
				t.Errorf("person %d (%d records) and person_id %s (%d records) share %d records",
					c.person, byPerson[c.person], c.pid, byPID[c.pid], both[c])
			}
		}
		t.Fatalf("pairwise precision %d/%d, recall %d/%d; want both 1", tp, predicted, tp, actual)
	}
	if len(byPID) != len(byPerson) || sum.Tables["end_users"].Rows != int64(len(byPerson)) {
		t.Fatalf("%d person_ids, %d end_users rows, %d people in the truth", len(byPID), sum.Tables["end_users"].Rows, len(byPerson))
	}
	// The hard cases were in the data, not just possible.
	if rs := sum.Resolve; rs.ConflictsSkipped == 0 || rs.OverLimit == 0 || rs.BlockedValues == 0 {
		t.Fatalf("the demo data lacks hard cases: %+v", rs)
	}

	// A second run over the same data gives the same person_ids.
	again, _ := demoPersonIDs(t, env, out)
	for src, ids := range got {
		for id, pid := range ids {
			if again[src][id] != pid {
				t.Fatalf("%s record %q: person_id %s, then %s", src, id, pid, again[src][id])
			}
		}
	}
}
