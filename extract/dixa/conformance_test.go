package dixa_test

import (
	"net/http/httptest"
	"slices"
	"testing"

	"etl/extract/conformance"
	"etl/extract/dixa"
	dxemu "etl/internal/emulator/dixa"
	"etl/internal/emulator/people"
	"etl/internal/vendors"
)

func TestConformance(t *testing.T) {
	conformance.Run(t, conformance.Target{Name: vendors.Dixa, Start: start})
}

const token = "dx-conformance-token-8c41f0"

func start(t *testing.T, n int, opts conformance.Options) conformance.Fixture {
	users := dxemu.FromPeople(people.Generate(21, n), 0)
	fx := conformance.Fixture{Secrets: []string{token}}
	for _, u := range users {
		fx.IDs = append(fx.IDs, u.ID)
	}
	// Each repeated user is listed right after itself, where an offset that
	// shifted between two pages would serve it again.
	served := slices.Clone(users)
	for i := opts.Repeat - 1; i >= 0; i-- {
		served = slices.Insert(served, i+1, users[i])
	}
	for i := range opts.Bad {
		bad := dxemu.FromPeople(people.Generate(22, 1), n+i)[0]
		bad.CreatedAt = "the day before yesterday"
		served = append(served, bad)
		fx.BadIDs = append(fx.BadIDs, bad.ID)
	}
	em := dxemu.New(token, served)
	srv := httptest.NewServer(em)
	t.Cleanup(srv.Close)
	fx.Server = em.Server

	used := token
	if opts.WrongToken {
		used = "dx-wrong-token-77a0e3"
		fx.Secrets = append(fx.Secrets, used)
	}
	fx.Extractor = dixa.New(dixa.Options{PageSize: opts.PageSize,
		Client: opts.Client(t, vendors.Dixa, srv.URL, dixa.Auth(used))})
	// New users are listed after every existing one, so a cursor scan
	// reaches them.
	fx.Insert = func(k int) []string {
		before := len(em.Records())
		em.Insert(dxemu.FromPeople(people.Generate(23, k), 0)...)
		var ids []string
		for _, u := range em.Records()[before:] {
			ids = append(ids, u.ID)
		}
		return ids
	}
	return fx
}
