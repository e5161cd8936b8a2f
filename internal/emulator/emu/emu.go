// Package emu is what every vendor emulator shares: enforcing rate limits the
// way the vendor counts them, injecting faults (429s, 5xx, cut connections,
// truncated bodies, slow answers), and a request log tests can audit.
package emu

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"time"

	"etl/internal/pace"
)

// Fault is one injected misbehaviour.
type Fault struct {
	Status     int           // answer this status instead (429, 500, 502, 503…)
	RetryAfter string        // with this Retry-After header, if set
	Cut        bool          // send the headers and half the body, then close the connection
	Truncate   bool          // send a complete response whose JSON body is cut in half
	Delay      time.Duration // wait this long before answering
}

// Rates inject faults at random, reproducibly (seeded), for soak-style runs.
type Rates struct {
	Throttle, ServerError, Cut, Truncate float64
	RetryAfter                           string
	Seed                                 uint64
}

// Entry is one request as the emulator saw it.
type Entry struct {
	At       time.Time
	Method   string
	Path     string
	Status   int
	Items    int  // items in a bulk write body
	Accepted bool // counted against the rate limit
}

// Limiter decides whether a request is accepted now; only accepted requests
// are recorded.
type Limiter interface {
	Allow(now time.Time) bool
}

// Server is embedded by each vendor emulator.
type Server struct {
	mu       sync.Mutex
	limits   []Limiter
	enforce  bool
	script   []Fault
	rates    *Rates
	rng      *rand.Rand
	log      []Entry
	inflight int
	maxIn    int
	// ErrorBody renders the vendor's error body for a status.
	ErrorBody func(status int, msg string) []byte
}

// NewServer returns a server enforcing a vendor's limits as the vendor
// counts them (when enforce is set): a token bucket and sliding windows.
func NewServer(errorBody func(int, string) []byte, l pace.Limits) *Server {
	var limits []Limiter
	if l.PerSecond > 0 {
		limits = append(limits, &TokenBucket{Rate: l.PerSecond, Cap: float64(l.Burst)})
	}
	for _, w := range l.Windows {
		limits = append(limits, &SlidingWindow{N: w.N, Per: w.Per})
	}
	return &Server{limits: limits, enforce: true, ErrorBody: errorBody}
}

// Enforce turns rate limiting on or off (benchmarks run with it off).
func (s *Server) Enforce(on bool) {
	s.mu.Lock()
	s.enforce = on
	s.mu.Unlock()
}

// Inject queues faults for the next requests, in order.
func (s *Server) Inject(f ...Fault) {
	s.mu.Lock()
	s.script = append(s.script, f...)
	s.mu.Unlock()
}

// InjectRates makes faults happen at random from now on; nil stops them.
func (s *Server) InjectRates(r *Rates) {
	s.mu.Lock()
	s.rates = r
	if r != nil {
		s.rng = rand.New(rand.NewPCG(r.Seed, r.Seed^0x9e3779b97f4a7c15))
	}
	s.mu.Unlock()
}

// Log returns a copy of the request log.
func (s *Server) Log() []Entry {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Entry(nil), s.log...)
}

// MaxInFlight is the most requests the server was answering at once.
func (s *Server) MaxInFlight() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.maxIn
}

// Call is one request in progress; End must be called once.
type Call struct {
	s     *Server
	entry int
	fault Fault
}

