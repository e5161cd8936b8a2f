package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// proc is one finished subprocess, measured from outside as /usr/bin/time
// would: wall clock, peak resident set and CPU of that process alone.
type proc struct {
	Wall      time.Duration
	MaxRSS    int64 // bytes
	User, Sys time.Duration
	Stdout    string
	Stderr    string
}

func (p proc) CPU() time.Duration { return p.User + p.Sys }

// usage is what `bench launch` reports of the process it ran.
type usage struct {
	MaxRSS    int64 // bytes
	User, Sys time.Duration
}

// launchMain is `bench launch USAGE_FILE NAME ARGS...`: it runs NAME and
// writes NAME's rusage to USAGE_FILE. The bench starts every process it
// measures through it, because Linux counts the memory of the process a
// child was spawned from in the child's peak RSS: spawned by the bench,
// which holds the emulators' data, every child would report the bench's.
func launchMain(args []string) {
	if len(args) < 2 {
		fatal(fmt.Errorf("usage: bench launch USAGE_FILE NAME ARGS..."))
	}
	cmd := exec.Command(args[1], args[2:]...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	err := cmd.Run()
	st := cmd.ProcessState
	if st == nil {
		fatal(err)
	}
	u := usage{User: st.UserTime(), Sys: st.SystemTime()}
	if ru, ok := st.SysUsage().(*syscall.Rusage); ok {
		u.MaxRSS = ru.Maxrss * 1024 // Linux reports KiB
	}
	body, _ := json.Marshal(u)
	if err := os.WriteFile(args[0], body, 0o644); err != nil {
		fatal(err)
	}
	os.Exit(st.ExitCode())
}

// run starts name with args (through `bench launch`) and waits for it; a
// non-zero exit is an error that carries the end of stderr.
func (b *bench) run(name string, args ...string) (proc, error) {
	b.commands = append(b.commands, shellLine(name, args))
	self, err := os.Executable()
	if err != nil {
		return proc{}, err
	}
	usageFile := filepath.Join(b.work, "usage.json")
	os.Remove(usageFile)
	cmd := exec.Command(self, append([]string{"launch", usageFile, name}, args...)...)
	cmd.Dir = b.root
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	start := time.Now()
	err = cmd.Run()
	p := proc{Wall: time.Since(start), Stdout: stdout.String(), Stderr: stderr.String()}
	var u usage
	if body, rerr := os.ReadFile(usageFile); rerr == nil && json.Unmarshal(body, &u) == nil {
		p.MaxRSS, p.User, p.Sys = u.MaxRSS, u.User, u.Sys
	}
	if err != nil {
		tail := p.Stderr
		if len(tail) > 2000 {
			tail = tail[len(tail)-2000:]
		}
		return p, fmt.Errorf("%s: %v\n%s", shellLine(name, args), err, tail)
	}
	return p, nil
}

func shellLine(name string, args []string) string {
	parts := []string{name}
	for _, a := range args {
		if strings.ContainsAny(a, " '\"*(){}$;|&<>\n") {
			a = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
		}
		parts = append(parts, a)
	}
	return strings.Join(parts, " ")
}

// summary is the part of etl's last stdout line the bench checks.
type summary struct {
	Status  string  `json:"status"`
	Error   string  `json:"error"`
	Seconds float64 `json:"seconds"`
	Sources map[string]struct {
		Extracted int64   `json:"extracted"`
		Pages     int64   `json:"pages"`
		Requests  int64   `json:"requests"`
		Throttled int64   `json:"throttled"`
		Seconds   float64 `json:"seconds"`
	} `json:"sources"`
	Tables map[string]struct {
		Rows  int64 `json:"rows"`
		Bytes int64 `json:"bytes"`
	} `json:"tables"`
	Resolve struct {
		Persons int64 `json:"persons"`
	} `json:"resolve"`
}

func (s summary) extracted() int64 {
	var n int64
	for _, src := range s.Sources {
		n += src.Extracted
	}
	return n
}

// etl runs `bin run pipeline` and reads its summary; a failed run is an error.
func (b *bench) etl(bin, pipeline string) (proc, summary, error) {
	p, err := b.run(bin, "run", pipeline, "--run-date", runDate, "--log-level", "warn")
	// Its logs stay beside the pipeline, for a look at what went wrong.
	os.WriteFile(strings.TrimSuffix(pipeline, ".yaml")+"."+filepath.Base(bin)+".stderr", []byte(p.Stderr), 0o644)
	var s summary
	lines := strings.Split(strings.TrimSpace(p.Stdout), "\n")
	if jerr := json.Unmarshal([]byte(lines[len(lines)-1]), &s); jerr != nil && err == nil {
		err = fmt.Errorf("etl summary: %v", jerr)
	}
	if err == nil && s.Status != "succeeded" {
		err = fmt.Errorf("etl run %s: %s", s.Status, s.Error)
	}
	return p, s, err
}

// duckdb runs one SQL statement through DuckDB's Node API.
func (b *bench) duckdb(sql string) (proc, []map[string]any, error) {
	p, err := b.run("node", "internal/duckdb/query.js", sql)
	if err != nil {
		return p, nil, err
	}
	var rows []map[string]any
	if err := json.Unmarshal([]byte(p.Stdout), &rows); err != nil {
		return p, nil, fmt.Errorf("duckdb answer: %v", err)
	}
	return p, rows, nil
}

func selfCPU() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func mustWrite(path, body string) {
	if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
		fatal(err)
	}
}

