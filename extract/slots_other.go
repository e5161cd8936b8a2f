//go:build !linux

package extract

// allocSlots returns n empty slots (heap memory: nothing to free).
func allocSlots(n int) ([]slot, []byte) { return make([]slot, n), nil }

func freeSlots([]byte) {}
