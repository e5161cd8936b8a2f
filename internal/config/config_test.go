package config

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"
)

func env(vars map[string]string) Env {
	return func(k string) (string, bool) { v, ok := vars[k]; return v, ok }
}

func TestParseValid(t *testing.T) {
	src := `version: 1
sources:
  planhat: {base_url: https://api.planhat.com, token: "${PH}", page_size: 500}
  files:
    - {name: crm_export, path: "s3://bucket/exports/dt=${RUN_DATE}/*.jsonl", format: jsonl, shape: planhat}
output:
  uri: s3://warehouse/end_users
writeback:
  - {target: planhat, fields: [external_id, phone]}
`
	p, err := Parse("p.yaml", []byte(src), env(map[string]string{"PH": "secret-token"}), "2026-03-04")
	if err != nil {
		t.Fatal(err)
	}
	if p.Sources.Planhat.Token != "secret-token" || p.Sources.Planhat.PageSize != 500 {
		t.Fatalf("planhat: %+v", p.Sources.Planhat)
	}
	if got := p.Sources.Files[0].Path; got != "s3://bucket/exports/dt=2026-03-04/*.jsonl" {
		t.Fatalf("RUN_DATE not interpolated: %s", got)
	}
	if p.Resolve.MaxRecordsPerIdentifier != 20 || strings.Join(p.Resolve.SourcePriority, ",") != "planhat,userlot,dixa,moesif" {
		t.Fatalf("resolve defaults: %+v", p.Resolve)
	}
	w := p.Writeback[0]
	if w.Mode != "fill" || w.ChunkSize != 2000 || w.Concurrency != 4 {
		t.Fatalf("writeback defaults: %+v", w)
	}
	if s := p.Secrets(); len(s) != 1 || s[0] != "secret-token" {
		t.Fatalf("secrets: %v", s)
	}
}

