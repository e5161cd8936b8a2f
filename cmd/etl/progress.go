package main

import (
	"bytes"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/vbauerster/mpb/v8"
	"github.com/vbauerster/mpb/v8/decor"
)

// bars renders a run's progress on a terminal: one bar per source (pages,
// records, rate, and an ETA when the vendor gives a total) and one per
// write-back target. Log lines are printed above the bars.
type bars struct {
	p     *mpb.Progress
	red   *redactor
	mu    sync.Mutex
	bars  map[string]*mpb.Bar
	start map[string]time.Time
	end   map[string]time.Time // when a bar finished: its rate stops there
	pages map[string]int64
	total map[string]int64
}

func newBars(w io.Writer, red *redactor) *bars {
	return &bars{
		red:  red,
		p:    mpb.New(mpb.WithOutput(w), mpb.WithWidth(32), mpb.WithRefreshRate(120*time.Millisecond)),
		bars: map[string]*mpb.Bar{}, start: map[string]time.Time{}, end: map[string]time.Time{}, pages: map[string]int64{}, total: map[string]int64{},
	}
}

// Write prints a log line above the bars.
func (b *bars) Write(p []byte) (int, error) {
	if _, err := b.p.Write(b.red.apply(bytes.Clone(p))); err != nil {
		return 0, err
	}
	return len(p), nil
}

func (b *bars) add(key, label, unit string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.start[key] = time.Now()
	delete(b.end, key)
	b.total[key] = -1
	b.bars[key] = b.p.New(0, mpb.BarStyle(),
		mpb.PrependDecorators(decor.Name(label, decor.WC{W: 12, C: decor.DindentRight})),
		mpb.AppendDecorators(decor.Any(func(s decor.Statistics) string { return b.status(key, unit, s) })))
}

// status is the text after a bar: counts, rate and ETA.
func (b *bars) status(key, unit string, s decor.Statistics) string {
	b.mu.Lock()
	until, ok := b.end[key]
	if !ok {
		until = time.Now()
	}
	elapsed := until.Sub(b.start[key]).Seconds()
	pages, total := b.pages[key], b.total[key]
	b.mu.Unlock()
	rate := 0.0
	if elapsed > 0 {
		rate = float64(s.Current) / elapsed
	}
	out := fmt.Sprintf("%d %s", s.Current, unit)
	if pages > 0 {
		out = fmt.Sprintf("%d pages, %s", pages, out)
	}
	out += fmt.Sprintf(", %.0f/s", rate)
	if s.Completed {
		return out + ", done"
	}
	if total > 0 && rate > 0 {
		eta := time.Duration(float64(total-s.Current) / rate * float64(time.Second))
		out += ", ETA " + eta.Round(time.Second).String()
	}
	return out
}

func (b *bars) bar(key string) *mpb.Bar {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.bars[key]
}

func (b *bars) SourceStarted(source string) { b.add(source, source, "records") }

func (b *bars) Page(source string, pages, records, total int64) {
	b.mu.Lock()
	b.pages[source], b.total[source] = pages, total
	b.mu.Unlock()
	bar := b.bar(source)
	if bar == nil {
		return
	}
	if total > 0 {
		bar.SetTotal(max(total, records), false)
	} else {
		bar.SetTotal(records+records/10+1, false) // unknown total: keep the bar moving
	}
	bar.SetCurrent(records)
}

func (b *bars) SourceDone(source string, err error) { b.finish(source, err) }

func (b *bars) finish(key string, err error) {
	b.mu.Lock()
	b.end[key] = time.Now()
	b.mu.Unlock()
	bar := b.bar(key)
	if bar == nil {
		return
	}
	if err != nil {
		bar.Abort(false)
		return
	}
	bar.SetTotal(-1, true)
}

func (b *bars) WritebackStarted(target string, items int64) {
	key := "writeback:" + target
	b.add(key, "→ "+target, "items")
	b.mu.Lock()
	b.total[key] = items
	b.mu.Unlock()
	b.bar(key).SetTotal(items, false)
}

func (b *bars) WritebackSent(target string, items int64) {
	if bar := b.bar("writeback:" + target); bar != nil {
		bar.SetCurrent(items)
	}
}

func (b *bars) WritebackDone(target string, err error) { b.finish("writeback:"+target, err) }

// Wait lets the bars draw their final state.
func (b *bars) Wait() {
	b.mu.Lock()
	for _, bar := range b.bars {
		if !bar.Completed() {
			bar.Abort(false)
		}
	}
	b.mu.Unlock()
	b.p.Wait()
}
