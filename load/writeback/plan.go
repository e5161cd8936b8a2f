// Package writeback sends resolved values back into the vendors with their
// bulk APIs (CONTRACT.md "Write-back"): patches computed against each vendor
// record as extracted this run, only real changes sent, values a vendor keeps
// unique planned around (conflicts), in bounded chunks with bounded
// concurrency, refused chunks split to isolate bad items.
package writeback

import (
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"strings"

	"etl/internal/vendors"
	"etl/schemas"
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

// Planned is one target's plan.
type Planned struct {
	Patches   []Patch // non-empty patches, sorted by SourceID
	Unchanged int64   // records whose patch is empty, conflicts left out
	Conflicts []Conflict
}

// Conflict is a patch field left out because the vendor keeps the field
// unique (CONTRACT.md "Values a vendor keeps unique") and another record
// holds the value, or was planned it first.
type Conflict struct {
	SourceID string
	PersonID string
	Field    string
	Value    string
	HeldBy   string // the source_id of the record that holds or gets the value
}

// Reject is the conflict's row in rejects.
func (c Conflict) Reject(target string) schemas.Reject {
	raw, _ := json.Marshal(map[string]string{c.Field: c.Value})
	return schemas.Reject{Stage: schemas.StageWriteback, Source: target, SourceID: c.SourceID,
		Reason: fmt.Sprintf("conflict: %s %s is held by %s", c.Field, c.Value, c.HeldBy), Raw: string(raw)}
}

// Plan computes the patches of one target, a vendor: fields it keeps unique
// (vendors.Facts.Unique) are checked against its records and the plan so
// far. Values are compared as they are in cur and resolved, normalised like
// their columns.
func Plan(target, mode string, fields []string, cur []Current, resolved map[string]map[string]string) Planned {
	var out Planned
	var patches []Patch
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
			out.Unchanged++
			continue
		}
		patches = append(patches, p)
	}
	sort.Slice(patches, func(i, j int) bool { return patches[i].SourceID < patches[j].SourceID })
	var unique []string
	for _, f := range vendors.Of[target].Unique {
		if slices.Contains(fields, f) {
			unique = append(unique, f)
		}
	}
	held := holders(unique, cur)
	for _, p := range patches {
		for _, f := range unique {
			v, ok := p.Set[f]
			if !ok {
				continue
			}
			if by := held.other(f, v, p.SourceID); by != "" {
				out.Conflicts = append(out.Conflicts, Conflict{SourceID: p.SourceID, PersonID: p.PersonID, Field: f, Value: v, HeldBy: by})
				delete(p.Set, f)
				delete(p.Old, f)
				continue
			}
			// Patches go in SourceID order, so the smallest gets the value.
			held.add(f, v, p.SourceID)
		}
		if len(p.Set) == 0 { // emptied by conflicts
			out.Unchanged++
			continue
		}
		out.Patches = append(out.Patches, p)
	}
	return out
}

// held maps a unique field and a value to the records holding it, smallest
// source_id first.
type held map[[2]string][]string

func holders(unique []string, cur []Current) held {
	h := held{}
	for _, c := range cur {
		for _, f := range unique {
			if v := c.Values[f]; v != "" {
				h.add(f, v, c.SourceID)
			}
		}
	}
	for k := range h {
		slices.Sort(h[k])
	}
	return h
}

func (h held) add(field, value, sourceID string) {
	k := [2]string{field, value}
	h[k] = append(h[k], sourceID)
}

// other is the smallest source_id other than self holding the value; "" when
// none. A record's own value is never a conflict.
func (h held) other(field, value, self string) string {
	for _, id := range h[[2]string{field, value}] {
		if id != self {
			return id
		}
	}
	return ""
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
