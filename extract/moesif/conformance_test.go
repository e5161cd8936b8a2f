package moesif_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	"etl/extract/conformance"
	"etl/extract/moesif"
	mzemu "etl/internal/emulator/moesif"
	"etl/internal/emulator/people"
	"etl/internal/vendors"
)

func TestConformance(t *testing.T) {
	conformance.Run(t, conformance.Target{Name: vendors.Moesif, Start: start})
}

const token = "mz-conformance-key-c3e812"

// A user modified during the scan moves past every page already read.
const later = "2030-01-01T00:00:00.000Z"

func start(t *testing.T, n int, opts conformance.Options) conformance.Fixture {
	users := mzemu.FromPeople(people.Generate(41, n))
	fx := conformance.Fixture{Secrets: []string{token}}
	for _, u := range users {
		fx.IDs = append(fx.IDs, u.UserID)
	}
	// Moesif holds each user once; a user is served twice when it is
	// modified after the page that held it was read. The repeated users
	// sort first, so the first page holds them.
	for i := range opts.Repeat {
		users[i].ModifiedTime = fmt.Sprintf("2000-01-01T00:00:%02d.000Z", i)
	}
	served := users
	for i := range opts.Bad {
		bad := mzemu.FromPeople(people.Generate(42, 1))[0]
		bad.UserID = fmt.Sprintf("bad-%d", i)
		bad.FirstSeenTime = "the day before yesterday"
		served = append(served, bad)
		fx.BadIDs = append(fx.BadIDs, bad.UserID)
	}
	em := mzemu.New(token, served)
	var once sync.Once
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		em.ServeHTTP(w, r)
		once.Do(func() {
			for _, u := range users[:opts.Repeat] {
				u.ModifiedTime = later
				em.Insert(u)
			}
		})
	}))
	t.Cleanup(srv.Close)
	fx.Server = em.Server

	used := token
	if opts.WrongToken {
		used = "mz-wrong-key-0b6d19"
		fx.Secrets = append(fx.Secrets, used)
	}
	fx.Extractor = moesif.New(moesif.Options{PageSize: opts.PageSize,
		Client: opts.Client(t, vendors.Moesif, srv.URL, moesif.Auth(used))})
	// A new user's modified_time is its creation: after every existing one.
	inserted := 0
	fx.Insert = func(k int) []string {
		var ids []string
		for _, u := range mzemu.FromPeople(people.Generate(43, k)) {
			u.UserID = fmt.Sprintf("new-%d", inserted)
			u.ModifiedTime = later
			inserted++
			em.Insert(u)
			ids = append(ids, u.UserID)
		}
		return ids
	}
	return fx
}
