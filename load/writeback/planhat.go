package writeback

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"

	"etl/internal/vendorhttp"
	"etl/internal/vendors"
)

// Planhat upserts through PUT /endusers, keyed by _id. A 206 lists the items
// that failed in its *Errors arrays, which we match back by _id.
type Planhat struct{ Client *vendorhttp.Client }

type planhatResult struct {
	CreatedErrors    []planhatError `json:"createdErrors"`
	UpdatedErrors    []planhatError `json:"updatedErrors"`
	PermissionErrors []planhatError `json:"permissionErrors"`
}

type planhatError struct {
	ID      string `json:"_id"`
	Message string `json:"message"`
}

func (p Planhat) Send(ctx context.Context, items []Patch) (map[int]string, error) {
	body := make([]map[string]string, len(items))
	idx := make(map[string]int, len(items))
	for i, it := range items {
		m := map[string]string{"_id": it.SourceID}
		for f, v := range it.Set {
			m[vendors.Of[vendors.Planhat].Wire(f)] = v
		}
		body[i] = m
		idx[it.SourceID] = i
	}
	js, err := json.Marshal(body)
	if err != nil {
		return nil, err
	}
	var res planhatResult
	err = p.Client.Do(ctx, http.MethodPut, p.Client.Endpoint("/endusers"), js, func(status int, r io.Reader) error {
		res = planhatResult{}
		return json.NewDecoder(r).Decode(&res)
	})
	if err != nil {
		return nil, AsRefused(err)
	}
	failed := map[int]string{}
	for _, list := range [][]planhatError{res.CreatedErrors, res.UpdatedErrors, res.PermissionErrors} {
		for _, e := range list {
			i, ok := idx[e.ID]
			if !ok {
				return nil, fmt.Errorf("planhat reported an error for an item it was not sent (%q): %s", e.ID, e.Message)
			}
			failed[i] = "planhat: " + e.Message
		}
	}
	return failed, nil
}
