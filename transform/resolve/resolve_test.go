package resolve

import (
	"cmp"
	"encoding/json"
	"fmt"
	"maps"
	"math/rand/v2"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/google/uuid"
)

// Each case would fail if the contract rule it names were dropped.
func TestClustering(t *testing.T) {
	p := "planhat"
	cases := []struct {
		name string
		cfg  Config
		recs []rec
		want string // clusters
		// Stats that the rule must produce.
		blocked, over, conflicts int64
	}{
		{name: "rule 3: a shared external id is one person",
			recs: []rec{{src: p, id: "1", ext: "U1", email: "a@x.io"}, {src: "dixa", id: "1", ext: "U1", email: "b@x.io"}},
			want: "dixa:1 planhat:1"},
		{name: "rule 1: external ids are trimmed, case kept",
			recs: []rec{{src: p, id: "1", ext: " U1 "}, {src: p, id: "2", ext: "U1"}, {src: p, id: "3", ext: "u1"}},
			want: "planhat:1 planhat:2 | planhat:3"},
		{name: "rule 1: placeholder external ids never match, each value counted once",
			recs: []rec{
				{src: p, id: "1", ext: "null"}, {src: p, id: "2", ext: "null"}, {src: p, id: "3", ext: "NULL"},
				{src: p, id: "4", ext: "None"}, {src: p, id: "5", ext: "none"}, {src: p, id: "6", ext: "undefined"},
				{src: p, id: "7", ext: "undefined"}, {src: p, id: "8", ext: "Anonymous"}, {src: p, id: "9", ext: "anonymous"},
				{src: p, id: "10", ext: "-1"}, {src: p, id: "11", ext: "-1"}, {src: p, id: "12", ext: "0"},
				{src: p, id: "13", ext: "0"}, {src: p, id: "14", ext: "000-00"}, {src: p, id: "15", ext: "000-00"},
				{src: p, id: "16", ext: "0-1"}, {src: p, id: "17", ext: "0-1"}},
			want:    "planhat:1 | planhat:10 | planhat:11 | planhat:12 | planhat:13 | planhat:14 | planhat:15 | planhat:16 planhat:17 | planhat:2 | planhat:3 | planhat:4 | planhat:5 | planhat:6 | planhat:7 | planhat:8 | planhat:9",
			blocked: 10},
		{name: "rule 1: resolve.blocked emails and external ids, ignoring case",
			cfg: Config{Blocked: []string{"Support@Acme.io", "test-user"}},
			recs: []rec{
				{src: p, id: "1", email: "support@acme.io"}, {src: p, id: "2", email: "support@acme.io"},
				{src: p, id: "3", ext: "TEST-USER"}, {src: p, id: "4", ext: "TEST-USER"},
				{src: p, id: "5", ext: "Test-User"}},
			want:    "planhat:1 | planhat:2 | planhat:3 | planhat:4 | planhat:5",
			blocked: 3},
		{name: "rule 2: a value over the holder limit links nothing",
			cfg: Config{MaxRecordsPerIdentifier: 2},
			recs: []rec{
				{src: p, id: "1", ext: "N/A"}, {src: p, id: "2", ext: "N/A"}, {src: p, id: "3", ext: "N/A"},
				{src: p, id: "4", email: "info@x.io"}, {src: p, id: "5", email: "info@x.io"}, {src: p, id: "6", emails: []string{"info@x.io"}},
				{src: p, id: "7", email: "two@x.io"}, {src: p, id: "8", email: "two@x.io"}},
			want: "planhat:1 | planhat:2 | planhat:3 | planhat:4 | planhat:5 | planhat:6 | planhat:7 planhat:8",
			over: 2},
		{name: "rule 2: email and external id with the same text are counted separately",
			cfg: Config{MaxRecordsPerIdentifier: 2},
			recs: []rec{
				{src: p, id: "1", ext: "a@x.io"}, {src: p, id: "2", ext: "a@x.io"},
				{src: p, id: "3", email: "a@x.io"}, {src: p, id: "4", email: "a@x.io"}},
			want: "planhat:1 planhat:2 | planhat:3 planhat:4"},
		{name: "rule 2: a record counts once per value",
			cfg: Config{MaxRecordsPerIdentifier: 2},
			recs: []rec{
				{src: p, id: "1", email: "a@x.io", emails: []string{"a@x.io"}},
				{src: p, id: "2", email: "a@x.io", emails: []string{"a@x.io", "a@x.io"}}},
			want: "planhat:1 planhat:2"},
		{name: "rule 3: emails link records, transitively",
			recs: []rec{{src: p, id: "1", email: "a@x.io"}, {src: "dixa", id: "1", emails: []string{"a@x.io", "b@x.io"}},
				{src: "userlot", id: "1", email: "b@x.io"}},
			want: "dixa:1 planhat:1 userlot:1"},
		{name: "rule 3: an email links persons when at most one external id is among them",
			recs: []rec{{src: p, id: "1", ext: "U1", email: "a@x.io"}, {src: "dixa", id: "1", email: "a@x.io"},
				{src: "dixa", id: "2", ext: "U1", email: "a@x.io"}},
			want: "dixa:1 dixa:2 planhat:1"},
		{name: "rule 3: a shared mailbox links nothing and is counted",
			recs: []rec{
				{src: p, id: "1", ext: "U1", email: "help@x.io"}, {src: p, id: "2", ext: "U2", emails: []string{"help@x.io"}},
				{src: "dixa", id: "1", email: "help@x.io"}},
			want:      "dixa:1 | planhat:1 | planhat:2",
			conflicts: 1},
		{name: "rule 3: external ids of persons at that point, emails ascending",
			// a@ joins d:3 and d:4; b@ joins them to U1; then c@ sees U1 and U2.
			recs: []rec{
				{src: "d", id: "1", ext: "U1", email: "b@x.io"}, {src: "d", id: "2", ext: "U2", email: "c@x.io"},
				{src: "d", id: "3", emails: []string{"a@x.io", "b@x.io"}}, {src: "d", id: "4", emails: []string{"a@x.io", "c@x.io"}}},
			want:      "d:1 d:3 d:4 | d:2",
			conflicts: 1},
		{name: "rule 3: blocked and over-limit external ids do not make a conflict",
			cfg: Config{MaxRecordsPerIdentifier: 3},
			recs: []rec{
				{src: p, id: "1", ext: "null", email: "a@x.io"}, {src: p, id: "2", ext: "U1", email: "a@x.io"},
				{src: p, id: "3", ext: "N/A"}, {src: p, id: "4", ext: "N/A"}, {src: p, id: "5", ext: "N/A", email: "a@x.io"},
				{src: p, id: "6", ext: "N/A"}},
			want:    "planhat:1 planhat:2 planhat:5 | planhat:3 | planhat:4 | planhat:6",
			blocked: 1, over: 1},
		{name: "neither email nor external id: a person of its own",
			recs: []rec{{src: p, id: "1", first: "Ada"}, {src: p, id: "2", first: "Ada"}},
			want: "planhat:1 | planhat:2"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			o := resolveAll(t, c.cfg, c.recs, 2)
			if got := o.clusters(); got != c.want {
				t.Errorf("clusters\n got %s\nwant %s", got, c.want)
			}
			s := o.stats
			if s.BlockedValues != c.blocked || s.OverLimit != c.over || s.ConflictsSkipped != c.conflicts {
				t.Errorf("stats: blocked %d over %d conflicts %d, want %d %d %d",
					s.BlockedValues, s.OverLimit, s.ConflictsSkipped, c.blocked, c.over, c.conflicts)
			}
			if s.Records != int64(len(c.recs)) {
				t.Errorf("records %d, want %d", s.Records, len(c.recs))
			}
		})
	}
}

