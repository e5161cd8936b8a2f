// Package files extracts end users from files, vendor exports or staged
// extracts: JSON lines, CSV or Parquet, local (with globs) or in S3
// (s3://bucket/prefix/*.jsonl). Every record is read as a JSON object and
// handed to its shape's decoder: a vendor's (one record as its list API
// returns it) or canonical (the end_user_sources columns). Files are
// streamed, never read whole into memory; a record that cannot be read goes
// to rejects with its file and line (or row).
package files

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"slices"

	"etl/extract"
	"etl/internal/config"
)

// formats are the file formats a source may declare.
var formats = []string{"jsonl", "csv", "parquet"}

// Extractor reads one sources.files entry.
type Extractor struct {
	cfg   config.File
	shape shape
}

var _ extract.Extractor = (*Extractor)(nil)

// New checks the entry's format and shape; files are found when Extract runs.
func New(cfg config.File) (*Extractor, error) {
	if !slices.Contains(formats, cfg.Format) {
		return nil, fmt.Errorf("file source %s: unknown format %q (jsonl, csv or parquet)", cfg.Name, cfg.Format)
	}
	sh, ok := shapes[cfg.Shape]
	if !ok {
		return nil, fmt.Errorf("file source %s: unknown shape %q", cfg.Name, cfg.Shape)
	}
	return &Extractor{cfg: cfg, shape: sh}, nil
}

// Source is the entry's name: the rows' source column.
func (e *Extractor) Source() string { return e.cfg.Name }

// Extract reads every matching file in name order; each counts as a page.
func (e *Extractor) Extract(ctx context.Context, w *extract.Writer) error {
	ins, err := inputs(ctx, e.cfg.Path)
	if err != nil {
		return fmt.Errorf("file source %s: %w", e.cfg.Name, err)
	}
	read := map[string]func(context.Context, input, *extract.Writer, decoder) error{
		"jsonl": e.readJSONL, "csv": e.readCSV, "parquet": e.readParquet,
	}[e.cfg.Format]
	dec := e.shape.decoder()
	for _, in := range ins {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := read(ctx, in, w, dec); err != nil {
			return fmt.Errorf("file source %s: %w", e.cfg.Name, err)
		}
		w.Page()
	}
	return nil
}

// place is where a record is, for a reject's reason: file:line, or for
// Parquet "file: row n".
type place struct {
	file string
	n    int
	row  bool
}

func (p place) String() string {
	if p.row {
		return fmt.Sprintf("%s: row %d", p.file, p.n)
	}
	return fmt.Sprintf("%s:%d", p.file, p.n)
}

// emit decodes one record.
func (e *Extractor) emit(w *extract.Writer, dec decoder, at place, raw []byte) error {
	row, skip, err := dec(string(raw))
	if err != nil {
		return w.Reject(extract.GuessID(raw, e.shape.id), at.String()+": "+err.Error(), raw)
	}
	if skip {
		w.Skip()
		return nil
	}
	return w.Append(row)
}

// checkEvery is how many records pass between looks at ctx.
const checkEvery = 4096

// jsonText writes a text value: as the JSON it holds when it is a JSON object
// or array (a CSV cell or Parquet string with nested fields), else as a string.
func jsonText(buf *bytes.Buffer, s string) {
	t := bytes.TrimSpace([]byte(s))
	if len(t) > 0 && (t[0] == '{' || t[0] == '[') && json.Valid(t) {
		buf.Write(t)
		return
	}
	b, _ := json.Marshal(s)
	buf.Write(b)
}

// jsonKey writes a key and its colon, after a comma unless first.
func jsonKey(buf *bytes.Buffer, k string) {
	if buf.Len() > 1 {
		buf.WriteByte(',')
	}
	b, _ := json.Marshal(k)
	buf.Write(b)
	buf.WriteByte(':')
}
