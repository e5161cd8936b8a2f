package reliability

import (
	"fmt"
	"io"
	"maps"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"etl/internal/emulator/emu"
	"etl/internal/etlbin"
	"etl/internal/s3test"
	"etl/internal/vendors"
	"etl/schemas"
)

// Kill points: a request of the run is held (by an emulator or by a proxy in
// front of S3) and the process is stopped while it waits, so each point is
// reached exactly, whatever the machine's speed; "timed" stops it after a
// random delay instead, wherever it is.
const (
	atExtract   = "extract"   // the n-th list request of one vendor
	atWriteback = "writeback" // the n-th write request to one vendor
	atS3        = "s3"        // the n-th write to S3 (staging, parts, markers, deletes)
	atParquet   = "parquet"   // the n-th upload request of a table's Parquet part
	atTimed     = "timed"     // a random moment of the run, local output
)

var killKinds = []string{atExtract, atParquet, atS3, atWriteback, atTimed}

// killPoint is where one cycle stops the run.
type killPoint struct {
	kind   string
	vendor string
	n      int
	delay  time.Duration
}

func (k killPoint) String() string {
	switch k.kind {
	case atTimed:
		return fmt.Sprintf("%s after %s", k.kind, k.delay.Round(time.Millisecond))
	case atS3, atParquet:
		return fmt.Sprintf("%s request %d", k.kind, k.n)
	}
	return fmt.Sprintf("%s %s request %d", k.kind, k.vendor, k.n)
}

// reference is an uninterrupted run, and the next night's run after it:
// what every interrupted run must end as.
type reference struct {
	env      *env
	next     *env              // the same vendors, the next run's tables
	initial  map[string]string // the vendors before any run
	vendors  map[string]string // after the first run
	vendors2 map[string]string // after the next
	lists    map[string]int    // list requests per vendor
	writes   map[string]int    // write requests per vendor
	duration time.Duration

	s3         *s3test.Server // nil unless asked for
	s3Requests int            // S3 writes of one whole run
	s3Parts    int            // of which uploads of table parts
	// s3Committed counts the S3 writes up to the last _SUCCESS: after it
	// the tables are complete, and the run only records it (the write-back
	// marker, the lock's release, the runs row).
	s3Committed int
}

func newReference(t *testing.T, withS3 bool) *reference {
	t.Helper()
	r := &reference{env: startEnv(t, envOpts{}), lists: map[string]int{}, writes: map[string]int{}}
	r.initial = r.env.vendorState(t)
	etlbin.Path(t) // built before the clock starts
	start := time.Now()
	s := r.env.mustSucceed(t)
	r.duration = time.Since(start)
	reconcile(t, s)
	var sent int64
	for _, w := range s.Writeback {
		sent += w.Sent
	}
	if sent == 0 {
		t.Fatalf("the reference run wrote nothing back: %s", s.line)
	}
	r.vendors = r.env.vendorState(t)
	logs := map[string][]emu.Entry{}
	for name, srv := range r.env.emulators() {
		logs[name] = srv.Log()
	}
	r.next = r.env.withOutput(t, t.TempDir())
	reconcile(t, r.next.mustSucceed(t))
	r.vendors2 = r.next.vendorState(t)
	for name, log := range logs {
		for _, e := range log {
			if isList(e) {
				r.lists[name]++
			} else {
				r.writes[name]++
			}
		}
	}
	t.Logf("reference run: list requests %v, write requests %v", r.lists, r.writes)
	if withS3 {
		r.startS3(t)
	}
	return r
}

func isList(e emu.Entry) bool {
	return e.Method == http.MethodGet || strings.Contains(e.Path, "/search/")
}

