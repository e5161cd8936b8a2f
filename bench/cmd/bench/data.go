package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/sync/errgroup"

	"etl/internal/emulator/dixa"
	"etl/internal/emulator/moesif"
	"etl/internal/emulator/people"
	"etl/internal/emulator/planhat"
	"etl/internal/emulator/userlot"
	"etl/internal/vendors"
)

// The data set: total records over the four vendors, from total/2 people.
// Vendor v holds the people of a window of half of them starting at
// v*people/4 (wrapping), so every person is in exactly two vendors and
// resolution has real overlap to find. Person i is computed from i alone, so
// any slice can be generated without the ones before it (10M records never
// sit in memory).

var (
	firstNames = []string{"Ada", "Alan", "Grace", "Linus", "Margaret", "Dennis", "Barbara", "Ken", "Frances", "Edsger",
		"Katherine", "Tim", "Radia", "Donald", "Hedy", "John", "Sophie", "Niklaus", "Anita", "Bjarne"}
	lastNames = []string{"Lovelace", "Turing", "Hopper", "Torvalds", "Hamilton", "Ritchie", "Liskov", "Thompson", "Allen", "Dijkstra",
		"Johnson", "Perlman", "Knuth", "Lamarr", "McCarthy", "Wilson", "Wirth", "Borg", "Stroustrup", "Kernighan"}
	companies = []string{"Acme", "Globex", "Initech", "Umbrella", "Hooli", "Stark", "Wayne", "Wonka", "Tyrell", "Cyberdyne",
		"Soylent", "Massive", "Pied Piper", "Vandelay", "Aperture", "Black Mesa", "Oscorp", "Gringotts", "Monarch", "Prestige"}
	tagPool = []string{"vip", "beta", "churn-risk", "champion", "trial", "enterprise", "smb", "newsletter"}
)

const seed = 20261122

func person(i int) people.Person {
	rng := rand.New(rand.NewPCG(seed, uint64(i)))
	first := firstNames[rng.IntN(len(firstNames))]
	last := lastNames[rng.IntN(len(lastNames))]
	co := rng.IntN(len(companies))
	domain := strings.ToLower(strings.ReplaceAll(companies[co], " ", "")) + ".example"
	p := people.Person{
		Index:       i,
		ExternalID:  fmt.Sprintf("u-%08d", i),
		Email:       fmt.Sprintf("%s.%s.%d@%s", strings.ToLower(first), strings.ToLower(last), i, domain),
		FirstName:   first,
		LastName:    last,
		Phone:       fmt.Sprintf("+4520%06d", 100000+i%900000),
		CompanyID:   fmt.Sprintf("c-%03d", co),
		CompanyName: companies[co],
		CreatedAt:   people.Epoch.Add(time.Duration(i) * time.Second),
	}
	p.UpdatedAt = p.CreatedAt.Add(time.Duration(rng.IntN(90*24)) * time.Hour)
	if rng.IntN(4) == 0 {
		p.OtherEmails = []string{fmt.Sprintf("%s%d@personal.example", strings.ToLower(first), i)}
	}
	for _, t := range tagPool {
		if rng.IntN(5) == 0 {
			p.Tags = append(p.Tags, t)
		}
	}
	return p
}

// dataset sizes the data: total records, a quarter per vendor.
type dataset struct{ total int }

func (d dataset) people() int    { return d.total / 2 }
func (d dataset) perVendor() int { return d.total / 4 }

// slice returns the people of vendor v's records [from, to).
func (d dataset) slice(v, from, to int) []people.Person {
	n := d.people()
	out := make([]people.Person, 0, to-from)
	for j := from; j < to; j++ {
		out = append(out, person((v*n/4+j)%n))
	}
	return out
}

// records renders vendor v's records [from, to) in the vendor's wire format;
// record j has id number j, so ids are unique within a vendor.
func (d dataset) records(v, from, to int) any {
	ps := d.slice(v, from, to)
	switch vendors.Names[v] {
	case vendors.Planhat:
		return planhat.FromPeople(ps, from)
	case vendors.Dixa:
		return dixa.FromPeople(ps, from)
	case vendors.Moesif:
		return moesif.FromPeople(ps)
	default:
		return userlot.FromPeople(ps, from)
	}
}

// fileRecords is how many records one JSONL file holds, as exports are
// usually split.
const fileRecords = 250_000

// writeFiles writes each vendor's records as JSON lines (a vendor export:
// one record as its list API returns it; Moesif: the hit's _source) under
// dir/<vendor>/, the vendors at once, unless a previous call already
// completed the same set. It returns how long generating took (then).
func (d dataset) writeFiles(dir string) (time.Duration, error) {
	stamp := filepath.Join(dir, "_COMPLETE")
	want := fmt.Sprintf("records=%d seed=%d v1\n", d.total, seed)
	if b, err := os.ReadFile(stamp); err == nil && strings.HasPrefix(string(b), want) {
		took, _ := time.ParseDuration(strings.TrimSpace(strings.TrimPrefix(string(b), want)))
		return took, nil
	}
	t0 := time.Now()
	if err := os.RemoveAll(dir); err != nil {
		return 0, err
	}
	var g errgroup.Group
	for v, name := range vendors.Names {
		if err := os.MkdirAll(filepath.Join(dir, name), 0o755); err != nil {
			return 0, err
		}
		g.Go(func() error {
			for from := 0; from < d.perVendor(); from += fileRecords {
				to := min(d.perVendor(), from+fileRecords)
				if err := d.writeFile(filepath.Join(dir, name, fmt.Sprintf("part-%04d.jsonl", from/fileRecords)), v, from, to); err != nil {
					return err
				}
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return 0, err
	}
	took := time.Since(t0)
	return took, os.WriteFile(stamp, []byte(want+took.Round(time.Millisecond).String()+"\n"), 0o644)
}

func (d dataset) writeFile(path string, v, from, to int) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	bw := bufio.NewWriterSize(f, 1<<20)
	enc := json.NewEncoder(bw) // one value per line
	enc.SetEscapeHTML(false)
	const chunk = 10_000
	for c := from; c < to; c += chunk {
		var err error
		switch recs := d.records(v, c, min(to, c+chunk)).(type) {
		case []planhat.EndUser:
			err = encodeAll(enc, recs)
		case []dixa.EndUser:
			err = encodeAll(enc, recs)
		case []moesif.User:
			err = encodeAll(enc, recs)
		case []userlot.EndUser:
			err = encodeAll(enc, recs)
		}
		if err != nil {
			f.Close()
			return err
		}
	}
	if err := bw.Flush(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func encodeAll[T any](enc *json.Encoder, recs []T) error {
	for i := range recs {
		if err := enc.Encode(recs[i]); err != nil {
			return err
		}
	}
	return nil
}
