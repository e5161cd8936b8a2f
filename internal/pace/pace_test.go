package pace

import (
	"context"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"
)

// The vendors' limits (internal/vendors, which imports this package).
var (
	planhat = Limits{Windows: []Window{{N: 150, Per: time.Second}, {N: 200, Per: time.Minute}}}
	dixa    = Limits{PerSecond: 10, Burst: 4}
	moesif  = Limits{Windows: []Window{{N: 500, Per: time.Minute}}}
	userlot = Limits{Windows: []Window{{N: 5, Per: time.Second}}}
)

// maxIn is the most times falling in any interval of length per (at sorted).
func maxIn(at []time.Time, per time.Duration) int {
	best, j := 0, 0
	for i := range at {
		for at[i].Sub(at[j]) >= per {
			j++
		}
		best = max(best, i-j+1)
	}
	return best
}

// bucketOK replays sorted arrival times through a token bucket that starts
// full, as a vendor counts: false when one came with the bucket empty.
func bucketOK(at []time.Time, rate float64, burst int) bool {
	tokens, last := float64(burst), time.Time{}
	for i, t := range at {
		if i > 0 {
			tokens = min(float64(burst), tokens+t.Sub(last).Seconds()*rate)
		}
		last = t
		if tokens < 1-1e-9 {
			return false
		}
		tokens--
	}
	return true
}

// within fails t unless the arrival times keep every limit of l.
func within(t *testing.T, at []time.Time, l Limits) {
	t.Helper()
	slices.SortFunc(at, func(a, b time.Time) int { return a.Compare(b) })
	for _, w := range l.Windows {
		if got := maxIn(at, w.Per); got > w.N {
			t.Errorf("%d requests in one %s window, limit %d", got, w.Per, w.N)
		}
	}
	if l.PerSecond > 0 && !bucketOK(at, l.PerSecond, l.Burst) {
		t.Errorf("a request came with the %s bucket empty", l)
	}
}

func TestLeast(t *testing.T) {
	for _, c := range []struct {
		name string
		l    Limits
		n    int
		want time.Duration
	}{
		// 150 go at once, the 151st a second after the 1st; 200 in the
		// first minute, the 201st 60 s after the 1st, and the rest with it.
		{"planhat 41", planhat, 41, 0},
		{"planhat 301", planhat, 301, time.Minute},
		{"planhat 350", planhat, 350, time.Minute},
		{"planhat 351", planhat, 351, time.Minute + time.Second},
		// 4 at once, then one every 100 ms.
		{"dixa 4", dixa, 4, 0},
		{"dixa 41", dixa, 41, 3700 * time.Millisecond},
		{"dixa 301", dixa, 301, 29700 * time.Millisecond},
		{"moesif 500", moesif, 500, 0},
		{"moesif 501", moesif, 501, time.Minute},
		// 5 in each second.
		{"userlot 41", userlot, 41, 8 * time.Second},
		{"userlot 301", userlot, 301, time.Minute},
		{"none", Limits{}, 1000, 0},
	} {
		if got := Least(c.l, c.n); (got - c.want).Abs() > time.Microsecond {
			t.Errorf("%s: Least = %v, want %v", c.name, got, c.want)
		}
	}
}

// fake is a clock that moves only when the pacer sleeps or a request is answered.
type fake struct{ t time.Time }

func (f *fake) install(p *Pacer) {
	p.now = func() time.Time { return f.t }
	p.sleep = func(_ context.Context, d time.Duration) error { f.t = f.t.Add(d); return nil }
}

// safe fails t unless the requests, sent one after another at sent[i] and
// answered at answered[i], keep l however the network delayed each within
// its round trip: in a window, fewer than N earlier requests may be answered
// less than Per before a send; in a bucket, request k goes at least
// (k-i+1-burst)/rate after request i's answer.
func safe(t *testing.T, sent, answered []time.Time, l Limits) {
	t.Helper()
	for k := range sent {
		for _, w := range l.Windows {
			n := 0
			for j := range k {
				if answered[j].After(sent[k].Add(-w.Per)) {
					n++
				}
			}
			if n >= w.N {
				t.Fatalf("request %d: %d earlier requests may fall in its %s window, limit %d", k, n, w.Per, w.N)
			}
		}
		if l.PerSecond > 0 {
			for i := 0; i <= k-max(1, l.Burst); i++ {
				if need := time.Duration(float64(k-i+1-max(1, l.Burst)) / l.PerSecond * float64(time.Second)); sent[k].Sub(answered[i]) < need {
					t.Fatalf("request %d sent %v after request %d was answered; the bucket needs %v", k, sent[k].Sub(answered[i]), i, need)
				}
			}
		}
	}
}

