package extract

import (
	"syscall"
	"unsafe"
)

// hugeSlots is the size from which a table of seen ids is mapped on its
// own, in 2 MiB pages (transparent huge pages, when the kernel has them):
// every record looks up a random slot of a table far larger than the
// caches, and with 4 KiB pages each lookup also misses the TLB (a page
// walk, costlier in a virtual machine); the Go heap gets huge pages only
// when the system gives them to every process.
const hugeSlots = 2 << 20 / int(unsafe.Sizeof(slot{}))

// allocSlots returns n empty slots, and the mapping to free them with (nil
// for heap memory).
func allocSlots(n int) ([]slot, []byte) {
	if n < hugeSlots {
		return make([]slot, n), nil
	}
	size := n * int(unsafe.Sizeof(slot{}))
	mem, err := syscall.Mmap(-1, 0, size, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_ANON|syscall.MAP_PRIVATE)
	if err != nil {
		return make([]slot, n), nil
	}
	_ = syscall.Madvise(mem, 14) // MADV_HUGEPAGE; without it, 4 KiB pages
	return unsafe.Slice((*slot)(unsafe.Pointer(unsafe.SliceData(mem))), n), mem
}

// freeSlots unmaps what allocSlots mapped.
func freeSlots(mem []byte) {
	if mem != nil {
		_ = syscall.Munmap(mem)
	}
}
