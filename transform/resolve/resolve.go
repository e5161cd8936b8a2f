// Package resolve decides which source records are the same person, exactly
// as CONTRACT.md ("Identity resolution") states, and builds end_users.
//
// It works in two passes over normalised end_user_sources batches: Add reads
// each record's identifiers (batches may come in any order: a run adds them
// as its sources produce them), Resolve clusters them (union-find over
// record indices), then Survive is called with each batch again, in any
// order, with the row index Add gave it, to gather each person's surviving
// values; then People builds end_users, and PersonIDs stamps person_id on
// each batch (it only reads the result, so it may run beside People, or
// after Shrink has dropped all it does not read).
//
// Memory is what lets it take 10 million records: identifiers are interned
// once (intern.go) and records are rows of flat arrays (source, updated_at,
// identifier ids in CSR form), never copies of the records.
package resolve

import (
	"bytes"
	"cmp"
	"crypto/sha1"
	"encoding/binary"
	"hash/maphash"
	"math"
	"math/bits"
	"slices"
	"strings"
	"sync"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/google/uuid"

	"etl/internal/hugepage"
	"etl/schemas"
)

// Namespace of person_id UUIDv5s (CONTRACT.md).
var Namespace = uuid.MustParse("0b7f4e52-6a51-4c55-9a1e-7d3c2f8e9b10")

// DefaultMaxRecordsPerIdentifier is resolve.max_records_per_identifier when unset.
const DefaultMaxRecordsPerIdentifier = 20

// Config is the pipeline's resolve block.
type Config struct {
	MaxRecordsPerIdentifier int // 0: DefaultMaxRecordsPerIdentifier
	Blocked                 []string
	SourcePriority          []string
}

// Stats go into the run summary.
type Stats struct {
	Persons int64 `json:"persons"`
	Records int64 `json:"records"`
	// BlockedValues counts distinct identifier values never used to match.
	BlockedValues int64 `json:"blocked_identifier_values"`
	// OverLimit counts distinct values held by more records than the limit.
	OverLimit int64 `json:"identifiers_over_limit"`
	// ConflictsSkipped counts shared mailboxes: emails that linked nothing.
	ConflictsSkipped int64 `json:"conflicts_skipped"`
	// PersonsByVendors maps a number of sources to the persons seen in that many.
	PersonsByVendors map[int]int64 `json:"persons_by_vendor_count"`
}

// Identifier kinds, the first byte of an interned identifier.
const (
	kindExt   byte = 'x'
	kindEmail byte = 'e'
	kindTag   byte = 't' // not an identifier: interned here to share the arena
)

// Identifier flags.
const (
	flagBlocked uint8 = 1 << iota
	flagOver
	flagShared
)

// noTime stands for a missing updated_at: it sorts below every real time,
// so a record without one ranks last.
const noTime = math.MinInt64

// Resolver collects records (pass 1).
type Resolver struct {
	cfg     Config
	blocked map[string]bool // lower-cased
	*records
}

// records is what pass 1 keeps: flat arrays, one entry per record, and the
// interned identifiers. Result shares it.
type records struct {
	sources []string
	srcIdx  map[string]uint16
	seed    maphash.Seed

	ids     *interner // emails, external ids and tags, kind-prefixed
	holders []int32   // per id: records holding it, each once; nil after Resolve

	// Per record.
	src    []uint16
	upd    []int64  // updated_at, or noTime
	fields []uint8  // bit f: fieldCols[f] is non-empty
	check  []uint16 // hash of source and source_id: Annotate's order check
	idOff  []uint32 // ids of record i: idList[idOff[i]:idOff[i+1]], sorted
	idList []int32

	// Add's scratch: a run of rows' identifiers (see collect).
	vals []value
	ends []int
}

