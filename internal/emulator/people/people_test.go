package people

import (
	"reflect"
	"strings"
	"testing"
)

func TestGenerateHard(t *testing.T) {
	ps := GenerateHard(1, 2000)
	if !reflect.DeepEqual(ps, GenerateHard(1, 2000)) {
		t.Fatal("the same seed gave other people")
	}
	placeholders, blocked, mailboxes, noID := 0, 0, map[string]int{}, 0
	for i, p := range ps {
		if p.Index != i {
			t.Fatalf("person %d has Index %d", i, p.Index)
		}
		switch {
		case p.ExternalID == PlaceholderID:
			placeholders++
		case strings.TrimSpace(p.ExternalID) != "" && !strings.HasPrefix(p.ExternalID, "u-"):
			blocked++
		}
		for _, e := range p.OtherEmails {
			if strings.HasPrefix(e, "support-") {
				mailboxes[e]++
			}
		}
		if p.ExternalID == "" && p.Email == "" && len(p.OtherEmails) == 0 {
			noID++
			if len(p.Vendors) != 1 {
				t.Fatalf("person %d has no identifier but may be in %v: its records could not be linked", i, p.Vendors)
			}
		}
		if p.ExternalID != "" && !strings.HasPrefix(p.ExternalID, "u-") && p.In("moesif") {
			t.Fatalf("person %d with external id %q may be a Moesif user", i, p.ExternalID)
		}
	}
	// Over the default holder limit of 20 even if each is in one vendor only.
	if placeholders <= 20 || blocked == 0 || len(mailboxes) == 0 || noID == 0 {
		t.Fatalf("placeholders %d, blocked %d, mailboxes %d, without identifiers %d", placeholders, blocked, len(mailboxes), noID)
	}
	for m, n := range mailboxes {
		if n < 2 {
			t.Fatalf("mailbox %s is not shared", m)
		}
	}
}

// Small populations get no placeholder: it would be under the holder limit
// and so a real link.
func TestGenerateHardSmall(t *testing.T) {
	for _, p := range GenerateHard(1, 200) {
		if p.ExternalID == PlaceholderID {
			t.Fatal("a placeholder external id in 200 people")
		}
	}
}
