package main

import (
	"bytes"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/vbauerster/mpb/v8"
	"github.com/vbauerster/mpb/v8/decor"

	"etl/internal/run"
)

// bars renders a run's progress on a terminal: one bar per source and one
// per write-back target, with log lines printed above them. A bar fills only
// against a total that is known: the vendor's own count (Moesif), or, marked
// as an estimate, the source's count in the latest complete earlier
// partition; without one it stays empty and shows the count and rate. Its
// final counts are the summary's. While a vendor's pacer holds requests
// back, the bar says so ("paced: 200/min"), so the rate limit is not taken
// for a slow program.
type bars struct {
	p   *mpb.Progress
	red *redactor
	mu  sync.Mutex
	all map[string]*barState
}

// barState is what one bar shows; guarded by bars.mu.
type barState struct {
	bar        *mpb.Bar
	unit       string
	start, end time.Time // end: when it finished (its rate stops there)
	pages      int64
	current    int64
	total      int64 // the vendor's (or write-back's) own count; -1 unknown
	expected   int64 // an earlier partition's count; -1 none
	from       string
	pacing     run.Pacing
	done       bool   // finished well: current is final
	final      string // the finished bar's counts, from the summary
	failed     bool
}

func newBars(w io.Writer, red *redactor) *bars {
	return &bars{
		red: red,
		p:   mpb.New(mpb.WithOutput(w), mpb.WithWidth(32), mpb.WithRefreshRate(120*time.Millisecond)),
		all: map[string]*barState{},
	}
}

// Write prints a log line above the bars.
func (b *bars) Write(p []byte) (int, error) {
	if _, err := b.p.Write(b.red.apply(bytes.Clone(p))); err != nil {
		return 0, err
	}
	return len(p), nil
}

func (b *bars) add(key, label string, s *barState) {
	s.start = time.Now()
	b.mu.Lock()
	b.all[key] = s
	b.mu.Unlock()
	style := mpb.BarStyle().Build()
	// mpb's own counts are not used: the filler and the text read barState.
	bar := b.p.MustAdd(0, mpb.BarFillerFunc(func(w io.Writer, st decor.Statistics) error {
		b.mu.Lock()
		st.Total, st.Current = s.fill()
		b.mu.Unlock()
		return style.Fill(w, st)
	}),
		mpb.PrependDecorators(decor.Name(label, decor.WC{W: 12, C: decor.DindentRight})),
		mpb.AppendDecorators(decor.Any(func(decor.Statistics) string {
			b.mu.Lock()
			defer b.mu.Unlock()
			return s.text(time.Now())
		})))
	b.mu.Lock()
	s.bar = bar
	b.mu.Unlock()
}

// fill is the bar's total and how much of it to fill: nothing (of 1) when
// no total is known, all of it once the count is final, and never past the
// end when today's count outgrows an estimate.
func (s *barState) fill() (total, current int64) {
	switch {
	case s.done:
		return max(1, s.current), s.current
	case s.total > 0:
		return s.total, min(s.current, s.total)
	case s.expected > 0:
		return s.expected, min(s.current, s.expected)
	}
	return 1, 0
}

