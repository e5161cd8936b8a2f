//go:build !linux

package store

import "os"

// startWriteback, dropWritten and dropRead are no-ops where
// sync_file_range and fadvise do not exist: Close's sync writes
// everything, and the page cache is left to the kernel.
func startWriteback(*os.File, int64, int64) {}

func dropWritten(*os.File, int64, int64) {}

func dropRead(*os.File, int64, int64) {}
