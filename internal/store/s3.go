package store

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"sort"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/feature/s3/manager"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"
)

// Multipart upload settings: memory holds at most (s3Concurrency+2) parts of
// s3PartSize per object being written, whatever the object's size. Parts are
// S3's minimum because a run writes several objects at once (one staging
// object per source): five 100 MB uploads at once peak near 150 MB resident,
// against 230 MB with 8 MiB parts. Objects can reach 10,000 parts, 48 GiB.
const (
	s3PartSize    = 5 << 20
	s3Concurrency = 2
	// deleteBatch is DeleteObjects' limit of keys per request.
	deleteBatch = 1000
)

// S3 is a Store under a key prefix of an S3 bucket.
type S3 struct {
	client   *s3.Client
	uploader *manager.Uploader
	bucket   string
	root     string // "" or a prefix ending in /
}

// OpenS3 connects to s3://bucket[/prefix] with the standard AWS configuration
// (AWS_REGION, AWS_ENDPOINT_URL_S3, the credentials chain) and checks that the
// prefix can be listed, so that a wrong bucket or refused credentials fail
// the run before any work is done.
func OpenS3(ctx context.Context, uri string) (*S3, error) {
	bucket, prefix, err := ParseS3URI(uri)
	if err != nil {
		return nil, err
	}
	// A response that never comes must fail the run, not hang it; parts are
	// sent before the clock starts, so slow uploads are not cut.
	httpClient := awshttp.NewBuildableClient().WithTransportOptions(func(t *http.Transport) {
		t.ResponseHeaderTimeout = 2 * time.Minute
	})
	cfg, err := awsconfig.LoadDefaultConfig(ctx, awsconfig.WithHTTPClient(httpClient))
	if err != nil {
		return nil, fmt.Errorf("s3://%s: reading the AWS configuration: %w", bucket, err)
	}
	if cfg.Region == "" {
		return nil, fmt.Errorf("s3://%s: no AWS region: set AWS_REGION", bucket)
	}
	client := s3.NewFromConfig(cfg, func(o *s3.Options) {
		// S3-compatible servers (MinIO, Versity, Ceph) rarely have a
		// wildcard DNS name per bucket.
		if o.BaseEndpoint != nil {
			o.UsePathStyle = true
		}
	})
	root := strings.Trim(prefix, "/")
	if root != "" {
		root += "/"
	}
	s := &S3{client: client, bucket: bucket, root: root,
		uploader: manager.NewUploader(client, func(up *manager.Uploader) {
			up.PartSize = s3PartSize
			up.Concurrency = s3Concurrency
		})}
	_, err = client.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: &s.bucket, Prefix: &s.root, MaxKeys: aws.Int32(1)})
	if err != nil {
		return nil, s.fail("listing", "", err)
	}
	return s, nil
}

// ParseS3URI splits s3://bucket/key. The key is taken as written: unlike a
// URL's path, it may hold ?, # and % (globs and exported file names do).
func ParseS3URI(uri string) (bucket, key string, err error) {
	rest, ok := strings.CutPrefix(uri, "s3://")
	bucket, key, _ = strings.Cut(rest, "/")
	if !ok || bucket == "" {
		return "", "", fmt.Errorf("%q is not an s3://bucket/key URI", uri)
	}
	return bucket, key, nil
}

func (s *S3) URI(key string) string { return "s3://" + s.bucket + "/" + s.root + key }

// fail turns an SDK error into one that names the object and, for the usual
// refusals, says what is wrong. SDK errors carry no credentials.
func (s *S3) fail(op, key string, err error) error {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		switch ae.ErrorCode() {
		case "NoSuchBucket":
			return fmt.Errorf("%s %s: bucket %s does not exist: %w", op, s.URI(key), s.bucket, err)
		case "AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch":
			return fmt.Errorf("%s %s: S3 refused the credentials or the permission: %w", op, s.URI(key), err)
		case "NoSuchKey":
			return fmt.Errorf("%s %s: %w (%w)", op, s.URI(key), fs.ErrNotExist, err)
		}
	}
	return fmt.Errorf("%s %s: %w", op, s.URI(key), err)
}

// Create streams the object through a multipart upload fed by a pipe, so
// that memory holds a few parts, never the whole object. Nothing is visible
// under key until Close has completed the upload.
//
// When ctx ends, the stream fails as if aborted. The upload itself runs
// without ctx's cancellation, so that the uploader can still abort the
// multipart upload on the server instead of leaving its parts behind.
func (s *S3) Create(ctx context.Context, key string) (Object, error) {
	pr, pw := io.Pipe()
	o := &s3Object{s: s, key: key, pw: pw, done: make(chan struct{})}
	// The upload outlives ctx briefly, so that a cancelled run can still
	// abort its multipart upload, but not longer: a part stuck in flight
	// must not keep a stopping process alive.
	uctx, ucancel := context.WithCancel(context.WithoutCancel(ctx))
	stop := context.AfterFunc(ctx, func() {
		pw.CloseWithError(context.Cause(ctx))
		time.AfterFunc(abortGrace, ucancel)
	})
	go func() {
		defer close(o.done)
		defer ucancel()
		_, o.err = s.uploader.Upload(uctx, &s3.PutObjectInput{Bucket: &s.bucket, Key: aws.String(s.root + key), Body: pr})
		stop()
		// Unblock a writer still waiting on a failed upload.
		pr.CloseWithError(errUploadEnded(o.err))
	}()
	return o, nil
}