// startS3 starts the S3 server the S3 kill points need, and counts the S3
// writes of one uninterrupted run.
func (r *reference) startS3(t *testing.T) {
	t.Helper()
	r.s3 = s3test.Start(t, "warehouse")
	px := newS3Proxy(t, r.s3, 0, false)
	startS3Env(t, r.s3, px, "count").mustSucceed(t)
	r.s3Requests, r.s3Parts = px.count()
	for i, w := range px.written() {
		if strings.HasSuffix(w, "/_SUCCESS") {
			r.s3Committed = i + 1
		}
	}
	if r.s3Committed == 0 {
		t.Fatal("no _SUCCESS among the S3 writes of a run")
	}
}

func startS3Env(t *testing.T, srv *s3test.Server, px *s3Proxy, prefix string) *env {
	t.Helper()
	vars := srv.Env()
	vars["AWS_ENDPOINT_URL_S3"] = px.URL
	return startEnv(t, envOpts{out: srv.URI(prefix), dir: srv.Path(prefix), vars: vars,
		secrets: []string{s3test.SecretKey}})
}

// s3Proxy forwards to the S3 server and holds the n-th write request (of
// table parts only, when partsOnly) until its client goes away.
type s3Proxy struct {
	*httptest.Server
	mu           sync.Mutex
	writes       int
	paths        []string // of each write
	parts        int
	holdAt       int
	partsOnly    bool
	held         chan string
	quit         chan struct{}
	heldReported bool
}

func newS3Proxy(t *testing.T, srv *s3test.Server, holdAt int, partsOnly bool) *s3Proxy {
	u, _ := url.Parse(srv.Endpoint)
	rp := httputil.NewSingleHostReverseProxy(u)
	px := &s3Proxy{holdAt: holdAt, partsOnly: partsOnly, held: make(chan string, 1), quit: make(chan struct{})}
	px.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			px.mu.Lock()
			px.writes++
			px.paths = append(px.paths, r.URL.Path)
			part := strings.Contains(r.URL.Path, "/part-")
			if part {
				px.parts++
			}
			n := px.writes
			if px.partsOnly {
				n = -1
				if part {
					n = px.parts
				}
			}
			hold := n == px.holdAt && !px.heldReported
			if hold {
				px.heldReported = true
			}
			px.mu.Unlock()
			if hold {
				// net/http notices the client going away only once the
				// body is read.
				io.Copy(io.Discard, r.Body)
				px.held <- r.Method + " " + r.URL.Path
				select {
				case <-r.Context().Done():
				case <-px.quit:
				}
				return
			}
		}
		rp.ServeHTTP(w, r)
	}))
	t.Cleanup(px.Close)
	t.Cleanup(func() { close(px.quit) })
	return px
}

func (px *s3Proxy) written() []string {
	px.mu.Lock()
	defer px.mu.Unlock()
	return slices.Clone(px.paths)
}

func (px *s3Proxy) count() (writes, parts int) {
	px.mu.Lock()
	defer px.mu.Unlock()
	return px.writes, px.parts
}

// cycles is how many kill/restart cycles to run: a few in make test, as many
// as ETL_SOAK_CYCLES says in make soak.
func cycles(t *testing.T) int {
	if v := os.Getenv("ETL_SOAK_CYCLES"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			t.Fatalf("ETL_SOAK_CYCLES=%q: want a positive number", v)
		}
		return n
	}
	return len(killKinds)
}

func seed(t *testing.T) uint64 {
	if v := os.Getenv("ETL_RELIABILITY_SEED"); v != "" {
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			t.Fatalf("ETL_RELIABILITY_SEED=%q: %v", v, err)
		}
		return n
	}
	return uint64(time.Now().UnixNano())
}