// New returns an empty resolver.
func New(cfg Config) *Resolver {
	if cfg.MaxRecordsPerIdentifier <= 0 {
		cfg.MaxRecordsPerIdentifier = DefaultMaxRecordsPerIdentifier
	}
	r := &Resolver{cfg: cfg, blocked: map[string]bool{}, records: &records{srcIdx: map[string]uint16{}, seed: maphash.MakeSeed(),
		ids: newInterner(), idOff: []uint32{0}}}
	for _, b := range cfg.Blocked {
		r.blocked[strings.ToLower(strings.TrimSpace(b))] = true
	}
	return r
}

// placeholders are the external ids that never match, lower-cased.
var placeholders = []string{"null", "none", "undefined", "anonymous", "-1"}

// BlockedExternalID reports whether an external id (trimmed) is one of the
// contract's placeholders, which never match: empty, one of placeholders
// ignoring case, or only zeros and dashes.
func BlockedExternalID(id string) bool { return blockedExt(id) }

func blockedExt[T string | []byte](id T) bool {
	if len(id) == 0 {
		return true
	}
	for _, p := range placeholders {
		if asciiFold(id, p) {
			return true
		}
	}
	for i := 0; i < len(id); i++ {
		if id[i] != '0' && id[i] != '-' {
			return false
		}
	}
	return true
}

// asciiFold reports whether s is lower, an ASCII word, in any case. (No
// other letter lower-cases to one of placeholders' letters: it is what
// strings.ToLower(s) == lower says, without allocating.)
func asciiFold[T string | []byte](s T, lower string) bool {
	if len(s) != len(lower) {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != lower[i] {
			return false
		}
	}
	return true
}

// Add registers every row of a normalised end_user_sources batch and
// returns the index of its first row, which Annotate takes with it.
func (r *Resolver) Add(rec arrow.Record) int {
	first := len(r.src)
	src := rec.Column(schemas.SrcSource).(*array.String)
	sid := rec.Column(schemas.SrcSourceID).(*array.String)
	upd := rec.Column(schemas.SrcUpdatedAt).(*array.Timestamp)
	cols := fieldArrays(rec)
	n := int(rec.NumRows())
	r.src, r.check, r.upd = grow(r.src, n), grow(r.check, n), grow(r.upd, n)
	r.fields, r.idOff, r.idList = grow(r.fields, n), grow(r.idOff, n), grow(r.idList, 4*n)
	var last string // the source of the row before, which is most often this one's
	var lastIdx uint16
	rh := rowHasher{seed: r.seed}
	for from := 0; from < n; from += addRun {
		to := min(n, from+addRun)
		r.collect(rec, from, to)
		r.touch()
		for i := from; i < to; i++ {
			s := src.Value(i)
			if s != last || i == 0 {
				si, ok := r.srcIdx[s]
				if !ok {
					s = strings.Clone(s) // kept beyond rec, whose buffers may be unmapped
					si = uint16(len(r.sources))
					r.srcIdx[s] = si
					r.sources = append(r.sources, s)
				}
				last, lastIdx = s, si
			}
			r.src = append(r.src, lastIdx)
			r.check = append(r.check, rh.hash(s, sid.Value(i)))
			u := int64(noTime)
			if upd.IsValid(i) {
				u = int64(upd.Value(i))
			}
			r.upd = append(r.upd, u)
			var mask uint8
			for f, a := range cols {
				if a.IsValid(i) && a.Value(i) != "" {
					mask |= 1 << f
				}
			}
			r.fields = append(r.fields, mask)

			start := len(r.idList)
			for _, v := range r.vals[r.ends[i-from]:r.ends[i-from+1]] {
				r.idList = append(r.idList, r.ids.intern(v.kind, v.s, v.h))
			}
			// A record counts once per value, however often it lists it.
			own := r.idList[start:]
			slices.Sort(own)
			r.idList = r.idList[:start+len(slices.Compact(own))]
			for _, id := range r.idList[start:] {
				if int(id) >= len(r.holders) {
					r.holders = grow(r.holders, int(id)+1-len(r.holders))
					r.holders = r.holders[:id+1]
				}
				r.holders[id]++
			}
			r.idOff = append(r.idOff, uint32(len(r.idList)))
		}
	}
	// vals held strings of rec's buffers.
	clear(r.vals[:cap(r.vals)])
	r.vals = r.vals[:0]
	return first
}