func TestParseProblems(t *testing.T) {
	cases := []struct {
		name, src string
		want      []string // each must appear in the error, with its line
	}{
		{"unknown key names line and key", "version: 1\nsources:\n  planhat:\n    base_url: https://x.io\n    token: t\n    tokn: u\noutput: {uri: o}\n",
			[]string{`p.yaml:6: sources.planhat.tokn: unknown key (did you mean "token"?)`}},
		{"unknown top-level key", "version: 1\nsource: {}\noutput: {uri: o}\n",
			[]string{"p.yaml:2: source: unknown key", "no source is enabled"}},
		{"missing variable named", "version: 1\nsources:\n  dixa: {base_url: https://x.io, token: \"${DIXA_TOKEN}\"}\noutput: {uri: o}\n",
			[]string{"p.yaml:3: sources.dixa.token: environment variable DIXA_TOKEN is not set"}},
		{"page size above the vendor maximum", "version: 1\nsources:\n  userlot: {base_url: https://x.io, api_key: k, page_size: 501}\noutput: {uri: o}\n",
			[]string{"sources.userlot.page_size: must be between 1 and 500"}},
		{"bad url", "version: 1\nsources:\n  moesif: {base_url: \"api.moesif.com\", token: k}\noutput: {uri: o}\n",
			[]string{"sources.moesif.base_url: must be an http(s) URL"}},
		{"wrong type", "version: 1\nsources:\n  planhat: {base_url: https://x.io, token: t, page_size: many}\noutput: {uri: o}\n",
			[]string{"p.yaml:3: cannot unmarshal"}},
		{"writeback field not writable", "version: 1\nsources:\n  moesif: {base_url: https://x.io, token: k}\noutput: {uri: o}\nwriteback:\n  - {target: moesif, fields: [external_id], chunk_size: 3000}\n",
			[]string{`writeback[0].fields[0]: moesif cannot write "external_id"`, "writeback[0].chunk_size: must be between 1 and 2000"}},
		{"writeback target must be a source", "version: 1\nsources:\n  moesif: {base_url: https://x.io, token: k}\noutput: {uri: o}\nwriteback:\n  - {target: dixa, fields: [email]}\n",
			[]string{"writeback[0].target: dixa must also be a source"}},
		{"file source checks", "version: 1\nsources:\n  files:\n    - {name: planhat, path: x.jsonl, format: xml, shape: hubspot}\noutput: {uri: o}\n",
			[]string{"sources.files[0].name", "sources.files[0].format", "sources.files[0].shape"}},
		{"phone region", "version: 1\nsources:\n  dixa: {base_url: https://x.io, token: t, phone_region: XX}\noutput: {uri: o}\n",
			[]string{"sources.dixa.phone_region"}},
		{"output required", "version: 1\nsources:\n  dixa: {base_url: https://x.io, token: t}\n",
			[]string{"output.uri: is required"}},
		{"not yaml", "version: 1\nsources: [\n", []string{"p.yaml:"}},
		{"unknown format", "version: 1\nsources:\n  dixa: {base_url: https://x.io, token: t}\noutput: {uri: o, format: delta}\n",
			[]string{`p.yaml:4: output.format: must be parquet or iceberg (got "delta")`}},
		{"iceberg needs a catalog", "version: 1\nsources:\n  dixa: {base_url: https://x.io, token: t}\noutput:\n  uri: o\n  format: iceberg\n",
			[]string{"p.yaml:4: output.catalog: is required with format: iceberg"}},
		{"catalog without iceberg", "version: 1\nsources:\n  dixa: {base_url: https://x.io, token: t}\noutput:\n  uri: o\n  catalog: {type: sql, uri: \"sqlite:///c.db\"}\n",
			[]string{"p.yaml:6: output.catalog: is read only with format: iceberg"}},
		{"catalog checks", "version: 1\nsources:\n  dixa: {base_url: https://x.io, token: t}\noutput:\n  uri: o\n  format: iceberg\n  catalog:\n    type: sql\n    uri: \"mysql://u:secretpw@h/db\"\n    token: x\n    namespace: \"a.b\"\n    retain_snapshots: 10m\n    tyep: rest\n",
			[]string{`p.yaml:9: output.catalog.uri: must start with sqlite:// or postgres:// for type sql (got "mysql://REDACTED@h/db")`,
				"p.yaml:10: output.catalog.token: is read only with type: rest", "p.yaml:11: output.catalog.namespace",
				"p.yaml:12: output.catalog.retain_snapshots: must be at least 1h (got 10m)",
				`p.yaml:13: output.catalog.tyep: unknown key (did you mean "type"?)`}},
		{"catalog type and rest uri", "version: 1\nsources:\n  dixa: {base_url: https://x.io, token: t}\noutput:\n  uri: o\n  format: iceberg\n  catalog: {type: hive, uri: x}\n",
			[]string{`p.yaml:7: output.catalog.type: must be sql or rest (got "hive")`}},
		{"rest uri", "version: 1\nsources:\n  dixa: {base_url: https://x.io, token: t}\noutput:\n  uri: o\n  format: iceberg\n  catalog: {type: rest, uri: \"catalog:8181\"}\n",
			[]string{"p.yaml:7: output.catalog.uri: must be an http(s) URL"}},
		{"bad duration", "version: 1\nsources:\n  dixa: {base_url: https://x.io, token: t}\noutput:\n  uri: o\n  format: iceberg\n  catalog: {type: rest, uri: \"https://c\", retain_snapshots: week}\n",
			[]string{`p.yaml:7: "week" is not a duration (like 7d, 36h or 90m)`}},
		{"sigv4", "version: 1\nsources:\n  dixa: {base_url: https://x.io, token: t}\noutput:\n  uri: o\n  format: iceberg\n  catalog:\n    type: rest\n    uri: \"https://glue.eu-west-1.amazonaws.com/iceberg\"\n    sigv4: true\n    token: x\n    signing_name: Glue\n",
			[]string{"p.yaml:11: output.catalog.token: and sigv4 exclude each other",
				`p.yaml:12: output.catalog.signing_name: must be an AWS service name such as glue, s3tables or execute-api (got "Glue")`}},
		{"sigv4 with sql", "version: 1\nsources:\n  dixa: {base_url: https://x.io, token: t}\noutput:\n  uri: o\n  format: iceberg\n  catalog: {type: sql, uri: \"sqlite:///c.db\", sigv4: true}\n",
			[]string{"p.yaml:7: output.catalog.sigv4: is read only with type: rest"}},
		{"a signing name without sigv4", "version: 1\nsources:\n  dixa: {base_url: https://x.io, token: t}\noutput:\n  uri: o\n  format: iceberg\n  catalog: {type: rest, uri: \"https://c\", signing_name: glue}\n",
			[]string{"p.yaml:7: output.catalog.signing_name: is read only with sigv4: true"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Parse("p.yaml", []byte(c.src), env(nil), "2026-01-01")
			var ps Problems
			if !errors.As(err, &ps) {
				t.Fatalf("want Problems, got %v", err)
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error lacks %q:\n%s", w, err)
				}
			}
		})
	}
}

func TestParseReportsAllProblemsAtOnce(t *testing.T) {
	src := "version: 2\nsources:\n  planhat: {base_url: ftp://x, token: t, page_size: 9000, colour: red}\noutput: {}\n"
	_, err := Parse("p.yaml", []byte(src), env(nil), "2026-01-01")
	var ps Problems
	if !errors.As(err, &ps) || len(ps) < 5 {
		t.Fatalf("want at least 5 problems, got %v", err)
	}
}