func uuid5(key string) string { return uuid.NewSHA1(Namespace, []byte(key)).String() }

func TestPersonID(t *testing.T) {
	p := "planhat"
	cases := []struct {
		name string
		cfg  Config
		recs []rec
		of   string // record whose person_id is checked
		key  string // the UUIDv5 name it must have
	}{
		{name: "usable external id", of: "planhat:1", key: "external_id:U1",
			recs: []rec{{src: p, id: "1", ext: "U1", email: "a@x.io"}}},
		{name: "external id trimmed, case kept", of: "planhat:1", key: "external_id:Ab",
			recs: []rec{{src: p, id: "1", ext: "  Ab ", email: "a@x.io"}}},
		{name: "blocked external id: the email", of: "planhat:1", key: "email:a@x.io",
			recs: []rec{{src: p, id: "1", ext: "anonymous", email: "a@x.io"}}},
		{name: "smallest email of the person, from any of its records", of: "planhat:1", key: "email:b@x.io",
			recs: []rec{{src: p, id: "1", email: "c@x.io", emails: []string{"d@x.io"}}, {src: p, id: "2", emails: []string{"c@x.io", "b@x.io"}}}},
		{name: "not a shared mailbox", of: "dixa:1", key: "email:z@x.io",
			recs: []rec{{src: p, id: "1", ext: "U1", email: "help@x.io"}, {src: p, id: "2", ext: "U2", email: "help@x.io"},
				{src: "dixa", id: "1", emails: []string{"help@x.io", "z@x.io"}}}},
		{name: "not a blocked email", of: "planhat:1", key: "email:z@x.io",
			cfg:  Config{Blocked: []string{"A@x.io"}},
			recs: []rec{{src: p, id: "1", emails: []string{"a@x.io", "z@x.io"}}}},
		{name: "not an email over the limit", of: "planhat:1", key: "email:z@x.io",
			cfg:  Config{MaxRecordsPerIdentifier: 1},
			recs: []rec{{src: p, id: "1", emails: []string{"a@x.io", "z@x.io"}}, {src: p, id: "2", email: "a@x.io"}}},
		{name: "nothing usable: the record", of: "dixa:7", key: "record:dixa:7",
			cfg:  Config{Blocked: []string{"a@x.io"}},
			recs: []rec{{src: "dixa", id: "7", ext: "null", email: "a@x.io"}}},
		{name: "only a shared mailbox: the record", of: "dixa:1", key: "record:dixa:1",
			recs: []rec{{src: p, id: "1", ext: "U1", email: "help@x.io"}, {src: p, id: "2", ext: "U2", email: "help@x.io"},
				{src: "dixa", id: "1", email: "help@x.io"}}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			o := resolveAll(t, c.cfg, c.recs, 2)
			if got, want := o.pid[c.of], uuid5(c.key); got != want {
				t.Errorf("person_id of %s is %s, want %s (%s)", c.of, got, want, c.key)
			}
		})
	}
}