// addRun is how many rows Add reads ahead (see touch).
const addRun = 64

// value is an identifier (or tag) of a row, with its hash in the interner.
type value struct {
	s    string
	h    uint64
	kind byte
}

// collect puts the identifiers and tags of rows [from, to) of rec in vals,
// row i's at vals[ends[i-from]:ends[i-from+1]].
func (r *records) collect(rec arrow.Record, from, to int) {
	ext := rec.Column(schemas.SrcExternalID).(*array.String)
	email := rec.Column(schemas.SrcEmail).(*array.String)
	emails := rec.Column(schemas.SrcEmails).(*array.List)
	tags := rec.Column(schemas.SrcTags).(*array.List)
	add := func(kind byte, s string) {
		r.vals = append(r.vals, value{s: s, h: r.ids.hash(kind, s), kind: kind})
	}
	r.vals, r.ends = r.vals[:0], append(r.ends[:0], 0)
	for i := from; i < to; i++ {
		if ext.IsValid(i) {
			if x := strings.TrimSpace(ext.Value(i)); x != "" {
				add(kindExt, x)
			}
		}
		var e string
		if email.IsValid(i) {
			if e = email.Value(i); e != "" {
				add(kindEmail, e)
			}
		}
		// The email is most often the first of the emails too: the same id.
		r.listValues(emails, i, func(v string) {
			if v != e {
				add(kindEmail, v)
			}
		})
		r.listValues(tags, i, func(v string) { add(kindTag, v) })
		r.ends = append(r.ends, len(r.vals))
	}
}

// listValues calls fn with the non-empty values of list row i.
func (r *records) listValues(l *array.List, i int, fn func(string)) {
	if l.IsNull(i) {
		return
	}
	vals := l.ListValues().(*array.String)
	a, b := l.ValueOffsets(i)
	for j := int(a); j < int(b); j++ {
		if vals.IsValid(j) && vals.Value(j) != "" {
			fn(vals.Value(j))
		}
	}
}

// touch reads, for each of vals, where its look-up will go: the table
// entry its probe starts at, then the key that entry names (its offsets,
// then its bytes) and its count of holders. At millions of keys each is a
// cache miss; in these short loops of independent reads the processor
// overlaps them, where the look-ups themselves would wait for each in turn.
func (r *records) touch() {
	t := r.ids
	var sink uint32
	for _, v := range r.vals {
		sink ^= *t.probe(v.h)
	}
	for _, v := range r.vals {
		if e := *t.probe(v.h); e != 0 {
			id := e&idMask - 1
			sink ^= t.off[id+1]
			if int(id) < len(r.holders) {
				sink ^= uint32(r.holders[id])
			}
		}
	}
	for _, v := range r.vals {
		if e := *t.probe(v.h); e != 0 && e&^idMask == fingerprint(v.h) {
			sink ^= uint32(t.Key(int32(e&idMask - 1))[0])
		}
	}
	touched.Store(sink)
}

// Expect says about n more records are coming, when the caller has an
// estimate (a previous run's count, the sources' file sizes): the arrays
// and identifier table are grown once to hold them, rather than grown (and
// copied, and rehashed) again and again on their way there. An estimate
// that is off costs nothing but the difference: past it, they grow as
// records come.
func (r *Resolver) Expect(n int) {
	if n <= 0 {
		return
	}
	// Identifiers a record lists: as many as the records so far had, else
	// two and a half (an email, an external id, some other emails).
	ids := n + n + n/2
	if len(r.src) > 0 {
		ids = int(int64(len(r.idList)) * int64(n) / int64(len(r.src)))
		ids += ids / 8
	}
	r.src, r.check, r.upd = room(r.src, n), room(r.check, n), room(r.upd, n)
	r.fields, r.idOff, r.idList = room(r.fields, n), room(r.idOff, n), room(r.idList, ids)
	// About one distinct identifier per record (an email and an external
	// id per person, and two records per person).
	r.ids.expect(r.ids.Len() + n)
}

