package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"time"
)

// machine describes where the figures come from.
func machine(at time.Time, scale float64) string {
	cpu := "unknown"
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(l, ":"); ok && strings.TrimSpace(k) == "model name" {
				cpu = strings.TrimSpace(v)
				break
			}
		}
	}
	mem := "unknown"
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		if f := strings.Fields(strings.SplitN(string(b), "\n", 2)[0]); len(f) >= 2 {
			var kb int64
			fmt.Sscan(f[1], &kb)
			mem = fmt.Sprintf("%.1f GiB", float64(kb)/(1<<20))
		}
	}
	load := ""
	if b, err := os.ReadFile("/proc/loadavg"); err == nil {
		load = strings.Join(strings.Fields(string(b))[:3], " ")
	}
	gov := runtime.Version()
	if out, err := exec.Command("go", "version").Output(); err == nil {
		gov = strings.TrimSpace(string(out))
	}
	node := ""
	if out, err := exec.Command("node", "--version").Output(); err == nil {
		node = strings.TrimSpace(string(out))
	}
	var b strings.Builder
	fmt.Fprintf(&b, "- date: %s\n", at.UTC().Format(time.RFC3339))
	fmt.Fprintf(&b, "- machine: %d CPUs (`nproc`), %s, %s RAM, %s/%s\n", runtime.NumCPU(), cpu, mem, runtime.GOOS, runtime.GOARCH)
	fmt.Fprintf(&b, "- load average when the bench started: %s (the machine is shared: figures are noisy)\n", load)
	fmt.Fprintf(&b, "- %s; node %s with @duckdb/node-api (`make tools`)\n", gov, node)
	if scale != 1 {
		fmt.Fprintf(&b, "- **scale %g**: record counts are that fraction of the issue's; targets apply to scale 1\n", scale)
	}
	return b.String()
}

func (b *bench) writeResults(path, header string, took time.Duration) {
	var w strings.Builder
	w.WriteString("# Benchmark results\n\n")
	w.WriteString("Written by `make bench` (`bench/cmd/bench`); do not edit by hand. Wall times are of whole\n")
	w.WriteString("processes, peak RSS is the process's own (`getrusage` of the child, through `bench launch`), ratios are of figures\n")
	w.WriteString("measured in the same run.\n\n")
	w.WriteString(header)
	fmt.Fprintf(&w, "- the whole bench took %s\n", took.Round(time.Second))
	for _, s := range b.sections {
		fmt.Fprintf(&w, "\n## %s\n\n", s.title)
		if s.intro != "" {
			w.WriteString(s.intro + "\n\n")
		}
		if len(s.rows) > 0 {
			w.WriteString("| figure | value | target | |\n|---|---|---|---|\n")
			for _, r := range s.rows {
				fmt.Fprintf(&w, "| %s | %s | %s | %s |\n", r[0], r[1], r[2], r[3])
			}
			w.WriteString("\n")
		}
		for _, n := range s.notes {
			w.WriteString(n + "\n\n")
		}
		if len(s.commands) > 0 {
			w.WriteString("<details><summary>commands</summary>\n\n```sh\n")
			for _, c := range s.commands {
				w.WriteString(c + "\n")
			}
			w.WriteString("```\n</details>\n")
		}
	}
	// Paths relative to the repository, so the file names no machine's layout.
	mustWrite(path, strings.ReplaceAll(w.String(), b.root+string(filepath.Separator), ""))
}

// verdict marks a figure against its target.
func verdict(ok bool) string {
	if ok {
		return "met"
	}
	return "**not met**"
}

// verdict marks a figure whose target holds at full scale only.
func (b *bench) verdict(ok bool) string {
	if b.scale != 1 {
		return "n/a at this scale"
	}
	return verdict(ok)
}

func secs(d time.Duration) string { return fmt.Sprintf("%.2f s", d.Seconds()) }

func mib(n int64) string { return fmt.Sprintf("%.0f MiB", float64(n)/(1<<20)) }

func count(n int) string {
	s := fmt.Sprint(n)
	var out []byte
	for i := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			out = append(out, ',')
		}
		out = append(out, s[i])
	}
	return string(out)
}
