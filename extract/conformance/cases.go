package conformance

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"etl/extract"
	"etl/internal/emulator/emu"
	"etl/internal/vendorhttp"
	"etl/schemas"
)

type testCase struct {
	group Group
	name  string
	run   func(t *testing.T, tg Target)
}

var cases = []testCase{
	{Completeness, "Empty", completeness(0, 10)},
	{Completeness, "PageSize1", completeness(5, 1)},
	{Completeness, "FullPages", completeness(30, 10)},
	{Completeness, "FullPagesPlusOne", completeness(31, 10)},
	{Completeness, "BatchesSmallerThanPages", smallBatches},
	{Cancel, "BetweenPages", cancelBetweenPages},
	{Duplicates, "RecordServedTwice", servedTwice},
	{Rejects, "UnreadableRecord", unreadable},
	{Insert, "DuringScan", insertDuringScan},
	{HTTP, "ThrottledWithRetryAfter", throttledRetryAfter},
	{HTTP, "ThrottledWithoutRetryAfter", throttledBackoff},
	{HTTP, "ServerErrors", faults(emu.Fault{}, emu.Fault{Status: 500}, emu.Fault{Status: 502}, emu.Fault{Status: 503}, emu.Fault{}, emu.Fault{Status: 504})},
	{HTTP, "ConnectionCut", faults(emu.Fault{Cut: true}, emu.Fault{}, emu.Fault{Cut: true})},
	{HTTP, "TruncatedBody", faults(emu.Fault{Truncate: true}, emu.Fault{}, emu.Fault{Truncate: true})},
	{HTTP, "RandomFaults", randomFaults},
	{HTTP, "SlowerThanTimeout", slowerThanTimeout},
	{HTTP, "Unauthorized", unauthorized},
	{HTTP, "NeverRecovers", neverRecovers},
	{HTTP, "CancelWhileWaitingForAnswer", cancelWhile(emu.Fault{}, emu.Fault{Delay: 30 * time.Second})},
	{HTTP, "CancelDuringRetryAfter", cancelWhile(emu.Fault{Status: 429, RetryAfter: "30"})},
	{HTTP, "PacedBelowVendorLimits", paced},
}

func completeness(n, pageSize int) func(*testing.T, Target) {
	return func(t *testing.T, tg Target) {
		fx := start(t, tg, n, defaults(pageSize))
		o := mustSucceed(t, tg, fx, extract.DefaultBatchRows, fx.IDs)
		if fx.Server == nil {
			return
		}
		log := fx.Server.Log()
		// Fewer requests than pages: the page size was not used, and the
		// case would prove less than it claims.
		if pages := (n + pageSize - 1) / pageSize; len(log) < pages {
			t.Errorf("%d requests for %d records at %d per page: the page size was not honoured", len(log), n, pageSize)
		}
		if o.stats.Requests != int64(len(log)) {
			t.Errorf("Stats.Requests = %d, the server saw %d", o.stats.Requests, len(log))
		}
	}
}

// smallBatches crosses page and batch boundaries at different places.
func smallBatches(t *testing.T, tg Target) {
	const n, batchRows = 25, 3
	fx := start(t, tg, n, defaults(10))
	o := mustSucceed(t, tg, fx, batchRows, fx.IDs)
	if want := (n + batchRows - 1) / batchRows; o.batches != want {
		t.Errorf("%d batches of at most %d rows for %d records, want %d", o.batches, batchRows, n, want)
	}
}

func cancelBetweenPages(t *testing.T, tg Target) {
	const n, pageSize = 40, 4
	fx := start(t, tg, n, defaults(pageSize))
	ctx, cancel := caseContext(t)
	defer cancel()
	var at time.Time
	o := extractAll(ctx, t, tg, fx, pageSize, func(batch int) {
		if batch == 1 {
			at = time.Now()
			cancel()
		}
	})
	took := time.Since(at)
	if at.IsZero() {
		t.Fatalf("no batch was written (Extract: %v)", o.err)
	}
	if !errors.Is(o.err, context.Canceled) {
		t.Fatalf("Extract returned %v, want a context.Canceled error", o.err)
	}
	// A latency bound, not a speed test: a nightly job must stop on SIGTERM.
	if took > time.Second {
		t.Errorf("Extract returned %s after the context was cancelled, want within 1s", took)
	}
	if o.stats.Extracted >= n {
		t.Errorf("all %d records were extracted after a cancel at the first page", n)
	}
}

func servedTwice(t *testing.T, tg Target) {
	opts := defaults(7)
	opts.Repeat = 3
	fx := start(t, tg, 20, opts)
	ctx, cancel := caseContext(t)
	defer cancel()
	o := extractAll(ctx, t, tg, fx, extract.DefaultBatchRows, nil)
	if o.err != nil {
		t.Fatalf("Extract: %v", o.err)
	}
	exactlyOnce(t, o, fx.IDs)
	if o.stats.Duplicates != int64(opts.Repeat) {
		t.Errorf("Stats.Duplicates = %d, want %d", o.stats.Duplicates, opts.Repeat)
	}
}

