package config

import (
	"cmp"
	"fmt"
	"net/url"
	"path"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strings"

	"github.com/nyaruka/phonenumbers"
	"go.yaml.in/yaml/v3"

	"etl/internal/vendors"
)

var pipelineType = reflect.TypeOf(Pipeline{})

type checker struct {
	file     string
	problems Problems
	vars     map[string]string // interpolated value → its variable's name
}

func (c *checker) add(line int, key, format string, args ...any) {
	c.problems = append(c.problems, Problem{File: c.file, Line: line, Key: key, Msg: fmt.Sprintf(format, args...)})
}

// interpolate replaces ${VAR} in every scalar value, naming each missing one.
func (c *checker) interpolate(n *yaml.Node, key string, env Env) {
	switch n.Kind {
	case yaml.ScalarNode:
		if !strings.Contains(n.Value, "${") {
			return
		}
		n.Value = varRef.ReplaceAllStringFunc(n.Value, func(ref string) string {
			name := varRef.FindStringSubmatch(ref)[1]
			v, ok := env(name)
			if !ok {
				c.add(n.Line, key, "environment variable %s is not set", name)
			}
			if ok && name != "RUN_DATE" && len(v) >= 4 {
				if c.vars == nil {
					c.vars = map[string]string{}
				}
				c.vars[v] = name
			}
			return v
		})
		// An interpolated value is a string, whatever it looks like.
		if n.Tag == "" || n.Tag == "!!int" || n.Tag == "!!float" || n.Tag == "!!bool" || n.Tag == "!!null" {
			n.Tag = "!!str"
			n.Style = yaml.DoubleQuotedStyle
		}
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			c.interpolate(n.Content[i+1], join(key, n.Content[i].Value), env)
		}
	default:
		for i, child := range n.Content {
			c.interpolate(child, fmt.Sprintf("%s[%d]", key, i), env)
		}
	}
}

// unexpand puts ${VAR} back for the values of variables in problems: a
// problem may quote a value, and a variable may hold a token (in a URL, or
// under the wrong key). The YAML library quotes a long value by its first
// seven characters.
func (c *checker) unexpand() {
	short := map[string]string{} // quoted prefix → the variable, or a placeholder when several share it
	for v, name := range c.vars {
		if len(v) > 10 {
			q := "`" + v[:7] + "...`"
			if other, ok := short[q]; ok && other != name {
				name = "…"
			}
			short[q] = name
		}
	}
	for i := range c.problems {
		msg := c.problems[i].Msg
		for v, name := range c.vars {
			msg = strings.ReplaceAll(msg, v, "${"+name+"}")
		}
		for q, name := range short {
			msg = strings.ReplaceAll(msg, q, "`${"+name+"}`")
		}
		c.problems[i].Msg = msg
	}
}

// keys refuses every mapping key that no field of t declares: a typo must not
// silently disable something.
func (c *checker) keys(n *yaml.Node, t reflect.Type, key string) {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.Struct:
		if n.Kind != yaml.MappingNode {
			if n.Kind != yaml.ScalarNode || n.Tag != "!!null" {
				c.add(n.Line, key, "must be a mapping")
			}
			return
		}
		fields := yamlFields(t)
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			ft, ok := fields[k.Value]
			if !ok {
				msg := "unknown key"
				if s := closest(k.Value, fields); s != "" {
					msg += fmt.Sprintf(" (did you mean %q?)", s)
				}
				c.add(k.Line, join(key, k.Value), "%s", msg)
				continue
			}
			c.keys(v, ft, join(key, k.Value))
		}
	case reflect.Slice:
		if n.Kind == yaml.SequenceNode {
			for i, item := range n.Content {
				c.keys(item, t.Elem(), fmt.Sprintf("%s[%d]", key, i))
			}
		}
	}
}

// yamlFields maps each yaml key of struct t to its type, inlined structs included.
func yamlFields(t reflect.Type) map[string]reflect.Type {
	out := map[string]reflect.Type{}
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		tag := f.Tag.Get("yaml")
		name, opts, _ := strings.Cut(tag, ",")
		if name == "-" || (!f.IsExported() && !f.Anonymous) {
			continue
		}
		if opts == "inline" {
			for k, v := range yamlFields(f.Type) {
				out[k] = v
			}
			continue
		}
		if name == "" {
			name = strings.ToLower(f.Name)
		}
		out[name] = f.Type
	}
	return out
}

