// Package lease keeps at most one holder of a name at a time, in the object
// store the holders write to (a local directory or S3): the run-date lock.
//
// A name is a directory of generations, dir/00000000000000000001.json, …;
// the highest generation is the lease, holding its holder (run id, host,
// process, when it was renewed). Taking the lease is creating the next
// generation with the store's exclusive create (link(2) locally, PutObject
// with If-None-Match: * on S3), so of two takers exactly one wins, and it
// needs no delete that could race: generations only grow, and older ones
// are removed by whoever creates a newer one. The holder renews its
// generation while it lives and marks it released when it ends. A lease is
// free when it was released, when its holder's process is gone (same
// machine only), or when it was not renewed within its TTL; clocks of
// different hosts are taken to agree within seconds (NTP).
package lease

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"strconv"
	"strings"
	"sync"
	"time"

	"etl/internal/store"
)

// DefaultTTL is how long a lease lives without being renewed.
const DefaultTTL = 60 * time.Second

// Store is where leases live.
type Store interface {
	store.Store
	store.Exclusive
}

// Holder describes who holds a lease; it is the generation's content.
type Holder struct {
	RunID string `json:"run_id"`
	Stage string `json:"stage,omitempty"`
	Host  string `json:"host"`
	// Machine names the process table PID belongs to (host, boot, PID
	// namespace): only there does a missing process mean a dead holder.
	Machine string `json:"machine"`
	PID     int    `json:"pid"`
	// PIDStart is the process's start time (Linux), so that a PID reused
	// by another process is not taken for the holder.
	PIDStart string    `json:"pid_start,omitempty"`
	Acquired time.Time `json:"acquired_at"`
	Renewed  time.Time `json:"renewed_at"`
	Expires  time.Time `json:"expires_at"`
	Released bool      `json:"released,omitempty"`
}

// Self describes this process as a holder of run runID.
func Self(runID, stage string) Holder {
	host, _ := os.Hostname()
	pid := os.Getpid()
	return Holder{RunID: runID, Stage: stage, Host: host, Machine: thisMachine(), PID: pid, PIDStart: processStart(pid)}
}

// HeldError is returned by Acquire when a live holder has the lease.
type HeldError struct {
	Holder Holder
	Now    time.Time
}

func (e *HeldError) Error() string {
	h := e.Holder
	s := fmt.Sprintf("run %s holds it", h.RunID)
	if h.Stage != "" {
		s += " (stage " + h.Stage + ")"
	}
	return s + fmt.Sprintf(", pid %d on %s, renewed %s ago, taken over if not renewed by %s",
		h.PID, h.Host, e.Now.Sub(h.Renewed).Round(time.Second), h.Expires.UTC().Format(time.RFC3339))
}

// Lease is a lease held by this process.
type Lease struct {
	st     Store
	dir    string
	gen    uint64
	me     Holder
	ttl    time.Duration
	onLost func(error)

	mu   sync.Mutex
	lost error

	stop chan struct{}
	done chan struct{}
}

// Acquire takes the lease of dir (a key prefix ending in /) for me, or
// fails with a *HeldError naming its live holder. The lease is renewed
// every ttl/4 until Release; if it is lost (taken over after renewals
// failed for a whole ttl, or while this process was stopped), onLost is
// called once with why, from another goroutine.
func Acquire(ctx context.Context, st Store, dir string, me Holder, ttl time.Duration, onLost func(error)) (*Lease, error) {
	for range 10 {
		gens, n, err := scan(ctx, st, dir)
		if err != nil {
			return nil, err
		}
		top, err := read(ctx, st, gens)
		if err != nil {
			return nil, err
		}
		now := time.Now().UTC()
		if top != nil && live(*top, now) {
			return nil, &HeldError{Holder: *top, Now: now}
		}
		l := &Lease{st: st, dir: dir, gen: n + 1, me: me, ttl: ttl, onLost: onLost, stop: make(chan struct{}), done: make(chan struct{})}
		l.me.Acquired, l.me.Renewed, l.me.Expires = now, now, now.Add(ttl)
		body, _ := json.Marshal(l.me)
		if err := st.CreateExclusive(ctx, l.key(), body); errors.Is(err, fs.ErrExist) {
			continue // another taker was first: look again
		} else if err != nil {
			return nil, fmt.Errorf("taking the lock %s: %w", st.URI(l.key()), err)
		}
		// A taker that read an old listing can create a generation that a
		// newer holder had already removed: it is not the top, so it backs off.
		_, now2, err := scan(ctx, st, dir)
		if err != nil || now2 != l.gen {
			st.Delete(ctx, l.key())
			if err != nil {
				return nil, err
			}
			continue
		}
		// Best effort: a generation left behind is ignored, and removed by
		// the next taker.
		var older []string
		for _, g := range gens {
			if g.n < l.gen {
				older = append(older, g.key)
			}
		}
		st.Delete(ctx, older...)
		go l.renew()
		return l, nil
	}
	return nil, fmt.Errorf("could not take the lock %s: too many other takers at once", st.URI(dir))
}

// Free returns nil when nobody holds dir's lease, else a *HeldError naming
// its live holder: for a run that must not start while another holds a
// lease it does not need to take.
func Free(ctx context.Context, st Store, dir string) error {
	gens, _, err := scan(ctx, st, dir)
	if err != nil {
		return err
	}
	top, err := read(ctx, st, gens)
	if err != nil {
		return err
	}
	if now := time.Now().UTC(); top != nil && live(*top, now) {
		return &HeldError{Holder: *top, Now: now}
	}
	return nil
}