// Begin admits a request: it applies a queued or random status fault, the
// rate limits, then the credential check. It returns nil when it has
// answered the request itself.
func (s *Server) Begin(w http.ResponseWriter, r *http.Request, authorized bool) *Call {
	s.mu.Lock()
	var f Fault
	if len(s.script) > 0 {
		f, s.script = s.script[0], s.script[1:]
	} else if s.rates != nil {
		f = s.randomFault()
	}
	e := Entry{At: time.Now(), Method: r.Method, Path: r.URL.Path}
	status := 0
	switch {
	case f.Status != 0:
		status = f.Status
	case s.enforce && !s.allow(e.At):
		status = http.StatusTooManyRequests
	case !authorized:
		e.Accepted = true
		status = http.StatusUnauthorized
	default:
		e.Accepted = true
	}
	e.Status = status
	s.log = append(s.log, e)
	idx := len(s.log) - 1
	if status == 0 {
		s.inflight++
		s.maxIn = max(s.maxIn, s.inflight)
	}
	s.mu.Unlock()

	if f.Delay > 0 {
		// net/http notices a client hanging up only once the request body
		// has been read: read it now, so that a delayed answer ends with its
		// client instead of holding the server (and its Close) for Delay.
		body, _ := io.ReadAll(r.Body)
		r.Body = io.NopCloser(bytes.NewReader(body))
		select {
		case <-time.After(f.Delay):
		case <-r.Context().Done():
			if status == 0 {
				s.mu.Lock()
				s.inflight--
				s.mu.Unlock()
			}
			return nil
		}
	}
	if status != 0 {
		if f.RetryAfter != "" {
			w.Header().Set("Retry-After", f.RetryAfter)
		}
		msg := http.StatusText(status)
		if status == http.StatusUnauthorized {
			msg = "Unauthorized"
		}
		writeBody(w, status, s.ErrorBody(status, msg))
		return nil
	}
	return &Call{s: s, entry: idx, fault: f}
}

// allow asks every limiter; a request is accepted only if all accept it.
func (s *Server) allow(now time.Time) bool {
	for _, l := range s.limits {
		if p, ok := l.(interface{ Check(time.Time) bool }); ok && !p.Check(now) {
			return false
		}
	}
	for _, l := range s.limits {
		l.Allow(now)
	}
	return true
}

func (s *Server) randomFault() Fault {
	r := s.rates
	x := s.rng.Float64()
	switch {
	case x < r.Throttle:
		return Fault{Status: 429, RetryAfter: r.RetryAfter}
	case x < r.Throttle+r.ServerError:
		return Fault{Status: []int{500, 502, 503}[s.rng.IntN(3)]}
	case x < r.Throttle+r.ServerError+r.Cut:
		return Fault{Cut: true}
	case x < r.Throttle+r.ServerError+r.Cut+r.Truncate:
		return Fault{Truncate: true}
	}
	return Fault{}
}

// Items records how many items a bulk write carried.
func (c *Call) Items(n int) {
	c.s.mu.Lock()
	c.s.log[c.entry].Items = n
	c.s.mu.Unlock()
}

// Reply answers with a JSON body, applying a body fault if one was drawn.
// body is reused for later answers (Body) once it is written.
func (c *Call) Reply(w http.ResponseWriter, status int, body []byte) {
	defer bodies.Put(&body)
	defer c.end(status)
	switch {
	case c.fault.Cut:
		cut(w, status, body)
	case c.fault.Truncate:
		writeBody(w, status, body[:len(body)/2])
	default:
		writeBody(w, status, body)
	}
}

// Error answers with the vendor's error body.
func (c *Call) Error(w http.ResponseWriter, status int, msg string) {
	c.Reply(w, status, c.s.ErrorBody(status, msg))
}

func (c *Call) end(status int) {
	c.s.mu.Lock()
	c.s.inflight--
	if c.s.log[c.entry].Status == 0 {
		c.s.log[c.entry].Status = status
	}
	c.s.mu.Unlock()
}

func writeBody(w http.ResponseWriter, status int, body []byte) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	w.Write(body)
}

// cut promises the whole body, sends half, and drops the connection.
func cut(w http.ResponseWriter, status int, body []byte) {
	hj, ok := w.(http.Hijacker)
	if !ok {
		panic("emu: connection cannot be hijacked")
	}
	conn, buf, err := hj.Hijack()
	if err != nil {
		return
	}
	defer conn.Close()
	bw := bufio.NewWriter(conn)
	fmt.Fprintf(bw, "HTTP/1.1 %d %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n", status, http.StatusText(status), len(body))
	bw.Write(body[:len(body)/2])
	bw.Flush()
	_ = buf
}

// SlidingWindow accepts at most N requests in any interval of length Per.
type SlidingWindow struct {
	N    int
	Per  time.Duration
	mu   sync.Mutex
	seen []time.Time
}