// TestScheduleReachesTheLimits sends requests one after another, each
// answered after a round trip, on a fake clock. Whenever the vendor sees each
// one during its round trip, no limit is exceeded; and with round trips of
// next to nothing, the last goes no later than the least time the limits
// allow, stretched by Margin.
func TestScheduleReachesTheLimits(t *testing.T) {
	for _, c := range []struct {
		name string
		l    Limits
		n    int
	}{
		{"planhat", planhat, 301}, {"dixa", dixa, 301}, {"moesif", moesif, 1001}, {"userlot", userlot, 301},
		{"override", Limits{PerSecond: 2, Burst: 1}, 30},
	} {
		for _, rtt := range []time.Duration{time.Microsecond, 30 * time.Millisecond} {
			t.Run(c.name+"/"+rtt.String(), func(t *testing.T) {
				p := New(c.l)
				f := &fake{t: time.Unix(1e9, 0)}
				f.install(p)
				rng := rand.New(rand.NewPCG(1, 2))
				var sent, answered, seen []time.Time
				for range c.n {
					done, err := p.Wait(context.Background())
					if err != nil {
						t.Fatal(err)
					}
					sent = append(sent, f.t)
					seen = append(seen, f.t.Add(time.Duration(rng.Int64N(int64(rtt)+1))))
					f.t = f.t.Add(rtt)
					done()
					answered = append(answered, f.t)
				}
				safe(t, sent, answered, c.l)
				within(t, seen, c.l)
				if rtt > time.Microsecond {
					return
				}
				span, least := sent[len(sent)-1].Sub(sent[0]), Least(c.l, c.n)
				if limit := time.Duration(float64(least)*(1+Margin)) + time.Duration(c.n)*rtt + time.Millisecond; span > limit {
					t.Errorf("last request after %v; the limits allow %v, so at most %v", span, least, limit)
				}
			})
		}
	}
}

// TestConcurrentRequests: requests answered out of order by several
// goroutines (write-back's concurrency), on the real clock, with the vendor
// seeing each at a random moment of its round trip.
func TestConcurrentRequests(t *testing.T) {
	for _, l := range []Limits{
		{PerSecond: 100, Burst: 4},
		{Windows: []Window{{N: 5, Per: 50 * time.Millisecond}, {N: 12, Per: 200 * time.Millisecond}}},
	} {
		p := New(l)
		var mu sync.Mutex
		var at []time.Time
		var wg sync.WaitGroup
		for g := range 6 {
			wg.Go(func() {
				rng := rand.New(rand.NewPCG(uint64(g), 7))
				for range 8 {
					answered, err := p.Wait(context.Background())
					if err != nil {
						t.Error(err)
						return
					}
					time.Sleep(time.Duration(rng.Int64N(int64(3 * time.Millisecond))))
					mu.Lock()
					at = append(at, time.Now())
					mu.Unlock()
					time.Sleep(time.Duration(rng.Int64N(int64(10 * time.Millisecond))))
					answered()
				}
			})
		}
		wg.Wait()
		within(t, at, l)
	}
}

func TestHoldDelaysEveryone(t *testing.T) {
	p := Unlimited()
	f := &fake{t: time.Unix(1e9, 0)}
	f.install(p)
	start := f.t
	p.Hold(150 * time.Millisecond)
	if _, err := p.Wait(context.Background()); err != nil {
		t.Fatal(err)
	}
	if d := f.t.Sub(start); d != 150*time.Millisecond {
		t.Fatalf("waited %v, want the hold of 150ms", d)
	}
}

// A request that is never answered holds back the ones measured from it,
// until the context ends.
func TestWaitCancelled(t *testing.T) {
	p := New(Limits{Windows: []Window{{N: 1, Per: time.Millisecond}}})
	if _, err := p.Wait(context.Background()); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, err := p.Wait(ctx); err == nil {
		t.Fatal("Wait returned nil after its context ended, before the previous request was answered")
	}
}

func TestLimitsString(t *testing.T) {
	for l, want := range map[*Limits]string{&planhat: "150/s, 200/min", &dixa: "10/s (burst 4)", &moesif: "500/min",
		{PerSecond: 3.5, Burst: 2}: "3.5/s (burst 2)"} {
		if got := l.String(); got != want {
			t.Errorf("%+v: %q, want %q", *l, got, want)
		}
	}
}

// Holding names the limit that holds requests back, while it does.
func TestHolding(t *testing.T) {
	p := New(planhat)
	f := &fake{t: time.Unix(1e9, 0)}
	f.install(p)
	send := func(n int) {
		for range n {
			done, err := p.Wait(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			f.t = f.t.Add(time.Millisecond)
			done()
		}
	}
	send(150)
	if limit, held := p.Holding(); held {
		t.Fatalf("held by %s before any request waited", limit)
	}
	send(1) // the 151st waits for the second
	if limit, held := p.Holding(); !held || limit != "150/s" {
		t.Fatalf("Holding() = %q, %v after waiting for the 1 s window", limit, held)
	}
	send(49)
	send(1) // the 201st waits for the minute
	if limit, held := p.Holding(); !held || limit != "200/min" {
		t.Fatalf("Holding() = %q, %v after waiting for the 60 s window", limit, held)
	}
	f.t = f.t.Add(2 * heldFor)
	if limit, held := p.Holding(); held {
		t.Fatalf("still held by %s long after the last wait", limit)
	}

	u := Unlimited()
	u.Hold(time.Millisecond) // a Retry-After is not a limit of ours
	if _, err := u.Wait(context.Background()); err != nil {
		t.Fatal(err)
	}
	if limit, held := u.Holding(); held {
		t.Fatalf("an unlimited pacer held by %q", limit)
	}
	d := New(dixa)
	f = &fake{t: time.Unix(1e9, 0)}
	f.install(d)
	for range 5 {
		done, _ := d.Wait(context.Background())
		done()
	}
	if limit, held := d.Holding(); !held || limit != "10/s" {
		t.Fatalf("Holding() = %q, %v after the bucket ran dry", limit, held)
	}
}
