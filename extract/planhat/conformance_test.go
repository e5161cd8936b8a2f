package planhat_test

import (
	"net/http/httptest"
	"slices"
	"testing"

	"etl/extract/conformance"
	"etl/extract/planhat"
	"etl/internal/emulator/people"
	phemu "etl/internal/emulator/planhat"
	"etl/internal/vendors"
)

func TestConformance(t *testing.T) {
	conformance.Run(t, conformance.Target{Name: vendors.Planhat, Start: start})
}

const token = "ph-conformance-token-3b9e07"

func start(t *testing.T, n int, opts conformance.Options) conformance.Fixture {
	users := phemu.FromPeople(people.Generate(11, n), 0)
	fx := conformance.Fixture{Secrets: []string{token}}
	for _, u := range users {
		fx.IDs = append(fx.IDs, u.ID)
	}
	// The emulator keeps users sorted by _id, so a repeated user is served
	// right after itself, as a shifted offset page would serve it.
	served := slices.Concat(users, users[:opts.Repeat])
	for i := range opts.Bad {
		bad := phemu.FromPeople(people.Generate(12, 1), n+i)[0]
		bad.CreateDate = "the day before yesterday"
		served = append(served, bad)
		fx.BadIDs = append(fx.BadIDs, bad.ID)
	}
	em := phemu.New(token, served)
	srv := httptest.NewServer(em)
	t.Cleanup(srv.Close)
	fx.Server = em.Server

	used := token
	if opts.WrongToken {
		used = "ph-wrong-token-51d7c2"
		fx.Secrets = append(fx.Secrets, used)
	}
	fx.Extractor = planhat.New(planhat.Options{PageSize: opts.PageSize,
		Client: opts.Client(t, vendors.Planhat, srv.URL, planhat.Auth(used))})
	// New users get ObjectIds after every existing one: a scan sorted by _id
	// must still reach them.
	fx.Insert = func(k int) []string {
		before := len(em.Users())
		em.Insert(phemu.FromPeople(people.Generate(13, k), 0)...)
		var ids []string
		for _, u := range em.Users()[before:] {
			ids = append(ids, u.ID)
		}
		return ids
	}
	return fx
}
