package demo

import (
	"testing"

	"etl/internal/vendors"
)

func TestTruthCoversEveryRecordAndPerson(t *testing.T) {
	e, err := Start(Options{People: 400, Dir: t.TempDir(), Out: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	truth := e.Truth()
	ids := map[string][]string{}
	for _, u := range e.Planhat.Users() {
		ids[vendors.Planhat] = append(ids[vendors.Planhat], u.ID)
	}
	for _, u := range e.Dixa.Records() {
		ids[vendors.Dixa] = append(ids[vendors.Dixa], u.ID)
	}
	for _, u := range e.Moesif.Records() {
		ids[vendors.Moesif] = append(ids[vendors.Moesif], u.UserID)
	}
	for _, u := range e.Userlot.Records() {
		ids[vendors.Userlot] = append(ids[vendors.Userlot], u.ID)
	}
	seen := make([]int, len(e.People))
	for _, v := range vendors.Names {
		if len(ids[v]) != len(truth[v]) || len(ids[v]) < 100 || len(ids[v]) > 300 {
			t.Fatalf("%s: %d records, %d in the truth; want the same, a part of 400 people", v, len(ids[v]), len(truth[v]))
		}
		for _, id := range ids[v] {
			i, ok := truth[v][id]
			if !ok {
				t.Fatalf("%s record %q has no truth", v, id)
			}
			seen[i]++
		}
	}
	shared := 0
	for i, n := range seen {
		if n == 0 {
			t.Fatalf("person %d is in no vendor", i)
		}
		if n > 1 {
			shared++
		}
	}
	if shared < len(seen)/2 {
		t.Fatalf("only %d of %d people are in two vendors or more", shared, len(seen))
	}
	// Moesif's user_id is the person's external id.
	for id, i := range truth[vendors.Moesif] {
		if got := e.People[i].ExternalID; id != got && id != got+" " {
			t.Fatalf("moesif user_id %q for person %d with external id %q", id, i, got)
		}
	}
	truth[vendors.Dixa] = nil
	if e.Truth()[vendors.Dixa] == nil {
		t.Fatal("Truth returned the demo's own map")
	}
}
