// Package people generates deterministic synthetic people for the vendor
// emulators: the same seed gives the same people, with names, emails, phones
// and companies, and the ground truth of who is who.
package people

import (
	"fmt"
	"math/rand/v2"
	"slices"
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
	// Vendors, when set, are the only vendors that may hold this entry's
	// records: a hard case needs vendors that keep what links its records
	// (other emails: Planhat and Dixa; a user id of its own: not Moesif).
	Vendors []string
}

// In reports whether vendor may hold records of p.
func (p Person) In(vendor string) bool {
	return len(p.Vendors) == 0 || slices.Contains(p.Vendors, vendor)
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

// Vendors that keep other emails, and those that key users by something
// other than the external id.
var (
	withOtherEmails = []string{"planhat", "dixa"}
	notByExternalID = []string{"planhat", "dixa", "userlot"}
)

// blockedIDs are external ids the contract never matches on.
var blockedIDs = []string{"null", "NULL", "None", "undefined", "anonymous", "-1", "0", "000-000", " null "}

// PlaceholderID is the external id that the placeholder hard case puts on
// dozens of entries: usable by its form, but over any sane holder limit.
const PlaceholderID = "N/A"

// GenerateHard returns n people like Generate, with the hard cases of
// identity resolution woven in, by offset in every block of 40:
//
//	 7     placeholder external id (PlaceholderID) when n >= 1000, so that it
//	       is on more than 20 records: linked only by the email
//	11     a blocked external id literal: linked only by the email
//	13-16  four people with their own external ids sharing a role mailbox
//	       in OtherEmails: still four people
//	21     no external id, a junk primary email and the real one in
//	       OtherEmails, in upper case with spaces around: linked only by an
//	       other email, once normalised
//	25     no external id and a primary email in upper case with spaces
//	       around: linked only through normalisation
//	31     neither email nor external id: one record, its own person
//	33     an invalid email and no external id: one record, its own person
//
// Each person stays Index == position, and the ground truth (records of the
// same person are one, every other pair two) is what the contract's rules
// imply, as long as each person is rendered only in the vendors it is In.
func GenerateHard(seed uint64, n int) []Person {
	ps := Generate(seed, n)
	for i := range ps {
		p := &ps[i]
		switch i % 40 {
		case 7:
			if n >= 1000 {
				p.ExternalID, p.Vendors = PlaceholderID, notByExternalID
			}
		case 11:
			p.ExternalID, p.Vendors = blockedIDs[i/40%len(blockedIDs)], notByExternalID
		case 13, 14, 15, 16:
			p.OtherEmails = append(p.OtherEmails, fmt.Sprintf("support-%d@shared.example", i/40))
			p.Vendors = withOtherEmails
		case 21:
			p.ExternalID, p.OtherEmails = "", []string{"  " + strings.ToUpper(p.Email) + " "}
			p.Email, p.Vendors = "-", withOtherEmails
		case 25:
			p.ExternalID, p.Vendors = "", notByExternalID
			p.Email = " " + strings.ToUpper(p.Email) + "\t"
		case 31:
			p.ExternalID, p.Email, p.OtherEmails = "", "", nil
			p.Vendors = []string{"planhat"}
		case 33:
			p.ExternalID, p.Email, p.OtherEmails = "", "n/a", nil
			p.Vendors = []string{"userlot"}
		}
	}
	return ps
}
