package lease

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"etl/internal/s3test"
	"etl/internal/store"
)

const dir = "_locks/dt=2026-03-01/"

func stores(t *testing.T) map[string]func(t *testing.T) Store {
	return map[string]func(t *testing.T) Store{
		"local": func(t *testing.T) Store { return store.Local{Root: t.TempDir()} },
		"s3": func(t *testing.T) Store {
			srv := s3test.Start(t, "warehouse")
			srv.Setenv(t)
			st, err := store.OpenS3(context.Background(), srv.URI("out"))
			if err != nil {
				t.Fatal(err)
			}
			return st
		},
	}
}

// put writes a generation as another holder would have.
func put(t *testing.T, st Store, n int, h Holder) {
	t.Helper()
	b, _ := json.Marshal(h)
	if err := st.CreateExclusive(context.Background(), fmt.Sprintf("%s%020d.json", dir, n), b); err != nil {
		t.Fatal(err)
	}
}

func held(t *testing.T, err error, runID string) {
	t.Helper()
	var he *HeldError
	if !errors.As(err, &he) || he.Holder.RunID != runID || !strings.Contains(err.Error(), "run "+runID+" holds it") {
		t.Fatalf("got %v, want the lease held by run %s", err, runID)
	}
}

func TestLease(t *testing.T) {
	for name, open := range stores(t) {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			t.Run("one holder, then the next", func(t *testing.T) {
				st := open(t)
				a, err := Acquire(ctx, st, dir, Self("run-a", "all"), time.Minute, nil)
				if err != nil {
					t.Fatal(err)
				}
				_, err = Acquire(ctx, st, dir, Self("run-b", "all"), time.Minute, nil)
				held(t, err, "run-a")
				held(t, Free(ctx, st, dir), "run-a")
				// Another name is another lease.
				c, err := Acquire(ctx, st, "_locks/dt=2026-03-02/", Self("run-c", "all"), time.Minute, nil)
				if err != nil {
					t.Fatalf("another date: %v", err)
				}
				if err := a.Check(ctx); err != nil {
					t.Fatal(err)
				}
				if err := a.Release(ctx); err != nil {
					t.Fatal(err)
				}
				c.Release(ctx)
				if err := Free(ctx, st, dir); err != nil {
					t.Fatalf("after release: %v", err)
				}
				b, err := Acquire(ctx, st, dir, Self("run-b", "all"), time.Minute, nil)
				if err != nil {
					t.Fatalf("after release: %v", err)
				}
				defer b.Release(ctx)
				// Older generations are removed by the newer holder.
				if keys, _ := st.List(ctx, dir); len(keys) != 1 || !strings.HasSuffix(keys[0], "00000000000000000002.json") {
					t.Fatalf("lease files: %v", keys)
				}
			})
			t.Run("a dead holder of this machine is taken over at once", func(t *testing.T) {
				st := open(t)
				cmd := exec.Command("true")
				if err := cmd.Run(); err != nil {
					t.Fatal(err)
				}
				dead := Self("run-dead", "all")
				dead.PID, dead.PIDStart = cmd.Process.Pid, ""
				now := time.Now().UTC()
				dead.Renewed, dead.Expires = now, now.Add(time.Hour)
				put(t, st, 1, dead)
				l, err := Acquire(ctx, st, dir, Self("run-b", "all"), time.Minute, nil)
				if err != nil {
					t.Fatalf("a dead holder's lease: %v", err)
				}
				l.Release(ctx)
			})
			t.Run("another machine's lease is taken over once expired", func(t *testing.T) {
				st := open(t)
				other := Holder{RunID: "run-far", Host: "elsewhere", Machine: "elsewhere/boot", PID: 1}
				now := time.Now().UTC()
				other.Renewed, other.Expires = now, now.Add(time.Hour)
				put(t, st, 1, other)
				_, err := Acquire(ctx, st, dir, Self("run-b", "all"), time.Minute, nil)
				held(t, err, "run-far")
				other.Renewed, other.Expires = now.Add(-2*time.Minute), now.Add(-time.Minute)
				put(t, st, 2, other)
				l, err := Acquire(ctx, st, dir, Self("run-b", "all"), time.Minute, nil)
				if err != nil {
					t.Fatalf("an expired lease: %v", err)
				}
				l.Release(ctx)
			})
			t.Run("renewed while held", func(t *testing.T) {
				st := open(t)
				a, err := Acquire(ctx, st, dir, Self("run-a", "all"), 400*time.Millisecond, nil)
				if err != nil {
					t.Fatal(err)
				}
				first := a.Holder().Expires
				time.Sleep(time.Second)
				if !a.Holder().Expires.After(first) {
					t.Fatal("the lease was not renewed")
				}
				// A holder of another machine, unrenewed, would have expired.
				_, err = Acquire(ctx, st, dir, Self("run-b", "all"), time.Minute, nil)
				held(t, err, "run-a")
				a.Release(ctx)
			})
			t.Run("a holder taken over learns it", func(t *testing.T) {
				st := open(t)
				lost := make(chan error, 1)
				a, err := Acquire(ctx, st, dir, Self("run-a", "all"), 200*time.Millisecond, func(err error) { lost <- err })
				if err != nil {
					t.Fatal(err)
				}
				put(t, st, 2, Holder{RunID: "run-b", Host: "elsewhere", Machine: "elsewhere", Expires: time.Now().Add(time.Hour)})
				select {
				case err := <-lost:
					if !strings.Contains(err.Error(), "taken over by run run-b") {
						t.Fatalf("lost: %v", err)
					}
				case <-time.After(10 * time.Second):
					t.Fatal("the holder never noticed")
				}
				if err := a.Check(ctx); err == nil {
					t.Fatal("Check passed after a takeover")
				}
				a.Release(ctx)
				// The release left the new holder's lease alone.
				_, err = Acquire(ctx, st, dir, Self("run-c", "all"), time.Minute, nil)
				held(t, err, "run-b")
			})
			t.Run("of many takers at once, one wins", func(t *testing.T) {
				st := open(t)
				const n = 6
				won := make([]*Lease, n)
				errs := make([]error, n)
				var wg sync.WaitGroup
				for i := range n {
					wg.Go(func() {
						won[i], errs[i] = Acquire(ctx, st, dir, Self(fmt.Sprintf("run-%d", i), "all"), time.Minute, nil)
					})
				}
				wg.Wait()
				winners := 0
				for i := range n {
					var he *HeldError
					switch {
					case errs[i] == nil:
						winners++
						defer won[i].Release(ctx)
					case !errors.As(errs[i], &he):
						t.Errorf("taker %d: %v", i, errs[i])
					}
				}
				if winners != 1 {
					t.Fatalf("%d takers won", winners)
				}
			})
		})
	}
}
