package main

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/creack/pty"

	"etl/internal/emulator/people"
	"etl/internal/emulator/planhat"
	"etl/internal/etlbin"
	"etl/internal/run"
)

// onTerminal runs etl with stderr on a pseudo-terminal of 120 columns and
// returns stdout and everything the terminal received.
func onTerminal(t *testing.T, args ...string) (stdout, screen string) {
	t.Helper()
	ptmx, tty, err := pty.Open()
	if err != nil {
		t.Fatalf("no pty: %v", err)
	}
	defer ptmx.Close()
	pty.Setsize(ptmx, &pty.Winsize{Rows: 40, Cols: 120})
	cmd := exec.Command(etlbin.Path(t), args...)
	cmd.Env = append(cmd.Environ(), "PLANHAT_API_TOKEN="+token)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, tty
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	tty.Close()
	got := make(chan string)
	go func() {
		b, _ := io.ReadAll(ptmx) // ends with EIO once the process exits
		got <- string(b)
	}()
	if err := cmd.Wait(); err != nil {
		t.Fatalf("etl failed: %v\n%s", err, out.String())
	}
	select {
	case screen = <-got:
	case <-time.After(10 * time.Second):
		t.Fatal("the terminal output never ended")
	}
	return out.String(), screen
}

var ansi = regexp.MustCompile(`\x1b\[[0-9;?]*[A-Za-z]`)

// barLines are the lines of every frame drawn for the bar labelled label,
// in order, escape sequences removed.
func barLines(screen, label string) []string {
	var out []string
	for _, l := range strings.FieldsFunc(ansi.ReplaceAllString(screen, ""), func(r rune) bool { return r == '\n' || r == '\r' }) {
		if strings.HasPrefix(l, label+" ") {
			out = append(out, l)
		}
	}
	return out
}

// filled is how much of a bar line's bar is drawn as done.
func filled(line string) int {
	i, j := strings.Index(line, "["), strings.Index(line, "]")
	if i < 0 || j < i {
		return -1
	}
	return strings.Count(line[i:j], "=") + strings.Count(line[i:j], ">")
}

