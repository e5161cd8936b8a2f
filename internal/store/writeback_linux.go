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