func unreadable(t *testing.T, tg Target) {
	opts := defaults(5)
	opts.Bad = 2
	fx := start(t, tg, 12, opts)
	o := mustSucceed(t, tg, fx, extract.DefaultBatchRows, fx.IDs)
	if len(o.rejects) != opts.Bad || o.stats.Rejected != int64(opts.Bad) {
		t.Fatalf("%d rejects (Stats.Rejected %d), want %d", len(o.rejects), o.stats.Rejected, opts.Bad)
	}
	var rejected []string
	for _, r := range o.rejects {
		if r.Stage != schemas.StageExtract || r.Source != tg.Name || r.Reason == "" || r.Raw == "" {
			t.Errorf("reject %+v: want stage %q, source %q, a reason and the raw record", r, schemas.StageExtract, tg.Name)
		}
		rejected = append(rejected, r.SourceID)
	}
	for _, id := range fx.BadIDs {
		if id != "" && !slices.Contains(rejected, id) {
			t.Errorf("bad record %q is not among the rejects %q", id, rejected)
		}
	}
}

func insertDuringScan(t *testing.T, tg Target) {
	const pageSize = 5
	fx := start(t, tg, 20, defaults(pageSize))
	if fx.Insert == nil {
		t.Fatal("adapter has no Insert: declare the Insert group not applicable if the source cannot change during a scan")
	}
	ctx, cancel := caseContext(t)
	defer cancel()
	want := slices.Clone(fx.IDs)
	// With batches of a page, the first batch is handed on between the first
	// and the second request.
	o := extractAll(ctx, t, tg, fx, pageSize, func(batch int) {
		if batch == 1 {
			want = append(want, fx.Insert(3)...)
		}
	})
	if o.err != nil {
		t.Fatalf("Extract: %v", o.err)
	}
	exactlyOnce(t, o, want)
}

func throttledRetryAfter(t *testing.T, tg Target) {
	fx := start(t, tg, 12, defaults(5))
	srv := server(t, fx)
	throttled := emu.Fault{Status: 429, RetryAfter: "1"}
	srv.Inject(emu.Fault{}, throttled, throttled, throttled)
	o := mustSucceed(t, tg, fx, extract.DefaultBatchRows, fx.IDs)
	log := srv.Log()
	if n := emu.Count(log, 429); n != 3 || o.stats.Throttled != 3 {
		t.Errorf("the server sent %d 429s and Stats.Throttled = %d, want 3 and 3", n, o.stats.Throttled)
	}
	// A lower bound on a wait the vendor asked for cannot flake: it checks
	// that Retry-After was honoured, not how fast anything ran.
	for i, e := range log[:len(log)-1] {
		if gap := log[i+1].At.Sub(e.At); e.Status == 429 && gap < time.Second {
			t.Errorf("request %d came %s after a 429 with Retry-After: 1", i+2, gap)
		}
	}
}

func throttledBackoff(t *testing.T, tg Target) {
	fx := start(t, tg, 12, defaults(5))
	srv := server(t, fx)
	for range 5 {
		srv.Inject(emu.Fault{Status: 429})
	}
	o := mustSucceed(t, tg, fx, extract.DefaultBatchRows, fx.IDs)
	if o.stats.Throttled != 5 || o.stats.Retries < 5 {
		t.Errorf("Stats.Throttled = %d and Retries = %d, want 5 and at least 5", o.stats.Throttled, o.stats.Retries)
	}
}

// faults plays script against a scan of several pages (a zero Fault is a
// normal answer): the scan must retry through every fault and lose nothing.
func faults(script ...emu.Fault) func(*testing.T, Target) {
	return func(t *testing.T, tg Target) {
		fx := start(t, tg, 20, defaults(5))
		srv := server(t, fx)
		srv.Inject(script...)
		o := mustSucceed(t, tg, fx, extract.DefaultBatchRows, fx.IDs)
		bad := 0
		for _, f := range script {
			if f != (emu.Fault{}) {
				bad++
			}
		}
		if o.stats.Retries < int64(bad) {
			t.Errorf("Stats.Retries = %d after %d faults", o.stats.Retries, bad)
		}
	}
}

func randomFaults(t *testing.T, tg Target) {
	fx := start(t, tg, 60, defaults(4))
	srv := server(t, fx)
	srv.InjectRates(&emu.Rates{Throttle: 0.1, ServerError: 0.1, Cut: 0.1, Truncate: 0.1, Seed: 42})
	mustSucceed(t, tg, fx, extract.DefaultBatchRows, fx.IDs)
}

