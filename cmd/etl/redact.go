package main

import (
	"bytes"
	"io"
	"sync"
)

// redactor replaces every secret with REDACTED in what passes through it:
// the last line of defence behind code that never logs a token on purpose.
type redactor struct {
	mu      sync.Mutex
	secrets [][]byte
}

func (r *redactor) add(secrets ...string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, s := range secrets {
		if len(s) >= 4 { // shorter values would mangle ordinary text
			r.secrets = append(r.secrets, []byte(s))
		}
	}
}

func (r *redactor) apply(p []byte) []byte {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, s := range r.secrets {
		if bytes.Contains(p, s) {
			p = bytes.ReplaceAll(p, s, []byte("REDACTED"))
		}
	}
	return p
}

func (r *redactor) String(s string) string { return string(r.apply([]byte(s))) }

// writer redacts each write; callers write whole lines (slog does).
func (r *redactor) writer(w io.Writer) io.Writer { return &redactWriter{r: r, w: w} }

type redactWriter struct {
	r *redactor
	w io.Writer
}

func (rw *redactWriter) Write(p []byte) (int, error) {
	if _, err := rw.w.Write(rw.r.apply(bytes.Clone(p))); err != nil {
		return 0, err
	}
	return len(p), nil
}
