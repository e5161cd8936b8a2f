package store

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"testing"
)

// An object written in pieces past the write-behind size (each 8 MiB is
// handed to the disk as it is written, and with DropBehind dropped from the
// page cache 8 MiB later) reads back whole once closed, and is not visible
// before.
func TestLocalLargeObject(t *testing.T) {
	for _, drop := range []bool{false, true} {
		t.Run(fmt.Sprint("drop behind ", drop), func(t *testing.T) { largeObject(t, drop) })
	}
}

func largeObject(t *testing.T, drop bool) {
	ctx := context.Background()
	l := Local{Root: t.TempDir()}
	obj, err := l.Create(ctx, "t/part.bin")
	if err != nil {
		t.Fatal(err)
	}
	if drop {
		obj.(interface{ DropBehind() }).DropBehind()
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