func (l *Lease) key() string { return fmt.Sprintf("%s%020d.json", l.dir, l.gen) }

// Holder is who this lease says holds it.
func (l *Lease) Holder() Holder {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.me
}

// Check confirms that this process still holds the lease, so that a run
// about to replace a partition or write to a vendor does not do it after
// being taken over.
func (l *Lease) Check(ctx context.Context) error {
	if err := l.lostErr(); err != nil {
		return err
	}
	return l.confirm(ctx)
}

func (l *Lease) lostErr() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.lost
}

// confirm checks that this lease's generation is still the highest.
func (l *Lease) confirm(ctx context.Context) error {
	gens, n, err := scan(ctx, l.st, l.dir)
	if err != nil {
		return err
	}
	if n != l.gen {
		by := "another run"
		if top, _ := read(ctx, l.st, gens); top != nil {
			by = "run " + top.RunID
		}
		return &takenOverError{by: by, ttl: l.ttl}
	}
	return nil
}

type takenOverError struct {
	by  string
	ttl time.Duration
}

func (e *takenOverError) Error() string {
	return fmt.Sprintf("the lock was taken over by %s after this run did not renew it for %s", e.by, e.ttl)
}

func (l *Lease) renew() {
	defer close(l.done)
	every := max(l.ttl/4, 10*time.Millisecond)
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-l.stop:
			return
		case <-t.C:
		}
		ctx, cancel := context.WithTimeout(context.Background(), every)
		err := l.confirm(ctx)
		if err == nil {
			h := l.Holder()
			now := time.Now().UTC()
			h.Renewed, h.Expires = now, now.Add(l.ttl)
			if err = l.put(ctx, h); err == nil {
				l.mu.Lock()
				l.me = h
				l.mu.Unlock()
			}
		}
		cancel()
		// A lease that cannot be renewed is given up before others may take
		// it over, not after.
		var taken *takenOverError
		if err != nil && (errors.As(err, &taken) || time.Now().Add(every).After(l.Holder().Expires)) {
			l.mu.Lock()
			l.lost = fmt.Errorf("lost the lock: %w", err)
			l.mu.Unlock()
			if l.onLost != nil {
				l.onLost(l.lostErr())
			}
			return
		}
	}
}

func (l *Lease) put(ctx context.Context, h Holder) error {
	body, _ := json.Marshal(h)
	o, err := l.st.Create(ctx, l.key())
	if err != nil {
		return err
	}
	if _, err := o.Write(body); err != nil {
		o.Abort()
		return err
	}
	return o.Close()
}

// Release stops renewing and marks the lease released, unless another
// holder took it over meanwhile.
func (l *Lease) Release(ctx context.Context) error {
	close(l.stop)
	<-l.done
	if l.lostErr() != nil {
		return nil
	}
	if err := l.confirm(ctx); err != nil {
		return nil // not ours any more: nothing to release
	}
	h := l.Holder()
	h.Released, h.Renewed = true, time.Now().UTC()
	if err := l.put(ctx, h); err != nil {
		return fmt.Errorf("releasing the lock %s: %w", l.st.URI(l.key()), err)
	}
	return nil
}

type gen struct {
	key string
	n   uint64
}

// scan lists the generations of dir, ascending, and the highest number (0
// when there is none).
func scan(ctx context.Context, st Store, dir string) ([]gen, uint64, error) {
	keys, err := st.List(ctx, dir)
	if err != nil {
		return nil, 0, fmt.Errorf("reading the lock %s: %w", st.URI(dir), err)
	}
	var gens []gen
	for _, k := range keys { // sorted, and the names have a fixed width
		if n, ok := generation(dir, k); ok {
			gens = append(gens, gen{k, n})
		}
	}
	if len(gens) == 0 {
		return nil, 0, nil
	}
	return gens, gens[len(gens)-1].n, nil
}

// read reads the holder of the highest of gens; nil when there is none.
func read(ctx context.Context, st Store, gens []gen) (*Holder, error) {
	if len(gens) == 0 {
		return nil, nil
	}
	top := gens[len(gens)-1].key
	r, err := st.Open(ctx, top)
	if errors.Is(err, fs.ErrNotExist) {
		// Removed since the listing, so a newer generation exists: it is
		// held, and creating the next one will fail and look again.
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading the lock %s: %w", st.URI(top), err)
	}
	defer r.Close()
	b, err := io.ReadAll(r)
	if err != nil {
		return nil, fmt.Errorf("reading the lock %s: %w", st.URI(top), err)
	}
	var h Holder
	if err := json.Unmarshal(b, &h); err != nil {
		return nil, fmt.Errorf("the lock %s is unreadable (%v); if no run holds it, remove it", st.URI(top), err)
	}
	return &h, nil
}

func generation(dir, key string) (uint64, bool) {
	name, ok := strings.CutSuffix(path.Base(key), ".json")
	if !ok || path.Dir(key)+"/" != dir || len(name) != 20 {
		return 0, false
	}
	g, err := strconv.ParseUint(name, 10, 64)
	return g, err == nil
}

// live reports whether h still holds its lease at now.
func live(h Holder, now time.Time) bool {
	if h.Released {
		return false
	}
	if h.Machine != "" && h.Machine == thisMachine() && gone(h.PID, h.PIDStart) {
		return false
	}
	return now.Before(h.Expires)
}
