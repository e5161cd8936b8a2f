package writeback

import (
	"reflect"
	"testing"

	"etl/schemas"
)

// person p1's values, as resolved.
var resolvedP1 = map[string]map[string]string{
	"p1": {"external_id": "u-1", "email": "ada@acme.example", "phone": "+4520100001", "first_name": "Ada"},
}

func cur(id, person string, values map[string]string) Current {
	if values == nil {
		values = map[string]string{}
	}
	return Current{SourceID: id, PersonID: person, Values: values}
}

// sets is each patch's Set by source_id.
func sets(ps []Patch) map[string]map[string]string {
	out := map[string]map[string]string{}
	for _, p := range ps {
		out[p.SourceID] = p.Set
	}
	return out
}

func TestPlanConflicts(t *testing.T) {
	for _, c := range []struct {
		name      string
		target    string
		mode      string
		fields    []string
		cur       []Current
		sets      map[string]map[string]string
		unchanged int64
		conflicts []Conflict
	}{{
		name:   "a value another record already holds",
		target: "dixa", fields: []string{"phone", "first_name"},
		cur: []Current{
			cur("d-2", "p1", nil),
			cur("d-9", "p7", map[string]string{"phone": "+4520100001", "first_name": "Bo"}), // another person's record
		},
		sets:      map[string]map[string]string{"d-2": {"first_name": "Ada"}, "d-9": nil},
		unchanged: 1,
		conflicts: []Conflict{{SourceID: "d-2", PersonID: "p1", Field: "phone", Value: "+4520100001", HeldBy: "d-9"}},
	}, {
		name:   "one value planned for two records: the smaller source_id gets it",
		target: "dixa", fields: []string{"phone"},
		cur:  []Current{cur("d-3", "p1", nil), cur("d-1", "p1", nil), cur("d-2", "p1", nil)}, // out of order: the plan sorts
		sets: map[string]map[string]string{"d-1": {"phone": "+4520100001"}},
		conflicts: []Conflict{
			{SourceID: "d-2", PersonID: "p1", Field: "phone", Value: "+4520100001", HeldBy: "d-1"},
			{SourceID: "d-3", PersonID: "p1", Field: "phone", Value: "+4520100001", HeldBy: "d-1"},
		},
		unchanged: 2,
	}, {
		name:   "a holder as extracted wins over a smaller source_id; its own value is no conflict",
		target: "dixa", fields: []string{"email", "phone"},
		cur: []Current{
			cur("d-1", "p1", map[string]string{"phone": "+4520999999"}),
			cur("d-2", "p1", map[string]string{"email": "ada@acme.example"}),
			cur("d-3", "p1", nil),
		},
		sets: map[string]map[string]string{"d-2": {"phone": "+4520100001"}},
		conflicts: []Conflict{
			{SourceID: "d-1", PersonID: "p1", Field: "email", Value: "ada@acme.example", HeldBy: "d-2"},
			{SourceID: "d-3", PersonID: "p1", Field: "email", Value: "ada@acme.example", HeldBy: "d-2"},
			{SourceID: "d-3", PersonID: "p1", Field: "phone", Value: "+4520100001", HeldBy: "d-2"},
		},
		unchanged: 2,
	}, {
		name:   "a conflict that empties a patch counts as unchanged",
		target: "userlot", fields: []string{"external_id"},
		cur: []Current{
			cur("u-a", "p1", nil),
			cur("u-b", "p1", nil),
			cur("u-c", "p1", map[string]string{"external_id": "u-1"}),
		},
		sets:      map[string]map[string]string{},
		unchanged: 3,
		conflicts: []Conflict{
			{SourceID: "u-a", PersonID: "p1", Field: "external_id", Value: "u-1", HeldBy: "u-c"},
			{SourceID: "u-b", PersonID: "p1", Field: "external_id", Value: "u-1", HeldBy: "u-c"},
		},
	}, {
		name:   "overwrite: the record's own value is not a conflict, another's is",
		target: "dixa", mode: Overwrite, fields: []string{"email", "phone"},
		cur: []Current{
			cur("d-1", "p1", map[string]string{"email": "ada@acme.example", "phone": "+4520000000"}),
			cur("d-2", "p1", map[string]string{"email": "old@acme.example", "phone": "+4520100001"}),
		},
		sets: map[string]map[string]string{"d-1": nil, "d-2": nil},
		conflicts: []Conflict{
			{SourceID: "d-1", PersonID: "p1", Field: "phone", Value: "+4520100001", HeldBy: "d-2"},
			{SourceID: "d-2", PersonID: "p1", Field: "email", Value: "ada@acme.example", HeldBy: "d-1"},
		},
		unchanged: 2,
	}, {
		name:   "planhat keeps nothing unique",
		target: "planhat", fields: []string{"external_id", "email", "phone"},
		cur: []Current{cur("b", "p1", nil), cur("a", "p1", nil), cur("c", "p7", map[string]string{"phone": "+4520100001"})},
		sets: map[string]map[string]string{
			"a": {"external_id": "u-1", "email": "ada@acme.example", "phone": "+4520100001"},
			"b": {"external_id": "u-1", "email": "ada@acme.example", "phone": "+4520100001"},
		},
		unchanged: 1,
	}, {
		name:   "moesif keeps nothing unique",
		target: "moesif", fields: []string{"email", "phone"},
		cur: []Current{cur("x", "p1", nil), cur("y", "p1", nil), cur("z", "p7", map[string]string{"email": "ada@acme.example"})},
		sets: map[string]map[string]string{
			"x": {"email": "ada@acme.example", "phone": "+4520100001"},
			"y": {"email": "ada@acme.example", "phone": "+4520100001"},
		},
		unchanged: 1,
	}} {
		t.Run(c.name, func(t *testing.T) {
			got := Plan(c.target, c.mode, c.fields, c.cur, resolvedP1)
			want := map[string]map[string]string{}
			for id, s := range c.sets {
				if s != nil {
					want[id] = s
				}
			}
			if g := sets(got.Patches); !reflect.DeepEqual(g, want) {
				t.Errorf("patches %v, want %v", g, want)
			}
			for i := 1; i < len(got.Patches); i++ {
				if got.Patches[i-1].SourceID >= got.Patches[i].SourceID {
					t.Errorf("patches not sorted by source_id: %v", got.Patches)
				}
			}
			for _, p := range got.Patches {
				for f := range p.Old {
					if _, ok := p.Set[f]; !ok {
						t.Errorf("%s: an old value of %s, which the patch does not set", p.SourceID, f)
					}
				}
			}
			if got.Unchanged != c.unchanged || !reflect.DeepEqual(got.Conflicts, c.conflicts) {
				t.Errorf("unchanged %d, conflicts %+v; want %d, %+v", got.Unchanged, got.Conflicts, c.unchanged, c.conflicts)
			}
		})
	}
}

func TestConflictReject(t *testing.T) {
	c := Conflict{SourceID: "d-3", PersonID: "p1", Field: "phone", Value: "+4520100001", HeldBy: "d-2"}
	want := schemas.Reject{Stage: "writeback", Source: "dixa", SourceID: "d-3",
		Reason: "conflict: phone +4520100001 is held by d-2", Raw: `{"phone":"+4520100001"}`}
	if got := c.Reject("dixa"); got != want {
		t.Fatalf("%+v, want %+v", got, want)
	}
}
