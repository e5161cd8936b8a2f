package reliability

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"etl/internal/vendors"
)

const fakeToken = "fake-vendor-token-5b1e9d"

// otherHost is a server no vendor response may send us to: it counts what
// reaches it and whether the credentials came along.
type otherHost struct {
	*httptest.Server
	requests, withToken atomic.Int64
}

func newOtherHost(t *testing.T) *otherHost {
	o := &otherHost{}
	o.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		o.requests.Add(1)
		for _, vs := range r.Header {
			for _, v := range vs {
				if strings.Contains(v, fakeToken) {
					o.withToken.Add(1)
				}
			}
		}
		w.Write([]byte("[]"))
	}))
	t.Cleanup(o.Close)
	return o
}

// runFake runs a pipeline with one vendor served by h.
func runFake(t *testing.T, vendor string, h http.Handler) *proc {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	key := "token"
	if vendor == vendors.Userlot {
		key = "api_key"
	}
	out := t.TempDir()
	pipeline := filepath.Join(t.TempDir(), "p.yaml")
	body := fmt.Sprintf("version: 1\nsources:\n  %s: {base_url: %q, %s: \"${FAKE_TOKEN}\", max_retry_time: 2s}\noutput: {uri: %q}\n", vendor, srv.URL, key, out)
	if err := os.WriteFile(pipeline, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	e := &env{out: out, dir: out, pipeline: pipeline, vars: map[string]string{"FAKE_TOKEN": fakeToken}, secrets: []string{fakeToken}}
	p := e.run(t)
	noSecrets(t, e.secrets, []string{p.stdout.String(), p.stderr.String()}, out)
	noSuccess(t, out)
	return p
}

func mustFail(t *testing.T, p *proc, want string) {
	t.Helper()
	s := p.summary(t)
	if p.code != 1 || s.Status != "failed" || !strings.Contains(s.Error, want) {
		t.Fatalf("exit %d, summary %s; want exit 1 with an error saying %q\nstderr: %s", p.code, s.line, want, tail(p.stderr.String()))
	}
}

// A vendor redirecting to another host is not followed: the credentials
// stay home.
func TestRedirectToAnotherHostRefused(t *testing.T) {
	other := newOtherHost(t)
	p := runFake(t, vendors.Planhat, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, other.URL+r.URL.RequestURI(), http.StatusFound)
	}))
	mustFail(t, p, "refusing a redirect to another host")
	if n := other.requests.Load(); n != 0 {
		t.Errorf("the other host got %d requests (%d with the token)", n, other.withToken.Load())
	}
}

// A next link to another host is not followed.
func TestNextLinkToAnotherHostRefused(t *testing.T) {
	other := newOtherHost(t)
	p := runFake(t, vendors.Dixa, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, `{"data":[{"id":"u1","email":"a@example.com"}],"meta":{"next":%q}}`, other.URL+"/v1/endusers?pageKey=abc")
	}))
	mustFail(t, p, "refusing a link to another host")
	if n := other.requests.Load(); n != 0 {
		t.Errorf("the other host got %d requests (%d with the token)", n, other.withToken.Load())
	}
}

// A response larger than max_response_bytes fails the run at once, naming
// the vendor and the cap, without retrying.
func TestResponseLargerThanCapRefused(t *testing.T) {
	e := startEnv(t, envOpts{edit: func(p map[string]any) {
		p["sources"].(map[string]any)[vendors.Planhat].(map[string]any)["max_response_bytes"] = 1000
	}})
	p := e.run(t)
	mustFail(t, p, "planhat: response body larger than the configured cap (1000 bytes)")
	if n := len(e.Planhat.Log()); n != 1 {
		t.Errorf("planhat was asked %d times, want once: a body over the cap is not retried", n)
	}
	noSuccess(t, e.dir)
	noSecrets(t, e.secrets, []string{p.stdout.String(), p.stderr.String()}, e.dir)
}

// Refused credentials and unreachable hosts: errors that could echo the
// request name the vendor, never the token.
func TestErrorsKeepSecrets(t *testing.T) {
	t.Run("401", func(t *testing.T) {
		e := startEnv(t, envOpts{})
		e.vars["DIXA_API_TOKEN"] = "wrong-dixa-token-7f3a"
		e.secrets = append(e.secrets, "wrong-dixa-token-7f3a")
		p := e.run(t)
		mustFail(t, p, "dixa refused the credentials")
		noSecrets(t, e.secrets, []string{p.stdout.String(), p.stderr.String()}, e.dir)
	})
	t.Run("unreachable", func(t *testing.T) {
		// A closed port, and the token in the URL's query as a careless
		// pipeline might put it.
		srv := httptest.NewServer(http.NotFoundHandler())
		url := srv.URL
		srv.Close()
		out := t.TempDir()
		pipeline := filepath.Join(t.TempDir(), "p.yaml")
		body := fmt.Sprintf("version: 1\nsources:\n  planhat: {base_url: \"%s/?key=${FAKE_TOKEN}\", token: \"${FAKE_TOKEN}\", max_retry_time: 1s}\noutput: {uri: %q}\n", url, out)
		os.WriteFile(pipeline, []byte(body), 0o644)
		e := &env{out: out, dir: out, pipeline: pipeline, vars: map[string]string{"FAKE_TOKEN": fakeToken}}
		p := e.run(t)
		mustFail(t, p, "planhat")
		noSecrets(t, []string{fakeToken}, []string{p.stdout.String(), p.stderr.String()}, out)
	})
	t.Run("pipeline problems", func(t *testing.T) {
		// Problems quote values; here two hold the token.
		out := t.TempDir()
		pipeline := filepath.Join(t.TempDir(), "p.yaml")
		body := fmt.Sprintf("version: 1\nsources:\n  planhat: {base_url: \"api.example.com/?key=${FAKE_TOKEN}\", token: \"${FAKE_TOKEN}\", page_size: \"${FAKE_TOKEN}\"}\noutput: {uri: %q}\n", out)
		os.WriteFile(pipeline, []byte(body), 0o644)
		e := &env{out: out, dir: out, pipeline: pipeline, vars: map[string]string{"FAKE_TOKEN": fakeToken}}
		p := e.run(t)
		if p.code != 2 || !strings.Contains(p.stderr.String(), "${FAKE_TOKEN}") {
			t.Fatalf("exit %d, want 2 with the problems naming the variable\nstderr: %s", p.code, p.stderr.String())
		}
		noSecrets(t, []string{fakeToken, fakeToken[:7]}, []string{p.stdout.String(), p.stderr.String()}, out)
	})
}
