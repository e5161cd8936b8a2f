package writeback

import (
	"context"
	"encoding/json"
	"errors"
	"sync"
	"sync/atomic"

	"golang.org/x/sync/errgroup"

	"etl/internal/vendorhttp"
	"etl/schemas"
)

// Sender writes one chunk to a vendor. It returns the vendor's message for
// each item that failed, by index in items. An error fails the whole chunk:
// a *Refused error means the vendor refused the chunk as a whole (it is split
// to isolate the bad items); any other error (retries exhausted, cancelled)
// fails every item of the chunk.
type Sender interface {
	Send(ctx context.Context, items []Patch) (failed map[int]string, err error)
}

// Refused is a vendor's refusal of a whole request (HTTP 400/422).
type Refused struct{ Message string }

func (r *Refused) Error() string { return "refused: " + r.Message }

// AsRefused turns a vendor's 400 or 422 answer into *Refused.
func AsRefused(err error) error {
	var se *vendorhttp.StatusError
	if errors.As(err, &se) && (se.Status == 400 || se.Status == 422) {
		return &Refused{Message: se.Message}
	}
	return err
}

// Options of one target's execution.
type Options struct {
	Target      string
	ChunkSize   int
	Concurrency int
	// OnSent, when set, is told how many items are finished after each chunk.
	OnSent func(done int64)
}

// Result counts one target's items (CONTRACT.md): sent counts each item once
// however often it was retried or re-sent after a split.
type Result struct {
	Sent    int64 `json:"sent"`
	Failed  int64 `json:"failed"`
	Rejects []schemas.Reject
}

// Execute sends patches in chunks of at most ChunkSize with at most
// Concurrency requests in flight. It returns an error only when cancelled;
// vendor failures are counted and listed as rejects.
func Execute(ctx context.Context, s Sender, patches []Patch, opt Options) (Result, error) {
	var mu sync.Mutex
	res := Result{Sent: int64(len(patches))}
	fail := func(p Patch, msg string) {
		raw, _ := json.Marshal(p.Set)
		mu.Lock()
		res.Failed++
		res.Rejects = append(res.Rejects, schemas.Reject{Stage: schemas.StageWriteback, Source: opt.Target,
			SourceID: p.SourceID, Reason: msg, Raw: string(raw)})
		mu.Unlock()
	}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(max(1, opt.Concurrency))
	size := max(1, opt.ChunkSize)
	var done atomic.Int64
	for start := 0; start < len(patches); start += size {
		chunk := patches[start:min(len(patches), start+size)]
		g.Go(func() error {
			err := send(gctx, s, chunk, fail)
			if n := done.Add(int64(len(chunk))); opt.OnSent != nil {
				opt.OnSent(n)
			}
			return err
		})
	}
	if err := g.Wait(); err != nil {
		return res, err
	}
	return res, ctx.Err()
}

// send writes a chunk, halving it while the vendor refuses it whole, until
// the refused items stand alone.
func send(ctx context.Context, s Sender, items []Patch, fail func(Patch, string)) error {
	failed, err := s.Send(ctx, items)
	if ctx.Err() != nil {
		return ctx.Err()
	}
	var ref *Refused
	switch {
	case errors.As(err, &ref) && len(items) > 1:
		half := len(items) / 2
		if err := send(ctx, s, items[:half], fail); err != nil {
			return err
		}
		return send(ctx, s, items[half:], fail)
	case err != nil:
		for _, it := range items {
			fail(it, err.Error())
		}
	default:
		for i, msg := range failed {
			fail(items[i], msg)
		}
	}
	return nil
}