// room is s with room for n more elements, in an array of just that size
// when it must grow.
func room[S ~[]E, E any](s S, n int) S {
	if cap(s)-len(s) >= n {
		return s
	}
	return append(hugepage.Make[E](0, len(s)+n), s...)
}

// rowHasher hashes a row's source and source_id (check) over rows that
// most often have the source of the row before: that source's hash is kept.
type rowHasher struct {
	seed   maphash.Seed
	source string
	h      uint64
	ok     bool
}

func (x *rowHasher) hash(source, sourceID string) uint16 {
	if !x.ok || source != x.source {
		x.source, x.h, x.ok = source, maphash.String(x.seed, source), true
	}
	return uint16(maphash.String(x.seed, sourceID) + 31*x.h)
}

// Result is the clustering, and the survivorship state Annotate fills.
type Result struct {
	*records
	cfg     Config
	blocked map[string]bool
	stats   Stats
	prio    []int   // per source index: rank in resolve.source_priority
	person  []int32 // per record: person index
	flags   []uint8 // per id
	done    int     // rows annotated so far

	// Per person (index p); fields are at p*nFields+f.
	pid     []uuid.UUID // zero until Annotate for record-keyed persons
	created []int64
	updated []int64  // the latest of the person's records, or noTime
	srcMask []uint16 // bit s: the person has a record of sources[s]; nil beyond 16 sources
	// slot is the record whose value survives (by updated_at and priority),
	// and once Annotate has seen that record, the value: -(ref+2), where ref
	// is an id in ids for the email field, in values for the others. -1: none.
	slot []int32
	tie  []uint8 // bit f: records rank equal; the value is in ties
	// Per half of the persons (see half), which Survive gathers on two
	// goroutines: the ties, and the surviving field values, interned
	// (names and companies repeat).
	ties   [2]map[int]tied
	values [2]*interner
}

// tied is the leading contender of a tie on updated_at and priority.
type tied struct {
	sourceID string
	ref      int32
}

