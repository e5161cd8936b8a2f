package run

import (
	"flag"
	"os"
	"runtime/debug"
	"testing"

	"etl/internal/config"
)

var benchPipeline = flag.String("pipeline", "", "pipeline file BenchmarkRun runs (make bench writes them under .cache/bench)")

// BenchmarkRun runs a whole pipeline in-process, so that
// `go test -run '^$' -bench Run -benchtime 1x -cpuprofile cpu.out ./internal/run -args -pipeline FILE`
// profiles the same run as `etl run FILE`. It is skipped without -pipeline.
func BenchmarkRun(b *testing.B) {
	if *benchPipeline == "" {
		b.Skip("no -pipeline")
	}
	// The memory limit etl sets, so that the profile is of the same run.
	if _, ok := os.LookupEnv("GOMEMLIMIT"); !ok {
		defer debug.SetMemoryLimit(debug.SetMemoryLimit(DefaultMemoryLimit))
	}
	p, err := config.Load(*benchPipeline, func(string) (string, bool) { return "", false }, "2026-01-01")
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		sum, err := Run(b.Context(), p, Options{RunDate: "2026-01-01"})
		if err != nil {
			b.Fatal(err)
		}
		var n int64
		for _, s := range sum.Sources {
			n += s.Extracted
		}
		b.ReportMetric(float64(n)/sum.Seconds, "records/s")
	}
}