func TestIcebergOutput(t *testing.T) {
	src := "version: 1\nsources:\n  dixa: {base_url: https://x.io, token: t}\noutput:\n  uri: s3://w/etl\n  format: iceberg\n" +
		"  catalog: {type: rest, uri: https://catalog.example, warehouse: analytics, token: \"${ICEBERG_TOKEN}\", retain_snapshots: 3d}\n"
	p, err := Parse("p.yaml", []byte(src), env(map[string]string{"ICEBERG_TOKEN": "tok-secret"}), "2026-01-01")
	if err != nil {
		t.Fatal(err)
	}
	c := p.Output.Catalog
	if p.Output.Format != FormatIceberg || c.Type != "rest" || c.Namespace != DefaultNamespace || c.Warehouse != "analytics" ||
		time.Duration(c.RetainSnapshots) != 72*time.Hour {
		t.Errorf("output %+v, catalog %+v", p.Output, c)
	}
	if !slices.Contains(p.Secrets(), "tok-secret") {
		t.Errorf("the token is not a secret: %v", p.Secrets())
	}
	p, err = Parse("p.yaml", []byte("version: 1\nsources:\n  dixa: {base_url: https://x.io, token: t}\noutput:\n  uri: o\n  format: iceberg\n"+
		"  catalog: {type: sql, uri: \"postgres://etl:pw-secret@db/lake\"}\n"), env(nil), "2026-01-01")
	if err != nil {
		t.Fatal(err)
	}
	if p.Output.Catalog.RetainSnapshots != DefaultRetainSnapshots || !slices.Contains(p.Secrets(), "pw-secret") {
		t.Errorf("defaults or secrets: %+v %v", p.Output.Catalog, p.Secrets())
	}
	p, err = Parse("p.yaml", []byte("version: 1\nsources:\n  dixa: {base_url: https://x.io, token: t}\noutput:\n  uri: s3://w/etl\n  format: iceberg\n"+
		"  catalog: {type: rest, uri: \"https://glue.eu-west-1.amazonaws.com/iceberg\", warehouse: \"123456789012\", sigv4: true}\n"), env(nil), "2026-01-01")
	if err != nil || !p.Output.Catalog.SigV4 || p.Output.Catalog.SigningName != "glue" {
		t.Errorf("sigv4's signing name defaults to glue: %+v %v", p.Output.Catalog, err)
	}
	p, err = Parse("p.yaml", []byte("version: 1\nsources:\n  dixa: {base_url: https://x.io, token: t}\noutput: {uri: o}\n"), env(nil), "2026-01-01")
	if err != nil || p.Output.Format != FormatParquet {
		t.Errorf("default format: %v %v", p, err)
	}
}

func TestGuards(t *testing.T) {
	base := "version: 1\nsources:\n  planhat: {base_url: https://x.io, token: t}\noutput: {uri: o}\n"
	p, err := Parse("p.yaml", []byte(base), env(nil), "2026-03-04")
	if err != nil {
		t.Fatal(err)
	}
	if d := *p.Guards.MaxSourceDrop; d != 0.5 {
		t.Fatalf("guards.max_source_drop default %g, want 0.5", d)
	}
	for src, want := range map[string]float64{"guards: {max_source_drop: 0}\n": 0, "guards: {max_source_drop: 1}\n": 1, "guards:\n  max_source_drop: 0.2\n": 0.2} {
		p, err := Parse("p.yaml", []byte(base+src), env(nil), "2026-03-04")
		if err != nil {
			t.Fatalf("%q: %v", src, err)
		}
		if got := *p.Guards.MaxSourceDrop; got != want {
			t.Fatalf("%q: max_source_drop %g, want %g", src, got, want)
		}
	}
	for src, want := range map[string]string{
		"guards: {max_source_drop: 1.5}\n":  "p.yaml:5: guards.max_source_drop: must be between 0 and 1 (got 1.5",
		"guards: {max_source_drop: -1}\n":   "p.yaml:5: guards.max_source_drop: must be between 0 and 1 (got -1",
		"guards: {max_sorce_drop: 0.2}\n":   `p.yaml:5: guards.max_sorce_drop: unknown key (did you mean "max_source_drop"?)`,
		"guards: {max_source_drop: lots}\n": "p.yaml:5: cannot unmarshal",
	} {
		_, err := Parse("p.yaml", []byte(base+src), env(nil), "2026-03-04")
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Fatalf("%q: error %v, want %q", src, err, want)
		}
	}
}
