// Package pace keeps a client below a vendor's rate limits: a token bucket for
// bursts plus sliding windows ("at most N requests in any W"), so that no
// window the vendor counts in is ever exceeded, instead of discovering the
// limit through 429s.
package pace

import (
	"context"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// Margin stretches every window and slows every rate by a few percent, so that
// network jitter never pushes a vendor's own window over its limit.
const Margin = 0.03

// Window allows at most N requests in any interval of length Per.
type Window struct {
	N   int
	Per time.Duration
}

// Limits describe a vendor's documented limits.
type Limits struct {
	// PerSecond and Burst form a token bucket; PerSecond 0 means none.
	PerSecond float64
	Burst     int
	Windows   []Window
}

// Pacer spaces requests so they stay within Limits. Safe for concurrent use.
type Pacer struct {
	bucket  *rate.Limiter
	windows []window
	sem     chan struct{} // one caller at a time decides its send time
	mu      sync.Mutex
	hold    time.Time // no request before this (a vendor's Retry-After)
	now     func() time.Time
}

type window struct {
	n    int
	per  time.Duration
	sent []time.Time // ring of the last n send times
	next int
}

// New returns a pacer for l, with Margin applied.
func New(l Limits) *Pacer {
	p := &Pacer{sem: make(chan struct{}, 1), now: time.Now}
	if l.PerSecond > 0 {
		// The margin applies to the burst too: a full burst would leave only
		// the rate's few milliseconds of slack, and a first request slowed by
		// the dial makes the vendor see a later one too early. A burst of 4
		// becomes 3, one of 20 becomes 19.
		burst := int(float64(l.Burst) * (1 - Margin))
		if burst < 1 {
			burst = 1
		}
		p.bucket = rate.NewLimiter(rate.Limit(l.PerSecond*(1-Margin)), burst)
	}
	for _, w := range l.Windows {
		if w.N <= 0 || w.Per <= 0 {
			continue
		}
		p.windows = append(p.windows, window{n: w.N, per: time.Duration(float64(w.Per) * (1 + Margin)), sent: make([]time.Time, w.N)})
	}
	return p
}

// Unlimited returns a pacer that never waits.
func Unlimited() *Pacer { return New(Limits{}) }

// Wait blocks until a request may be sent, then counts it as sent.
func (p *Pacer) Wait(ctx context.Context) error {
	select {
	case p.sem <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	defer func() { <-p.sem }()
	for {
		now := p.now()
		p.mu.Lock()
		at := p.hold
		p.mu.Unlock()
		for i := range p.windows {
			w := &p.windows[i]
			// The oldest of the last n sends must have left the window.
			if oldest := w.sent[w.next]; !oldest.IsZero() {
				if t := oldest.Add(w.per); t.After(at) {
					at = t
				}
			}
		}
		if !at.After(now) {
			break
		}
		if err := Sleep(ctx, at.Sub(now)); err != nil {
			return err
		}
	}
	if p.bucket != nil {
		if err := p.bucket.Wait(ctx); err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return err
		}
	}
	now := p.now()
	for i := range p.windows {
		w := &p.windows[i]
		w.sent[w.next] = now
		w.next = (w.next + 1) % w.n
	}
	return nil
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