// closest suggests a known key within two edits of k.
func closest(k string, fields map[string]reflect.Type) string {
	best, bestD := "", 3
	names := make([]string, 0, len(fields))
	for n := range fields {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		if d := editDistance(k, n); d < bestD {
			best, bestD = n, d
		}
	}
	return best
}

func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur := make([]int, len(b)+1)
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev = cur
	}
	return prev[len(b)]
}

func join(a, b string) string {
	if a == "" {
		return b
	}
	return a + "." + b
}

// lineAt finds the line of the key at a dotted path (sequence items as [i]),
// falling back to the nearest enclosing key.
func lineAt(doc *yaml.Node, keyPath string) int {
	n, line := doc, doc.Line
	for _, part := range strings.Split(keyPath, ".") {
		name, idx := part, -1
		if i := strings.IndexByte(part, '['); i >= 0 {
			name = part[:i]
			fmt.Sscanf(part[i:], "[%d]", &idx)
		}
		if n.Kind != yaml.MappingNode {
			return line
		}
		found := false
		for i := 0; i+1 < len(n.Content); i += 2 {
			if n.Content[i].Value == name {
				line, n, found = n.Content[i].Line, n.Content[i+1], true
				break
			}
		}
		if !found {
			return line
		}
		if idx >= 0 {
			if n.Kind != yaml.SequenceNode || idx >= len(n.Content) {
				return line
			}
			n = n.Content[idx]
			line = n.Line
		}
	}
	return line
}

