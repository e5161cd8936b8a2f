package extract

import (
	"context"
	"errors"
	"slices"
	"sync/atomic"
	"testing"
	"time"
)

// pages drives Ahead over n pages: fetch numbers them, emit records them.
type pages struct {
	n       int
	fetched int
	running atomic.Int32 // fetches in progress
	emitted []int
}

func (ps *pages) fetch(ctx context.Context, p *int) (bool, error) {
	if ps.running.Add(1) != 1 {
		panic("two fetches at once")
	}
	defer ps.running.Add(-1)
	if err := ctx.Err(); err != nil {
		return false, err
	}
	ps.fetched++
	*p = ps.fetched
	return ps.fetched < ps.n, nil
}

func TestAheadEmitsInOrderWhileFetchingTheNext(t *testing.T) {
	ps := &pages{n: 5}
	started := make(chan int, 5)
	fetch := func(ctx context.Context, p *int) (bool, error) {
		more, err := ps.fetch(ctx, p)
		started <- *p
		return more, err
	}
	err := Ahead(t.Context(), fetch, func(p *int) error {
		// The next page is fetched while this one is emitted.
		for next := 0; *p < ps.n && next != *p+1; {
			select {
			case next = <-started:
			case <-time.After(10 * time.Second):
				t.Fatalf("page %d: the next page was not fetched while it was emitted", *p)
			}
		}
		ps.emitted = append(ps.emitted, *p)
		return nil
	})
	if err != nil || !slices.Equal(ps.emitted, []int{1, 2, 3, 4, 5}) || ps.fetched != 5 {
		t.Fatalf("err %v, emitted %v, fetched %d", err, ps.emitted, ps.fetched)
	}
}

func TestAheadFetchErrorAfterThePagesBefore(t *testing.T) {
	ps := &pages{n: 10}
	boom := errors.New("boom")
	err := Ahead(t.Context(), func(ctx context.Context, p *int) (bool, error) {
		more, err := ps.fetch(ctx, p)
		if *p == 3 {
			return false, boom
		}
		return more, err
	}, func(p *int) error {
		ps.emitted = append(ps.emitted, *p)
		return nil
	})
	if err != boom || !slices.Equal(ps.emitted, []int{1, 2}) {
		t.Fatalf("err %v, emitted %v", err, ps.emitted)
	}
}

func TestAheadStopsOnEmitErrorAndCancel(t *testing.T) {
	boom := errors.New("boom")
	for _, c := range []struct {
		name string
		emit func(cancel context.CancelFunc) error
		want error
	}{
		{"emit error", func(context.CancelFunc) error { return boom }, boom},
		{"cancelled", func(cancel context.CancelFunc) error { cancel(); return nil }, context.Canceled},
	} {
		ps := &pages{n: 1000}
		ctx, cancel := context.WithCancel(t.Context())
		err := Ahead(ctx, ps.fetch, func(p *int) error {
			ps.emitted = append(ps.emitted, *p)
			if *p == 2 {
				return c.emit(cancel)
			}
			return nil
		})
		cancel()
		// No fetch runs once Ahead has returned, and no page was emitted after.
		if !errors.Is(err, c.want) || !slices.Equal(ps.emitted, []int{1, 2}) || ps.running.Load() != 0 || ps.fetched > 3 {
			t.Errorf("%s: err %v, emitted %v, fetched %d, running %d", c.name, err, ps.emitted, ps.fetched, ps.running.Load())
		}
	}
}
