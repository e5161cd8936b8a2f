// Package load writes the run's tables as Parquet part files into a store
// (a local directory or S3) and commits each date's partition so that
// readers never see a mix of runs that looks complete.
package load

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"strings"
	"time"

	"github.com/apache/arrow-go/v18/arrow"

	"etl/internal/store"
)

// Marker names in every table's date directory.
const (
	SuccessFile  = "_SUCCESS"
	ManifestFile = "_manifest.json"
)

// Manifest lists the parts of one table's partition, written beside _SUCCESS.
type Manifest struct {
	Table   string    `json:"table"`
	RunDate string    `json:"run_date"`
	RunID   string    `json:"run_id"`
	Written time.Time `json:"written"`
	Rows    int64     `json:"rows"`
	Bytes   int64     `json:"bytes"`
	Parts   []Part    `json:"parts"`
	// Inputs name what the run built the table from (the staging runs), so
	// a later stage can tell whether the table is still current.
	Inputs map[string]string `json:"inputs,omitempty"`
	// Sources counts the rows of each source (end_user_sources), which the
	// next run's volume guard compares with.
	Sources map[string]int64 `json:"sources,omitempty"`
}

// Partition replaces one run date's partition of every table:
//  1. Begin removes the old _SUCCESS markers, so the old partition stops
//     looking complete before anything new appears beside it;
//  2. tables are written as new part files (new names, never overwriting);
//  3. Commit removes the previous runs' parts, writes each manifest, and
//     writes every _SUCCESS last.
//
// A run that fails at any point leaves no partition with _SUCCESS that holds
// a mix of runs.
type Partition struct {
	// Inputs are recorded in every manifest of the partition.
	Inputs  map[string]string
	store   store.Store
	date    string
	runID   string
	tables  map[string]*TableWriter
	order   []string
	results map[string][]Part
	sources map[string]map[string]int64
}

// NewPartition prepares the partition of date in store.
func NewPartition(store store.Store, date, runID string) *Partition {
	return &Partition{store: store, date: date, runID: runID, tables: map[string]*TableWriter{}, results: map[string][]Part{},
		sources: map[string]map[string]int64{}}
}

func (p *Partition) dir(table string) string { return fmt.Sprintf("%s/dt=%s/", table, p.date) }

// Begin un-marks the existing partition of every table.
func (p *Partition) Begin(ctx context.Context, tables []string) error {
	var keys []string
	for _, t := range tables {
		keys = append(keys, p.dir(t)+SuccessFile, p.dir(t)+ManifestFile)
	}
	if err := p.store.Delete(ctx, keys...); err != nil {
		return fmt.Errorf("clearing the previous partition's markers: %w", err)
	}
	return nil
}

// Table returns the writer of one table.
func (p *Partition) Table(ctx context.Context, name string, schema *arrow.Schema) *TableWriter {
	if w, ok := p.tables[name]; ok {
		return w
	}
	w := newTableWriter(ctx, p.store, schema, p.dir(name), p.runID)
	p.tables[name] = w
	p.order = append(p.order, name)
	return w
}

// CloseTable finishes a table's last part; its parts are final.
func (p *Partition) CloseTable(name string) ([]Part, error) {
	w, ok := p.tables[name]
	if !ok {
		return nil, fmt.Errorf("table %s was never opened", name)
	}
	parts, err := w.Close()
	if err != nil {
		return nil, err
	}
	p.results[name] = parts
	return parts, nil
}

// SetSources records a table's rows per source in its manifest.
func (p *Partition) SetSources(table string, rows map[string]int64) { p.sources[table] = rows }

// Commit makes the partition complete; every table must be closed.
func (p *Partition) Commit(ctx context.Context) (map[string]Manifest, error) {
	out := map[string]Manifest{}
	for _, name := range p.order {
		parts, ok := p.results[name]
		if !ok {
			return nil, fmt.Errorf("table %s was not closed before commit", name)
		}
		if err := p.removeOthers(ctx, name, parts); err != nil {
			return nil, err
		}
		m := Manifest{Table: name, RunDate: p.date, RunID: p.runID, Written: time.Now().UTC(), Parts: parts, Inputs: p.Inputs,
			Sources: p.sources[name]}
		for _, pt := range parts {
			m.Rows += pt.Rows
			m.Bytes += pt.Bytes
		}
		body, _ := json.MarshalIndent(m, "", "  ")
		if err := p.put(ctx, p.dir(name)+ManifestFile, body); err != nil {
			return nil, err
		}
		out[name] = m
	}
	for _, name := range p.order {
		if err := p.put(ctx, p.dir(name)+SuccessFile, nil); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// removeOthers deletes every part file of the table's partition that this
// run did not write (earlier runs, or a crashed one's leftovers).
func (p *Partition) removeOthers(ctx context.Context, table string, keep []Part) error {
	keys, err := p.store.List(ctx, p.dir(table))
	if err != nil {
		return fmt.Errorf("listing %s: %w", p.store.URI(p.dir(table)), err)
	}
	mine := map[string]bool{}
	for _, pt := range keep {
		mine[pt.Key] = true
	}
	var old []string
	for _, k := range keys {
		b := path.Base(k)
		if !mine[k] && !strings.HasPrefix(b, "_") {
			old = append(old, k)
		}
	}
	if err := p.store.Delete(ctx, old...); err != nil {
		return fmt.Errorf("removing the previous run's parts: %w", err)
	}
	return nil
}

func (p *Partition) put(ctx context.Context, key string, body []byte) error {
	o, err := p.store.Create(ctx, key)
	if err != nil {
		return fmt.Errorf("creating %s: %w", p.store.URI(key), err)
	}
	if _, err := o.Write(body); err != nil {
		o.Abort()
		return fmt.Errorf("writing %s: %w", p.store.URI(key), err)
	}
	if err := o.Close(); err != nil {
		return fmt.Errorf("storing %s: %w", p.store.URI(key), err)
	}
	return nil
}

// Abort discards what this run wrote, as far as it can: parts in progress,
// finished parts, and the markers of a Commit that failed halfway (Begin
// removed the older ones, so any marker left is this run's). Markers go
// first: a table must never keep _SUCCESS beside parts being removed.
func (p *Partition) Abort(ctx context.Context) error {
	var markers []string
	for _, name := range p.order {
		p.tables[name].abort()
		markers = append(markers, p.dir(name)+SuccessFile, p.dir(name)+ManifestFile)
	}
	if err := p.store.Delete(ctx, markers...); err != nil {
		return fmt.Errorf("removing this run's markers: %w", err)
	}
	var errs []error
	for _, name := range p.order {
		var keys []string
		for _, pt := range p.tables[name].parts {
			keys = append(keys, pt.Key)
		}
		errs = append(errs, p.store.Delete(ctx, keys...))
	}
	return errors.Join(errs...)
}

// ReadManifest reads the manifest of one table's partition; nil when the
// partition has none (never written, or not complete).
func ReadManifest(ctx context.Context, s store.Store, table, date string) (*Manifest, error) {
	r, err := s.Open(ctx, fmt.Sprintf("%s/dt=%s/%s", table, date, ManifestFile))
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, nil
		}
		return nil, err
	}
	defer r.Close()
	var m Manifest
	if err := json.NewDecoder(r).Decode(&m); err != nil {
		return nil, fmt.Errorf("reading %s manifest: %w", table, err)
	}
	return &m, nil
}

// NewRunID returns a unique id for one run, naming its part files.
func NewRunID() string {
	var b [6]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
