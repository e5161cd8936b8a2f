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

// Dixa patches through PATCH /v1/endusers, which answers one outcome per
// item, in input order: BulkActionSuccess or BulkActionFailure.
type Dixa struct{ Client *vendorhttp.Client }

type dixaOutcome struct {
	Type  string `json:"_type"`
	Error *struct {
		ID      string `json:"id"`
		Message string `json:"message"`
		Type    string `json:"_type"`
	} `json:"error"`
}

func (d Dixa) Send(ctx context.Context, items []Patch) (map[int]string, error) {
	data := make([]map[string]string, len(items))
	for i, it := range items {
		m := map[string]string{"id": it.SourceID}
		for f, v := range it.Set {
			m[vendors.Of[vendors.Dixa].Wire(f)] = v
		}
		data[i] = m
	}
	body, err := json.Marshal(map[string]any{"data": data})
	if err != nil {
		return nil, err
	}
	var res struct {
		Data []dixaOutcome `json:"data"`
	}
	err = d.Client.Do(ctx, http.MethodPatch, d.Client.Endpoint("/v1/endusers"), body, func(_ int, r io.Reader) error {
		res.Data = nil
		return json.NewDecoder(r).Decode(&res)
	})
	if err != nil {
		return nil, AsRefused(err)
	}
	if len(res.Data) != len(items) {
		return nil, fmt.Errorf("dixa answered %d outcomes for %d items", len(res.Data), len(items))
	}
	failed := map[int]string{}
	for i, o := range res.Data {
		if o.Type == "BulkActionSuccess" {
			continue
		}
		msg := "dixa: " + o.Type
		if o.Error != nil {
			msg = fmt.Sprintf("dixa: %s: %s", o.Error.Type, o.Error.Message)
		}
		failed[i] = msg
	}
	return failed, nil
}