// The end_users row, field by field (rule 5 and the column rules).
func TestSurvivorship(t *testing.T) {
	prio := []string{"planhat", "userlot", "dixa", "moesif"}
	cases := []struct {
		name  string
		recs  []rec
		field string
		want  any
	}{
		{name: "latest updated_at wins over priority", field: "first_name", want: "New",
			recs: []rec{{src: "moesif", id: "1", ext: "U", first: "New", updated: 20}, {src: "planhat", id: "1", ext: "U", first: "Old", updated: 10}}},
		{name: "no updated_at ranks last", field: "first_name", want: "Dated",
			recs: []rec{{src: "planhat", id: "1", ext: "U", first: "Undated"}, {src: "moesif", id: "1", ext: "U", first: "Dated", updated: 1}}},
		{name: "tie on updated_at: source priority", field: "last_name", want: "Userlot",
			recs: []rec{{src: "dixa", id: "0", ext: "U", last: "Dixa", updated: 5}, {src: "userlot", id: "9", ext: "U", last: "Userlot", updated: 5}}},
		{name: "unlisted sources rank after, by name", field: "phone", want: "+4520000002",
			recs: []rec{{src: "zeta", id: "1", ext: "U", phone: "+4520000001", updated: 5}, {src: "alpha", id: "2", ext: "U", phone: "+4520000002", updated: 5},
				{src: "moesif", id: "3", ext: "U", updated: 5}}},
		{name: "listed beats unlisted", field: "phone", want: "+4520000003",
			recs: []rec{{src: "alpha", id: "1", ext: "U", phone: "+4520000001", updated: 5}, {src: "moesif", id: "3", ext: "U", phone: "+4520000003", updated: 5}}},
		{name: "then ascending source_id", field: "company_name", want: "A",
			recs: []rec{{src: "dixa", id: "b", ext: "U", co: "B", updated: 5}, {src: "dixa", id: "a", ext: "U", co: "A", updated: 5}, {src: "dixa", id: "c", ext: "U", co: "C", updated: 5}}},
		{name: "source_id decides among undated records too", field: "name", want: "A",
			recs: []rec{{src: "dixa", id: "b", ext: "U", name: "B"}, {src: "dixa", id: "a", ext: "U", name: "A"}}},
		{name: "empty values do not compete", field: "phone", want: "+4520000001",
			recs: []rec{{src: "planhat", id: "1", ext: "U", phone: "+4520000001", updated: 1}, {src: "planhat", id: "2", ext: "U", first: "X", updated: 9}}},
		{name: "email is a survivorship field", field: "email", want: "new@x.io",
			recs: []rec{{src: "planhat", id: "1", ext: "U", email: "old@x.io", updated: 1}, {src: "dixa", id: "2", ext: "U", email: "new@x.io", updated: 2}}},
		{name: "emails: sorted union", field: "emails", want: []any{"a@x.io", "b@x.io", "c@x.io"},
			recs: []rec{{src: "planhat", id: "1", ext: "U", email: "c@x.io", emails: []string{"a@x.io"}}, {src: "dixa", id: "2", ext: "U", emails: []string{"b@x.io", "a@x.io"}}}},
		{name: "tags: sorted union", field: "tags", want: []any{"beta", "vip"},
			recs: []rec{{src: "planhat", id: "1", ext: "U", tags: []string{"vip"}}, {src: "dixa", id: "2", ext: "U", tags: []string{"vip", "beta"}}}},
		{name: "sources: sorted, once each", field: "sources", want: []any{"dixa", "planhat"},
			recs: []rec{{src: "planhat", id: "1", ext: "U"}, {src: "dixa", id: "2", ext: "U"}, {src: "planhat", id: "3", ext: "U"}}},
		{name: "record_count", field: "record_count", want: float64(3),
			recs: []rec{{src: "planhat", id: "1", ext: "U"}, {src: "dixa", id: "2", ext: "U"}, {src: "planhat", id: "3", ext: "U"}}},
		{name: "created_at earliest", field: "created_at", want: "1970-01-01T00:00:00.000002Z",
			recs: []rec{{src: "planhat", id: "1", ext: "U", created: 5}, {src: "dixa", id: "2", ext: "U", created: 2}, {src: "dixa", id: "3", ext: "U"}}},
		{name: "updated_at latest", field: "updated_at", want: "1970-01-01T00:00:00.000009Z",
			recs: []rec{{src: "planhat", id: "1", ext: "U", updated: 5}, {src: "dixa", id: "2", ext: "U", updated: 9}, {src: "dixa", id: "3", ext: "U"}}},
		{name: "external_id: the usable one", field: "external_id", want: "U",
			recs: []rec{{src: "planhat", id: "1", ext: "null", email: "a@x.io"}, {src: "dixa", id: "2", ext: "U", email: "a@x.io"}}},
		{name: "external_id: null when none is usable", field: "external_id", want: nil,
			recs: []rec{{src: "planhat", id: "1", ext: "null", email: "a@x.io"}, {src: "dixa", id: "2", email: "a@x.io"}}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			// Every input order must give the same row.
			for _, recs := range [][]rec{c.recs, reversed(c.recs)} {
				o := resolveAll(t, Config{SourcePriority: prio}, recs, 1)
				if o.stats.Persons != 1 {
					t.Fatalf("%d persons, want 1: %s", o.stats.Persons, o.clusters())
				}
				got := o.user(t, recs[0].key())[c.field]
				if fmt.Sprint(got) != fmt.Sprint(c.want) {
					t.Errorf("%s = %v, want %v", c.field, got, c.want)
				}
			}
		})
	}
}