// Resolve clusters the records added so far. Call it once, after every Add.
func (r *Resolver) Resolve() *Result {
	n := len(r.src)
	res := &Result{records: r.records, cfg: r.cfg, blocked: r.blocked, stats: Stats{Records: int64(n), PersonsByVendors: map[int]int64{}},
		prio: priorities(r.sources, r.cfg.SourcePriority), values: [2]*interner{newInterner(), newInterner()}, ties: [2]map[int]tied{{}, {}}}
	// The per-record arrays are trimmed (trimRecords) beside the clustering,
	// which reads none of them until its last step: at 10 million records
	// copying them took half a second of one core.
	var trimmed sync.WaitGroup
	trimmed.Go(r.trimRecords)
	res.flagIdentifiers()
	r.ids.Freeze()
	r.trimIDs()

	parent := hugepage.Make[int32](n, n)
	for i := range parent {
		parent[i] = int32(i)
	}
	ext := hugepage.Make[int32](n, n) // per root: its usable external id, or -1
	for i := range ext {
		ext[i] = -1
	}
	union := func(a, b int32) int32 {
		a, b = find(parent, a), find(parent, b)
		if a != b {
			parent[b] = a
			if ext[a] < 0 {
				ext[a] = ext[b]
			}
		}
		return a
	}

	// Usable emails, and the holders of each in CSR form (filled in the
	// pass of rule 3, which reads each record's ids anyway).
	var emails []int32
	hOff := hugepage.Make[uint32](r.ids.Len()+1, r.ids.Len()+1)
	for id := range r.holders {
		if r.kind(int32(id)) == kindEmail && res.flags[id] == 0 {
			emails = append(emails, int32(id))
			hOff[id+1] = uint32(r.holders[id])
		}
	}
	for id := range r.holders {
		hOff[id+1] += hOff[id]
	}
	hList := hugepage.Make[int32](int(hOff[len(hOff)-1]), int(hOff[len(hOff)-1]))
	// Per email: where its next holder goes; per external id: its first
	// holder, or none.
	fill := slices.Clone(hOff[:len(hOff)-1])
	const none = math.MaxUint32
	for id := range fill {
		if r.kind(int32(id)) == kindExt {
			fill[id] = none
		}
	}

	// Rule 3, first: records sharing a usable external id are one person.
	for i := int32(0); i < int32(n); i++ {
		for _, id := range r.idList[r.idOff[i]:r.idOff[i+1]] {
			if res.flags[id] != 0 {
				continue
			}
			switch r.kind(id) {
			case kindEmail:
				hList[fill[id]] = i
				fill[id]++
			case kindExt:
				ext[i] = id
				if fill[id] == none {
					fill[id] = uint32(i)
				} else {
					union(int32(fill[id]), i)
				}
			}
		}
	}
	fill = nil

	// Then usable emails in ascending order (see emailsInOrder).
	res.emailsInOrder(parent, ext, emails, func(e int32) []int32 { return hList[hOff[e]:hOff[e+1]] }, union)
	hOff, hList, emails, r.holders = nil, nil, nil, nil

	// Number the persons; parent becomes record → person.
	for i := range parent {
		parent[i] = find(parent, int32(i))
	}
	num := hugepage.Make[int32](n, n)
	var persons int32
	for i, p := range parent {
		if p == int32(i) {
			num[i] = persons
			persons++
		}
	}
	res.initPersons(int(persons))
	pext := hugepage.Make[int32](int(persons), int(persons))
	for i, root := range parent {
		p := num[root]
		parent[i] = p
		pext[p] = ext[root]
	}
	res.person, num, ext = parent, nil, nil

	trimmed.Wait()
	// Three passes over the records that write apart: on both cores.
	var wg sync.WaitGroup
	wg.Go(res.survivors)
	wg.Go(func() { res.countVendors(int(persons)) })
	res.personIDs(pext)
	wg.Wait()
	res.stats.Persons = int64(persons)
	return res
}

// emailsInOrder applies rule 3's emails to parent and ext (the records'
// persons after the external ids, and per root its external id): in
// ascending order, an email whose holders belong, at that point, to persons
// with two or more external ids links nothing (it is flagged shared and
// counted); otherwise its holders become one person.
//
// The order only matters within the records the emails connect into a
// group holding two or more external ids. Elsewhere no email can ever be
// shared, in any order (every person there lies within a group with at
// most one external id), so each such group is one person whatever the
// order. So the groups are found first, every email joining its holders';
// those with at most one external id become persons at once, and only the
// emails of the others are sorted and applied in order, apart from the
// rest (no email reaches from one group into another). Sorting every email
// by its text, millions of them, was a third of the clustering; files
// without shared mailboxes now sort none.
func (res *Result) emailsInOrder(parent, ext, emails []int32, holders func(int32) []int32, union func(a, b int32) int32) {
	n := len(parent)
	group := hugepage.Make[int32](n, n)
	copy(group, parent)
	for _, e := range emails {
		hs := holders(e)
		a := find(group, hs[0])
		for _, h := range hs[1:] {
			if b := find(group, h); b != a {
				group[b] = a
			}
		}
	}
	// Each group's external id: -1 for none, -2 for two or more.
	gext := hugepage.Make[int32](n, n)
	for i := range gext {
		gext[i] = -1
	}
	for i, x := range ext { // a record's own usable external id, or its rule-3 person's
		if x < 0 {
			continue
		}
		switch g := find(group, int32(i)); gext[g] {
		case -1:
			gext[g] = x
		case x, -2:
		default:
			gext[g] = -2
		}
	}
	var inConflict []uint64 // bit i: record i is in a group with two or more
	for i := range n {
		g := find(group, int32(i))
		if gext[g] == -2 {
			if inConflict == nil {
				inConflict = make([]uint64, (n+63)/64)
			}
			inConflict[i/64] |= 1 << (i % 64)
			continue
		}
		parent[i] = g
		if int32(i) == g {
			ext[i] = gext[g]
		}
	}
	if inConflict == nil {
		return
	}
	group, gext = nil, nil
	var ordered []int32
	for _, e := range emails {
		if h := holders(e)[0]; inConflict[h/64]&(1<<(h%64)) != 0 {
			ordered = append(ordered, e)
		}
	}
	sortByKey(res.ids, ordered)
	for _, e := range ordered {
		hs := holders(e)
		x := int32(-1)
		isShared := false
		for _, h := range hs {
			if y := ext[find(parent, h)]; y >= 0 {
				if x >= 0 && y != x {
					isShared = true
					break
				}
				x = y
			}
		}
		if isShared {
			res.flags[e] |= flagShared
			res.stats.ConflictsSkipped++
			continue
		}
		for _, h := range hs[1:] {
			union(hs[0], h)
		}
	}
}

