package main

import (
	"bytes"
	"io"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/creack/pty"

	"etl/internal/etlbin"
)

// On a terminal, stderr shows progress bars and text log lines, not JSON.
func TestProgressBarsOnATerminal(t *testing.T) {
	_, url := startPlanhat(t, 4500)
	out := t.TempDir()
	ptmx, tty, err := pty.Open()
	if err != nil {
		t.Fatalf("no pty: %v", err)
	}
	defer ptmx.Close()
	pty.Setsize(ptmx, &pty.Winsize{Rows: 40, Cols: 120})
	cmd := exec.Command(etlbin.Path(t), "run", pipeline(t, url, out, ""), "--run-date", runDate)
	cmd.Env = append(cmd.Environ(), "PLANHAT_API_TOKEN="+token)
	var stdout bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, tty
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	tty.Close()
	screen := make(chan string)
	go func() {
		b, _ := io.ReadAll(ptmx) // ends with EIO once the process exits
		screen <- string(b)
	}()
	if err := cmd.Wait(); err != nil {
		t.Fatalf("etl failed: %v\n%s", err, stdout.String())
	}
	var s string
	select {
	case s = <-screen:
	case <-time.After(10 * time.Second):
		t.Fatal("the terminal output never ended")
	}
	for _, want := range []string{"planhat", "3 pages, 4500 records", "done", "level=INFO"} {
		if !strings.Contains(s, want) {
			t.Errorf("terminal output lacks %q:\n%s", want, s)
		}
	}
	if strings.Contains(s, `{"time"`) {
		t.Errorf("JSON log lines on a terminal:\n%s", s)
	}
	if !strings.Contains(etlbin.LastLine(stdout.String()), `"status":"succeeded"`) {
		t.Errorf("stdout: %s", stdout.String())
	}
}