func reversed(rs []rec) []rec {
	out := make([]rec, len(rs))
	for i, r := range rs {
		out[len(rs)-1-i] = r
	}
	return out
}

// randomRecs draws records from small pools of identifiers and values, so
// that shared ids, shared mailboxes, blocked values, limits and survivorship
// ties all occur.
func randomRecs(rng *rand.Rand, n int) []rec {
	srcs := []string{"planhat", "dixa", "moesif", "userlot", "crm"}
	exts := []string{"", "", "null", "0", "N/A"} // N/A goes over the limit
	pick := func(pool []string) string { return pool[rng.IntN(len(pool))] }
	email := func() string { return fmt.Sprintf("e%d@x.io", rng.IntN(n)) }
	out := make([]rec, n)
	for i := range out {
		r := rec{src: pick(srcs), id: fmt.Sprint(i % (n / 3)), ext: fmt.Sprintf("U%d", rng.IntN(n/4)),
			first: pick([]string{"", "Ada", "Alan", "Grace"}), last: pick([]string{"", "Lovelace", "Turing"}),
			phone: pick([]string{"", "+4520000001", "+4520000002"}), co: pick([]string{"", "Acme", "Globex"}),
			created: int64(rng.IntN(4)), updated: int64(rng.IntN(4))}
		if rng.IntN(2) == 0 {
			r.ext = pick(exts)
		}
		if rng.IntN(3) > 0 {
			r.email = email()
		}
		for range rng.IntN(3) {
			r.emails = append(r.emails, email())
		}
		if rng.IntN(4) == 0 {
			r.emails = append(r.emails, fmt.Sprintf("help%d@x.io", rng.IntN(n/20)))
		}
		if rng.IntN(3) == 0 {
			r.tags = []string{pick([]string{"vip", "beta", "trial"})}
		}
		out[i] = r
	}
	// source_id is unique per source.
	seen := map[string]bool{}
	for i := range out {
		for seen[out[i].key()] {
			out[i].id += "x"
		}
		seen[out[i].key()] = true
	}
	return out
}

