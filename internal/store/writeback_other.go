//go:build !linux

package store

import "os"

// startWriteback and dropWritten are no-ops where sync_file_range does not
// exist: Close's sync writes everything.
func startWriteback(*os.File, int64, int64) {}

func dropWritten(*os.File, int64, int64) {}
