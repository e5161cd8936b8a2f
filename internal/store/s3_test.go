package store

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go/middleware"

	"etl/internal/s3test"
)

func openS3(t testing.TB, srv *s3test.Server, prefix string) *S3 {
	t.Helper()
	srv.Setenv(t)
	st, err := OpenS3(context.Background(), srv.URI(prefix))
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func put(t *testing.T, st Store, key string, body []byte) {
	t.Helper()
	o, err := st.Create(context.Background(), key)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := o.Write(body); err != nil {
		t.Fatal(err)
	}
	if err := o.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestS3StoreRoundTrip(t *testing.T) {
	srv := s3test.Start(t, "warehouse")
	st := openS3(t, srv, "out/")
	ctx := context.Background()
	put(t, st, "t/dt=2026-01-01/b.txt", []byte("bee"))
	put(t, st, "t/dt=2026-01-01/a.txt", []byte("ay"))
	put(t, st, "t/dt=2026-01-02/c.txt", nil)
	keys, err := st.List(ctx, "t/dt=2026-01-01/")
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"t/dt=2026-01-01/a.txt", "t/dt=2026-01-01/b.txt"}; !slices.Equal(keys, want) {
		t.Fatalf("List = %v, want %v", keys, want)
	}
	// The prefix of the URI is where objects live in the bucket.
	if b, err := os.ReadFile(srv.Path("out/t/dt=2026-01-01/b.txt")); err != nil || string(b) != "bee" {
		t.Fatalf("object on the server: %q, %v", b, err)
	}
	r, err := st.Open(ctx, "t/dt=2026-01-01/a.txt")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(r)
	r.Close()
	if string(b) != "ay" {
		t.Fatalf("Open read %q", b)
	}
	if _, err := st.Open(ctx, "t/missing"); !errors.Is(err, fs.ErrNotExist) || !strings.Contains(err.Error(), "s3://warehouse/out/t/missing") {
		t.Fatalf("Open of a missing key: %v", err)
	}
	if err := st.Delete(ctx, "t/dt=2026-01-01/a.txt", "t/never-was"); err != nil {
		t.Fatal(err)
	}
	if keys, _ := st.List(ctx, "t/"); !slices.Equal(keys, []string{"t/dt=2026-01-01/b.txt", "t/dt=2026-01-02/c.txt"}) {
		t.Fatalf("after Delete: %v", keys)
	}
}

func TestS3DeleteBatchesOf1000(t *testing.T) {
	srv := s3test.Start(t, "warehouse")
	st := openS3(t, srv, "p")
	var mu sync.Mutex
	var batches []int
	st.client = s3.New(st.client.Options(), func(o *s3.Options) {
		o.APIOptions = append(o.APIOptions, func(s *middleware.Stack) error {
			return s.Initialize.Add(middleware.InitializeMiddlewareFunc("countDeletes",
				func(ctx context.Context, in middleware.InitializeInput, next middleware.InitializeHandler) (middleware.InitializeOutput, middleware.Metadata, error) {
					if d, ok := in.Parameters.(*s3.DeleteObjectsInput); ok {
						mu.Lock()
						batches = append(batches, len(d.Delete.Objects))
						mu.Unlock()
					}
					return next.HandleInitialize(ctx, in)
				}), middleware.After)
		})
	})
	// The posix backend serves files placed under its root: faster than 2,345 PUTs.
	var keys []string
	for i := range 2345 {
		k := fmt.Sprintf("d/%05d", i)
		os.MkdirAll(filepath.Dir(srv.Path("p/"+k)), 0o755)
		if err := os.WriteFile(srv.Path("p/"+k), []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
		keys = append(keys, k)
	}
	listed, err := st.List(context.Background(), "d/")
	if err != nil || !slices.Equal(listed, keys) { // more than one page of 1,000
		t.Fatalf("List found %d keys (%v), want %d", len(listed), err, len(keys))
	}
	if err := st.Delete(context.Background(), keys...); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(batches, []int{1000, 1000, 345}) {
		t.Fatalf("DeleteObjects batches: %v", batches)
	}
	if left, _ := st.List(context.Background(), "d/"); len(left) != 0 {
		t.Fatalf("%d keys left after Delete", len(left))
	}
}

// multipartUploads lists the uploads in progress in the bucket.
func multipartUploads(t *testing.T, srv *s3test.Server) int {
	t.Helper()
	out, err := srv.Client().ListMultipartUploads(context.Background(), &s3.ListMultipartUploadsInput{Bucket: &srv.Bucket})
	if err != nil {
		t.Fatal(err)
	}
	return len(out.Uploads)
}

func TestS3MultipartVisibleOnlyAfterClose(t *testing.T) {
	srv := s3test.Start(t, "warehouse")
	st := openS3(t, srv, "")
	ctx := context.Background()
	data := make([]byte, 2*s3PartSize+12345) // three parts
	for i := range data {
		data[i] = byte(rand.IntN(256))
	}
	o, err := st.Create(ctx, "big.bin")
	if err != nil {
		t.Fatal(err)
	}
	for chunk := range slices.Chunk(data, 100_000) {
		if _, err := o.Write(chunk); err != nil {
			t.Fatal(err)
		}
	}
	if keys, _ := st.List(ctx, ""); len(keys) != 0 {
		t.Fatalf("visible before Close: %v", keys)
	}
	if n := multipartUploads(t, srv); n != 1 {
		t.Fatalf("%d multipart uploads in progress, want 1", n)
	}
	if err := o.Close(); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(srv.Path("big.bin"))
	if err != nil || sha256.Sum256(got) != sha256.Sum256(data) {
		t.Fatalf("stored object differs (%d bytes, %v)", len(got), err)
	}

	// Abort discards a multipart upload on the server, and a small one
	// that was never sent.
	for _, size := range []int{2*s3PartSize + 1, 10} {
		o, err := st.Create(ctx, "aborted.bin")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := o.Write(data[:size]); err != nil {
			t.Fatal(err)
		}
		o.Abort()
		if _, err := os.Stat(srv.Path("aborted.bin")); !errors.Is(err, fs.ErrNotExist) {
			t.Fatalf("size %d: aborted object exists (%v)", size, err)
		}
		if n := multipartUploads(t, srv); n != 0 {
			t.Fatalf("size %d: %d multipart uploads left after Abort", size, n)
		}
	}
}

func TestS3ServerDownFailsClearly(t *testing.T) {
	srv := s3test.Start(t, "warehouse")
	st := openS3(t, srv, "out")
	srv.Stop()
	o, err := st.Create(context.Background(), "x/part-1.parquet")
	if err != nil {
		t.Fatal(err)
	}
	o.Write(bytes.Repeat([]byte("y"), 1000))
	err = o.Close()
	if err == nil {
		t.Fatal("Close succeeded with the server down")
	}
	if !strings.Contains(err.Error(), "s3://warehouse/out/x/part-1.parquet") || strings.Contains(err.Error(), s3test.SecretKey) {
		t.Fatalf("unclear error: %v", err)
	}
	if _, err := OpenS3(context.Background(), srv.URI("out")); err == nil {
		t.Fatal("OpenS3 succeeded with the server down")
	}
	srv.Restart()
	put(t, st, "x/part-1.parquet", []byte("ok"))
}

func TestOpenS3RefusedCredentials(t *testing.T) {
	srv := s3test.Start(t, "warehouse")
	srv.Setenv(t)
	t.Setenv("AWS_SECRET_ACCESS_KEY", "wrong-secret-9a8b7c")
	_, err := OpenS3(context.Background(), srv.URI("out"))
	if err == nil || !strings.Contains(err.Error(), "refused the credentials") || strings.Contains(err.Error(), "wrong-secret-9a8b7c") {
		t.Fatalf("OpenS3 with a wrong secret: %v", err)
	}
	srv.Setenv(t)
	if _, err := OpenS3(context.Background(), "s3://no-such-bucket/out"); err == nil || !strings.Contains(err.Error(), "does not exist") {
		t.Fatalf("OpenS3 of a missing bucket: %v", err)
	}
}

// A cancelled run's upload fails and is aborted on the server, not left behind.
func TestS3UploadCancelled(t *testing.T) {
	srv := s3test.Start(t, "warehouse")
	st := openS3(t, srv, "")
	ctx, cancel := context.WithCancel(context.Background())
	o, err := st.Create(ctx, "cancelled.bin")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := o.Write(make([]byte, 2*s3PartSize+1)); err != nil {
		t.Fatal(err)
	}
	if n := multipartUploads(t, srv); n != 1 {
		t.Fatalf("%d multipart uploads in progress, want 1", n)
	}
	cancel()
	// The stream fails soon after, not necessarily at the next write.
	var werr error
	for i := 0; i < 64 && werr == nil; i++ {
		_, werr = o.Write(make([]byte, 1<<20))
	}
	if !errors.Is(werr, context.Canceled) {
		t.Fatalf("writing after cancel: %v", werr)
	}
	if err := o.Close(); err == nil {
		t.Fatal("Close succeeded after cancel")
	}
	if n := multipartUploads(t, srv); n != 0 {
		t.Fatalf("%d multipart uploads left after cancel", n)
	}
	if _, err := os.Stat(srv.Path("cancelled.bin")); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("cancelled object exists (%v)", err)
	}
}
