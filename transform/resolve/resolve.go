// Package resolve decides which source records are the same person, exactly
// as CONTRACT.md ("Identity resolution") states, and builds end_users.
//
// It works in two passes over normalised end_user_sources batches: Add reads
// each record's identifiers, Resolve clusters them (union-find over record
// indices), then Annotate is called with the same batches in the same order to
// stamp person_id and gather each person's surviving values.
package resolve

import (
	"regexp"
	"slices"
	"sort"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/google/uuid"

	"etl/schemas"
)

// Namespace of person_id UUIDv5s (CONTRACT.md).
var Namespace = uuid.MustParse("0b7f4e52-6a51-4c55-9a1e-7d3c2f8e9b10")

// Config is the pipeline's resolve block.
type Config struct {
	MaxRecordsPerIdentifier int
	Blocked                 []string
	SourcePriority          []string
}

// Stats go into the run summary.
type Stats struct {
	Persons          int64         `json:"persons"`
	Records          int64         `json:"records"`
	BlockedValues    int64         `json:"blocked_identifier_values"`
	OverLimit        int64         `json:"identifiers_over_limit"`
	ConflictsSkipped int64         `json:"conflicts_skipped"`
	PersonsByVendors map[int]int64 `json:"persons_by_vendor_count"`
}

type record struct {
	source   uint16
	sourceID string
	extID    string
	emails   []string
}

// Resolver collects records (pass 1).
type Resolver struct {
	cfg     Config
	blocked map[string]bool // lower-cased
	sources []string
	srcIdx  map[string]uint16
	recs    []record
}

// New returns an empty resolver.
func New(cfg Config) *Resolver {
	r := &Resolver{cfg: cfg, blocked: map[string]bool{}, srcIdx: map[string]uint16{}}
	for _, b := range cfg.Blocked {
		r.blocked[strings.ToLower(strings.TrimSpace(b))] = true
	}
	return r
}

var zeroDash = regexp.MustCompile(`^[0-]+$`)

// BlockedExternalID reports whether an external id (trimmed) never matches.
func BlockedExternalID(id string) bool {
	switch strings.ToLower(id) {
	case "", "null", "none", "undefined", "anonymous", "-1":
		return true
	}
	return zeroDash.MatchString(id)
}

// Add registers every row of a normalised end_user_sources batch.
func (r *Resolver) Add(rec arrow.Record) {
	src := rec.Column(schemas.SrcSource).(*array.String)
	sid := rec.Column(schemas.SrcSourceID).(*array.String)
	ext := rec.Column(schemas.SrcExternalID).(*array.String)
	emails := rec.Column(schemas.SrcEmails).(*array.List)
	vals := emails.ListValues().(*array.String)
	for i := 0; i < int(rec.NumRows()); i++ {
		s := src.Value(i)
		si, ok := r.srcIdx[s]
		if !ok {
			si = uint16(len(r.sources))
			r.srcIdx[s] = si
			r.sources = append(r.sources, s)
		}
		rc := record{source: si, sourceID: sid.Value(i)}
		if ext.IsValid(i) {
			rc.extID = strings.TrimSpace(ext.Value(i))
		}
		if emails.IsValid(i) {
			a, b := emails.ValueOffsets(i)
			for j := a; j < b; j++ {
				rc.emails = append(rc.emails, vals.Value(int(j)))
			}
		}
		r.recs = append(r.recs, rc)
	}
}

// Result is the clustering.
type Result struct {
	cfg      Config
	sources  []string
	recs     []record
	parent   []int32
	pid      map[int32]string // root → person_id
	compExt  []string         // root → its usable external id
	stats    Stats
	next     int // next row index for Annotate
	people   map[int32]*person
	priority func(source string) int
}

func find(parent []int32, i int32) int32 {
	for parent[i] != i {
		parent[i] = parent[parent[i]]
		i = parent[i]
	}
	return i
}

