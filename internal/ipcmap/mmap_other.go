//go:build !unix

package ipcmap

import (
	"errors"
	"os"
)

// Elsewhere NewReader reads the file as ipc.NewReader does.
const canMap = false

func mmap(*os.File, int64, int) ([]byte, error) { return nil, errors.ErrUnsupported }

func unmap([]byte) error { return errors.ErrUnsupported }
