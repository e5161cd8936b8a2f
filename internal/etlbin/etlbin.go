// Package etlbin builds the etl binary once per test process, so tests can
// run it as a subprocess the way Airflow does.
package etlbin

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"etl/internal/duckdb"
)

var (
	once sync.Once
	path string
	err  error
)

// Path builds (once) and returns the etl binary.
func Path(t testing.TB) string {
	t.Helper()
	once.Do(func() {
		var root, dir string
		if root, err = duckdb.Root(); err != nil {
			return
		}
		if dir, err = os.MkdirTemp("", "etlbin-*"); err != nil {
			return
		}
		path = filepath.Join(dir, "etl")
		cmd := exec.Command("go", "build", "-o", path, "./cmd/etl")
		cmd.Dir = root
		var out []byte
		if out, err = cmd.CombinedOutput(); err != nil {
			err = &buildError{err: err, out: string(out)}
		}
	})
	if err != nil {
		t.Fatalf("building etl: %v", err)
	}
	return path
}

type buildError struct {
	err error
	out string
}

func (b *buildError) Error() string { return b.err.Error() + "\n" + b.out }

// Result is one finished run of the binary.
type Result struct {
	Code           int
	Stdout, Stderr string
	Elapsed        time.Duration
}

// Run runs etl with args and extra environment variables, waiting at most a minute.
func Run(t testing.TB, env map[string]string, args ...string) Result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, Path(t), args...)
	cmd.Env = os.Environ()
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	start := time.Now()
	err := cmd.Run()
	res := Result{Stdout: stdout.String(), Stderr: stderr.String(), Elapsed: time.Since(start)}
	if ee, ok := err.(*exec.ExitError); ok {
		res.Code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("running etl: %v", err)
	}
	return res
}

// LastLine is the last non-empty line of s (the run summary on stdout).
func LastLine(s string) string {
	lines := bytes.Split(bytes.TrimSpace([]byte(s)), []byte("\n"))
	return string(lines[len(lines)-1])
}
