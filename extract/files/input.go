package files

import (
	"context"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"

	"etl/internal/store"
)

// input is one file to read: a local path, or an object in S3.
type input struct {
	name string    // the local path or s3:// URI, as messages show it
	s3   *store.S3 // nil for a local file
	key  string
	rest int64 // a local file's bytes and those of the files after it (0 for S3: unknown)
}

// inputs expands the source's path into the files it matches, sorted.
// Matching nothing is an error: a missing export must not pass for a source
// with no users.
func inputs(ctx context.Context, pattern string) ([]input, error) {
	var ins []input
	var err error
	if strings.HasPrefix(pattern, "s3://") {
		ins, err = s3Inputs(ctx, pattern)
	} else {
		ins, err = localInputs(pattern)
	}
	if err != nil {
		return nil, err
	}
	if len(ins) == 0 {
		return nil, fmt.Errorf("no file matches %s", pattern)
	}
	return ins, nil
}

func localInputs(pattern string) ([]input, error) {
	names, err := filepath.Glob(pattern)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", pattern, err)
	}
	sort.Strings(names)
	var ins []input
	for _, n := range names {
		var size int64
		if fi, err := os.Stat(n); err == nil {
			if fi.IsDir() {
				continue
			}
			size = fi.Size()
		}
		ins = append(ins, input{name: n, rest: size})
	}
	for i := len(ins) - 2; i >= 0; i-- { // each file's bytes, then those after it
		ins[i].rest += ins[i+1].rest
	}
	return ins, nil
}

// s3Inputs lists the keys under the pattern's literal prefix and keeps those
// path.Match accepts, so * stops at / as it does for local globs.
func s3Inputs(ctx context.Context, pattern string) ([]input, error) {
	bucket, keyPattern, err := store.ParseS3URI(pattern)
	if err != nil {
		return nil, err
	}
	if _, err := path.Match(keyPattern, ""); err != nil {
		return nil, fmt.Errorf("%s: %w", pattern, err)
	}
	bucketStore, err := store.OpenS3(ctx, "s3://"+bucket)
	if err != nil {
		return nil, err
	}
	prefix := keyPattern
	if i := strings.IndexAny(prefix, `*?[\`); i >= 0 {
		prefix = prefix[:i]
	}
	keys, err := bucketStore.List(ctx, prefix)
	if err != nil {
		return nil, err
	}
	var ins []input
	for _, k := range keys {
		if ok, _ := path.Match(keyPattern, k); ok {
			ins = append(ins, input{name: bucketStore.URI(k), s3: bucketStore, key: k})
		}
	}
	return ins, nil
}

// open returns the input to be read once, front to back (a local file's
// pages are let go from the page cache behind the reading: see
// store.OpenOnce).
func (in input) open(ctx context.Context) (io.ReadCloser, error) {
	if in.s3 == nil {
		return store.OpenOnce(in.name)
	}
	return in.s3.Open(ctx, in.key)
}

// openFile returns the input as a local file, which Parquet's random access
// needs: an S3 object is first downloaded into a temporary file, never into
// memory. done closes (and removes) it.
func (in input) openFile(ctx context.Context) (f *os.File, done func(), err error) {
	if in.s3 == nil {
		f, err := os.Open(in.name)
		if err != nil {
			return nil, nil, err
		}
		return f, func() { f.Close() }, nil
	}
	body, err := in.open(ctx)
	if err != nil {
		return nil, nil, err
	}
	defer body.Close()
	f, err = os.CreateTemp("", "etl-input-*.parquet")
	if err != nil {
		return nil, nil, err
	}
	done = func() {
		f.Close()
		os.Remove(f.Name())
	}
	if _, err := io.Copy(f, body); err != nil {
		done()
		return nil, nil, fmt.Errorf("downloading %s: %w", in.name, err)
	}
	return f, done, nil
}
