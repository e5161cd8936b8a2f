package store

import (
	"os"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"
)

// resident is how many of the first n bytes of name are in the page cache
// (mincore of a mapping, which itself reads nothing in).
func resident(t *testing.T, name string, n int) int {
	f, err := os.Open(name)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	m, err := unix.Mmap(int(f.Fd()), 0, n, unix.PROT_READ, unix.MAP_SHARED)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Munmap(m)
	page := os.Getpagesize()
	vec := make([]byte, (n+page-1)/page)
	if _, _, errno := unix.Syscall(unix.SYS_MINCORE, uintptr(unsafe.Pointer(&m[0])), uintptr(n), uintptr(unsafe.Pointer(&vec[0]))); errno != 0 {
		t.Fatal(errno)
	}
	in := 0
	for _, v := range vec {
		if v&1 != 0 {
			in += page
		}
	}
	return in
}

// TestOpenOnceDropsWhatItRead: the pages read are let go (those of the
// first two steps at least), where a plain read keeps them.
func TestOpenOnceDropsWhatItRead(t *testing.T) {
	name, _ := syncedFile(t)
	if _, err := os.ReadFile(name); err != nil {
		t.Fatal(err)
	}
	if got := resident(t, name, 2*dropStep); got != 2*dropStep {
		t.Fatalf("after a plain read, %d of the first %d bytes are cached, want all", got, 2*dropStep)
	}
	readOnce(t, name)
	if got := resident(t, name, 2*dropStep); got != 0 {
		t.Fatalf("after OpenOnce's read, %d of the first %d bytes are still cached, want none", got, 2*dropStep)
	}
}
