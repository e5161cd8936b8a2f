// Package hugepage makes large slices that are read at random (hash
// tables, per-record arrays indexed by person) on the Go heap, asking the
// kernel to back them with transparent huge pages: a lookup in a table of
// tens of megabytes otherwise misses the TLB as well as the cache, and on
// a virtual machine each TLB miss walks two levels of page tables.
package hugepage

import (
	"unsafe"

	"golang.org/x/sys/unix"
)

// minBytes is the smallest slice worth advising: below a couple of huge
// pages the TLB covers it anyway. (Measured: the seen-id tables of bench 2,
// 8 MiB each, 0.3 s less CPU of 8.6 s; end_users built from 5 million
// records, 10-20% less CPU: go test -bench People -records 5000000
// ./transform/resolve.)
const minBytes = 4 << 20

// Make is make([]T, n, c), advised for huge pages when large. The slice
// stays on the Go heap (within its soft limit, freed by the collector); the
// advice covers only the whole 2 MiB pages inside it, before any is
// touched, so the kernel backs them with huge pages as they fault in.
func Make[T any](n, c int) []T {
	s := make([]T, n, c)
	advise(unsafe.Pointer(unsafe.SliceData(s)), uintptr(c)*unsafe.Sizeof(*new(T)))
	return s
}

const huge = 2 << 20

func advise(p unsafe.Pointer, size uintptr) {
	if size < minBytes {
		return
	}
	start := (uintptr(p) + huge - 1) &^ (huge - 1)
	end := (uintptr(p) + size) &^ (huge - 1)
	if end <= start {
		return
	}
	// Advice is a hint: where the kernel has no huge pages (or says no),
	// the slice works as any other.
	_ = unix.Madvise(unsafe.Slice((*byte)(unsafe.Add(p, start-uintptr(p))), end-start), unix.MADV_HUGEPAGE)
}