// validate checks values; every problem names its key and line.
func (c *checker) validate(p *Pipeline, doc *yaml.Node) {
	bad := func(key, format string, args ...any) { c.add(lineAt(doc, key), key, format, args...) }
	if p.Version != 1 {
		bad("version", "must be 1 (got %d)", p.Version)
	}
	s := p.Sources
	enabled := 0
	check := func(name string, a *API, secretKey, secret string) {
		enabled++
		f := vendors.Of[name]
		k := "sources." + name
		checkURL(bad, k+".base_url", a.BaseURL, true)
		if secret == "" {
			bad(k+"."+secretKey, "is required")
		}
		if a.PageSize < 0 || a.PageSize > f.MaxPageSize {
			bad(k+".page_size", "must be between 1 and %d, %s's maximum (got %d)", f.MaxPageSize, name, a.PageSize)
		}
		if r := a.RateLimit; r != nil {
			if r.PerSecond <= 0 {
				bad(k+".rate_limit.per_second", "must be above 0")
			}
			if r.Burst < 1 {
				bad(k+".rate_limit.burst", "must be at least 1")
			}
		}
		checkRegion(bad, k+".phone_region", a.PhoneRegion)
		if a.Timeout < 0 {
			bad(k+".timeout", "must not be negative")
		}
		if a.MaxRetryTime < 0 {
			bad(k+".max_retry_time", "must not be negative")
		}
		if a.MaxResponseBytes < 0 {
			bad(k+".max_response_bytes", "must be above 0 (got %d)", a.MaxResponseBytes)
		}
	}
	if s.Planhat != nil {
		check(vendors.Planhat, &s.Planhat.API, "token", s.Planhat.Token)
	}
	if s.Dixa != nil {
		check(vendors.Dixa, &s.Dixa.API, "token", s.Dixa.Token)
	}
	if s.Moesif != nil {
		check(vendors.Moesif, &s.Moesif.API, "token", s.Moesif.Token)
		if s.Moesif.CollectorURL != "" {
			checkURL(bad, "sources.moesif.collector_url", s.Moesif.CollectorURL, false)
		}
	}
	if s.Userlot != nil {
		check(vendors.Userlot, &s.Userlot.API, "api_key", s.Userlot.APIKey)
	}
	names := map[string]bool{}
	for i, f := range s.Files {
		enabled++
		k := fmt.Sprintf("sources.files[%d]", i)
		switch {
		case f.Name == "":
			bad(k+".name", "is required")
		case slices.Contains(vendors.Names, f.Name):
			bad(k+".name", "%q is a vendor's name; give the file source its own", f.Name)
		case names[f.Name]:
			bad(k+".name", "%q is used twice", f.Name)
		}
		names[f.Name] = true
		if f.Path == "" {
			bad(k+".path", "is required")
		} else if strings.HasPrefix(f.Path, "s3://") {
			if u, err := url.Parse(f.Path); err != nil || u.Host == "" {
				bad(k+".path", "%q is not an s3://bucket/key URI", f.Path)
			}
		} else if _, err := path.Match(f.Path, ""); err != nil {
			bad(k+".path", "bad glob %q: %v", f.Path, err)
		}
		if !slices.Contains([]string{"jsonl", "csv", "parquet"}, f.Format) {
			bad(k+".format", "must be jsonl, csv or parquet (got %q)", f.Format)
		}
		if f.Shape != "canonical" && !slices.Contains(vendors.Names, f.Shape) {
			bad(k+".shape", "must be canonical or a vendor name: %s (got %q)", strings.Join(vendors.Names, ", "), f.Shape)
		}
		checkRegion(bad, k+".phone_region", f.PhoneRegion)
	}
	if enabled == 0 {
		bad("sources", "no source is enabled")
	}
	if p.Resolve.MaxRecordsPerIdentifier < 0 {
		bad("resolve.max_records_per_identifier", "must be at least 1")
	}
	if p.Output.URI == "" {
		bad("output.uri", "is required (a local directory or s3://bucket/prefix)")
	} else if strings.Contains(p.Output.URI, "://") && !strings.HasPrefix(p.Output.URI, "s3://") {
		bad("output.uri", "must be a local directory or an s3:// URI (got %q)", p.Output.URI)
	} else if strings.HasPrefix(p.Output.URI, "s3://") {
		if u, err := url.Parse(p.Output.URI); err != nil || u.Host == "" {
			bad("output.uri", "%q is not an s3://bucket/prefix URI", p.Output.URI)
		}
	}
	checkOutput(bad, p.Output)
	if d := p.Guards.MaxSourceDrop; d != nil && (*d < 0 || *d > 1) {
		bad("guards.max_source_drop", "must be between 0 and 1 (got %g; 1 turns the volume guard off)", *d)
	}
	targets := map[string]bool{}
	for i, w := range p.Writeback {
		k := fmt.Sprintf("writeback[%d]", i)
		f, ok := vendors.Of[w.Target]
		if !ok {
			bad(k+".target", "must be one of %s (got %q)", strings.Join(vendors.Names, ", "), w.Target)
			continue
		}
		if targets[w.Target] {
			bad(k+".target", "%s is a target twice", w.Target)
		}
		targets[w.Target] = true
		if w.Target == vendors.Moesif && s.Moesif != nil && (s.Moesif.CollectorURL == "" || s.Moesif.ApplicationID == "") {
			bad(k+".target", "write-back to moesif needs sources.moesif.collector_url and application_id")
		}
		if !sourceEnabled(s, w.Target) {
			bad(k+".target", "%s must also be a source: write-back compares against the records extracted this run", w.Target)
		}
		if len(w.Fields) == 0 {
			bad(k+".fields", "list at least one field")
		}
		for j, fld := range w.Fields {
			if f.Wire(fld) == "" {
				bad(fmt.Sprintf("%s.fields[%d]", k, j), "%s cannot write %q; writable: %s", w.Target, fld, strings.Join(f.WritableColumns(), ", "))
			}
		}
		if w.Mode != "" && w.Mode != "fill" && w.Mode != "overwrite" {
			bad(k+".mode", "must be fill or overwrite (got %q)", w.Mode)
		}
		// Userlot has no bulk API, so its chunk_size is ignored, but still bounded.
		limit := DefaultChunkSize
		if f.MaxWriteBatch > 1 {
			limit = min(limit, f.MaxWriteBatch)
		}
		if w.ChunkSize < 0 || w.ChunkSize > limit {
			bad(k+".chunk_size", "must be between 1 and %d for %s (got %d)", limit, w.Target, w.ChunkSize)
		}
		if w.Concurrency < 0 || w.Concurrency > 64 {
			bad(k+".concurrency", "must be between 1 and 64 (got %d)", w.Concurrency)
		}
		if w.MaxFailedRatio < 0 || w.MaxFailedRatio > 1 {
			bad(k+".max_failed_ratio", "must be between 0 and 1 (got %g)", w.MaxFailedRatio)
		}
	}
}