// abortGrace is how long a cancelled upload may take to abort itself.
const abortGrace = 2 * time.Second

func errUploadEnded(err error) error {
	if err == nil {
		return errors.New("upload already finished")
	}
	return err
}

type s3Object struct {
	s    *S3
	key  string
	pw   *io.PipeWriter
	done chan struct{}
	err  error // the upload's result, set before done closes
}

func (o *s3Object) Write(p []byte) (int, error) {
	n, err := o.pw.Write(p)
	if err != nil {
		<-o.done
		return n, o.s.fail("uploading", o.key, errUploadEnded(o.err))
	}
	return n, nil
}

// Close ends the stream and waits for the upload to complete.
func (o *s3Object) Close() error {
	o.pw.Close()
	<-o.done
	if o.err != nil {
		return o.s.fail("uploading", o.key, o.err)
	}
	return nil
}

var errAborted = errors.New("upload aborted")

// Abort fails the stream: the uploader aborts the multipart upload (a
// single-part one was never sent) and the object never appears.
func (o *s3Object) Abort() {
	o.pw.CloseWithError(errAborted)
	<-o.done
}

// CreateExclusive puts body under key with If-None-Match: *, so S3 (and
// S3-compatible servers that implement conditional writes) refuses it when
// the key exists: 412 PreconditionFailed, or 409 ConditionalRequestConflict
// while another conditional write of the key is in flight.
func (s *S3) CreateExclusive(ctx context.Context, key string, body []byte) error {
	_, err := s.client.PutObject(ctx, &s3.PutObjectInput{Bucket: &s.bucket, Key: aws.String(s.root + key),
		Body: bytes.NewReader(body), IfNoneMatch: aws.String("*")})
	if err == nil {
		return nil
	}
	var ae smithy.APIError
	if errors.As(err, &ae) {
		switch ae.ErrorCode() {
		case "PreconditionFailed", "ConditionalRequestConflict":
			return fmt.Errorf("creating %s: %w (%w)", s.URI(key), fs.ErrExist, err)
		case "NotImplemented":
			return fmt.Errorf("creating %s: the S3 server does not implement conditional writes (If-None-Match), which the run-date lock needs: %w", s.URI(key), err)
		}
	}
	return s.fail("creating", key, err)
}

// List returns the keys under prefix (which need not end in /), sorted.
func (s *S3) List(ctx context.Context, prefix string) ([]string, error) {
	var keys []string
	p := s3.NewListObjectsV2Paginator(s.client, &s3.ListObjectsV2Input{Bucket: &s.bucket, Prefix: aws.String(s.root + prefix)})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, s.fail("listing", prefix, err)
		}
		for _, obj := range page.Contents {
			keys = append(keys, strings.TrimPrefix(aws.ToString(obj.Key), s.root))
		}
	}
	sort.Strings(keys)
	return keys, nil
}

func (s *S3) Open(ctx context.Context, key string) (io.ReadCloser, error) {
	out, err := s.client.GetObject(ctx, &s3.GetObjectInput{Bucket: &s.bucket, Key: aws.String(s.root + key)})
	if err != nil {
		return nil, s.fail("reading", key, err)
	}
	return out.Body, nil
}

// Delete removes keys in batches of DeleteObjects' maximum; a missing key is
// not an error.
func (s *S3) Delete(ctx context.Context, keys ...string) error {
	for len(keys) > 0 {
		n := min(len(keys), deleteBatch)
		ids := make([]types.ObjectIdentifier, n)
		for i, k := range keys[:n] {
			ids[i] = types.ObjectIdentifier{Key: aws.String(s.root + k)}
		}
		out, err := s.client.DeleteObjects(ctx, &s3.DeleteObjectsInput{Bucket: &s.bucket,
			Delete: &types.Delete{Objects: ids, Quiet: aws.Bool(true)}})
		if err != nil {
			return s.fail("deleting", keys[0], err)
		}
		if len(out.Errors) > 0 {
			var errs []error
			for _, e := range out.Errors {
				errs = append(errs, fmt.Errorf("deleting %s: %s: %s", s.URI(strings.TrimPrefix(aws.ToString(e.Key), s.root)),
					aws.ToString(e.Code), aws.ToString(e.Message)))
			}
			return errors.Join(errs...)
		}
		keys = keys[n:]
	}
	return nil
}
