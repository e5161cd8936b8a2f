//go:build !linux

package store

import "os"

// startWriteback, dropWritten and dropCached are no-ops where
// sync_file_range and fadvise do not exist: Close's sync writes
// everything, and the page cache is left to the kernel.
func startWriteback(*os.File, int64, int64) {}

func dropWritten(*os.File, int64, int64) {}

func dropCached(*os.File, int64, int64) {}
