// Package config loads and checks pipeline files: YAML with ${VAR}
// interpolation, unknown keys refused with their line, and every value checked
// before any network call, all problems reported at once.
package config

import (
	"errors"
	"fmt"
	"net/url"
	"os"
	"regexp"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"etl/internal/vendors"
)

// Pipeline is one pipeline file.
type Pipeline struct {
	Version   int         `yaml:"version"`
	Sources   Sources     `yaml:"sources"`
	Resolve   Resolve     `yaml:"resolve"`
	Output    Output      `yaml:"output"`
	Guards    Guards      `yaml:"guards"`
	Writeback []Writeback `yaml:"writeback"`

	File    string   `yaml:"-"` // where it was read from
	secrets []string // token and key values, to redact
}

// Sources enables a vendor by its block being present.
type Sources struct {
	Planhat *Planhat `yaml:"planhat"`
	Dixa    *Dixa    `yaml:"dixa"`
	Moesif  *Moesif  `yaml:"moesif"`
	Userlot *Userlot `yaml:"userlot"`
	Files   []File   `yaml:"files"`
}

// API holds the settings every API source accepts.
type API struct {
	BaseURL     string     `yaml:"base_url"`
	PageSize    int        `yaml:"page_size"`    // default: the vendor's maximum
	RateLimit   *RateLimit `yaml:"rate_limit"`   // default: the vendor's documented limits
	PhoneRegion string     `yaml:"phone_region"` // ISO country for national-format phones
	// Timeout bounds one request; MaxRetryTime bounds the retrying of one call.
	Timeout      time.Duration `yaml:"timeout"`
	MaxRetryTime time.Duration `yaml:"max_retry_time"`
	// MaxResponseBytes caps one response body (default 256 MiB): a vendor
	// answering more fails the run instead of exhausting memory.
	MaxResponseBytes int64 `yaml:"max_response_bytes"`
}

// RateLimit replaces every limit of the vendor's (vendors.Of[…].Limits: its
// windows and bucket) with one token bucket that starts full: at most Burst
// requests at once, PerSecond on average.
type RateLimit struct {
	PerSecond float64 `yaml:"per_second"`
	Burst     int     `yaml:"burst"`
}

type Planhat struct {
	API             `yaml:",inline"`
	Token           string `yaml:"token"`
	IncludeArchived bool   `yaml:"include_archived"`
}

type Dixa struct {
	API   `yaml:",inline"`
	Token string `yaml:"token"`
}

type Moesif struct {
	API           `yaml:",inline"`
	Token         string `yaml:"token"`
	CollectorURL  string `yaml:"collector_url"`
	ApplicationID string `yaml:"application_id"`
}

type Userlot struct {
	API    `yaml:",inline"`
	APIKey string `yaml:"api_key"`
}

// File is a file connector: vendor exports or staged extracts.
type File struct {
	Name        string `yaml:"name"`
	Path        string `yaml:"path"`
	Format      string `yaml:"format"` // jsonl, csv, parquet
	Shape       string `yaml:"shape"`  // a vendor name, or canonical
	PhoneRegion string `yaml:"phone_region"`
}

// Resolve tunes identity resolution; see CONTRACT.md.
type Resolve struct {
	MaxRecordsPerIdentifier int      `yaml:"max_records_per_identifier"`
	Blocked                 []string `yaml:"blocked"`
	SourcePriority          []string `yaml:"source_priority"`
}

// Output says where the tables go, and as what.
type Output struct {
	URI string `yaml:"uri"`
	// Format is parquet (the default: partition directories with
	// _SUCCESS) or iceberg (Apache Iceberg tables in Catalog).
	Format  string   `yaml:"format"`
	Catalog *Catalog `yaml:"catalog"`
}

// Output formats.
const (
	FormatParquet = "parquet"
	FormatIceberg = "iceberg"
)

// Catalog is where format iceberg registers its tables (CONTRACT.md,
// "Table formats").
type Catalog struct {
	Type string `yaml:"type"` // sql or rest
	// URI: sqlite:///path/catalog.db or postgres://user:password@host/db
	// (sql), or the catalog's http(s) URL (rest).
	URI       string `yaml:"uri"`
	Namespace string `yaml:"namespace"` // default etl
	Warehouse string `yaml:"warehouse"` // rest only: the catalog's warehouse
	Token     string `yaml:"token"`     // rest only: bearer token
	// SigV4 (rest only) signs every request to the catalog with AWS
	// Signature V4, with the standard AWS credentials and region: what the
	// AWS Glue Data Catalog's Iceberg REST endpoint asks for.
	SigV4 bool `yaml:"sigv4"`
	// SigningName is the AWS service SigV4 signs for: glue (the default),
	// s3tables, or execute-api behind API Gateway.
	SigningName string `yaml:"signing_name"`
	// RetainSnapshots is how long a replaced snapshot (and its files) is
	// kept for readers, default 7 days.
	RetainSnapshots Duration `yaml:"retain_snapshots"`
}

