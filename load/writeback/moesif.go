package writeback

import (
	"context"
	"encoding/json"
	"io"
	"net/http"

	"etl/internal/vendorhttp"
	"etl/internal/vendors"
)

// Moesif updates users through the collector's POST /v1/users/batch, which
// deep-merges each user's metadata. Our fields go into metadata under
// Moesif's reserved keys; user_id (the customer's own id) is never changed.
// The collector answers 201 with no per-item results.
type Moesif struct{ Client *vendorhttp.Client }

func (m Moesif) Send(ctx context.Context, items []Patch) (map[int]string, error) {
	users := make([]map[string]any, len(items))
	for i, it := range items {
		meta := map[string]string{}
		for f, v := range it.Set {
			meta[vendors.Of[vendors.Moesif].Wire(f)] = v
		}
		users[i] = map[string]any{"user_id": it.SourceID, "metadata": meta}
	}
	body, err := json.Marshal(users)
	if err != nil {
		return nil, err
	}
	err = m.Client.Do(ctx, http.MethodPost, m.Client.Endpoint("/v1/users/batch"), body, func(int, io.Reader) error { return nil })
	if err != nil {
		return nil, AsRefused(err)
	}
	return nil, nil
}

// MoesifAuth sets the collector's application id header.
func MoesifAuth(applicationID string) func(http.Header) {
	return func(h http.Header) { h.Set("X-Moesif-Application-Id", applicationID) }
}
