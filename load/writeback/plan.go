// Package writeback sends resolved values back into the vendors with their
// bulk APIs (CONTRACT.md "Write-back"): patches computed against each vendor
// record as extracted this run, only real changes sent, in bounded chunks
// with bounded concurrency, refused chunks split to isolate bad items.
package writeback

import (
	"sort"
	"strings"
)

// Modes.
const (
	Fill      = "fill"      // set only fields the vendor has empty
	Overwrite = "overwrite" // set every field whose resolved value differs
)

// Current is one vendor record as extracted this run, normalised the way its
// columns are (emails lower-cased, phones E.164, ids trimmed).
type Current struct {
	SourceID string
	PersonID string
	Values   map[string]string // field → value; "" is empty
	// Unusable holds fields the vendor has a value for that normalisation
	// could not keep (an invalid email, an unparseable phone): not empty.
	Unusable map[string]bool
}

// Patch is what one vendor record gets.
type Patch struct {
	SourceID string
	PersonID string
	Set      map[string]string // field → new value
	Old      map[string]string // field → the vendor's value, for the plan
}

// Plan computes the patches of one target. Records whose patch is empty are
// counted as unchanged and not returned. The result is sorted by SourceID.
func Plan(mode string, fields []string, cur []Current, resolved map[string]map[string]string) (patches []Patch, unchanged int64) {
	for _, c := range cur {
		want := resolved[c.PersonID]
		p := Patch{SourceID: c.SourceID, PersonID: c.PersonID}
		for _, f := range fields {
			r := want[f]
			if r == "" {
				continue
			}
			v := c.Values[f]
			switch mode {
			case Overwrite:
				if r == v {
					continue
				}
			default: // fill
				if strings.TrimSpace(v) != "" || c.Unusable[f] {
					continue
				}
			}
			if p.Set == nil {
				p.Set, p.Old = map[string]string{}, map[string]string{}
			}
			p.Set[f], p.Old[f] = r, v
		}
		if len(p.Set) == 0 {
			unchanged++
			continue
		}
		patches = append(patches, p)
	}
	sort.Slice(patches, func(i, j int) bool { return patches[i].SourceID < patches[j].SourceID })
	return patches, unchanged
}

// FieldCounts counts the patches that set each field.
func FieldCounts(patches []Patch) map[string]int64 {
	out := map[string]int64{}
	for _, p := range patches {
		for f := range p.Set {
			out[f]++
		}
	}
	return out
}
