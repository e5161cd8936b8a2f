package store

import (
	"context"
	"strings"
)

// Open returns the store for an output URI: a local directory, or s3://.
func Open(ctx context.Context, uri string) (Store, error) {
	if strings.HasPrefix(uri, "s3://") {
		return OpenS3(ctx, uri)
	}
	return Local{Root: uri}, nil
}
