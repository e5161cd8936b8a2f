// Package people generates deterministic synthetic people for the vendor
// emulators: the same seed gives the same people, with names, emails, phones
// and companies, and the ground truth of who is who.
package people

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"time"
)

// Person is one real human as the generator knows them.
type Person struct {
	Index       int // ground truth: records generated from the same Index are one person
	ExternalID  string
	Email       string
	OtherEmails []string
	FirstName   string
	LastName    string
	Phone       string // E.164
	CompanyID   string
	CompanyName string
	Tags        []string
	CreatedAt   time.Time
	UpdatedAt   time.Time
}

var firstNames = []string{"Ada", "Alan", "Grace", "Linus", "Margaret", "Dennis", "Barbara", "Ken", "Frances", "Edsger",
	"Katherine", "Tim", "Radia", "Donald", "Hedy", "John", "Sophie", "Niklaus", "Anita", "Bjarne",
	"Mary", "Guido", "Ida", "James", "Karen", "Rob", "Joan", "Vint", "Lynn", "Brian"}

var lastNames = []string{"Lovelace", "Turing", "Hopper", "Torvalds", "Hamilton", "Ritchie", "Liskov", "Thompson", "Allen", "Dijkstra",
	"Johnson", "Berners-Lee", "Perlman", "Knuth", "Lamarr", "McCarthy", "Wilson", "Wirth", "Borg", "Stroustrup",
	"Shaw", "Rossum", "Rhodes", "Gosling", "Jones", "Pike", "Clarke", "Cerf", "Conway", "Kernighan"}

var companies = []string{"Acme", "Globex", "Initech", "Umbrella", "Hooli", "Stark", "Wayne", "Wonka", "Tyrell", "Cyberdyne",
	"Soylent", "Massive", "Pied Piper", "Vandelay", "Aperture", "Black Mesa", "Oscorp", "Gringotts", "Monarch", "Prestige"}

var tagPool = []string{"vip", "beta", "churn-risk", "champion", "trial", "enterprise", "smb", "newsletter"}

// Epoch anchors every generated time, so data is the same on every run.
var Epoch = time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)

// Generate returns n people from seed.
func Generate(seed uint64, n int) []Person {
	rng := rand.New(rand.NewPCG(seed, seed+1))
	out := make([]Person, n)
	for i := range out {
		out[i] = person(rng, i)
	}
	return out
}

func person(rng *rand.Rand, i int) Person {
	first := firstNames[rng.IntN(len(firstNames))]
	last := lastNames[rng.IntN(len(lastNames))]
	co := rng.IntN(len(companies))
	domain := strings.ToLower(strings.ReplaceAll(companies[co], " ", "")) + ".example"
	p := Person{
		Index:       i,
		ExternalID:  fmt.Sprintf("u-%07d", i),
		Email:       fmt.Sprintf("%s.%s.%d@%s", strings.ToLower(first), strings.ToLower(last), i, domain),
		FirstName:   first,
		LastName:    last,
		Phone:       fmt.Sprintf("+4520%06d", 100000+i%900000),
		CompanyID:   fmt.Sprintf("c-%03d", co),
		CompanyName: companies[co],
		CreatedAt:   Epoch.Add(time.Duration(i) * time.Minute),
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
