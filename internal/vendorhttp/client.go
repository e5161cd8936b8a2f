// Package vendorhttp makes HTTP calls to a vendor API the way every connector
// must: paced below the vendor's limits, retried with exponential backoff and
// jitter (honouring Retry-After) within a total time cap, failing fast on
// refused credentials, and never echoing a secret.
package vendorhttp

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"etl/internal/pace"
)

// Counter receives the client's request counts (extract.Writer implements it).
type Counter interface {
	CountRequest()
	CountRetry()
	CountThrottled()
}

// Retry bounds the retrying of one call.
type Retry struct {
	Initial    time.Duration // first backoff
	Max        time.Duration // longest single backoff
	MaxElapsed time.Duration // total time one call may spend retrying
}

// DefaultRetry suits a nightly batch: patient, but bounded.
var DefaultRetry = Retry{Initial: 250 * time.Millisecond, Max: 30 * time.Second, MaxElapsed: 5 * time.Minute}

// Client calls one vendor API.
type Client struct {
	Vendor  string
	Base    *url.URL
	Auth    func(http.Header) // sets the credentials on every request
	Pacer   *pace.Pacer
	HTTP    *http.Client
	Retry   Retry
	Timeout time.Duration // one attempt, headers and body
	MaxBody int64         // bytes of one response body
	Counter Counter
}

// New returns a client for base with the defaults; callers adjust fields.
func New(vendor, base string, auth func(http.Header), p *pace.Pacer) (*Client, error) {
	u, err := url.Parse(strings.TrimRight(base, "/"))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("%s: base_url %q is not an http(s) URL", vendor, base)
	}
	if p == nil {
		p = pace.Unlimited()
	}
	c := &Client{Vendor: vendor, Base: u, Auth: auth, Pacer: p, Retry: DefaultRetry,
		Timeout: 60 * time.Second, MaxBody: 256 << 20}
	c.HTTP = &http.Client{CheckRedirect: func(req *http.Request, via []*http.Request) error {
		if req.URL.Host != u.Host {
			return fmt.Errorf("%s: refusing a redirect to another host (%s)", vendor, req.URL.Host)
		}
		if len(via) >= 5 {
			return fmt.Errorf("%s: too many redirects", vendor)
		}
		return nil
	}}
	return c, nil
}

// Endpoint joins an API path (with its query) onto the base URL.
func (c *Client) Endpoint(pathAndQuery string) string {
	return strings.TrimRight(c.Base.String(), "/") + pathAndQuery
}

// Link resolves a link the vendor gave (a path or an absolute URL) against
// the base URL, refusing any other host: a vendor's next link must not send
// our credentials elsewhere.
func (c *Client) Link(ref string) (string, error) {
	r, err := url.Parse(ref)
	if err != nil {
		return "", fmt.Errorf("%s: bad link %q: %v", c.Vendor, ref, err)
	}
	u := c.Base.ResolveReference(r)
	if u.Host != c.Base.Host || u.Scheme != c.Base.Scheme {
		return "", fmt.Errorf("%s: refusing a link to another host (%s)", c.Vendor, u.Host)
	}
	return u.String(), nil
}

// AuthError is a refusal of the credentials: retrying cannot help.
type AuthError struct {
	Vendor string
	Status int
}

func (e *AuthError) Error() string {
	return fmt.Sprintf("%s refused the credentials (HTTP %d): check the token or key in the pipeline's environment", e.Vendor, e.Status)
}

// StatusError is a non-retryable answer, with the vendor's message.
type StatusError struct {
	Vendor  string
	Status  int
	Message string
}

func (e *StatusError) Error() string {
	return fmt.Sprintf("%s answered HTTP %d: %s", e.Vendor, e.Status, e.Message)
}

// ErrBodyTooLarge is returned when a response exceeds MaxBody.
var ErrBodyTooLarge = errors.New("response body larger than the configured cap")

