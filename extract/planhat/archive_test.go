package planhat

import (
	"context"
	"net/http/httptest"
	"testing"

	"etl/extract/extracttest"
	"etl/internal/emulator/people"
	emulator "etl/internal/emulator/planhat"
	"etl/internal/vendorhttp"
)

// Archiving users during a scan must not make the next pages skip live ones.
func TestArchivedDuringScanLosesNobody(t *testing.T) {
	em := emulator.New("tok", emulator.FromPeople(people.Generate(3, 100), 0))
	em.Enforce(false)
	all := em.Users()
	em.OnList = func(n int) {
		if n == 1 { // after page 1: archive three users it held
			em.Archive(all[0].ID, all[1].ID, all[2].ID)
		}
	}
	srv := httptest.NewServer(em)
	defer srv.Close()
	c, err := vendorhttp.New("planhat", srv.URL, Auth("tok"), nil)
	if err != nil {
		t.Fatal(err)
	}
	res := extracttest.Run(t, context.Background(), New(Options{Client: c, PageSize: 10}))
	if res.Err != nil {
		t.Fatal(res.Err)
	}
	for _, u := range all[3:] {
		if _, ok := res.ByID[u.ID]; !ok {
			t.Fatalf("live user %s was skipped", u.ID)
		}
	}
}