func sourceEnabled(s Sources, name string) bool {
	switch name {
	case vendors.Planhat:
		return s.Planhat != nil
	case vendors.Dixa:
		return s.Dixa != nil
	case vendors.Moesif:
		return s.Moesif != nil
	case vendors.Userlot:
		return s.Userlot != nil
	}
	return false
}

func checkURL(bad func(string, string, ...any), key, v string, required bool) {
	if v == "" {
		if required {
			bad(key, "is required")
		}
		return
	}
	u, err := url.Parse(v)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil {
		bad(key, "must be an http(s) URL without credentials (got %q)", redactURL(v))
	}
}

// redactURL keeps a URL's credentials, if any, out of messages.
func redactURL(v string) string {
	if u, err := url.Parse(v); err == nil && u.User != nil {
		u.User = url.User("REDACTED")
		return u.String()
	}
	return v
}

func checkRegion(bad func(string, string, ...any), key, region string) {
	if region == "" {
		return
	}
	if !phonenumbers.GetSupportedRegions()[strings.ToUpper(region)] {
		bad(key, "%q is not an ISO country code phonenumbers knows", region)
	}
}

var namespaceName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// signingName is an AWS service name as SigV4 scopes it.
var signingName = regexp.MustCompile(`^[a-z0-9][a-z0-9-]*$`)

// checkOutput checks output.format and output.catalog.
func checkOutput(bad func(string, string, ...any), o Output) {
	switch o.Format {
	case "", FormatParquet:
		if o.Catalog != nil {
			bad("output.catalog", "is read only with format: iceberg (output.format is %s)", cmp.Or(o.Format, FormatParquet))
		}
		return
	case FormatIceberg:
	default:
		bad("output.format", "must be parquet or iceberg (got %q)", o.Format)
		return
	}
	c := o.Catalog
	if c == nil {
		bad("output.catalog", "is required with format: iceberg: {type: sql, uri: \"sqlite:///path/catalog.db\"} or {type: rest, uri: https://…}")
		return
	}
	switch c.Type {
	case "sql":
		switch {
		case c.URI == "":
			bad("output.catalog.uri", "is required: sqlite:///path/catalog.db or postgres://user:password@host/database")
		case strings.HasPrefix(c.URI, "sqlite://"):
			if strings.TrimPrefix(c.URI, "sqlite://") == "" {
				bad("output.catalog.uri", "names no file: sqlite:///path/catalog.db")
			}
		case strings.HasPrefix(c.URI, "postgres://"), strings.HasPrefix(c.URI, "postgresql://"):
			if u, err := url.Parse(c.URI); err != nil || u.Host == "" {
				bad("output.catalog.uri", "is not a postgres://user:password@host/database URI")
			}
		default:
			bad("output.catalog.uri", "must start with sqlite:// or postgres:// for type sql (got %q)", redactURL(c.URI))
		}
		if c.Warehouse != "" {
			bad("output.catalog.warehouse", "is read only with type: rest")
		}
		if c.Token != "" {
			bad("output.catalog.token", "is read only with type: rest")
		}
		if c.SigV4 {
			bad("output.catalog.sigv4", "is read only with type: rest")
		}
	case "rest":
		checkURL(bad, "output.catalog.uri", c.URI, true)
		if c.SigV4 && c.Token != "" {
			bad("output.catalog.token", "and sigv4 exclude each other: a SigV4 signature is the request's Authorization")
		}
	case "":
		bad("output.catalog.type", "is required: sql or rest")
	default:
		bad("output.catalog.type", "must be sql or rest (got %q)", c.Type)
	}
	if c.SigningName != "" && !c.SigV4 {
		bad("output.catalog.signing_name", "is read only with sigv4: true")
	} else if c.SigningName != "" && !signingName.MatchString(c.SigningName) {
		bad("output.catalog.signing_name", "must be an AWS service name such as glue, s3tables or execute-api (got %q)", c.SigningName)
	}
	if c.Namespace != "" && !namespaceName.MatchString(c.Namespace) {
		bad("output.catalog.namespace", "must be a name of letters, digits and underscores (got %q)", c.Namespace)
	}
	if c.RetainSnapshots != 0 && c.RetainSnapshots < MinRetainSnapshots {
		bad("output.catalog.retain_snapshots", "must be at least %s (got %s): a run commits only files younger than half of it", MinRetainSnapshots, c.RetainSnapshots)
	}
}
