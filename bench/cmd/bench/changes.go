package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"etl/internal/vendors"
)

// changesRun is what the changes bench reads of a run's summary.
type changesRun struct {
	Status  string `json:"status"`
	Error   string `json:"error"`
	Changes struct {
		ComparedWith            string `json:"compared_with"`
		Added, Removed, Changed int64
		Skipped                 bool `json:"skipped"`
	} `json:"changes"`
	Tables map[string]struct {
		Rows int64 `json:"rows"`
	} `json:"tables"`
}

// changes10M is bench 6: what end_user_changes costs at bench 5's scale.
// Two dates over bench 5's files, each leaving out one export file of a
// vendor (dixa on the first, planhat on the second, so the second adds and
// removes a file's records), the second also blocking 1,000 external ids
// (so records move to another person_id). The second date runs
// twice: with end_user_changes, and with its comparison skipped
// (ETL_BENCH_NO_CHANGES=1, a hook for this measurement only).
func (b *bench) changes10M() error {
	total := b.n(10_000_000)
	data, _, err := b.dataDir(total)
	if err != nil {
		return err
	}
	dir := filepath.Join(b.work, "changes")
	os.RemoveAll(dir)
	os.MkdirAll(dir, 0o755)
	out := filepath.Join(dir, "out")
	left := 0 // files left out (none when a vendor has only one, below scale 1)
	// The files of each vendor but the last file of one.
	pipe := func(name, without string, blocked int) (string, error) {
		var src strings.Builder
		src.WriteString("version: 1\nsources:\n  files:\n")
		for _, v := range vendors.Names {
			glob := filepath.Join(data, v, "*.jsonl")
			// part-0000 … part-000N: all but the last (bench 5 has 10 files a vendor).
			if files, _ := filepath.Glob(glob); v == without && len(files) >= 2 && len(files) <= 10 {
				glob = filepath.Join(data, v, fmt.Sprintf("part-000[0-%d].jsonl", len(files)-2))
				left++
			}
			fmt.Fprintf(&src, "    - {name: %s_export, path: %q, format: jsonl, shape: %s}\n", v, glob, v)
		}
		if blocked > 0 {
			src.WriteString("resolve:\n  blocked:\n")
			for i := range blocked {
				fmt.Fprintf(&src, "    - u-%08d\n", i*97)
			}
		}
		fmt.Fprintf(&src, "output: {uri: %q}\n", out)
		p := filepath.Join(dir, name+".yaml")
		mustWrite(p, src.String())
		return p, nil
	}
	p1, err := pipe("first", vendors.Dixa, 0)
	if err != nil {
		return err
	}
	p2, err := pipe("second", vendors.Planhat, 1000)
	if err != nil {
		return err
	}
	run := func(pipeline, date string, noChanges bool) (proc, changesRun, error) {
		if noChanges {
			os.Setenv("ETL_BENCH_NO_CHANGES", "1")
			defer os.Unsetenv("ETL_BENCH_NO_CHANGES")
		}
		if err := warm(data); err != nil {
			return proc{}, changesRun{}, err
		}
		p, err := b.run(b.etlBin, "run", pipeline, "--run-date", date, "--log-level", "warn")
		if noChanges {
			b.commands[len(b.commands)-1] = "ETL_BENCH_NO_CHANGES=1 " + b.commands[len(b.commands)-1]
		}
		var s changesRun
		lines := strings.Split(strings.TrimSpace(p.Stdout), "\n")
		if jerr := json.Unmarshal([]byte(lines[len(lines)-1]), &s); jerr != nil && err == nil {
			err = fmt.Errorf("etl summary: %v", jerr)
		}
		if err == nil && s.Status != "succeeded" {
			err = fmt.Errorf("etl run %s: %s", s.Status, s.Error)
		}
		return p, s, err
	}
	sec := b.add(section{title: "6. end_user_changes at 10M records",
		intro: fmt.Sprintf("Bench 5's %s records as two run dates: the first without one of dixa's export files, the second "+
			"without one of planhat's and with 1,000 external ids blocked (`resolve.blocked`), so that it adds a file's "+
			"records, removes another's, and moves records to another `person_id` (the blocked ids', and records whose "+
			"person was found through a removed one). The second date is run with "+
			"`end_user_changes` and again with its comparison skipped (`ETL_BENCH_NO_CHANGES=1`, a hook for this "+
			"measurement only: the table is then written empty); the difference is what the table costs.", count(total))})
	first, f, err := run(p1, "2026-01-01", false)
	if err != nil {
		return err
	}
	with, w, err := run(p2, "2026-01-02", false)
	if err != nil {
		return err
	}
	without, wo, err := run(p2, "2026-01-02", true)
	if err != nil {
		return err
	}
	if left < 2 {
		sec.notes = append(sec.notes, "At this scale each vendor has one export file: no file was left out, so nothing was added or removed.")
	}
	if !wo.Changes.Skipped || w.Changes.ComparedWith != "2026-01-01" {
		return fmt.Errorf("changes not compared as intended: with %+v, without %+v", w.Changes, wo.Changes)
	}
	c := w.Changes
	sec.rows = append(sec.rows,
		[4]string{"first date (every record `added`): wall / peak RSS", fmt.Sprintf("%s / %s (%s rows of end_user_changes)",
			secs(first.Wall), mib(first.MaxRSS), count(int(f.Changes.Added))), "", ""},
		[4]string{"second date with end_user_changes: wall / peak RSS / CPU", fmt.Sprintf("%s / %s / %s",
			secs(with.Wall), mib(with.MaxRSS), secs(with.CPU())), "< 2 GB", b.verdict(with.MaxRSS < 2e9)},
		[4]string{"second date without it: wall / peak RSS / CPU", fmt.Sprintf("%s / %s / %s",
			secs(without.Wall), mib(without.MaxRSS), secs(without.CPU())), "", ""},
		[4]string{"cost of end_user_changes: wall / peak RSS / CPU", fmt.Sprintf("%+.2f s (%+.1f%%) / %+.0f MiB / %+.2f s",
			(with.Wall - without.Wall).Seconds(), 100*(with.Wall.Seconds()/without.Wall.Seconds()-1),
			float64(with.MaxRSS-without.MaxRSS)/(1<<20), (with.CPU() - without.CPU()).Seconds()), "", ""},
		[4]string{"second date's changes: added / removed / changed", fmt.Sprintf("%s / %s / %s of %s records",
			count(int(c.Added)), count(int(c.Removed)), count(int(c.Changed)), count(int(w.Tables["end_user_sources"].Rows))), "", ""},
	)
	return nil
}
