// Package pace keeps a client within a vendor's rate limits as the vendor
// counts them: sliding windows ("at most N requests in any W") and a token
// bucket ("at most Burst at once, PerSecond on average"). It sends each
// request at the earliest time the limits allow, counting every earlier
// request from when its answer arrived: the vendor counted that request at
// some moment between our sending it and its answer, so however the network
// delays each request, no window the vendor counts in is ever exceeded, and
// no more time is given away than each request's round trip and Margin.
package pace

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"
)

// Margin stretches every window and every token's interval by 1%: a guard
// against a vendor whose clock or counting point differs slightly from the
// documented one. Network jitter needs none (see the package comment).
const Margin = 0.01

// Window allows at most N requests in any interval of length Per.
type Window struct {
	N   int
	Per time.Duration
}

// Limits are the limits a vendor counts requests against.
type Limits struct {
	// PerSecond and Burst form a token bucket that starts full: at most Burst
	// requests at once, PerSecond on average. PerSecond 0 means none.
	PerSecond float64
	Burst     int
	Windows   []Window
}

// String names the limits as a person reads them: "150/s, 200/min",
// "10/s (burst 4)".
func (l Limits) String() string {
	var parts []string
	if l.PerSecond > 0 {
		parts = append(parts, fmt.Sprintf("%s/s (burst %d)", num(l.PerSecond), max(1, l.Burst)))
	}
	for _, w := range l.Windows {
		parts = append(parts, w.String())
	}
	return strings.Join(parts, ", ")
}

func (w Window) String() string {
	switch w.Per {
	case time.Second:
		return fmt.Sprintf("%d/s", w.N)
	case time.Minute:
		return fmt.Sprintf("%d/min", w.N)
	case time.Hour:
		return fmt.Sprintf("%d/h", w.N)
	}
	return fmt.Sprintf("%d/%s", w.N, w.Per)
}

func num(f float64) string {
	return strings.TrimSuffix(strings.TrimRight(fmt.Sprintf("%.3f", f), "0"), ".")
}

// Least is the least time n requests take under l: when the last of them
// may start at the earliest, the first starting at 0 and every request
// taking no time. The pacer keeps to this schedule, stretched by Margin and
// by each request's round trip.
func Least(l Limits, n int) time.Duration {
	if n <= 0 {
		return 0
	}
	at := make([]float64, n) // seconds
	burst := max(1, l.Burst)
	bucket := 0.0 // max over i ≤ k-burst of at[i] - i/rate
	for k := range n {
		for _, w := range l.Windows {
			if k >= w.N && w.N > 0 {
				at[k] = max(at[k], at[k-w.N]+w.Per.Seconds())
			}
		}
		// A bucket lets k-i+1 requests into [at[i], at[k]] only if
		// k-i+1 ≤ burst + rate·(at[k]-at[i]).
		if l.PerSecond > 0 && k >= burst {
			j := k - burst
			bucket = max(bucket, at[j]-float64(j)/l.PerSecond)
			at[k] = max(at[k], bucket+float64(j+1)/l.PerSecond)
		}
	}
	return time.Duration(at[n-1] * float64(time.Second))
}

// Pacer spaces one vendor's requests so they stay within its Limits. Every
// request to the vendor with the same credentials (extraction and write-back
// alike) must go through the same Pacer. Safe for concurrent use.
type Pacer struct {
	windows  []window
	interval time.Duration // of the bucket, with Margin; 0: no bucket
	burst    int
	rate     string        // the bucket's rate as documented: "10/s"
	sem      chan struct{} // one caller at a time decides its send time

	mu      sync.Mutex
	n       int           // requests let through so far
	ring    []slot        // the answers of the last len(ring) requests: request i in ring[i%len]
	changed chan struct{} // closed (and replaced) when an answer arrives
	bucket  time.Time     // max over the requests i ≤ k-burst of answer(i) - i·interval
	hold    time.Time     // no request before this (a vendor's Retry-After)
	held    time.Time     // a request waits for a limit until then
	limit   string        // the limit it waits for
	now     func() time.Time
	sleep   func(context.Context, time.Duration) error
}

type window struct {
	n     int
	per   time.Duration // with Margin
	floor time.Time     // the latest answer among requests i ≤ k-n
	name  string        // as documented: "200/min"
}

type slot struct {
	answered bool
	at       time.Time
}