// TestProgressBarsOnATerminal runs twice into one output, as on two nights,
// with Planhat paced by a rate_limit and a write-back into it:
//   - the first night knows no total: the bar never fills while it runs;
//   - the second night expects the first night's count, fills against it as
//     an estimate with an ETA, and runs past it (Planhat has more users);
//   - the pacer's hold is on the bar ("paced: 5/s");
//   - each finished bar shows the summary's counts (extracted, sent).
func TestProgressBarsOnATerminal(t *testing.T) {
	out := t.TempDir()
	ps := people.Generate(7, 4500)
	full := planhat.FromPeople(ps, 100_000)
	var crm bytes.Buffer
	for _, u := range full {
		b, _ := json.Marshal(u)
		crm.Write(append(b, '\n'))
	}
	crmPath := filepath.Join(t.TempDir(), "crm.jsonl")
	if err := os.WriteFile(crmPath, crm.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	extra := "writeback:\n  - {target: planhat, fields: [phone]}\n"
	night := func(n int, date string) (summary, string) {
		t.Helper()
		users := planhat.FromPeople(ps[:n], 0)
		for i := range users {
			if i%10 == 0 {
				users[i].Phone = "" // the CRM export has it: write-back fills it
			}
		}
		srv := httptest.NewServer(planhat.New(token, users))
		defer srv.Close()
		p := pipeline(t, srv.URL, out, extra)
		body, _ := os.ReadFile(p)
		body = bytes.Replace(body, []byte(`    token: "${PLANHAT_API_TOKEN}"`), []byte(`    token: "${PLANHAT_API_TOKEN}"
    page_size: 500
    rate_limit: {per_second: 5, burst: 1}
  files:
    - {name: crm, path: `+strconv.Quote(crmPath)+`, format: jsonl, shape: planhat}`), 1)
		os.WriteFile(p, body, 0o644)
		stdout, screen := onTerminal(t, "run", p, "--run-date", date)
		s := lastSummary(t, stdout)
		if s.Status != "succeeded" || s.Sources["planhat"].Extracted != int64(n) {
			t.Fatalf("%s: summary %+v", date, s)
		}
		if strings.Contains(screen, `{"time"`) || !strings.Contains(screen, "level=INFO") {
			t.Errorf("%s: the terminal should show text log lines, not JSON:\n%s", date, screen)
		}
		return s, screen
	}

	_, first := night(3000, "2026-01-15")
	lines := barLines(first, "planhat")
	running := 0
	for _, l := range lines {
		if strings.Contains(l, "done") {
			continue
		}
		running++
		if filled(l) != 0 || !strings.Contains(l, "no total known") {
			t.Errorf("first night, no total known, yet the bar says: %q", l)
		}
	}
	if running == 0 {
		t.Errorf("no frame of the first night's planhat bar while it ran:\n%s", strings.Join(lines, "\n"))
	}

	s, second := night(4500, "2026-01-16")
	lines = barLines(second, "planhat")
	has := func(re string) bool {
		for _, l := range lines {
			if regexp.MustCompile(re).MatchString(l) {
				return true
			}
		}
		return false
	}
	for what, re := range map[string]string{
		"the estimate from the first night, with an ETA": `\] \d+ pages, \d+/~3000 records \(est\. from 2026-01-15\), \d+/s, ETA ~(\d+s|<1s)`,
		"the bar filled against the estimate":            `^planhat +\[=+[>=][-]*\]`,
		"the count past the estimate":                    `\d+ records \(~3000 on 2026-01-15, \+\d+%\)`,
		"the pacer's hold":                               `, paced: 5/s`,
	} {
		if !has(re) {
			t.Errorf("second night: no frame shows %s (%s):\n%s", what, re, strings.Join(lines, "\n"))
		}
	}
	final := func(label, re string) int64 {
		t.Helper()
		ls := barLines(second, label)
		if len(ls) == 0 {
			t.Fatalf("no %s bar:\n%s", label, second)
		}
		m := regexp.MustCompile(re).FindStringSubmatch(ls[len(ls)-1])
		if m == nil {
			t.Fatalf("the %s bar ends with %q, not %s", label, ls[len(ls)-1], re)
		}
		n, _ := strconv.ParseInt(m[1], 10, 64)
		return n
	}
	if n := final("planhat", `\] \d+ pages, (\d+) records, \d+/s, done$`); n != s.Sources["planhat"].Extracted {
		t.Errorf("the planhat bar ends at %d records, the summary extracted %d", n, s.Sources["planhat"].Extracted)
	}
	if n := final("crm", `\] \d+ pages, (\d+) records, \d+/s, done$`); n != s.Sources["crm"].Extracted {
		t.Errorf("the crm bar ends at %d records, the summary extracted %d", n, s.Sources["crm"].Extracted)
	}
	if n := final("→ planhat", `\] (\d+) items sent, \d+/s, done$`); n != s.Writeback["planhat"].Sent || n == 0 {
		t.Errorf("the write-back bar ends at %d items, the summary sent %d", n, s.Writeback["planhat"].Sent)
	}
}

// A finished write-back bar counts as the summary does.
func TestWritebackCounts(t *testing.T) {
	for _, c := range []struct {
		st   run.WritebackStats
		want string
	}{
		{run.WritebackStats{Sent: 450}, "450 items sent"},
		{run.WritebackStats{Sent: 450, Failed: 3}, "450 items sent (3 failed)"},
		{run.WritebackStats{Sent: 450, Failed: 3, Conflicts: 12}, "450 items sent (3 failed), 12 conflicts left out"},
	} {
		if n, text := writebackCounts(&c.st); n != c.st.Sent || text != c.want {
			t.Errorf("%+v: %d %q, want %d %q", c.st, n, text, c.st.Sent, c.want)
		}
	}
}
