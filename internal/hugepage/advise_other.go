//go:build !linux

package hugepage

import "unsafe"

// advise does nothing where there are no transparent huge pages to ask for.
func advise(unsafe.Pointer, uintptr) {}
