//go:build linux

package hugepage

import (
	"bufio"
	"fmt"
	"os"
	"strings"
	"testing"
	"unsafe"
)

func TestMakeAdvisesLargeSlices(t *testing.T) {
	if b, err := os.ReadFile("/sys/kernel/mm/transparent_hugepage/enabled"); err != nil || strings.Contains(string(b), "[never]") {
		t.Skip("this kernel offers no transparent huge pages")
	}
	s := Make[uint64](0, 4<<20) // 32 MiB
	if len(s) != 0 || cap(s) != 4<<20 {
		t.Fatalf("len %d cap %d", len(s), cap(s))
	}
	s = append(s, 1, 2, 3)
	mid := uintptr(unsafe.Pointer(&s[:cap(s)][cap(s)/2]))
	if !advised(t, mid) {
		t.Errorf("the middle of a 32 MiB slice is not in a mapping advised for huge pages")
	}
	if small := Make[int32](100, 200); len(small) != 100 || cap(small) != 200 {
		t.Errorf("small slice: len %d cap %d", len(small), cap(small))
	}
}

// advised reports whether the mapping holding address a has the "hg"
// (MADV_HUGEPAGE) flag, from /proc/self/smaps.
func advised(t *testing.T, a uintptr) bool {
	f, err := os.Open("/proc/self/smaps")
	if err != nil {
		t.Skip("no /proc/self/smaps:", err)
	}
	defer f.Close()
	in := false
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		var lo, hi uintptr
		if n, _ := fmt.Sscanf(line, "%x-%x", &lo, &hi); n == 2 && strings.Contains(line, " ") {
			in = lo <= a && a < hi
			continue
		}
		if in && strings.HasPrefix(line, "VmFlags:") {
			return strings.Contains(line, " hg")
		}
	}
	t.Fatalf("no mapping holds %#x", a)
	return false
}
