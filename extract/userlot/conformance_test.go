package userlot_test

import (
	"net/http/httptest"
	"slices"
	"testing"

	"etl/extract/conformance"
	"etl/extract/userlot"
	"etl/internal/emulator/people"
	ulemu "etl/internal/emulator/userlot"
	"etl/internal/vendors"
)

func TestConformance(t *testing.T) {
	conformance.Run(t, conformance.Target{Name: vendors.Userlot, Start: start})
}

const key = "ul-conformance-key-2d95b6"

func start(t *testing.T, n int, opts conformance.Options) conformance.Fixture {
	users := ulemu.FromPeople(people.Generate(31, n), 0)
	fx := conformance.Fixture{Secrets: []string{key}}
	for _, u := range users {
		fx.IDs = append(fx.IDs, u.ID)
	}
	// Each repeated user is listed right after itself, where a page number
	// that shifted between two requests would serve it again.
	served := slices.Clone(users)
	for i := opts.Repeat - 1; i >= 0; i-- {
		served = slices.Insert(served, i+1, users[i])
	}
	for i := range opts.Bad {
		bad := ulemu.FromPeople(people.Generate(32, 1), n+i)[0]
		bad.CreatedAt = "the day before yesterday"
		served = append(served, bad)
		fx.BadIDs = append(fx.BadIDs, bad.ID)
	}
	em := ulemu.New(key, served)
	srv := httptest.NewServer(em)
	t.Cleanup(srv.Close)
	fx.Server = em.Server

	used := key
	if opts.WrongToken {
		used = "ul-wrong-key-9f04aa"
		fx.Secrets = append(fx.Secrets, used)
	}
	fx.Extractor = userlot.New(userlot.Options{PageSize: opts.PageSize,
		Client: opts.Client(t, vendors.Userlot, srv.URL, userlot.Auth(used))})
	// New users are listed after every existing one, so later pages hold them.
	fx.Insert = func(k int) []string {
		before := len(em.Records())
		em.Insert(ulemu.FromPeople(people.Generate(33, k), 0)...)
		var ids []string
		for _, u := range em.Records()[before:] {
			ids = append(ids, u.ID)
		}
		return ids
	}
	return fx
}
