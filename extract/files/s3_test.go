package files

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"etl/extract"
	"etl/internal/config"
	"etl/internal/s3test"
	"etl/internal/store"
)

func TestS3Glob(t *testing.T) {
	srv := s3test.Start(t, "exports")
	srv.Setenv(t)
	st, err := store.OpenS3(context.Background(), srv.URI(""))
	if err != nil {
		t.Fatal(err)
	}
	for key, body := range map[string]string{
		"crm/dt=2026-01-15/b.jsonl":     `{"_id":"u2"}` + "\n" + `{"_id":"u3"` + "\n",
		"crm/dt=2026-01-15/a.jsonl":     `{"_id":"u1","email":"a@x.io"}` + "\n",
		"crm/dt=2026-01-15/sub/c.jsonl": `{"_id":"deeper"}` + "\n", // * stops at /
		"crm/dt=2026-01-16/a.jsonl":     `{"_id":"next-day"}` + "\n",
		"crm/dt=2026-01-15/a.csv":       "_id\nwrong-format\n",
	} {
		o, err := st.Create(context.Background(), key)
		if err != nil {
			t.Fatal(err)
		}
		o.Write([]byte(body))
		if err := o.Close(); err != nil {
			t.Fatal(err)
		}
	}
	res := run(t, config.File{Path: srv.URI("crm/dt=2026-01-15/*.jsonl"), Format: "jsonl", Shape: "planhat"})
	if res.Err != nil {
		t.Fatal(res.Err)
	}
	if got := ids(res); !slices.Equal(got, []string{"u1", "u2"}) || res.Stats.Pages != 2 {
		t.Fatalf("ids %v, stats %+v", got, res.Stats)
	}
	hasReason(t, res, "s3://exports/crm/dt=2026-01-15/b.jsonl:2: invalid JSON")

	// ? is a glob character here, not a URL's query.
	res = run(t, config.File{Path: srv.URI("crm/dt=2026-01-1?/a.jsonl"), Format: "jsonl", Shape: "planhat"})
	if got := ids(res); res.Err != nil || !slices.Equal(got, []string{"u1", "next-day"}) {
		t.Fatalf("ids %v, err %v", got, res.Err)
	}

	// Parquet is fetched into a temporary file first: its footer comes last.
	local := filepath.Join(t.TempDir(), "part.parquet")
	canonicalParquet(t, local, []extract.Row{{SourceID: "c1", Email: "c@x.io"}})
	body, err := os.ReadFile(local)
	if err != nil {
		t.Fatal(err)
	}
	o, _ := st.Create(context.Background(), "canon/part.parquet")
	o.Write(body)
	if err := o.Close(); err != nil {
		t.Fatal(err)
	}
	res = run(t, config.File{Path: srv.URI("canon/*.parquet"), Format: "parquet", Shape: "canonical"})
	if res.Err != nil || !slices.Equal(ids(res), []string{"c1"}) || res.Rows[0].Email != "c@x.io" {
		t.Fatalf("%v %+v", res.Err, res.Rows)
	}

	res = run(t, config.File{Path: srv.URI("crm/dt=2026-01-17/*.jsonl"), Format: "jsonl", Shape: "planhat"})
	if res.Err == nil {
		t.Fatal("no error for a glob matching nothing")
	}
}