// The same records in any order and any batching give the same person_ids
// and end_users rows; a second run (new resolver, new hash seeds) too, and
// one told to expect fewer, as many or more records than it gets.
func TestOrderIndependence(t *testing.T) {
	for seed := range uint64(20) {
		rng := rand.New(rand.NewPCG(seed, 1))
		recs := randomRecs(rng, 100+rng.IntN(200))
		cfg := Config{MaxRecordsPerIdentifier: 5, Blocked: []string{"E1@x.io"}, SourcePriority: []string{"planhat", "dixa"}}
		base := resolveAll(t, cfg, recs, 7)
		if base.stats.ConflictsSkipped == 0 || base.stats.OverLimit == 0 || base.stats.BlockedValues == 0 {
			t.Fatalf("seed %d: the data lacks hard cases: %+v", seed, base.stats)
		}
		for try := range 5 {
			shuffled := append([]rec(nil), recs...)
			rng.Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
			got := resolveExpecting(t, cfg, shuffled, 1+rng.IntN(50), []int{0, len(recs) / 3, len(recs), 40 * len(recs), 0}[try])
			for k, id := range base.pid {
				if got.pid[k] != id {
					t.Fatalf("seed %d try %d: %s is %s, was %s", seed, try, k, got.pid[k], id)
				}
			}
			for id, row := range base.users {
				if got.users[id] != row {
					t.Fatalf("seed %d try %d: end_users row differs\n got %s\nwant %s", seed, try, got.users[id], row)
				}
			}
			if fmt.Sprint(got.stats) != fmt.Sprint(base.stats) {
				t.Fatalf("seed %d try %d: stats %+v, was %+v", seed, try, got.stats, base.stats)
			}
		}
	}
}