// New returns a pacer for l, with Margin applied.
func New(l Limits) *Pacer {
	p := &Pacer{sem: make(chan struct{}, 1), changed: make(chan struct{}), now: time.Now, sleep: Sleep}
	depth := 0
	if l.PerSecond > 0 {
		p.interval = time.Duration(float64(time.Second) / l.PerSecond * (1 + Margin))
		p.burst = max(1, l.Burst)
		p.rate = num(l.PerSecond) + "/s"
		depth = p.burst
	}
	for _, w := range l.Windows {
		if w.N <= 0 || w.Per <= 0 {
			continue
		}
		p.windows = append(p.windows, window{n: w.N, per: time.Duration(float64(w.Per) * (1 + Margin)), name: w.String()})
		depth = max(depth, w.N)
	}
	p.ring = make([]slot, depth)
	return p
}

// Unlimited returns a pacer that never waits.
func Unlimited() *Pacer { return New(Limits{}) }

// Wait blocks until a request may be sent and counts it as sent. The caller
// must call answered once the request's answer (or its failure) has
// arrived, whatever happens: later requests are measured from that moment.
func (p *Pacer) Wait(ctx context.Context) (answered func(), err error) {
	select {
	case p.sem <- struct{}{}:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	defer func() { <-p.sem }()
	k := p.n // p.n changes only under sem
	// The requests this one is measured from must have been answered.
	for {
		p.mu.Lock()
		ready := true
		for _, j := range p.anchors(k) {
			if !p.ring[j%len(p.ring)].answered {
				ready = false
			}
		}
		ch := p.changed
		p.mu.Unlock()
		if ready {
			break
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	for {
		now := p.now()
		at, limit := p.earliest(k)
		if !at.After(now) {
			break
		}
		if limit != "" {
			p.mu.Lock()
			p.held, p.limit = at, limit
			p.mu.Unlock()
		}
		if err := p.sleep(ctx, at.Sub(now)); err != nil {
			return nil, err
		}
	}
	if len(p.ring) == 0 {
		return func() {}, nil
	}
	p.mu.Lock()
	p.ring[k%len(p.ring)] = slot{}
	p.n++
	p.mu.Unlock()
	var once sync.Once
	return func() { once.Do(func() { p.answer(k) }) }, nil
}

// anchors are the earlier requests whose answers bound request k's send time.
func (p *Pacer) anchors(k int) []int {
	var out []int
	for _, w := range p.windows {
		if k >= w.n {
			out = append(out, k-w.n)
		}
	}
	if p.interval > 0 && k >= p.burst {
		out = append(out, k-p.burst)
	}
	return out
}

// earliest is when request k may be sent, and the limit that sets that
// time ("" when none does, or a Retry-After).
func (p *Pacer) earliest(k int) (at time.Time, limit string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	// Window: at most n-1 earlier requests may have been answered less than
	// per ago (or not yet), so request k-n and every one before it must have
	// been answered per ago.
	for i := range p.windows {
		w := &p.windows[i]
		if k < w.n {
			continue
		}
		w.floor = later(w.floor, p.ring[(k-w.n)%len(p.ring)].at)
		if t := w.floor.Add(w.per); t.After(at) {
			at, limit = t, w.name
		}
	}
	// Bucket: for every i ≤ k-burst, the k-i+1 requests from i to k need
	// burst + (k-i+1-burst) tokens, so k goes (k-i+1-burst) intervals after
	// i's answer.
	if p.interval > 0 && k >= p.burst {
		j := k - p.burst
		p.bucket = later(p.bucket, p.ring[j%len(p.ring)].at.Add(-time.Duration(j)*p.interval))
		if t := p.bucket.Add(time.Duration(j+1) * p.interval); t.After(at) {
			at, limit = t, p.rate
		}
	}
	if p.hold.After(at) {
		return p.hold, ""
	}
	return at, limit
}

// heldFor is how long the pacer still counts as holding requests back
// after one was let through: the gaps between one request's answer and the
// next's wait are not a change of regime.
const heldFor = time.Second

// Holding reports whether the pacer is holding requests back for a limit
// (or did less than a second ago), and which: "200/min". For a display
// telling the rate limit apart from a slow program; cheap.
func (p *Pacer) Holding() (limit string, held bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.limit == "" || p.now().After(p.held.Add(heldFor)) {
		return "", false
	}
	return p.limit, true
}

func (p *Pacer) answer(k int) {
	p.mu.Lock()
	p.ring[k%len(p.ring)] = slot{answered: true, at: p.now()}
	close(p.changed)
	p.changed = make(chan struct{})
	p.mu.Unlock()
}

func later(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// Hold stops every request until d from now: a vendor's Retry-After applies
// to all of this client's requests, not only to the one that got it.
func (p *Pacer) Hold(d time.Duration) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if t := p.now().Add(d); t.After(p.hold) {
		p.hold = t
	}
}

// Sleep waits d, or until ctx is done (then it returns ctx's error).
func Sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
