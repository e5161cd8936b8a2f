package store

import (
	"bufio"
	"context"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"testing"

	"etl/internal/s3test"
)

// BenchmarkS3Upload streams a 200 MB object through S3.Create and reports
// the process's peak resident memory: it must stay far below the object's
// size (README, Performance). Run it alone, so no other test raises the peak:
//
//	go test -run '^$' -bench S3Upload -benchtime 1x ./load/
func BenchmarkS3Upload(b *testing.B) {
	const size = 200 << 20
	srv := s3test.Start(b, "bench")
	st := openS3(b, srv, "out")
	chunk := make([]byte, 1<<20)
	for i := range chunk {
		chunk[i] = byte(rand.IntN(256))
	}
	b.SetBytes(size)
	for b.Loop() {
		o, err := st.Create(context.Background(), "big.parquet")
		if err != nil {
			b.Fatal(err)
		}
		for n := 0; n < size; n += len(chunk) {
			if _, err := o.Write(chunk); err != nil {
				b.Fatal(err)
			}
		}
		if err := o.Close(); err != nil {
			b.Fatal(err)
		}
	}
	if fi, err := os.Stat(srv.Path("out/big.parquet")); err != nil || fi.Size() != size {
		b.Fatalf("uploaded object: %v %v", fi, err)
	}
	peak := peakRSSMB(b)
	b.ReportMetric(peak, "peak-RSS-MB")
	if peak >= 300 {
		b.Fatalf("peak RSS %.0f MB uploading %d MB, want under 300 MB", peak, size>>20)
	}
}

// peakRSSMB reads VmHWM, the process's peak resident set, from /proc.
func peakRSSMB(b *testing.B) float64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		b.Skipf("no /proc: %v", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
			kb, err := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 64)
			if err != nil {
				b.Fatal(err)
			}
			return kb / 1024
		}
	}
	b.Fatal("no VmHWM in /proc/self/status")
	return 0
}
