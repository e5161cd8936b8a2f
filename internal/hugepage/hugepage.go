// Package hugepage makes large slices that are read at random (hash
// tables, per-record arrays indexed by person) on the Go heap, asking the
// kernel to back them with transparent huge pages: a lookup in a table of
// tens of megabytes otherwise misses the TLB as well as the cache, and on
// a virtual machine each TLB miss walks two levels of page tables.
package hugepage

import "unsafe"

// minBytes is the smallest slice worth advising: below a couple of huge
// pages the TLB covers it anyway. (Measured: the seen-id tables of bench 2,
// 8 MiB each, 0.3 s less CPU of 8.6 s; end_users built from 5 million
// records, 10-20% less CPU: go test -bench People -records 5000000
// ./transform/resolve.)
const minBytes = 4 << 20

// Make is make([]T, n, c), advised for huge pages when large. The slice
// stays on the Go heap (within its soft limit, freed by the collector); the
// advice covers only the whole 2 MiB pages inside it. Memory fresh from the
// system is untouched until used, so the kernel backs it with huge pages
// as it faults in; memory the heap reuses keeps the pages it has (and later
// reuses of advised memory get huge pages).
func Make[T any](n, c int) []T {
	s := make([]T, n, c)
	advise(unsafe.Pointer(unsafe.SliceData(s)), uintptr(c)*unsafe.Sizeof(*new(T)))
	return s
}