// A run killed at any point, then run again, ends with the same tables and
// the same vendor records as a run never interrupted: no row lost, none
// duplicated.
func TestKillRestart(t *testing.T) {
	sd := seed(t)
	t.Logf("seed %d (ETL_RELIABILITY_SEED=%d repeats this test)", sd, sd)
	rng := rand.New(rand.NewPCG(sd, 1))
	ref := newReference(t, true)
	n := cycles(t)
	var lost, dup, interrupted, ran int64
	kinds := map[string]int{}
	for i := range n {
		ran++
		k := pickPoint(t, rng, ref, killKinds[i%len(killKinds)])
		ok := t.Run(fmt.Sprintf("cycle%03d_%s", i, k.kind), func(t *testing.T) {
			t.Logf("kill point: %s", k)
			c := runCycle(t, ref, k, syscall.SIGKILL, fmt.Sprintf("c%03d", i))
			lost += c.lost
			dup += c.dup
			if c.interrupted {
				interrupted++
				kinds[k.kind]++
			}
		})
		if !ok {
			break
		}
	}
	// make soak prints this line.
	t.Logf("soak: %d kill/restart cycles ran (%d interrupted mid-run: %v), rows lost: %d, rows duplicated: %d", ran, interrupted, kinds, lost, dup)
	if lost != 0 || dup != 0 {
		t.Errorf("%d rows lost, %d duplicated", lost, dup)
	}
}

// Airflow stops a task with SIGTERM: the run stops within 5 s, exits 1,
// leaves no _SUCCESS, and a new run then ends as an uninterrupted one.
func TestSIGTERM(t *testing.T) {
	sd := seed(t)
	t.Logf("seed %d", sd)
	rng := rand.New(rand.NewPCG(sd, 2))
	ref := newReference(t, true)
	for _, kind := range []string{atExtract, atS3, atWriteback} {
		t.Run(kind, func(t *testing.T) {
			k := pickPoint(t, rng, ref, kind)
			if kind == atS3 {
				// A run stopped once its tables are committed has complete
				// tables, rightly: stop it before.
				k.n = 1 + rng.IntN(ref.s3Committed)
			}
			t.Logf("SIGTERM point: %s", k)
			if c := runCycle(t, ref, k, syscall.SIGTERM, "term-"+kind); !c.interrupted {
				t.Fatal("the run ended before it was stopped")
			}
		})
	}
}

func pickPoint(t *testing.T, rng *rand.Rand, ref *reference, kind string) killPoint {
	k := killPoint{kind: kind}
	switch kind {
	case atExtract:
		k.vendor = vendors.Names[rng.IntN(len(vendors.Names))]
		k.n = 1 + rng.IntN(ref.lists[k.vendor])
	case atWriteback:
		var targets []string
		for _, v := range slices.Sorted(maps.Keys(ref.writes)) {
			if ref.writes[v] > 0 {
				targets = append(targets, v)
			}
		}
		k.vendor = targets[rng.IntN(len(targets))]
		k.n = 1 + rng.IntN(ref.writes[k.vendor])
	case atS3:
		k.n = 1 + rng.IntN(ref.s3Requests)
	case atParquet:
		k.n = 1 + rng.IntN(ref.s3Parts)
	case atTimed:
		k.delay = time.Duration(rng.Int64N(int64(ref.duration)))
	}
	return k
}

type cycleResult struct {
	interrupted bool
	lost, dup   int64
}