func TestAnnotateOutOfOrder(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	a := batch(mem, []rec{{src: "planhat", id: "1"}})
	b := batch(mem, []rec{{src: "planhat", id: "2"}})
	defer a.Release()
	defer b.Release()
	r := New(Config{})
	at := r.Add(a)
	r.Add(b)
	res := r.Resolve()
	if _, err := res.Annotate(mem, b, at); err == nil {
		t.Fatal("annotating a batch at another's rows went unnoticed")
	}
	if err := res.People(mem, 10, func(arrow.Record) error { return nil }); err == nil {
		t.Fatal("People before every row was annotated went unnoticed")
	}
}

func TestPersonsByVendors(t *testing.T) {
	o := resolveAll(t, Config{}, []rec{
		{src: "planhat", id: "1", ext: "U1"}, {src: "dixa", id: "1", ext: "U1"}, {src: "dixa", id: "2", ext: "U1"},
		{src: "planhat", id: "2", ext: "U2"}, {src: "planhat", id: "3", ext: "U2"},
		{src: "moesif", id: "U3", ext: "U3"},
	}, 4)
	if got := fmt.Sprint(o.stats.PersonsByVendors); got != "map[1:2 2:1]" {
		t.Fatalf("persons by number of vendors: %s", got)
	}
	// The run summary's names, which Airflow reads from XCom.
	js, _ := json.Marshal(o.stats)
	want := `{"persons":3,"records":6,"blocked_identifier_values":0,"identifiers_over_limit":0,"conflicts_skipped":0,"persons_by_vendor_count":{"1":2,"2":1}}`
	if string(js) != want {
		t.Fatalf("summary %s, want %s", js, want)
	}
}

// With more sources than a person's mask holds (16), end_users still
// names each person's sources, from the records themselves.
func TestManySources(t *testing.T) {
	for _, n := range []int{3, 16, 17, 40} {
		var rs []rec
		for s := range n {
			src := fmt.Sprintf("src%02d", s)
			rs = append(rs, rec{src: src, id: "a", ext: "U1"}, rec{src: src, id: "b", ext: fmt.Sprintf("solo-%02d", s)})
		}
		o := resolveAll(t, Config{MaxRecordsPerIdentifier: 100}, rs, 5)
		want := map[int]int64{n: 1, 1: int64(n)}
		if got := o.stats.PersonsByVendors; !maps.Equal(got, want) {
			t.Fatalf("%d sources: persons by number of vendors %v, want %v", n, got, want)
		}
		var all []any
		for _, js := range o.users {
			var row map[string]any
			json.Unmarshal([]byte(js), &row)
			if srcs := row["sources"].([]any); len(srcs) == n {
				all = srcs
			} else if len(srcs) != 1 || srcs[0] != "src"+strings.TrimPrefix(row["external_id"].(string), "solo-") {
				t.Fatalf("%d sources: %v for %v", n, srcs, row["external_id"])
			}
		}
		if len(all) != n || all[0] != "src00" || all[n-1] != fmt.Sprintf("src%02d", n-1) {
			t.Fatalf("%d sources: the shared person's sources are %v", n, all)
		}
	}
}

// BlockedExternalID says what the contract's rule, as first written (lower
// case in a list, or a regular expression), says.
func TestBlockedExternalID(t *testing.T) {
	zeroDash := regexp.MustCompile(`^[0-]+$`)
	old := func(id string) bool {
		switch strings.ToLower(id) {
		case "", "null", "none", "undefined", "anonymous", "-1":
			return true
		}
		return zeroDash.MatchString(id)
	}
	for _, id := range []string{"", "null", "NULL", "Null", "nul", "nulls", "none", "NoNe", "undefined", "UNDEFINED", "anonymous",
		"Anonymous", "-1", "-11", "0", "000", "0-0", "--", "-", "0a", "a0", "u-1", "anonymouſ", "nuǈ", "İnone", "\u212Aull",
		"none ", " none", "N\u0301ONE", "0\n", "１"} {
		if got, want := BlockedExternalID(id), old(id); got != want {
			t.Errorf("BlockedExternalID(%q) = %v, want %v", id, got, want)
		}
	}
}