// profile runs pipeline in-process under the CPU profiler (run.BenchmarkRun)
// and returns pprof's view of it as a collapsed Markdown block: the etl
// functions by cumulative time, the Parquet lanes' time by table, and the
// top functions by their own time.
func (b *bench) profile(pipeline, name string) (string, error) {
	prof := filepath.Join(b.work, name+".cpu.pprof")
	if _, err := b.run("go", "test", "-run", "^$", "-bench", "^BenchmarkRun$", "-benchtime", "1x",
		"-cpuprofile", prof, "-o", filepath.Join(b.work, "run.test"), "./internal/run", "-args", "-pipeline", pipeline); err != nil {
		return "", err
	}
	cum, err := b.run("go", "tool", "pprof", "-top", "-cum", "-nodecount", "300", prof)
	if err != nil {
		return "", err
	}
	flat, err := b.run("go", "tool", "pprof", "-top", "-nodecount", "20", prof)
	if err != nil {
		return "", err
	}
	// Parquet encoding is labelled with its table (load.TableWriter.labels).
	tags, err := b.run("go", "tool", "pprof", "-tags", "-tagfocus", "table=.", prof)
	if err != nil {
		return "", err
	}
	var out strings.Builder
	fmt.Fprintf(&out, "<details><summary>CPU profile of the same run (%s)</summary>\n\n```\n", prof)
	lines := strings.Split(cum.Stdout, "\n")
	kept := 0
	for _, l := range lines {
		switch {
		case strings.HasPrefix(l, "Duration") || strings.Contains(l, "flat%"):
			out.WriteString(l + "\n")
		case kept < 45 && strings.Contains(l, "etl/") && !strings.Contains(l, "BenchmarkRun") && !strings.Contains(l, "testing."):
			out.WriteString(l + "\n")
			kept++
		}
	}
	out.WriteString("\nParquet encoding, by table:\n")
	for _, l := range strings.Split(tags.Stdout, "\n") {
		if strings.TrimSpace(l) != "" {
			out.WriteString(l + "\n")
		}
	}
	out.WriteString("\ntop by own time:\n")
	for _, l := range strings.Split(flat.Stdout, "\n") {
		if strings.HasPrefix(strings.TrimSpace(l), "flat") || (len(l) > 0 && (l[0] == ' ' || l[0] >= '0' && l[0] <= '9')) {
			out.WriteString(l + "\n")
		}
	}
	out.WriteString("```\n</details>")
	return out.String(), nil
}
