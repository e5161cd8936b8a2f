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
	return Start(t, env, args...).Wait(t)
}

// Proc is a running etl, for tests that act on it while it runs.
type Proc struct {
	cmd            *exec.Cmd
	cancel         context.CancelFunc
	stdout, stderr bytes.Buffer
	start          time.Time
	done           chan struct{} // closed once it has exited
	err            error         // cmd.Wait's
	end            time.Time
}

// Start starts etl with args and extra environment variables; it is killed
// if it still runs a minute later.
func Start(t testing.TB, env map[string]string, args ...string) *Proc {
	t.Helper()
	bin := Path(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	p := &Proc{cancel: cancel, done: make(chan struct{})}
	p.cmd = exec.CommandContext(ctx, bin, args...)
	p.cmd.Env = os.Environ()
	for k, v := range env {
		p.cmd.Env = append(p.cmd.Env, k+"="+v)
	}
	p.cmd.Stdout, p.cmd.Stderr = &p.stdout, &p.stderr
	p.start = time.Now()
	if err := p.cmd.Start(); err != nil {
		cancel()
		t.Fatalf("starting etl: %v", err)
	}
	go func() {
		p.err = p.cmd.Wait()
		p.end = time.Now()
		close(p.done)
	}()
	return p
}

// Signal sends sig to the running etl.
func (p *Proc) Signal(t testing.TB, sig os.Signal) {
	t.Helper()
	if err := p.cmd.Process.Signal(sig); err != nil {
		t.Fatalf("signalling etl: %v", err)
	}
}

// Exited reports whether etl has exited, without waiting for it.
func (p *Proc) Exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// Wait waits for etl to exit and returns what it did.
func (p *Proc) Wait(t testing.TB) Result {
	t.Helper()
	defer p.cancel()
	<-p.done
	err := p.err
	res := Result{Stdout: p.stdout.String(), Stderr: p.stderr.String(), Elapsed: p.end.Sub(p.start)}
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