// countVendors fills PersonsByVendors, and with up to 16 sources keeps
// each person's sources as a mask, which People reads rather than the
// source of each record (scattered over the input).
func (res *Result) countVendors(persons int) {
	if len(res.sources) <= 16 {
		res.srcMask = hugepage.Make[uint16](persons, persons)
		for i, p := range res.person {
			res.srcMask[p] |= 1 << res.src[i]
		}
		for _, m := range res.srcMask {
			res.stats.PersonsByVendors[bits.OnesCount16(m)]++
		}
		return
	}
	w := (len(res.sources) + 63) / 64
	set := hugepage.Make[uint64](persons*w, persons*w)
	for i, p := range res.person {
		s := int(res.src[i])
		set[int(p)*w+s/64] |= 1 << (s % 64)
	}
	for p := range persons {
		c := 0
		for _, word := range set[p*w : (p+1)*w] {
			c += bits.OnesCount64(word)
		}
		res.stats.PersonsByVendors[c]++
	}
}

func find(parent []int32, i int32) int32 {
	for parent[i] != i {
		parent[i] = parent[parent[i]]
		i = parent[i]
	}
	return i
}

func (r *records) kind(id int32) byte { return r.ids.Kind(id) }

// flagIdentifiers applies rules 1 and 2: blocked values, then values held by
// more records than the limit. Each distinct value is counted once.
func (res *Result) flagIdentifiers() {
	res.flags = hugepage.Make[uint8](res.ids.Len(), res.ids.Len())
	for id := range res.flags {
		kind := res.ids.Kind(int32(id))
		if kind == kindTag {
			continue
		}
		var v []byte
		if len(res.blocked) > 0 || kind == kindExt {
			v = res.ids.Key(int32(id))[1:]
		}
		switch {
		case len(res.blocked) > 0 && res.blocked[strings.ToLower(string(v))] || kind == kindExt && blockedExt(v):
			res.flags[id] = flagBlocked
			res.stats.BlockedValues++
		case int(res.holders[id]) > res.cfg.MaxRecordsPerIdentifier:
			res.flags[id] = flagOver
			res.stats.OverLimit++
		}
	}
}

// trimRecords and trimIDs give the arrays that stay until the end of the
// run their exact size: grown by half as records came, they hold up to a
// third unused. trimRecords trims the arrays per record but the
// identifiers, which clustering does not read before numbering the persons.
func (r *records) trimRecords() {
	r.src, r.upd, r.fields, r.check = exact(r.src), exact(r.upd), exact(r.fields), exact(r.check)
}

// trimIDs trims the identifiers, of the records and interned.
func (r *records) trimIDs() {
	r.vals, r.ends = nil, nil
	r.idOff, r.idList = exact(r.idOff), exact(r.idList)
	r.ids.off, r.ids.kinds = exact(r.ids.off), exact(r.ids.kinds)
}

