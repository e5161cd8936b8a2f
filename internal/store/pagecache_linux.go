package store

import (
	"os"

	"golang.org/x/sys/unix"
)

// startWriteback starts writing a file's bytes [off, off+n) to disk and
// returns at once (sync_file_range, SYNC_FILE_RANGE_WRITE). It is only a
// hint: Close still syncs the file, so an error here changes nothing.
func startWriteback(f *os.File, off, n int64) {
	_ = unix.SyncFileRange(int(f.Fd()), off, n, unix.SYNC_FILE_RANGE_WRITE)
}

// dropWritten waits until a file's bytes [off, off+n) are on disk and lets
// the kernel drop them from the page cache (only a hint, as above).
func dropWritten(f *os.File, off, n int64) {
	_ = unix.SyncFileRange(int(f.Fd()), off, n, unix.SYNC_FILE_RANGE_WAIT_BEFORE|unix.SYNC_FILE_RANGE_WRITE|unix.SYNC_FILE_RANGE_WAIT_AFTER)
	dropCached(f, off, n)
}

// dropCached lets the kernel drop a file's bytes [off, off+n) from the page
// cache (only a hint; pages not yet on disk stay).
func dropCached(f *os.File, off, n int64) {
	_ = unix.Fadvise(int(f.Fd()), off, n, unix.FADV_DONTNEED)
}
