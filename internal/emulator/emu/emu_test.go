package emu

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"etl/internal/pace"
)

// A delayed answer whose client hangs up must end with it, even for a
// request with a body (which net/http watches only once the body is read),
// and must not stay counted as in flight.
func TestDelayedAnswerEndsWithItsClient(t *testing.T) {
	s := NewServer(func(int, string) []byte { return []byte("{}") }, pace.Limits{})
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if c := s.Begin(w, r, true); c != nil {
			c.Reply(w, http.StatusOK, []byte("{}"))
		}
	})
	srv := httptest.NewServer(h)
	s.Inject(Fault{Delay: time.Hour})
	ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, srv.URL, strings.NewReader(`{"size":1}`))
	if _, err := http.DefaultClient.Do(req); err == nil {
		t.Fatal("the delayed request was answered")
	}
	closed := make(chan struct{})
	go func() { srv.Close(); close(closed) }()
	select {
	case <-closed:
	case <-time.After(10 * time.Second): // a liveness bound: without the fix it is an hour
		t.Fatal("the delayed handler outlived its client")
	}

	srv = httptest.NewServer(h)
	defer srv.Close()
	resp, err := http.Post(srv.URL, "application/json", strings.NewReader("{}"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if n := s.MaxInFlight(); n != 1 {
		t.Errorf("MaxInFlight = %d after one abandoned and one answered request, want 1", n)
	}
}

func TestExceeded(t *testing.T) {
	t0 := time.Unix(1e9, 0)
	log := func(ms ...int) []Entry {
		var out []Entry
		for _, m := range ms {
			out = append(out, Entry{At: t0.Add(time.Duration(m) * time.Millisecond), Status: 200})
		}
		return out
	}
	win := pace.Limits{Windows: []pace.Window{{N: 2, Per: time.Second}}}
	bucket := pace.Limits{PerSecond: 10, Burst: 2}
	for _, c := range []struct {
		log  []Entry
		l    pace.Limits
		want int
	}{
		{log(0, 500, 1000, 1500), win, 0},
		{log(0, 500, 999), win, 1},
		{log(0, 0, 100, 200), bucket, 0},
		{log(0, 0, 50), bucket, 1},
	} {
		if got := Exceeded(c.log, c.l); len(got) != c.want {
			t.Errorf("%v against %s: %q", c.log, c.l, got)
		}
	}
}
