package normalise

import (
	"strconv"
	"strings"
	"sync"

	"github.com/nyaruka/phonenumbers"
)

// Phone returns the E.164 form of raw when phonenumbers finds a valid number:
// "+" numbers need no region, national and "00" numbers need region.
//
// It answers exactly what phonenumbers.Parse, IsValidNumber and Format(E164)
// answer (phone_test.go proves it on every region's example numbers, the
// generated people and a fuzz target), but decides the common forms itself:
// "+" and digits, or national digits without a prefix to strip, spaced by
// " -.()". For those, phonenumbers' steps reduce to picking the country
// code and matching the metadata's digit patterns, which digitDFA matches
// without the regexp engine. Anything else goes to phonenumbers.
func Phone(raw, region string) (string, bool) {
	raw = strings.TrimSpace(raw)
	if raw == "" {
		return "", false
	}
	r := strings.ToUpper(region)
	if strings.HasPrefix(raw, "+") {
		r = ""
	} else if r == "" {
		return "", false
	}
	if e164, valid, decided := fastPhone(raw, r); decided {
		return e164, valid
	}
	return slowPhone(raw, r)
}

// slowPhone is phonenumbers itself.
func slowPhone(raw, region string) (string, bool) {
	num, err := phonenumbers.Parse(raw, region)
	if err != nil || !phonenumbers.IsValidNumber(num) {
		return "", false
	}
	return phonenumbers.Format(num, phonenumbers.E164), true
}

// phoneCache remembers the answers phonenumbers itself gave for one source
// (one region): the forms the fast path leaves to it cost ~10 µs each, and
// the same people come back in every vendor and every run. The fast path's
// own answers cost less than a lookup, so they are not kept.
type phoneCache struct {
	region string
	m      map[string]phoneAnswer
}

type phoneAnswer struct {
	e164  string
	valid bool
}

// maxPhoneCache bounds a cache; it starts over when full.
const maxPhoneCache = 1 << 16

// phone is Phone(raw, region) for raw trimmed.
func (c *phoneCache) phone(raw string) (string, bool) {
	r := strings.ToUpper(c.region)
	if strings.HasPrefix(raw, "+") {
		r = ""
	} else if r == "" {
		return "", false
	}
	if raw == "" {
		return "", false
	}
	if e164, valid, decided := fastPhone(raw, r); decided {
		return e164, valid
	}
	if a, ok := c.m[raw]; ok {
		return a.e164, a.valid
	}
	e, ok := slowPhone(raw, r)
	if c.m == nil || len(c.m) >= maxPhoneCache {
		c.m = make(map[string]phoneAnswer, 1024)
	}
	c.m[strings.Clone(raw)] = phoneAnswer{e, ok} // raw may hold a whole record's memory
	return e, ok
}

// The limits phonenumbers parses with.
const (
	maxInputLength = 250 // MAX_INPUT_STRING_LENGTH
	minNSNLength   = 2   // MIN_LENGTH_FOR_NSN
	maxNSNLength   = 17  // MAX_LENGTH_FOR_NSN
)

// fastPhone answers for raw (trimmed, non-empty) with region ("" for a "+"
// number, else an upper-case region code) when it is of a form it can
// decide exactly; decided is false otherwise. Each step names the
// phonenumbers step it stands for.
func fastPhone(raw, region string) (e164 string, valid, decided bool) {
	if len(raw) > maxInputLength {
		return "", false, false
	}
	plus := raw[0] == '+'
	from := 0
	if plus {
		from = 1
	}
	// Digits and the punctuation that normalize drops, which neither the
	// extension patterns nor the second-number pattern can take part in.
	var buf [maxInputLength]byte
	digits := buf[:0]
	for i := from; i < len(raw); i++ {
		switch c := raw[i]; {
		case c >= '0' && c <= '9':
			digits = append(digits, c)
		case c == ' ' || c == '-' || c == '.' || c == '(' || c == ')':
		default:
			return "", false, false
		}
	}
	if len(digits) < 3 {
		return "", false, false // viability and short-number rules: left to phonenumbers
	}
	d := raw[from:] // no copy when raw is digits alone
	if len(d) != len(digits) {
		d = string(digits)
	}
	if plus {
		// maybeExtractCountryCode: the digits after "+" start with a
		// country code (1 to 3 digits, never 0), else the number is invalid.
		if d[0] == '0' {
			return "", false, true
		}
		cc, n := 0, 0
		var known *lazyCC
		for i, c := 0, 0; i < 3 && i < len(d); i++ {
			c = c*10 + int(d[i]-'0')
			if known = knownCC(c); known != nil {
				cc, n = c, i+1
				break
			}
		}
		if cc == 0 {
			return "", false, true
		}
		nsn := d[n:]
		rules := known.get()
		if rules.unsupported {
			return "", false, false
		}
		e := raw
		if len(raw) != 1+len(d) {
			e = "+" + d
		}
		return rules.finish(nsn, e)
	}
	rr := regionRules(region)
	if rr == nil || rr.unsupported {
		return "", false, false // not a region phonenumbers knows: its error
	}
	// An international prefix (00, 011…) or the region's own country code
	// in front, or a national prefix to strip: phonenumbers' transforms.
	if rr.idd != nil && rr.idd.prefix(d) || strings.HasPrefix(d, rr.ccStr) {
		return "", false, false
	}
	rules := countryRules(rr.cc)
	if rules == nil || rules.unsupported {
		return "", false, false
	}
	if rr.natPrefix != nil && rr.natPrefix.prefix(d) {
		return "", false, false
	}
	if len(d) > maxNSNLength {
		return "", false, true
	}
	if !rules.valid(d) {
		return "", false, true
	}
	return "+" + rules.ccStr + d, true, true
}

