package pace

import (
	"context"
	"testing"
	"time"
)

// maxIn is the most times falling in any interval of length per.
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

func TestWindowsNeverExceeded(t *testing.T) {
	p := New(Limits{PerSecond: 100, Burst: 10, Windows: []Window{{N: 8, Per: 200 * time.Millisecond}}})
	var at []time.Time
	for i := 0; i < 30; i++ {
		if err := p.Wait(context.Background()); err != nil {
			t.Fatal(err)
		}
		at = append(at, time.Now())
	}
	if got := maxIn(at, 200*time.Millisecond); got > 8 {
		t.Fatalf("%d requests in one 200ms window, limit 8", got)
	}
}

func TestBurstThenRate(t *testing.T) {
	p := New(Limits{PerSecond: 20, Burst: 4})
	start := time.Now()
	for i := 0; i < 4; i++ {
		p.Wait(context.Background())
	}
	burst := time.Since(start)
	p.Wait(context.Background())
	// The fifth waits for a token: at least most of 1/20 s (allowing timer slack).
	if gap := time.Since(start) - burst; gap < 40*time.Millisecond {
		t.Fatalf("fifth request after %v; the bucket should have been empty", gap)
	}
}

func TestHoldDelaysEveryone(t *testing.T) {
	p := Unlimited()
	p.Hold(150 * time.Millisecond)
	start := time.Now()
	p.Wait(context.Background())
	if d := time.Since(start); d < 140*time.Millisecond {
		t.Fatalf("waited %v, want the hold of 150ms", d)
	}
}

func TestWaitCancelled(t *testing.T) {
	p := New(Limits{Windows: []Window{{N: 1, Per: time.Hour}}})
	p.Wait(context.Background())
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := p.Wait(ctx); err == nil {
		t.Fatal("Wait returned nil after its context ended")
	}
}