// Do sends one request to target (from Endpoint or Link) and hands a 2xx body to decode. decode must only parse
// (no side effects), because a body that is cut short or malformed is retried
// like a 5xx: every call made through Do must be safe to repeat.
func (c *Client) Do(ctx context.Context, method, target string, body []byte, decode func(status int, body io.Reader) error) error {
	if _, err := c.Link(target); err != nil {
		return err
	}
	start := time.Now()
	var last error
	for attempt := 0; ; attempt++ {
		answered, err := c.Pacer.Wait(ctx)
		if err != nil {
			return err
		}
		wait, err := c.attempt(ctx, method, target, body, decode, answered)
		if err == nil {
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		var re *retryable
		if !errors.As(err, &re) {
			return err
		}
		last = re.err
		if wait <= 0 {
			wait = c.backoff(attempt)
		}
		if time.Since(start)+wait > c.Retry.MaxElapsed {
			return fmt.Errorf("%s: giving up after %d attempts in %s: %w", c.Vendor, attempt+1, time.Since(start).Round(time.Millisecond), last)
		}
		if c.Counter != nil {
			c.Counter.CountRetry()
		}
		if err := pace.Sleep(ctx, wait); err != nil {
			return err
		}
	}
}

type retryable struct{ err error }

func (r *retryable) Error() string { return r.err.Error() }

// attempt makes one try; a *retryable error says to try again, after the
// returned wait when the vendor named one. It tells the pacer (answered) as
// soon as the answer's headers arrive, or the request failed: the vendor has
// counted the request by then.
func (c *Client) attempt(ctx context.Context, method, target string, body []byte, decode func(int, io.Reader) error, answered func()) (time.Duration, error) {
	defer answered()
	actx, cancel := context.WithTimeout(ctx, c.Timeout)
	defer cancel()
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(actx, method, target, rd)
	if err != nil {
		return 0, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Accept", "application/json")
	if c.Auth != nil {
		c.Auth(req.Header)
	}
	if c.Counter != nil {
		c.Counter.CountRequest()
	}
	resp, err := c.HTTP.Do(req)
	answered()
	if err != nil {
		if ctx.Err() != nil {
			return 0, ctx.Err()
		}
		if errors.Is(err, context.DeadlineExceeded) {
			return 0, &retryable{fmt.Errorf("%s: no answer within %s", c.Vendor, c.Timeout)}
		}
		var ue *url.Error
		if errors.As(err, &ue) && strings.Contains(ue.Err.Error(), "refusing a redirect") {
			return 0, ue.Err
		}
		return 0, &retryable{fmt.Errorf("%s: %s", c.Vendor, describe(err))}
	}
	defer func() {
		io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
		resp.Body.Close()
	}()
	switch s := resp.StatusCode; {
	case s >= 200 && s < 300:
		err := decode(s, &capped{r: resp.Body, left: c.MaxBody})
		if err == nil {
			return 0, nil
		}
		if errors.Is(err, ErrBodyTooLarge) {
			return 0, fmt.Errorf("%s: %w (%d bytes)", c.Vendor, ErrBodyTooLarge, c.MaxBody)
		}
		if ctx.Err() != nil {
			return 0, ctx.Err()
		}
		if errors.Is(err, context.DeadlineExceeded) {
			return 0, &retryable{fmt.Errorf("%s: body not read within %s", c.Vendor, c.Timeout)}
		}
		return 0, &retryable{fmt.Errorf("%s: unreadable response: %s", c.Vendor, describe(err))}
	case s == http.StatusUnauthorized || s == http.StatusForbidden:
		return 0, &AuthError{Vendor: c.Vendor, Status: s}
	case s == http.StatusTooManyRequests:
		if c.Counter != nil {
			c.Counter.CountThrottled()
		}
		wait := retryAfter(resp.Header.Get("Retry-After"))
		if wait > 0 {
			c.Pacer.Hold(wait)
		}
		return wait, &retryable{fmt.Errorf("%s: HTTP 429 (rate limited)", c.Vendor)}
	case s == 500 || s == 502 || s == 503 || s == 504:
		return retryAfter(resp.Header.Get("Retry-After")), &retryable{fmt.Errorf("%s: HTTP %d: %s", c.Vendor, s, message(resp.Body))}
	default:
		return 0, &StatusError{Vendor: c.Vendor, Status: s, Message: message(resp.Body)}
	}
}

func (c *Client) backoff(attempt int) time.Duration {
	d := c.Retry.Initial << min(attempt, 20)
	if d > c.Retry.Max || d <= 0 {
		d = c.Retry.Max
	}
	// Equal jitter: half fixed, half random, so clients spread out but never retry at once.
	return d/2 + rand.N(d/2+1)
}

// retryAfter reads seconds or an HTTP date; 0 when absent or unreadable.
func retryAfter(v string) time.Duration {
	if v == "" {
		return 0
	}
	if s, err := strconv.ParseFloat(strings.TrimSpace(v), 64); err == nil && s >= 0 {
		return time.Duration(s * float64(time.Second))
	}
	if t, err := http.ParseTime(v); err == nil {
		if d := time.Until(t); d > 0 {
			return d
		}
	}
	return 0
}

// message extracts a short text from an error body without trusting its size.
// The vendors' JSON error bodies ({"error":…}, {"message":…},
// {"moesif_error":{"msg":…}}) give their message; other bodies are shown as text.
func message(r io.Reader) string {
	b, _ := io.ReadAll(io.LimitReader(r, 2048))
	var body struct {
		Error       json.RawMessage `json:"error"`
		Message     string          `json:"message"`
		MoesifError struct {
			Msg string `json:"msg"`
		} `json:"moesif_error"`
	}
	if json.Unmarshal(b, &body) == nil {
		var text string
		switch {
		case json.Unmarshal(body.Error, &text) == nil && text != "":
			return text
		case body.Message != "":
			return body.Message
		case body.MoesifError.Msg != "":
			return body.MoesifError.Msg
		}
	}
	s := strings.Join(strings.Fields(string(b)), " ")
	if len(s) > 300 {
		s = s[:300] + "…"
	}
	if s == "" {
		s = "(empty body)"
	}
	return s
}

// describe names a transport error without the URL (which url.Error repeats).
func describe(err error) string {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
		return "connection closed before the response was complete"
	}
	return err.Error()
}

type capped struct {
	r    io.Reader
	left int64
}

func (c *capped) Read(p []byte) (int, error) {
	if c.left <= 0 {
		// Only an error if there is more to read.
		var one [1]byte
		if n, _ := c.r.Read(one[:]); n > 0 {
			return 0, ErrBodyTooLarge
		}
		return 0, io.EOF
	}
	if int64(len(p)) > c.left {
		p = p[:c.left]
	}
	n, err := c.r.Read(p)
	c.left -= int64(n)
	return n, err
}
