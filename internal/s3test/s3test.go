// Package s3test runs a real S3-compatible server for tests: Versity S3
// Gateway with its posix backend, which stores object bucket/key as the file
// Dir/bucket/key, so tests can read outputs straight from disk. `make tools`
// (run by `make test`) installs the binary.
package s3test

import (
	"bytes"
	"context"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"etl/internal/duckdb"
)

// Test credentials; the server accepts nothing else.
const (
	AccessKey = "etltestaccess"
	SecretKey = "etl-test-secret-3c9d0b7a"
	Region    = "us-east-1"
)

// Server is one running gateway holding one bucket.
type Server struct {
	Endpoint string // http://127.0.0.1:port
	Bucket   string
	Dir      string // the posix root: object bucket/key is the file Dir/bucket/key

	t    testing.TB
	bin  string
	addr string

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{}
	logs bytes.Buffer
}

// Start runs a gateway on a free port of 127.0.0.1 with a fresh data
// directory and creates bucket; it stops when the test ends.
func Start(t testing.TB, bucket string) *Server {
	t.Helper()
	root, err := duckdb.Root()
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(root, ".cache", "bin", "versitygw")
	if _, err := os.Stat(bin); err != nil {
		t.Fatalf("versitygw is not installed at %s: run make tools", bin)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	s := &Server{Endpoint: "http://" + addr, Bucket: bucket, Dir: t.TempDir(), t: t, bin: bin, addr: addr}
	t.Cleanup(s.Stop)
	s.Restart()
	if _, err := s.Client().CreateBucket(context.Background(), &s3.CreateBucketInput{Bucket: &bucket}); err != nil {
		t.Fatalf("creating bucket %s: %v", bucket, err)
	}
	return s
}

// Env is the standard AWS environment that points a client at the server.
func (s *Server) Env() map[string]string {
	return map[string]string{
		"AWS_ACCESS_KEY_ID":     AccessKey,
		"AWS_SECRET_ACCESS_KEY": SecretKey,
		"AWS_REGION":            Region,
		"AWS_ENDPOINT_URL_S3":   s.Endpoint,
		// Keep a developer's own AWS files and profile out of the tests.
		"AWS_CONFIG_FILE":             filepath.Join(s.Dir, "no-aws-config"),
		"AWS_SHARED_CREDENTIALS_FILE": filepath.Join(s.Dir, "no-aws-credentials"),
		"AWS_PROFILE":                 "",
		"AWS_SESSION_TOKEN":           "",
	}
}

// Setenv sets Env for the rest of the test (not with t.Parallel).
func (s *Server) Setenv(t testing.TB) {
	for k, v := range s.Env() {
		t.Setenv(k, v)
	}
}

// URI is s3://bucket/key.
func (s *Server) URI(key string) string { return "s3://" + s.Bucket + "/" + key }

// Path is where the posix backend keeps object key of the bucket.
func (s *Server) Path(key string) string {
	return filepath.Join(s.Dir, s.Bucket, filepath.FromSlash(key))
}

// Client is an S3 client for the server, for test setup and checks.
func (s *Server) Client() *s3.Client {
	return s3.New(s3.Options{Region: Region, BaseEndpoint: aws.String(s.Endpoint), UsePathStyle: true,
		Credentials: credentials.NewStaticCredentialsProvider(AccessKey, SecretKey, "")})
}

// Restart starts the server (again) on the same port and data, and waits
// until it answers.
func (s *Server) Restart() {
	s.t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd != nil {
		s.t.Fatal("s3test: the server is already running")
	}
	cmd := exec.Command(s.bin, "--port", s.addr, "--quiet", "posix", s.Dir)
	// Keys through the environment, not the command line that ps shows.
	cmd.Env = append(os.Environ(), "ROOT_ACCESS_KEY="+AccessKey, "ROOT_SECRET_KEY="+SecretKey, "VGW_REGION="+Region)
	s.logs.Reset()
	cmd.Stdout, cmd.Stderr = &s.logs, &s.logs
	if err := cmd.Start(); err != nil {
		s.t.Fatalf("starting versitygw: %v", err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	s.cmd, s.done = cmd, done
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		select {
		case <-done:
			s.cmd = nil
			s.t.Fatalf("versitygw exited at start: %s", s.logs.String())
		default:
		}
		// Any HTTP answer (403 for an anonymous request) means it serves.
		if resp, err := http.Get(s.Endpoint + "/"); err == nil {
			resp.Body.Close()
			return
		}
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			<-done
			s.cmd = nil
			s.t.Fatalf("versitygw does not answer on %s: %s", s.addr, s.logs.String())
		}
	}
}

// Stop kills the server, as a crash or a network cut would look to clients;
// Restart brings it back on the same data.
func (s *Server) Stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil {
		return
	}
	s.cmd.Process.Kill()
	<-s.done
	s.cmd = nil
}