// finish is parseHelper's end for a "+" number whose national significant
// number is nsn, then IsValidNumber.
func (c *ccRules) finish(nsn, e164 string) (string, bool, bool) {
	if len(nsn) < minNSNLength {
		return "", false, true
	}
	// maybeStripNationalPrefixAndCarrierCode with the metadata of the
	// country code's main region: left to phonenumbers when its prefix
	// pattern matches.
	if m := c.parsing; m != nil && m.natPrefix != nil && m.natPrefix.prefix(nsn) {
		return "", false, false
	}
	if len(nsn) > maxNSNLength {
		return "", false, true
	}
	if !c.valid(nsn) {
		return "", false, true
	}
	return e164, true, true // "+", country code and nsn: the input's digits
}

// valid is IsValidNumber for nsn under this country code.
func (c *ccRules) valid(nsn string) bool {
	// GetRegionCodeForNumber: the only region, or the first whose leading
	// digits match (or, without leading digits, whose patterns do).
	var md *regionPatterns
	if len(c.regions) == 1 {
		md = c.regions[0]
	} else {
		for _, r := range c.regions {
			if r.leading != nil {
				if r.leading.prefix(nsn) {
					md = r
					break
				}
			} else if r.hasType(nsn) {
				md = r
				break
			}
		}
	}
	return md != nil && md.sameCC && md.hasType(nsn)
}

// regionPatterns are one metadata entry's patterns, as digit automata.
type regionPatterns struct {
	id        string
	cc        int
	ccStr     string
	sameCC    bool // the entry's country code is the one it is listed under
	general   descPattern
	types     []descPattern // premium rate … voicemail, then fixed line
	mobile    descPattern
	sameMF    bool // same mobile and fixed line pattern
	leading   *digitDFA
	natPrefix *digitDFA // national prefix for parsing, anchored at the start
	idd       *digitDFA // international prefix, anchored at the start

	unsupported bool // a pattern no digitDFA can hold: phonenumbers decides
}

type descPattern struct {
	lengths []int32
	dfa     *digitDFA
}

// match is isNumberMatchingDesc.
func (p descPattern) match(nsn string) bool {
	if len(p.lengths) > 0 {
		found := false
		for _, l := range p.lengths {
			found = found || int(l) == len(nsn)
		}
		if !found {
			return false
		}
	}
	return p.dfa.full(nsn)
}

// hasType is getNumberTypeHelper(nsn) != UNKNOWN.
func (r *regionPatterns) hasType(nsn string) bool {
	if !r.general.match(nsn) {
		return false
	}
	for _, t := range r.types {
		if t.match(nsn) {
			return true
		}
	}
	return !r.sameMF && r.mobile.match(nsn)
}

// ccRules are a country calling code's regions, in phonenumbers' order.
type ccRules struct {
	cc          int
	ccStr       string
	regions     []*regionPatterns
	parsing     *regionPatterns // the main region's (or non-geographic) entry
	unsupported bool
}

// phoneRules are the metadata's entries, each compiled into digit automata
// the first time a number needs it: a run sees a few countries, and
// compiling every entry cost ~0.1 s of CPU at its first phone.
var phoneRules struct {
	once sync.Once
	byCC [1000]*lazyCC // by country calling code (1 to 3 digits)
	byID map[string]*lazyRegion
}

// lazyRegion is one metadata entry, compiled once, when first asked for.
type lazyRegion struct {
	once sync.Once
	md   *phonenumbers.PhoneMetadata
	p    *regionPatterns
}

func (l *lazyRegion) get() *regionPatterns {
	l.once.Do(func() { l.p = compileRegion(l.md) })
	return l.p
}

// lazyCC is a country calling code's rules, made once, when first asked for.
type lazyCC struct {
	once    sync.Once
	cc      int
	regions []*lazyRegion // nil for an id without metadata
	rules   *ccRules
}