// runCycle starts a run in a fresh env, stops it with sig at k, runs it
// again, and compares the outcome with the reference.
func runCycle(t *testing.T, ref *reference, k killPoint, sig syscall.Signal, prefix string) cycleResult {
	var e *env
	var px *s3Proxy
	switch k.kind {
	case atS3, atParquet:
		px = newS3Proxy(t, ref.s3, k.n, k.kind == atParquet)
		e = startS3Env(t, ref.s3, px, prefix)
	default:
		e = startEnv(t, envOpts{})
	}
	var reached func() bool
	switch k.kind {
	case atExtract, atWriteback:
		// Requests before the held one are answered normally; the held one
		// is the n-th of its kind.
		srv := e.emulators()[k.vendor]
		before := k.n - 1
		if k.kind == atWriteback {
			before += ref.lists[k.vendor]
		}
		srv.Inject(append(make([]emu.Fault, before), emu.Fault{Delay: time.Minute})...)
		reached = func() bool { return len(srv.Log()) > before }
	case atS3, atParquet:
		reached = func() bool {
			select {
			case req := <-px.held:
				t.Logf("held S3 request: %s", req)
				return true
			default:
				return false
			}
		}
	case atTimed:
		at := time.Now().Add(k.delay)
		reached = func() bool { return !time.Now().Before(at) }
	}

	p := e.start(t)
	var res cycleResult
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(time.Millisecond) {
		if p.exited() {
			break
		}
		if reached() {
			res.interrupted = true
			stopped := time.Now()
			p.signal(sig)
			p.waitFor(t, 10*time.Second)
			if sig == syscall.SIGTERM {
				took := time.Since(stopped)
				// The one wall-time bound: the scheduler kills what lingers.
				if took > 5*time.Second {
					t.Errorf("etl exited %s after SIGTERM, want within 5s", took)
				}
				if s := p.summary(t); p.code != 1 || s.Status != "failed" {
					t.Errorf("after SIGTERM: exit %d, summary %s; want exit 1, status failed\nstderr: %s", p.code, s.line, tail(p.stderr.String()))
				}
				noSuccess(t, e.dir)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the kill point was never reached\nstderr: %s", tail(p.stderr.String()))
		}
	}
	if !res.interrupted {
		t.Logf("the run ended (exit %d) before the kill point", p.code)
	}
	stateAfterKill := e.vendorState(t)
	again := e.run(t)
	s := again.summary(t)
	if again.code != 0 || s.Status != "succeeded" {
		t.Fatalf("the run after the kill: exit %d, summary %s\nstderr: %s", again.code, s.line, tail(again.stderr.String()))
	}
	reconcile(t, s)
	complete(t, e.dir)
	// A run stopped after its write-back began changed the vendors, and the
	// run after it reads them as they are now: its rows are the same records
	// (same keys, none lost, none twice) with some values written back; the
	// vendors end as after an uninterrupted run, and so the next run's
	// tables are those of the run after an uninterrupted one.
	written := !maps.Equal(stateAfterKill, ref.initial)
	if written {
		t.Log("the stopped run had written to the vendors")
	}
	printed := []string{p.stdout.String(), p.stderr.String(), again.stdout.String(), again.stderr.String()}
	mode := allColumns
	if written {
		mode = keysOnly
	}
	res.add(t, compareTables(t, ref.env.dir, e.dir, mode))
	sameVendors(t, ref.vendors, e.vendorState(t))
	noSecrets(t, e.secrets, printed, e.dir)
	if written {
		next := e.run(t)
		if s := next.summary(t); next.code != 0 || s.Status != "succeeded" {
			t.Fatalf("the next run: exit %d, summary %s\nstderr: %s", next.code, s.line, tail(next.stderr.String()))
		}
		res.add(t, compareTables(t, ref.next.dir, e.dir, notUpdatedAt))
		sameVendors(t, ref.vendors2, e.vendorState(t))
	}
	return res
}

func (r *cycleResult) add(t *testing.T, d diff) {
	r.lost += d.lost
	r.dup += d.extra + d.dupKeys
}

// compareTables compares the tables under dir with those of an uninterrupted
// run under want.
func compareTables(t *testing.T, want, dir string, mode int) diff {
	t.Helper()
	var sum diff
	for _, table := range []string{schemas.TableSources, schemas.TableUsers, schemas.TableRejects} {
		d := compareTable(t, table, want, dir, mode)
		if d.lost+d.extra+d.dupKeys != 0 {
			t.Errorf("%s: %d rows of the uninterrupted run missing, %d rows it does not have, %d keys on several rows (comparison %d)",
				table, d.lost, d.extra, d.dupKeys, mode)
		}
		sum.lost += d.lost
		sum.extra += d.extra
		sum.dupKeys += d.dupKeys
	}
	return sum
}