// exact is s in an array of its length.
func exact[S ~[]E, E any](s S) S {
	if len(s) == cap(s) {
		return s
	}
	return append(hugepage.Make[E](0, len(s)), s...)
}

func (res *Result) initPersons(n int) {
	res.pid = hugepage.Make[uuid.UUID](n, n)
	res.created = hugepage.Make[int64](n, n)
	res.updated = hugepage.Make[int64](n, n)
	for p := range n {
		res.created[p] = math.MaxInt64
		res.updated[p] = noTime
	}
	res.slot = hugepage.Make[int32](n*nFields, n*nFields)
	for i := range res.slot {
		res.slot[i] = -1
	}
	res.tie = hugepage.Make[uint8](n, n)
	// Each half's surviving values: at least a phone or a name for most
	// persons, so the tables are sized for them at once, not grown there.
	for _, v := range res.values {
		v.expect(n / 2)
	}
}

// survivors picks, per person and field, the record with the latest
// updated_at, then the best source priority (rule 5). Records equal on both
// come from one source; Annotate breaks that tie on source_id, which is not
// kept here.
func (res *Result) survivors() {
	for i, p := range res.person {
		res.updated[p] = max(res.updated[p], res.upd[i])
		for f := range nFields {
			if res.fields[i]&(1<<f) == 0 {
				continue
			}
			k := int(p)*nFields + f
			cur := res.slot[k]
			switch c := res.rank(int32(i), cur); {
			case cur < 0 || c > 0:
				res.slot[k] = int32(i)
				res.tie[p] &^= 1 << f
			case c == 0:
				res.tie[p] |= 1 << f
			}
		}
	}
}

// rank compares records a and b (b may be -1, which a beats) by updated_at
// and source priority: +1 when a wins.
func (res *Result) rank(a, b int32) int {
	if b < 0 {
		return 1
	}
	if res.upd[a] != res.upd[b] {
		if res.upd[a] > res.upd[b] {
			return 1
		}
		return -1
	}
	pa, pb := res.prio[res.src[a]], res.prio[res.src[b]]
	if pa != pb {
		if pa < pb {
			return 1
		}
		return -1
	}
	return 0
}

// personIDs applies rule 4 for persons with a usable external id or email;
// the rest are single records, keyed by source and source_id in Annotate.
func (res *Result) personIDs(ext []int32) {
	best := hugepage.Make[int32](len(res.pid), len(res.pid)) // smallest usable, unshared email
	for i := range best {
		best[i] = -1
	}
	for i, p := range res.person {
		for _, id := range res.idList[res.idOff[i]:res.idOff[i+1]] {
			if res.kind(id) != kindEmail || res.flags[id] != 0 {
				continue
			}
			if b := best[p]; b < 0 || bytes.Compare(res.ids.Key(id), res.ids.Key(b)) < 0 {
				best[p] = id
			}
		}
	}
	// SHA-1 per person: on both cores.
	halves(len(res.pid), func(from, to int) {
		for p := from; p < to; p++ {
			switch {
			case ext[p] >= 0:
				res.pid[p] = personID("external_id:", res.ids.Key(ext[p])[1:])
			case best[p] >= 0:
				res.pid[p] = personID("email:", res.ids.Key(best[p])[1:])
			}
		}
	})
}

// halves calls fn with [0, n/2) and [n/2, n) on two goroutines at once (one
// when n is small), and returns when both are done.
func halves(n int, fn func(from, to int)) {
	if n < 1<<14 {
		fn(0, n)
		return
	}
	var wg sync.WaitGroup
	wg.Go(func() { fn(0, n/2) })
	fn(n/2, n)
	wg.Wait()
}

