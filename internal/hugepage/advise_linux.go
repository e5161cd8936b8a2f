//go:build linux

package hugepage

import (
	"unsafe"

	"golang.org/x/sys/unix"
)

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
