package run

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"etl/internal/store"
)

// expected takes the counts of the latest complete partition before the run
// date, as its staging recorded them for the runs its manifest names.
func TestExpectedFromTheLatestCompleteEarlierPartition(t *testing.T) {
	dir := t.TempDir()
	put := func(key, body string) {
		p := filepath.Join(dir, filepath.FromSlash(key))
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	partition := func(date string, complete bool, counts map[string]int64) {
		inputs := ""
		for src, n := range counts {
			run := "run-" + date + "-" + src
			if inputs != "" {
				inputs += ","
			}
			inputs += fmt.Sprintf("%q:%q", src, run)
			put(fmt.Sprintf("_staging/dt=%s/%s/_DONE.json", date, src), fmt.Sprintf(`{"source":%q,"run_id":%q,"stats":{"extracted":%d}}`, src, run, n))
		}
		put(fmt.Sprintf("end_user_sources/dt=%s/_manifest.json", date), fmt.Sprintf(`{"table":"end_user_sources","inputs":{%s}}`, inputs))
		if complete {
			put(fmt.Sprintf("end_user_sources/dt=%s/_SUCCESS", date), "")
		}
	}
	partition("2026-03-01", true, map[string]int64{"planhat": 10, "dixa": 20})
	partition("2026-03-02", true, map[string]int64{"planhat": 11, "dixa": 21})
	partition("2026-03-03", false, map[string]int64{"planhat": 12}) // failed run: no _SUCCESS
	partition("2026-03-05", true, map[string]int64{"planhat": 14})  // later than the run date
	// A source re-extracted after the tables were built: not what they hold.
	put("_staging/dt=2026-03-02/dixa/_DONE.json", `{"source":"dixa","run_id":"other","stats":{"extracted":99}}`)

	s := store.Local{Root: dir}
	tbls := parquetTables{out: s}
	from, counts := expected(t.Context(), tbls, &staging{store: s, date: "2026-03-04"})
	if from != "2026-03-02" || len(counts) != 1 || counts["planhat"] != 11 {
		t.Errorf("expected(2026-03-04) = %s %v, want 2026-03-02 map[planhat:11]", from, counts)
	}
	if from, counts := expected(t.Context(), tbls, &staging{store: s, date: "2026-03-01"}); from != "" || counts != nil {
		t.Errorf("expected(2026-03-01) = %s %v, want nothing before the first partition", from, counts)
	}
}