// Resolve clusters the records added so far.
func (r *Resolver) Resolve() *Result {
	n := len(r.recs)
	parent := make([]int32, n)
	for i := range parent {
		parent[i] = int32(i)
	}
	st := Stats{Records: int64(n), PersonsByVendors: map[int]int64{}}

	extHolders := map[string][]int32{}
	emailHolders := map[string][]int32{}
	for i, rc := range r.recs {
		if rc.extID != "" {
			extHolders[rc.extID] = append(extHolders[rc.extID], int32(i))
		}
		for _, e := range slices.Compact(slices.Clone(rc.emails)) {
			emailHolders[e] = append(emailHolders[e], int32(i))
		}
	}
	max := r.cfg.MaxRecordsPerIdentifier
	usableExt := func(id string, holders int) bool {
		if BlockedExternalID(id) || r.blocked[strings.ToLower(id)] {
			st.BlockedValues++
			return false
		}
		if holders > max {
			st.OverLimit++
			return false
		}
		return true
	}
	// rootExt: the usable external id of each component, if any.
	compExt := make([]string, n)
	for id, hs := range extHolders {
		if !usableExt(id, len(hs)) {
			continue
		}
		for _, h := range hs {
			compExt[h] = id
		}
		for _, h := range hs[1:] {
			a, b := find(parent, hs[0]), find(parent, h)
			if a != b {
				parent[b] = a
			}
		}
	}
	extOf := func(root int32) string { return compExt[root] }
	// Components joined by external id carry it at their root.
	for i := range parent {
		if compExt[i] != "" {
			compExt[find(parent, int32(i))] = compExt[i]
		}
	}

	emails := make([]string, 0, len(emailHolders))
	for e, hs := range emailHolders {
		if r.blocked[e] {
			st.BlockedValues++
			continue
		}
		if len(hs) > max {
			st.OverLimit++
			continue
		}
		emails = append(emails, e)
	}
	sort.Strings(emails)
	shared := map[string]bool{}
	for _, e := range emails {
		hs := emailHolders[e]
		ext := ""
		conflict := false
		for _, h := range hs {
			x := extOf(find(parent, h))
			if x == "" {
				continue
			}
			if ext == "" {
				ext = x
			} else if x != ext {
				conflict = true
				break
			}
		}
		if conflict {
			shared[e] = true
			st.ConflictsSkipped++
			continue
		}
		for _, h := range hs[1:] {
			a, b := find(parent, hs[0]), find(parent, h)
			if a != b {
				parent[b] = a
				if compExt[a] == "" {
					compExt[a] = compExt[b]
				}
			}
		}
	}
	usableEmail := map[string]bool{}
	for _, e := range emails {
		if !shared[e] {
			usableEmail[e] = true
		}
	}

	// person_id per component.
	best := map[int32]string{}
	vendorsOf := map[int32]map[uint16]bool{}
	for i, rc := range r.recs {
		root := find(parent, int32(i))
		if vendorsOf[root] == nil {
			vendorsOf[root] = map[uint16]bool{}
		}
		vendorsOf[root][rc.source] = true
		for _, e := range rc.emails {
			if usableEmail[e] {
				if b, ok := best[root]; !ok || e < b {
					best[root] = e
				}
			}
		}
	}
	pid := map[int32]string{}
	for i, rc := range r.recs {
		root := find(parent, int32(i))
		if _, ok := pid[root]; ok {
			continue
		}
		var key string
		switch {
		case compExt[root] != "":
			key = "external_id:" + compExt[root]
		case best[root] != "":
			key = "email:" + best[root]
		default:
			key = "record:" + r.sources[rc.source] + ":" + rc.sourceID
		}
		pid[root] = uuid.NewSHA1(Namespace, []byte(key)).String()
		st.PersonsByVendors[len(vendorsOf[root])]++
	}
	st.Persons = int64(len(pid))
	res := &Result{cfg: r.cfg, sources: r.sources, recs: r.recs, parent: parent, pid: pid, compExt: compExt, stats: st,
		people: map[int32]*person{}, priority: priorityOf(r.cfg.SourcePriority)}
	return res
}

func (res *Result) extOf(root int32) string { return res.compExt[root] }

// Stats of the clustering.
func (res *Result) Stats() Stats { return res.stats }

// priorityOf ranks listed sources first, in order, then the rest by name.
func priorityOf(list []string) func(string) int {
	idx := map[string]int{}
	for i, s := range list {
		idx[s] = i
	}
	return func(s string) int {
		if i, ok := idx[s]; ok {
			return i
		}
		return len(list)
	}
}
