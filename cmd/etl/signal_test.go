package main

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"etl/internal/emulator/emu"
	"etl/internal/etlbin"
)

// Airflow stops a task with SIGTERM: the run must end promptly, say it
// failed, and leave no partition that looks complete.
func TestSIGTERMDuringExtraction(t *testing.T) {
	em, url := startPlanhat(t, 2500)
	// The second page does not come: the run is waiting on Planhat, mid
	// extraction, when it is told to stop.
	em.Inject(emu.Fault{}, emu.Fault{Delay: time.Minute})
	out := t.TempDir()
	p := etlbin.Start(t, map[string]string{"PLANHAT_API_TOKEN": token}, "run", pipeline(t, url, out, ""), "--run-date", runDate)
	for deadline := time.Now().Add(30 * time.Second); len(em.Log()) < 2; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			p.Signal(t, os.Kill)
			res := p.Wait(t)
			t.Fatalf("the run never asked for the second page\nstderr: %s", res.Stderr)
		}
	}
	p.Signal(t, syscall.SIGTERM)
	at := time.Now()
	res := p.Wait(t)
	took := time.Since(at)
	if res.Code != 1 {
		t.Fatalf("exit %d, want 1\nstderr: %s", res.Code, res.Stderr)
	}
	// A latency bound, not a speed test: the scheduler kills what lingers.
	if took > time.Second {
		t.Errorf("etl exited %s after SIGTERM, want within 1s", took)
	}
	if s := lastSummary(t, res.Stdout); s.Status != "failed" || !strings.Contains(s.Error, "cancel") {
		t.Errorf("summary: %+v, want status failed with the cancellation as its error", s)
	}
	if m, _ := filepath.Glob(filepath.Join(out, "*", "*", "_SUCCESS")); len(m) != 0 {
		t.Errorf("a stopped run left %v", m)
	}
}