// Catalog defaults.
const (
	DefaultNamespace       = "etl"
	DefaultRetainSnapshots = Duration(7 * 24 * time.Hour)
	DefaultSigningName     = "glue"
	// MinRetainSnapshots: a run refuses to commit files older than half
	// the retention, since orphan cleanup may remove them after it.
	MinRetainSnapshots = Duration(time.Hour)
)

// Duration is a YAML duration that also takes days: "7d", "36h", "90m".
type Duration time.Duration

func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	v := strings.TrimSpace(n.Value)
	if days, ok := strings.CutSuffix(v, "d"); ok {
		var f float64
		if _, err := fmt.Sscanf(days, "%g", &f); err == nil && days != "" {
			*d = Duration(f * float64(24*time.Hour))
			return nil
		}
	}
	x, err := time.ParseDuration(v)
	if err != nil {
		// A TypeError is reported with the others, at its line.
		return &yaml.TypeError{Errors: []string{fmt.Sprintf("line %d: %q is not a duration (like 7d, 36h or 90m)", n.Line, v)}}
	}
	*d = Duration(x)
	return nil
}

func (d Duration) String() string {
	x := time.Duration(d)
	for _, u := range []struct {
		d    time.Duration
		unit string
	}{{24 * time.Hour, "d"}, {time.Hour, "h"}, {time.Minute, "m"}} {
		if x > 0 && x%u.d == 0 {
			return fmt.Sprintf("%d%s", x/u.d, u.unit)
		}
	}
	return x.String()
}

// Guards are the safety nets checked before a run replaces its tables.
type Guards struct {
	// MaxSourceDrop is the largest share by which a source's extracted
	// count may fall below its rows of the latest earlier complete
	// partition (default 0.5; 1 turns the volume guard off). A pointer, so
	// that an explicit 0 (no drop at all allowed) is not the default.
	MaxSourceDrop *float64 `yaml:"max_source_drop"`
}

// Writeback is one reverse-sync target.
type Writeback struct {
	Target         string   `yaml:"target"`
	Fields         []string `yaml:"fields"`
	Mode           string   `yaml:"mode"` // fill (default) or overwrite
	ChunkSize      int      `yaml:"chunk_size"`
	Concurrency    int      `yaml:"concurrency"`
	MaxFailedRatio float64  `yaml:"max_failed_ratio"`
}

// Defaults from the contract.
const (
	DefaultMaxRecordsPerIdentifier = 20
	DefaultChunkSize               = 2000
	DefaultConcurrency             = 4
	DefaultMaxSourceDrop           = 0.5
)

// DefaultSourcePriority is resolve.source_priority when unset.
var DefaultSourcePriority = []string{"planhat", "userlot", "dixa", "moesif"}

// Problem is one thing wrong in a pipeline file.
type Problem struct {
	File string
	Line int
	Key  string // dotted path, e.g. sources.planhat.page_size
	Msg  string
}

func (p Problem) String() string {
	loc := p.File
	if p.Line > 0 {
		loc = fmt.Sprintf("%s:%d", p.File, p.Line)
	}
	if p.Key != "" {
		return fmt.Sprintf("%s: %s: %s", loc, p.Key, p.Msg)
	}
	return fmt.Sprintf("%s: %s", loc, p.Msg)
}

// Problems is every problem found in a file; it is the error Load returns.
type Problems []Problem

func (ps Problems) Error() string {
	s := make([]string, len(ps))
	for i, p := range ps {
		s[i] = p.String()
	}
	return strings.Join(s, "\n")
}

// Env looks up a variable; Load uses it for ${VAR}.
type Env func(name string) (string, bool)

// Load reads, interpolates, decodes and validates the pipeline at path. runDate
// is the value of ${RUN_DATE}. A returned error is a Problems listing
// everything wrong, or an I/O error.
func Load(path string, env Env, runDate string) (*Pipeline, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return Parse(path, data, env, runDate)
}

