package store

import (
	"bytes"
	"context"
	"io"
	"testing"
)

// An object written in pieces past the write-behind size (each 8 MiB is
// handed to the disk as it is written) reads back whole once closed, and
// is not visible before.
func TestLocalLargeObject(t *testing.T) {
	ctx := context.Background()
	l := Local{Root: t.TempDir()}
	obj, err := l.Create(ctx, "t/part.bin")
	if err != nil {
		t.Fatal(err)
	}
	want := make([]byte, 3*writeBehind+12345)
	for i := range want {
		want[i] = byte(i * 7)
	}
	for rest := want; len(rest) > 0; {
		n := min(len(rest), 1<<20+3)
		if _, err := obj.Write(rest[:n]); err != nil {
			t.Fatal(err)
		}
		rest = rest[n:]
	}
	if r, err := l.Open(ctx, "t/part.bin"); err == nil {
		r.Close()
		t.Fatal("the object is there before Close")
	}
	if err := obj.Close(); err != nil {
		t.Fatal(err)
	}
	r, err := l.Open(ctx, "t/part.bin")
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	got, err := io.ReadAll(r)
	if err != nil || !bytes.Equal(got, want) {
		t.Fatalf("read back %d bytes (%v), want %d", len(got), err, len(want))
	}
}
