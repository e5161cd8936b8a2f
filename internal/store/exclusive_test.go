package store

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"sync"
	"testing"

	"etl/internal/s3test"
)

// exclusive checks CreateExclusive on one store: of writers racing for a
// key exactly one wins and the object is that writer's, whole; the others
// are told the key exists; a later create of the key fails the same way.
func exclusive(t *testing.T, st interface {
	Store
	Exclusive
}) {
	ctx := context.Background()
	for round := range 3 {
		key := fmt.Sprintf("_locks/dt=2026-01-0%d/lease", round+1)
		const racers = 8
		errs := make([]error, racers)
		var wg sync.WaitGroup
		for i := range racers {
			wg.Go(func() { errs[i] = st.CreateExclusive(ctx, key, []byte(fmt.Sprintf("holder %d", i))) })
		}
		wg.Wait()
		winner := -1
		for i, err := range errs {
			switch {
			case err == nil && winner >= 0:
				t.Fatalf("round %d: racers %d and %d both created %s", round, winner, i, key)
			case err == nil:
				winner = i
			case !errors.Is(err, fs.ErrExist):
				t.Fatalf("round %d: racer %d: %v, want an error wrapping fs.ErrExist", round, i, err)
			}
		}
		if winner < 0 {
			t.Fatalf("round %d: nobody created %s: %v", round, key, errs)
		}
		r, err := st.Open(ctx, key)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(r)
		r.Close()
		if want := fmt.Sprintf("holder %d", winner); string(b) != want {
			t.Fatalf("round %d: %s holds %q, want the winner's %q", round, key, b, want)
		}
		if err := st.CreateExclusive(ctx, key, []byte("late")); !errors.Is(err, fs.ErrExist) {
			t.Fatalf("round %d: a create of an existing key: %v", round, err)
		}
		// Once removed, the key is free again.
		if err := st.Delete(ctx, key); err != nil {
			t.Fatal(err)
		}
		if err := st.CreateExclusive(ctx, key, []byte("again")); err != nil {
			t.Fatalf("round %d: create after delete: %v", round, err)
		}
	}
	keys, err := st.List(ctx, "_locks/")
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) != 3 {
		t.Fatalf("objects left: %v, want the three keys and no temporary files", keys)
	}
}

func TestCreateExclusiveLocal(t *testing.T) { exclusive(t, Local{Root: t.TempDir()}) }

// Versity honours If-None-Match: * (evaluated again under its publish lock),
// as AWS S3 does.
func TestCreateExclusiveS3(t *testing.T) {
	srv := s3test.Start(t, "warehouse")
	exclusive(t, openS3(t, srv, "out/"))
}