// Rules 1 to 3 as the contract words them, naively (maps, every email
// sorted, persons' external ids as sets), against the resolver on random
// records with shared mailboxes, blocked and over-limit values: the same
// persons and the same count of conflicts. The resolver takes emails in
// ascending order only where the order can matter (emailsInOrder).
func TestClusteringOracle(t *testing.T) {
	for seed := range uint64(60) {
		rng := rand.New(rand.NewPCG(seed, 7))
		recs := randomRecs(rng, 30+rng.IntN(300))
		cfg := Config{MaxRecordsPerIdentifier: 5, Blocked: []string{"E1@x.io", "u2"}}
		got := resolveAll(t, cfg, recs, 1+rng.IntN(40))
		want, conflicts := naiveClusters(cfg, recs)
		if c := got.clusters(); c != want {
			t.Fatalf("seed %d: clusters\n got %s\nwant %s", seed, c, want)
		}
		if got.stats.ConflictsSkipped != conflicts {
			t.Fatalf("seed %d: %d conflicts, want %d", seed, got.stats.ConflictsSkipped, conflicts)
		}
	}
}

func naiveClusters(cfg Config, recs []rec) (string, int64) {
	limit := cmp.Or(cfg.MaxRecordsPerIdentifier, 20)
	blocked := map[string]bool{}
	for _, b := range cfg.Blocked {
		blocked[strings.ToLower(b)] = true
	}
	extHolders, emailHolders := map[string][]int{}, map[string][]int{}
	for i, r := range recs {
		if x := strings.TrimSpace(r.ext); x != "" && !BlockedExternalID(x) && !blocked[strings.ToLower(x)] {
			extHolders[x] = append(extHolders[x], i)
		}
		seen := map[string]bool{}
		for _, e := range append([]string{r.email}, r.emails...) {
			if e == "" || blocked[e] || seen[e] {
				continue
			}
			seen[e] = true
			emailHolders[e] = append(emailHolders[e], i)
		}
	}
	parent := make([]int, len(recs))
	exts := make([]map[string]bool, len(recs)) // per root: its records' usable external ids
	for i := range parent {
		parent[i], exts[i] = i, map[string]bool{}
	}
	var find func(int) int
	find = func(i int) int {
		if parent[i] != i {
			parent[i] = find(parent[i])
		}
		return parent[i]
	}
	union := func(a, b int) {
		if a, b = find(a), find(b); a != b {
			parent[b] = a
			for x := range exts[b] {
				exts[a][x] = true
			}
		}
	}
	for x, hs := range extHolders {
		if len(hs) > limit {
			continue
		}
		for _, h := range hs {
			exts[find(h)][x] = true
			union(hs[0], h)
		}
	}
	var conflicts int64
	for _, e := range slices.Sorted(maps.Keys(emailHolders)) {
		hs := emailHolders[e]
		if len(hs) > limit {
			continue
		}
		among := map[string]bool{}
		for _, h := range hs {
			for x := range exts[find(h)] {
				among[x] = true
			}
		}
		if len(among) >= 2 {
			conflicts++
			continue
		}
		for _, h := range hs {
			union(hs[0], h)
		}
	}
	by := map[int][]string{}
	for i, r := range recs {
		by[find(i)] = append(by[find(i)], r.key())
	}
	var groups []string
	for _, ks := range by {
		slices.Sort(ks)
		groups = append(groups, strings.Join(ks, " "))
	}
	slices.Sort(groups)
	return strings.Join(groups, " | "), conflicts
}

// personID is uuid.NewSHA1 of the prefix and value, whatever their length
// (past the stack buffer too).
func TestPersonIDIsUUIDv5(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for _, n := range []int{0, 1, 17, 200, 239, 240, 241, 300, 5000} {
		v := make([]byte, n)
		for i := range v {
			v[i] = byte(rng.IntN(256))
		}
		for _, prefix := range []string{"record:", "email:", "external_id:"} {
			if got, want := personID(prefix, v), uuid.NewSHA1(Namespace, append([]byte(prefix), v...)); got != want {
				t.Fatalf("%s and %d bytes: %s, want %s", prefix, n, got, want)
			}
		}
	}
}