func (w *SlidingWindow) prune(now time.Time) {
	i := 0
	for i < len(w.seen) && now.Sub(w.seen[i]) >= w.Per {
		i++
	}
	w.seen = w.seen[i:]
}

// Check reports whether a request now would be accepted.
func (w *SlidingWindow) Check(now time.Time) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.prune(now)
	return len(w.seen) < w.N
}

// Allow records an accepted request.
func (w *SlidingWindow) Allow(now time.Time) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.prune(now)
	w.seen = append(w.seen, now)
	return true
}

// TokenBucket refills Rate tokens per second up to Cap; each request takes one.
type TokenBucket struct {
	Rate   float64
	Cap    float64
	mu     sync.Mutex
	tokens float64
	last   time.Time
}

func (b *TokenBucket) refill(now time.Time) {
	if b.last.IsZero() {
		b.tokens, b.last = b.Cap, now
		return
	}
	b.tokens = min(b.Cap, b.tokens+now.Sub(b.last).Seconds()*b.Rate)
	b.last = now
}

// Check reports whether a token is available now.
func (b *TokenBucket) Check(now time.Time) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.refill(now)
	return b.tokens >= 1
}

// Allow takes a token.
func (b *TokenBucket) Allow(now time.Time) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.refill(now)
	b.tokens--
	return true
}

// MaxInWindow is the most accepted requests of log that fell in any interval
// of length per: what a test compares with a vendor's limit.
func MaxInWindow(log []Entry, per time.Duration) int {
	var at []time.Time
	for _, e := range log {
		if e.Accepted {
			at = append(at, e.At)
		}
	}
	best, j := 0, 0
	for i := range at {
		for at[i].Sub(at[j]) >= per {
			j++
		}
		best = max(best, i-j+1)
	}
	return best
}

// Exceeded audits every request of log (accepted or not: what the client
// sent) against l as the vendor counts it, and describes each limit that
// was exceeded; none when the client kept every limit.
func Exceeded(log []Entry, l pace.Limits) []string {
	all := make([]Entry, len(log))
	for i, e := range log {
		e.Accepted = true
		all[i] = e
	}
	var out []string
	for _, w := range l.Windows {
		if got := MaxInWindow(all, w.Per); got > w.N {
			out = append(out, fmt.Sprintf("%d requests in one %s window, limit %d", got, w.Per, w.N))
		}
	}
	if l.PerSecond > 0 {
		b := &TokenBucket{Rate: l.PerSecond, Cap: float64(l.Burst)}
		for i, e := range all {
			if !b.Check(e.At) {
				out = append(out, fmt.Sprintf("request %d came with the bucket (%s) empty", i+1, l))
				break
			}
			b.Allow(e.At)
		}
	}
	return out
}

// Count returns how many log entries answered status.
func Count(log []Entry, status int) int {
	n := 0
	for _, e := range log {
		if e.Status == status {
			n++
		}
	}
	return n
}

// Render is a record's JSON document as the vendor would send it,
// json.Marshal's bytes. Emulators render a record when it is stored (and
// again when a write changes it) and answer list requests by joining the
// stored documents (Join): marshalling every record of every page again
// would cost as much CPU as the client under test spends, on the same
// cores (make bench serves 1M records). nil when the record cannot be
// rendered, which a list answers with a 500.
func Render(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		return nil
	}
	return b
}

// bodies are answers' buffers, written and free again: a list answer is a
// megabyte, and allocating (and zeroing) a new one for each was a tenth of
// the emulators' CPU under make bench.
var bodies sync.Pool

// Body returns an empty buffer for an answer's body, which Reply takes
// back.
func Body() []byte {
	if b, ok := bodies.Get().(*[]byte); ok {
		return (*b)[:0]
	}
	return nil
}

// Join appends docs to b as a JSON array, brackets included; ok is false
// when one of them is nil (not rendered).
func Join(b []byte, docs [][]byte) (out []byte, ok bool) {
	n := 2 + len(docs)
	for _, d := range docs {
		n += len(d)
	}
	b = slices.Grow(b, n)
	b = append(b, '[')
	for i, d := range docs {
		if d == nil {
			return b, false
		}
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, d...)
	}
	return append(b, ']'), true
}