// Parse is Load on bytes already read; name is used in messages.
func Parse(name string, data []byte, env Env, runDate string) (*Pipeline, error) {
	if env == nil {
		env = os.LookupEnv
	}
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		return nil, Problems{{File: name, Line: yamlErrLine(err), Msg: cleanYAMLError(err)}}
	}
	if root.Kind == 0 || len(root.Content) == 0 {
		return nil, Problems{{File: name, Msg: "the file is empty"}}
	}
	doc := root.Content[0]
	c := &checker{file: name}
	c.interpolate(doc, "", func(v string) (string, bool) {
		if v == "RUN_DATE" {
			return runDate, true
		}
		return env(v)
	})
	c.keys(doc, pipelineType, "")
	p := &Pipeline{File: name}
	if err := doc.Decode(p); err != nil {
		var te *yaml.TypeError
		if errors.As(err, &te) {
			for _, m := range te.Errors {
				c.add(lineOf(m), "", "%s", cleanYAMLError(errors.New(m)))
			}
		} else {
			c.add(0, "", "%s", cleanYAMLError(err))
		}
	}
	c.validate(p, doc)
	if len(c.problems) > 0 {
		c.unexpand()
		return nil, c.problems
	}
	p.defaults()
	return p, nil
}

// SourceNames lists the pipeline's sources: the vendors enabled, then the
// file sources, as the rows' source column names them.
func (p *Pipeline) SourceNames() []string {
	var out []string
	for _, v := range vendors.Names {
		if sourceEnabled(p.Sources, v) {
			out = append(out, v)
		}
	}
	for _, f := range p.Sources.Files {
		out = append(out, f.Name)
	}
	return out
}

// Secrets returns every token and key of the pipeline, to keep out of output.
func (p *Pipeline) Secrets() []string { return p.secrets }

func (p *Pipeline) defaults() {
	if p.Resolve.MaxRecordsPerIdentifier == 0 {
		p.Resolve.MaxRecordsPerIdentifier = DefaultMaxRecordsPerIdentifier
	}
	if p.Guards.MaxSourceDrop == nil {
		d := DefaultMaxSourceDrop
		p.Guards.MaxSourceDrop = &d
	}
	if p.Resolve.SourcePriority == nil {
		p.Resolve.SourcePriority = DefaultSourcePriority
	}
	if p.Output.Format == "" {
		p.Output.Format = FormatParquet
	}
	if c := p.Output.Catalog; c != nil {
		if c.Namespace == "" {
			c.Namespace = DefaultNamespace
		}
		if c.RetainSnapshots == 0 {
			c.RetainSnapshots = DefaultRetainSnapshots
		}
		if c.SigV4 && c.SigningName == "" {
			c.SigningName = DefaultSigningName
		}
		if c.Token != "" {
			p.secrets = append(p.secrets, c.Token)
		}
		if u, err := url.Parse(c.URI); err == nil && u.User != nil {
			if pw, ok := u.User.Password(); ok && pw != "" {
				p.secrets = append(p.secrets, pw)
			}
		}
	}
	for i := range p.Writeback {
		w := &p.Writeback[i]
		if w.Mode == "" {
			w.Mode = "fill"
		}
		if w.ChunkSize == 0 {
			w.ChunkSize = DefaultChunkSize
		}
		if w.Concurrency == 0 {
			w.Concurrency = DefaultConcurrency
		}
	}
	if s := p.Sources.Planhat; s != nil {
		p.secrets = append(p.secrets, s.Token)
	}
	if s := p.Sources.Dixa; s != nil {
		p.secrets = append(p.secrets, s.Token)
	}
	if s := p.Sources.Moesif; s != nil {
		p.secrets = append(p.secrets, s.Token, s.ApplicationID)
	}
	if s := p.Sources.Userlot; s != nil {
		p.secrets = append(p.secrets, s.APIKey)
	}
}

var varRef = regexp.MustCompile(`\$\{([A-Za-z_][A-Za-z0-9_]*)\}`)

var yamlLine = regexp.MustCompile(`line (\d+)`)

func lineOf(msg string) int {
	m := yamlLine.FindStringSubmatch(msg)
	if m == nil {
		return 0
	}
	var n int
	fmt.Sscanf(m[1], "%d", &n)
	return n
}

func yamlErrLine(err error) int { return lineOf(err.Error()) }

// cleanYAMLError drops the library's prefixes and line (we print our own).
func cleanYAMLError(err error) string {
	s := err.Error()
	s = strings.TrimPrefix(s, "yaml: ")
	s = yamlLine.ReplaceAllString(s, "")
	s = strings.TrimLeft(s, ": ")
	return s
}
