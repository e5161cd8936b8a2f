// Command bench runs the performance benchmarks of issue 8 and writes
// bench/results.md: end to end through the vendor emulators, the file path
// against DuckDB, pacing against the documented rate limits, our Parquet
// writer against xitongsys/parquet-go, 10M records through the file path,
// and what end_user_changes costs there. It generates its own data
// (deterministic) and measures etl, DuckDB and the writers as subprocesses,
// so each one's peak RSS is its own.
//
//	bin/bench [-scale 0.1] [-only 1,2] [-repeat 3]
//
// `make bench` builds it (bin/bench) and the binaries it measures, and runs it.
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

const runDate = "2026-01-01"

type bench struct {
	root, work       string
	etlBin, pqgoBin  string
	baseline         string // an older etl binary bench 2 also runs, for before/after
	scale            float64
	repeat           int
	commands         []string
	sections         []section
	filesEtl1M       proc // the file-path run of bench 2, which bench 5 scales from
	filesEtl1MOK     bool
	filesRecords1M   int
	sourcesParquet1M string
}

// section is one benchmark's results.
type section struct {
	title    string
	intro    string
	rows     [][4]string // figure, value, target, verdict
	notes    []string
	commands []string
}

func main() {
	if len(os.Args) > 1 {
		switch os.Args[1] {
		case "write-arrow":
			writeArrowMain(os.Args[2:])
			return
		case "launch":
			launchMain(os.Args[2:])
			return
		}
	}
	scale := flag.Float64("scale", 1, "fraction of the issue's record counts (1M, 10M) to run; 1 for the real figures")
	only := flag.String("only", "1,2,3,4,5,6", "benchmarks to run")
	repeat := flag.Int("repeat", 3, "runs of each timed etl/DuckDB command in bench 2, and of etl in bench 5; the fastest counts")
	work := flag.String("work", ".cache/bench", "data and output directory")
	out := flag.String("out", "bench/results.md", "results file")
	etlBin := flag.String("etl", "bin/etl", "the etl binary")
	pqgo := flag.String("parquetgo", "bin/bench-parquetgo", "the xitongsys/parquet-go writer (bench/parquetgo)")
	baseline := flag.String("baseline", "", "an older etl binary for bench 2 to run too (before/after figures)")
	flag.Parse()

	root, err := os.Getwd()
	if err != nil {
		fatal(err)
	}
	abs := func(p string) string {
		if p == "" || filepath.IsAbs(p) {
			return p
		}
		return filepath.Join(root, p)
	}
	b := &bench{root: root, work: abs(*work), etlBin: abs(*etlBin), pqgoBin: abs(*pqgo), baseline: abs(*baseline), scale: *scale, repeat: max(1, *repeat)}
	if err := os.MkdirAll(b.work, 0o755); err != nil {
		fatal(err)
	}
	start := time.Now()
	header := machine(start, *scale)
	want := strings.Split(*only, ",")
	steps := []struct {
		id string
		fn func() error
	}{{"1", b.api}, {"2", b.files}, {"3", b.pacing}, {"4", b.writers}, {"5", b.scale10M}, {"6", b.changes10M}}
	for _, s := range steps {
		if !slices.Contains(want, s.id) {
			continue
		}
		fmt.Fprintf(os.Stderr, "bench %s…\n", s.id)
		n := len(b.sections)
		err := s.fn()
		if len(b.sections) == n {
			b.sections = append(b.sections, section{title: "Bench " + s.id})
		}
		last := &b.sections[len(b.sections)-1]
		last.commands, b.commands = b.commands, nil
		if err != nil {
			fmt.Fprintf(os.Stderr, "bench %s failed: %v\n", s.id, err)
			last.notes = append(last.notes, "**Failed:** "+err.Error())
		}
		b.writeResults(abs(*out), header, time.Since(start))
	}
	b.writeResults(abs(*out), header, time.Since(start))
	fmt.Fprintf(os.Stderr, "wrote %s in %s\n", *out, time.Since(start).Round(time.Second))
}

// add starts a section; the commands run for it are added when it is done.
func (b *bench) add(s section) *section {
	b.sections = append(b.sections, s)
	return &b.sections[len(b.sections)-1]
}

func (b *bench) n(full int) int { return int(float64(full) * b.scale) }

func fatal(err error) {
	fmt.Fprintln(os.Stderr, "bench:", err)
	os.Exit(1)
}