// personID is uuid.NewSHA1(Namespace, prefix+v) (RFC 9562's version 5),
// without its allocations (a hash, the name, the sum): the name is put
// after the namespace in a buffer on the stack when it fits, and summed at
// once. Millions of persons each get one.
func personID(prefix string, v []byte) uuid.UUID {
	var buf [256]byte
	name := append(append(append(buf[:0], Namespace[:]...), prefix...), v...)
	sum := sha1.Sum(name)
	var id uuid.UUID
	copy(id[:], sum[:])
	id[6] = id[6]&0x0f | 0x50 // version 5
	id[8] = id[8]&0x3f | 0x80 // RFC 4122 variant
	return id
}

// Stats of the clustering.
func (res *Result) Stats() Stats { return res.stats }

// priorities ranks listed sources first, in order, then the rest by name.
func priorities(sources, list []string) []int {
	idx := map[string]int{}
	for i, s := range list {
		if _, dup := idx[s]; !dup {
			idx[s] = i
		}
	}
	var unlisted []string
	for _, s := range sources {
		if _, ok := idx[s]; !ok {
			unlisted = append(unlisted, s)
		}
	}
	slices.Sort(unlisted)
	for i, s := range unlisted {
		idx[s] = len(list) + i
	}
	out := make([]int, len(sources))
	for i, s := range sources {
		out[i] = idx[s]
	}
	return out
}

// sortByKey sorts ids by their keys' bytes. Each is compared by a window
// of 8 of its key's bytes as a number (held beside it): first bytes 0-7;
// the items a window leaves equal are then given their next 8 bytes, and
// so on. A key is read once per window it needs, not at each comparison:
// at millions of keys, scattered in the arena, each read is a cache miss.
func sortByKey(t *interner, ids []int32) {
	items := make([]keyItem, len(ids))
	for i, id := range ids {
		items[i] = keyItem{window(t.Key(id), 0), id}
	}
	// On both cores: the items below a pivot window (the median of a
	// sample) all sort before the others, so each side is sorted apart.
	lo := items
	var hi []keyItem
	if len(items) >= 1<<14 {
		sample := make([]uint64, 0, 63)
		for i := range cap(sample) {
			sample = append(sample, items[i*(len(items)/cap(sample))].w)
		}
		slices.Sort(sample)
		pivot := sample[len(sample)/2]
		j := 0
		for i := range items {
			if items[i].w < pivot {
				items[i], items[j] = items[j], items[i]
				j++
			}
		}
		lo, hi = items[:j], items[j:]
	}
	var wg sync.WaitGroup
	wg.Go(func() { sortKeys(t, hi, 0) })
	sortKeys(t, lo, 0)
	wg.Wait()
	for i, it := range items {
		ids[i] = it.id
	}
}

type keyItem struct {
	w  uint64 // key bytes [off, off+8), big-endian, zero-padded
	id int32
}

// window is key's bytes [off, off+8) as a big-endian number, zero-padded.
func window(key []byte, off int) uint64 {
	var b [8]byte
	if off < len(key) {
		copy(b[:], key[off:])
	}
	return binary.BigEndian.Uint64(b[:])
}

// sortKeys sorts items whose keys share their first off bytes and whose w
// is their window at off.
func sortKeys(t *interner, items []keyItem, off int) {
	slices.SortFunc(items, func(a, b keyItem) int { return cmp.Compare(a.w, b.w) })
	for i := 0; i < len(items); {
		j := i + 1
		for j < len(items) && items[j].w == items[i].w {
			j++
		}
		if run := items[i:j]; len(run) > 1 {
			// Equal windows are equal bytes unless a key ends within it
			// (zeros pad it): such runs, and short ones, compare keys whole.
			whole := len(run) <= 8
			for k := 0; k < len(run) && !whole; k++ {
				whole = len(t.Key(run[k].id)) <= off+8
			}
			if whole {
				slices.SortFunc(run, func(a, b keyItem) int { return bytes.Compare(t.Key(a.id), t.Key(b.id)) })
			} else {
				for k := range run {
					run[k].w = window(t.Key(run[k].id), off+8)
				}
				sortKeys(t, run, off+8)
			}
		}
		i = j
	}
}