// text is what follows the bar: counts against the total (an estimate marked
// "~"), rate, ETA, and whether the vendor's pacer is holding requests back.
func (s *barState) text(now time.Time) string {
	until := now
	if !s.end.IsZero() {
		until = s.end
	}
	rate := 0.0
	if sec := until.Sub(s.start).Seconds(); sec > 0 {
		rate = float64(s.current) / sec
	}
	var out strings.Builder
	if s.pages > 0 {
		fmt.Fprintf(&out, "%d pages, ", s.pages)
	}
	if s.done || s.failed {
		if s.final != "" {
			out.WriteString(s.final)
		} else {
			fmt.Fprintf(&out, "%d %s", s.current, s.unit)
		}
		fmt.Fprintf(&out, ", %.0f/s", rate)
		if s.failed {
			return out.String() + ", failed"
		}
		return out.String() + ", done"
	}
	var left int64 = -1
	eta := "ETA "
	switch {
	case s.total > 0:
		fmt.Fprintf(&out, "%d/%d %s", s.current, s.total, s.unit)
		left = s.total - s.current
	case s.expected > 0 && s.current <= s.expected:
		fmt.Fprintf(&out, "%d/~%d %s (est. from %s)", s.current, s.expected, s.unit, s.from)
		left, eta = s.expected-s.current, "ETA ~"
	case s.expected > 0:
		fmt.Fprintf(&out, "%d %s (~%d on %s, +%.0f%%)", s.current, s.unit, s.expected, s.from, 100*float64(s.current-s.expected)/float64(s.expected))
	default:
		fmt.Fprintf(&out, "%d %s (no total known)", s.current, s.unit)
	}
	fmt.Fprintf(&out, ", %.0f/s", rate)
	if left > 0 && rate > 0 {
		d := time.Duration(float64(left) / rate * float64(time.Second)).Round(time.Second)
		if d < time.Second {
			out.WriteString(", " + eta + "<1s")
		} else {
			out.WriteString(", " + eta + d.String())
		}
	}
	if s.pacing != nil {
		if limit, held := s.pacing(); held {
			out.WriteString(", paced: " + limit)
		}
	}
	return out.String()
}

func (b *bars) state(key string) *barState {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.all[key]
}

func (b *bars) SourceStarted(source string, start run.SourceStart) {
	b.add(source, source, &barState{unit: "records", total: -1, expected: start.Expected, from: start.ExpectedFrom, pacing: start.Pacing})
}

func (b *bars) Page(source string, pages, records, total int64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if s := b.all[source]; s != nil {
		s.pages, s.current, s.total = pages, records, total
	}
}

func (b *bars) SourceDone(source string, st *run.SourceStats, err error) {
	b.finish(source, st.Extracted, "", err)
}

func (b *bars) WritebackStarted(target string, items int64, pacing run.Pacing) {
	b.add("writeback:"+target, "→ "+target, &barState{unit: "items", total: items, expected: -1, pacing: pacing})
}

func (b *bars) WritebackSent(target string, items int64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if s := b.all["writeback:"+target]; s != nil {
		s.current = items
	}
}

func (b *bars) WritebackDone(target string, st *run.WritebackStats, err error) {
	n, text := writebackCounts(st)
	b.finish("writeback:"+target, n, text, err)
}

// writebackCounts is the one place a finished write-back bar takes its
// counts from the summary: the items sent (refused ones included), how many
// of them failed, and the conflicts the plan left out (fields a vendor keeps
// unique that another record holds).
func writebackCounts(st *run.WritebackStats) (sent int64, text string) {
	text = fmt.Sprintf("%d items sent", st.Sent)
	if st.Failed > 0 {
		text += fmt.Sprintf(" (%d failed)", st.Failed)
	}
	if st.Conflicts > 0 {
		text += fmt.Sprintf(", %d conflicts left out", st.Conflicts)
	}
	return st.Sent, text
}

// finish fixes a bar's final count and text, then completes it.
func (b *bars) finish(key string, count int64, text string, err error) {
	b.mu.Lock()
	s := b.all[key]
	if s == nil {
		b.mu.Unlock()
		return
	}
	s.end = time.Now()
	s.current, s.final = count, text
	s.done, s.failed = err == nil, err != nil
	bar := s.bar
	b.mu.Unlock()
	if err != nil {
		bar.Abort(false)
		return
	}
	bar.SetTotal(-1, true)
}

// Wait lets the bars draw their final state.
func (b *bars) Wait() {
	// Not under mu: mpb's goroutines take it to draw.
	b.mu.Lock()
	var all []*mpb.Bar
	for _, s := range b.all {
		all = append(all, s.bar)
	}
	b.mu.Unlock()
	for _, bar := range all {
		if !bar.Completed() {
			bar.Abort(false)
		}
	}
	b.p.Wait()
}