func (l *lazyCC) get() *ccRules {
	l.once.Do(func() {
		c := &ccRules{cc: l.cc, ccStr: strconv.Itoa(l.cc)}
		ids := phonenumbers.GetRegionCodesForCountryCode(l.cc)
		for i := range ids {
			if l.regions[i] == nil {
				c.unsupported = true
				break
			}
			p := l.regions[i].get()
			c.unsupported = c.unsupported || p.unsupported
			c.regions = append(c.regions, p)
		}
		if len(c.regions) > 0 {
			c.parsing = c.regions[0]
		}
		if len(c.regions) > 1 && c.regions[0].id == "001" {
			c.unsupported = true // phonenumbers would look up "001" as a region
		}
		l.rules = c
	})
	return l.rules
}

// countryRules are a country calling code's rules; nil when phonenumbers
// has no metadata for it.
func countryRules(cc int) *ccRules {
	if l := knownCC(cc); l != nil {
		return l.get()
	}
	return nil
}

// knownCC is cc's entry, not compiled, when phonenumbers knows cc.
func knownCC(cc int) *lazyCC {
	loadPhoneRules()
	if cc < 0 || cc >= len(phoneRules.byCC) {
		return nil
	}
	return phoneRules.byCC[cc]
}

// regionRules are a region's patterns, when phonenumbers knows the region.
func regionRules(region string) *regionPatterns {
	loadPhoneRules()
	if !phonenumbers.GetSupportedRegions()[region] {
		return nil
	}
	if l := phoneRules.byID[region]; l != nil {
		return l.get()
	}
	return nil
}

// loadPhoneRules lists the metadata's entries once, compiling none.
func loadPhoneRules() {
	phoneRules.once.Do(func() {
		phoneRules.byID = map[string]*lazyRegion{}
		coll, err := phonenumbers.MetadataCollection()
		if err != nil {
			return // every number goes to phonenumbers
		}
		nonGeo := map[int]*lazyRegion{}
		for _, md := range coll.GetMetadata() {
			l := &lazyRegion{md: md}
			if md.GetId() == "001" {
				nonGeo[int(md.GetCountryCode())] = l
			} else {
				phoneRules.byID[md.GetId()] = l
			}
		}
		for cc := range phonenumbers.GetSupportedCallingCodes() {
			if cc < 0 || cc >= len(phoneRules.byCC) {
				continue // not a calling code fastPhone reads: phonenumbers decides
			}
			l := &lazyCC{cc: cc}
			for _, id := range phonenumbers.GetRegionCodesForCountryCode(cc) {
				if id == "001" {
					l.regions = append(l.regions, nonGeo[cc])
				} else {
					l.regions = append(l.regions, phoneRules.byID[id])
				}
			}
			phoneRules.byCC[cc] = l
		}
	})
}

func compileRegion(md *phonenumbers.PhoneMetadata) *regionPatterns {
	p := &regionPatterns{id: md.GetId(), cc: int(md.GetCountryCode()), sameMF: md.GetSameMobileAndFixedLinePattern()}
	p.ccStr = strconv.Itoa(p.cc)
	if p.id == "001" {
		p.sameCC = true
	} else {
		p.sameCC = phonenumbers.GetCountryCodeForRegion(p.id) == p.cc
	}
	full := func(d *phonenumbers.PhoneNumberDesc) descPattern {
		if d == nil { // phonenumbers would fail on it
			p.unsupported = true
			return descPattern{}
		}
		dfa, err := compileDigits("^(?:" + d.GetNationalNumberPattern() + ")$")
		if err != nil {
			p.unsupported = true
		}
		return descPattern{lengths: d.PossibleLength, dfa: dfa}
	}
	prefix := func(pattern string) *digitDFA {
		dfa, err := compileDigits("^(?:" + pattern + ")")
		if err != nil {
			p.unsupported = true
		}
		return dfa
	}
	p.general = full(md.GetGeneralDesc())
	for _, d := range []*phonenumbers.PhoneNumberDesc{md.GetPremiumRate(), md.GetTollFree(), md.GetSharedCost(),
		md.GetVoip(), md.GetPersonalNumber(), md.GetPager(), md.GetUan(), md.GetVoicemail(), md.GetFixedLine()} {
		p.types = append(p.types, full(d))
	}
	p.mobile = full(md.GetMobile())
	if ld := md.GetLeadingDigits(); ld != "" {
		p.leading = prefix(ld)
	}
	if np := md.GetNationalPrefixForParsing(); np != "" {
		p.natPrefix = prefix(np)
	}
	// parsePrefixAsIdd searches unanchored and needs the match at 0: some
	// prefix matches. An empty prefix pattern matches at once.
	p.idd = prefix(md.GetInternationalPrefix())
	return p
}
