package run

import (
	"testing"
	"time"

	"etl/transform/resolve"
)

// A run that fails before its first batch releases the hand at once: the
// hand's goroutine must not wait on a channel wait has already cleared.
func TestHandReleasedBeforeItsFirstBatch(t *testing.T) {
	for range 200 {
		h := newHand(resolve.New(resolve.Config{}), 0)
		done := make(chan struct{})
		go func() { h.release(); close(done) }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			t.Fatal("release of a hand that was handed nothing did not return")
		}
	}
}