func slowerThanTimeout(t *testing.T, tg Target) {
	opts := defaults(5)
	opts.Timeout = 300 * time.Millisecond
	fx := start(t, tg, 12, opts)
	srv := server(t, fx)
	srv.Inject(emu.Fault{}, emu.Fault{Delay: 3 * time.Second})
	o := mustSucceed(t, tg, fx, extract.DefaultBatchRows, fx.IDs)
	if o.stats.Retries < 1 {
		t.Errorf("Stats.Retries = %d: the slow answer was not retried", o.stats.Retries)
	}
}

func unauthorized(t *testing.T, tg Target) {
	opts := defaults(2)
	opts.WrongToken = true
	fx := start(t, tg, 5, opts)
	srv := server(t, fx)
	if len(fx.Secrets) == 0 {
		t.Fatal("adapter names no secrets to look for")
	}
	ctx, cancel := caseContext(t)
	defer cancel()
	o := extractAll(ctx, t, tg, fx, extract.DefaultBatchRows, nil)
	var ae *vendorhttp.AuthError
	if !errors.As(o.err, &ae) {
		t.Fatalf("Extract returned %v, want a *vendorhttp.AuthError", o.err)
	}
	if n := len(srv.Log()); n != 1 {
		t.Errorf("the server saw %d requests, want 1: refused credentials must not be retried", n)
	}
	if !strings.Contains(o.err.Error(), tg.Name) {
		t.Errorf("error %q does not name the vendor", o.err)
	}
	for i, s := range fx.Secrets {
		if strings.Contains(o.err.Error(), s) {
			t.Errorf("the error text contains secret #%d", i)
		}
	}
	if len(o.seen) != 0 {
		t.Errorf("%d rows written with refused credentials", len(o.seen))
	}
}

func neverRecovers(t *testing.T, tg Target) {
	opts := defaults(5)
	opts.Retry.MaxElapsed = 2 * time.Second
	fx := start(t, tg, 12, opts)
	srv := server(t, fx)
	srv.InjectRates(&emu.Rates{ServerError: 1, Seed: 7})
	ctx, cancel := caseContext(t)
	defer cancel()
	o := extractAll(ctx, t, tg, fx, extract.DefaultBatchRows, nil)
	// The case's own deadline is far beyond the retry cap: ending on it
	// means the cap was not applied.
	if o.err == nil || ctx.Err() != nil {
		t.Fatalf("Extract returned %v (case context: %v), want the extractor to give up by itself", o.err, ctx.Err())
	}
	if !strings.Contains(o.err.Error(), tg.Name) {
		t.Errorf("error %q does not name the vendor", o.err)
	}
	if n := len(srv.Log()); n < 2 {
		t.Errorf("the server saw %d requests: a 5xx must be retried", n)
	}
}

// cancelWhile cancels the extraction once the last request of script has
// reached the server, which the script makes wait: the extractor must stop
// waiting, whether on the answer or on the vendor's Retry-After.
func cancelWhile(script ...emu.Fault) func(*testing.T, Target) {
	return func(t *testing.T, tg Target) {
		opts := defaults(5)
		// Neither the timeout nor the retry cap may end the wait first.
		opts.Timeout, opts.Retry.MaxElapsed = time.Minute, 10*time.Minute
		fx := start(t, tg, 20, opts)
		srv := server(t, fx)
		srv.Inject(script...)
		ctx, cancel := caseContext(t)
		defer cancel()
		done := make(chan outcome, 1)
		go func() { done <- extractAll(ctx, t, tg, fx, extract.DefaultBatchRows, nil) }()
		reached := false
		for deadline := time.Now().Add(10 * time.Second); !reached && time.Now().Before(deadline); time.Sleep(2 * time.Millisecond) {
			reached = len(srv.Log()) >= len(script)
		}
		if reached {
			// The request is logged as it arrives: let the client get to
			// its wait before cancelling it.
			time.Sleep(100 * time.Millisecond)
		}
		cancel()
		at := time.Now()
		o := <-done
		took := time.Since(at)
		if !reached {
			t.Fatalf("request %d never reached the server (Extract: %v)", len(script), o.err)
		}
		if !errors.Is(o.err, context.Canceled) {
			t.Fatalf("Extract returned %v, want a context.Canceled error", o.err)
		}
		// A latency bound, not a speed test: a nightly job must stop on SIGTERM.
		if took > time.Second {
			t.Errorf("Extract returned %s after the context was cancelled, want within 1s", took)
		}
	}
}

// paced meets the emulator's enforced limits with the vendor's default
// pace: a client that paces as documented is never throttled.
func paced(t *testing.T, tg Target) {
	opts := defaults(1)
	opts.Paced = true
	fx := start(t, tg, 11, opts)
	srv := server(t, fx)
	o := mustSucceed(t, tg, fx, extract.DefaultBatchRows, fx.IDs)
	if n := emu.Count(srv.Log(), 429); n != 0 || o.stats.Throttled != 0 {
		t.Errorf("throttled %d times (Stats.Throttled %d) while pacing at the vendor's documented limits", n, o.stats.Throttled)
	}
}
