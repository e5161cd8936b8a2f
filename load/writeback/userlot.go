package writeback

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"

	"etl/internal/vendorhttp"
	"etl/internal/vendors"
)

// Userlot has no bulk API: PUT /api/v1/end_users upserts one record, matched
// on id. Chunks are single records, sent with bounded concurrency.
type Userlot struct{ Client *vendorhttp.Client }

func (u Userlot) Send(ctx context.Context, items []Patch) (map[int]string, error) {
	failed := map[int]string{}
	for i, it := range items {
		rec := map[string]string{"id": it.SourceID}
		for f, v := range it.Set {
			rec[vendors.Of[vendors.Userlot].Wire(f)] = v
		}
		body, err := json.Marshal(rec)
		if err != nil {
			return nil, err
		}
		err = u.Client.Do(ctx, http.MethodPut, u.Client.Endpoint("/api/v1/end_users"), body, func(int, io.Reader) error { return nil })
		var se *vendorhttp.StatusError
		switch {
		case errors.As(err, &se) && (se.Status == 404 || se.Status == 422 || se.Status == 400):
			// A refused record: its own failure, not the whole chunk's.
			failed[i] = fmt.Sprintf("userlot: HTTP %d: %s", se.Status, se.Message)
		case err != nil:
			return nil, err
		}
	}
	return failed, nil
}
