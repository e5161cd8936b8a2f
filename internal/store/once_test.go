package store

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"testing"
)

// syncedFile writes a file of a little over three drop steps, synced (the
// kernel drops only pages that are on disk: a Local object's Close syncs),
// and returns its path and bytes.
func syncedFile(t *testing.T) (string, []byte) {
	want := make([]byte, 3*dropStep+12345)
	for i := range want {
		want[i] = byte(i * 7)
	}
	l := Local{Root: t.TempDir()}
	put(t, l, "export.jsonl", want)
	return l.path("export.jsonl"), want
}

// readOnce reads name through OpenOnce in reads of an odd size.
func readOnce(t *testing.T, name string) []byte {
	o, err := OpenOnce(name)
	if err != nil {
		t.Fatal(err)
	}
	defer o.Close()
	var got []byte
	buf := make([]byte, 1<<20+3)
	for {
		n, err := o.Read(buf)
		got = append(got, buf[:n]...)
		if err == io.EOF {
			return got
		}
		if err != nil {
			t.Fatal(err)
		}
	}
}

func TestOpenOnceReadsEveryByte(t *testing.T) {
	name, want := syncedFile(t)
	if got := readOnce(t, name); !bytes.Equal(got, want) {
		t.Fatalf("read %d bytes, want the file's %d", len(got), len(want))
	}
	if _, err := OpenOnce(filepath.Join(t.TempDir(), "missing.jsonl")); !os.IsNotExist(err) {
		t.Fatalf("opening a missing file: %v, want not exist", err)
	}
}
