// Package jsonscan reads a vendor record's JSON in one validating pass and
// writes custom fields as canonical JSON: keys sorted at every depth, as
// encoding/json encodes a map[string]any without HTML escaping. The
// extractors decode records with it (values come out as substrings of the
// record, nothing is decoded twice); normalisation adds raw values to the
// canonical text with it.
//
// It accepts exactly the JSON that encoding/json accepts and decodes
// strings and numbers as encoding/json does, but it is not a general
// decoder: a caller that meets anything it does not handle itself (an
// unusual form, a syntax error) gives up on the record and lets
// encoding/json decode it, and word the error. So the scanner only has to
// be right about what it accepts, which its tests and the extractors'
// differential fuzz targets check against encoding/json.
package jsonscan

import (
	"math"
	"slices"
	"strconv"
	"strings"
	"unicode/utf16"
	"unicode/utf8"
)

// MaxDepth is the deepest nesting the scanner reads; deeper records are left
// to encoding/json (which allows 10,000 and names the error beyond).
const MaxDepth = 1000

// Scanner reads one JSON text held in a string. Once it meets something it
// does not accept, every method fails and Ok reports false.
type Scanner struct {
	s   string
	i   int
	bad bool
	// Work space of Canonical, by depth: each object's members while they
	// are sorted.
	levels []level
}

type level struct {
	b []byte
	m []member
}

type member struct {
	key        string
	start, end int // the value's canonical text in level.b
}

// Reset starts reading s.
func (sc *Scanner) Reset(s string) {
	sc.s, sc.i, sc.bad = s, 0, false
}

// ResetAt starts reading s at offset i: a value inside a larger text (a
// record in its page), which Offset then tells the end of.
func (sc *Scanner) ResetAt(s string, i int) {
	sc.s, sc.i, sc.bad = s, i, false
}

// Offset is how far into the text the scanner has read.
func (sc *Scanner) Offset() int { return sc.i }

// Seek moves the scanner to offset i of its text, where a value read by
// another scanner (ResetAt) ended.
func (sc *Scanner) Seek(i int) { sc.i = i }

// Ok reports whether everything read so far was accepted.
func (sc *Scanner) Ok() bool { return !sc.bad }

func (sc *Scanner) ws() {
	for sc.i < len(sc.s) {
		switch sc.s[sc.i] {
		case ' ', '\t', '\n', '\r':
			sc.i++
		default:
			return
		}
	}
}

// Peek returns the first byte of the next value ('{', '[', '"', 't', 'f',
// 'n', or a number's first byte); 0 at the end or after a failure.
func (sc *Scanner) Peek() byte {
	sc.ws()
	if sc.bad || sc.i >= len(sc.s) {
		return 0
	}
	return sc.s[sc.i]
}

// End reports whether only whitespace is left, and everything was accepted.
func (sc *Scanner) End() bool {
	sc.ws()
	if sc.i != len(sc.s) {
		sc.bad = true
	}
	return !sc.bad
}

// Object starts reading an object; Member then returns its keys in turn.
func (sc *Scanner) Object() bool {
	if sc.Peek() != '{' {
		sc.bad = true
		return false
	}
	sc.i++
	return true
}

// Member reads the next key of the object being read and its colon; ok is
// false at the object's end (its brace read) or on failure. plain is false
// when the key held escapes (key is then the decoded string).
func (sc *Scanner) Member(first bool) (key string, plain, ok bool) {
	sc.ws()
	if sc.bad || sc.i >= len(sc.s) {
		sc.bad = true
		return "", false, false
	}
	c := sc.s[sc.i]
	switch {
	case c == '}' && first:
		sc.i++
		return "", false, false
	case first:
	case c == '}':
		sc.i++
		return "", false, false
	case c == ',':
		sc.i++
		sc.ws()
	default:
		sc.bad = true
		return "", false, false
	}
	key, plain, _ = sc.str()
	sc.ws()
	if sc.bad || sc.i >= len(sc.s) || sc.s[sc.i] != ':' {
		sc.bad = true
		return "", false, false
	}
	sc.i++
	return key, plain, true
}

// Array starts reading an array; Element then reports each element's start.
func (sc *Scanner) Array() bool {
	if sc.Peek() != '[' {
		sc.bad = true
		return false
	}
	sc.i++
	return true
}

// Element reports whether another element follows (reading its comma); at
// the array's end it reads the bracket and reports false.
func (sc *Scanner) Element(first bool) bool {
	sc.ws()
	if sc.bad || sc.i >= len(sc.s) {
		sc.bad = true
		return false
	}
	switch c := sc.s[sc.i]; {
	case c == ']':
		sc.i++
		return false
	case first:
		return true
	case c == ',':
		sc.i++
		return true
	}
	sc.bad = true
	return false
}

// plainByte marks the bytes a string holds as they are: printable ASCII but the
// quote and backslash.
var plainByte = func() (t [256]bool) {
	for c := 0x20; c < utf8.RuneSelf; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

// str reads a string at sc.i (after whitespace): its decoded value, whether
// it had no escapes (value is then a substring of the text), and whether it
// is safe (plain, printable ASCII only: its quoted text is also its
// canonical encoding).
func (sc *Scanner) str() (value string, plain, safe bool) {
	if sc.bad || sc.i >= len(sc.s) || sc.s[sc.i] != '"' {
		sc.bad = true
		return "", false, false
	}
	s := sc.s
	start := sc.i + 1
	j := start
	for j+4 <= len(s) && plainByte[s[j]] && plainByte[s[j+1]] && plainByte[s[j+2]] && plainByte[s[j+3]] {
		j += 4
	}
	for j < len(s) && plainByte[s[j]] {
		j++
	}
	if j < len(s) && s[j] == '"' {
		sc.i = j + 1
		return s[start:j], true, true
	}
	// Non-ASCII, escapes or control characters: the careful way.
	for j < len(s) {
		c := s[j]
		switch {
		case c == '"':
			sc.i = j + 1
			return s[start:j], true, false
		case c == '\\':
			return sc.unquote(start)
		case c < 0x20:
			sc.bad = true
			return "", false, false
		case c < utf8.RuneSelf:
			j++
		default:
			r, n := utf8.DecodeRuneInString(s[j:])
			if r == utf8.RuneError && n == 1 {
				return sc.unquote(start) // coerced to U+FFFD, as encoding/json does
			}
			j += n
		}
	}
	sc.bad = true
	return "", false, false
}

// unquote decodes the string whose content starts at start, as
// encoding/json does (escapes, surrogate pairs, invalid UTF-8 as U+FFFD).
func (sc *Scanner) unquote(start int) (string, bool, bool) {
	s := sc.s
	b := make([]byte, 0, len(s)-start)
	for r := start; r < len(s); {
		switch c := s[r]; {
		case c == '"':
			sc.i = r + 1
			return string(b), false, false
		case c == '\\':
			if r+1 >= len(s) {
				sc.bad = true
				return "", false, false
			}
			switch s[r+1] {
			case '"', '\\', '/':
				b = append(b, s[r+1])
				r += 2
			case 'b':
				b, r = append(b, '\b'), r+2
			case 'f':
				b, r = append(b, '\f'), r+2
			case 'n':
				b, r = append(b, '\n'), r+2
			case 'r':
				b, r = append(b, '\r'), r+2
			case 't':
				b, r = append(b, '\t'), r+2
			case 'u':
				rr := getu4(s[r:])
				if rr < 0 {
					sc.bad = true
					return "", false, false
				}
				r += 6
				if utf16.IsSurrogate(rr) {
					if rr1 := getu4(s[r:]); rr1 >= 0 {
						if dec := utf16.DecodeRune(rr, rr1); dec != utf8.RuneError {
							r += 6
							b = utf8.AppendRune(b, dec)
							break
						}
					}
					rr = utf8.RuneError
				}
				b = utf8.AppendRune(b, rr)
			default:
				sc.bad = true
				return "", false, false
			}
		case c < 0x20:
			sc.bad = true
			return "", false, false
		case c < utf8.RuneSelf:
			b = append(b, c)
			r++
		default:
			rr, n := utf8.DecodeRuneInString(s[r:])
			b = utf8.AppendRune(b, rr)
			r += n
		}
	}
	sc.bad = true
	return "", false, false
}

func getu4(s string) rune {
	if len(s) < 6 || s[0] != '\\' || s[1] != 'u' {
		return -1
	}
	var r rune
	for _, c := range []byte(s[2:6]) {
		switch {
		case '0' <= c && c <= '9':
			c -= '0'
		case 'a' <= c && c <= 'f':
			c = c - 'a' + 10
		case 'A' <= c && c <= 'F':
			c = c - 'A' + 10
		default:
			return -1
		}
		r = r*16 + rune(c)
	}
	return r
}

// number reads a number at sc.i and returns its text.
func (sc *Scanner) number() string {
	s, i := sc.s, sc.i
	start := i
	if i < len(s) && s[i] == '-' {
		i++
	}
	switch {
	case i < len(s) && s[i] == '0':
		i++
	case i < len(s) && s[i] >= '1' && s[i] <= '9':
		for i++; i < len(s) && s[i] >= '0' && s[i] <= '9'; i++ {
		}
	default:
		sc.bad = true
		return ""
	}
	if i < len(s) && s[i] == '.' {
		i++
		d := i
		for ; i < len(s) && s[i] >= '0' && s[i] <= '9'; i++ {
		}
		if i == d {
			sc.bad = true
			return ""
		}
	}
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		i++
		if i < len(s) && (s[i] == '+' || s[i] == '-') {
			i++
		}
		d := i
		for ; i < len(s) && s[i] >= '0' && s[i] <= '9'; i++ {
		}
		if i == d {
			sc.bad = true
			return ""
		}
	}
	sc.i = i
	return s[start:i]
}

func (sc *Scanner) literal(lit string) bool {
	if !strings.HasPrefix(sc.s[sc.i:], lit) {
		sc.bad = true
		return false
	}
	sc.i += len(lit)
	return true
}

// Kinds of value, as Text reads them.
const (
	Null = iota
	String
	Number
	Bool
)

// Text reads a string, number, boolean or null as text, the way
// extract.Text decodes it: a string decoded, a number or boolean as
// written, null empty. An object or array fails.
func (sc *Scanner) Text() (string, bool) {
	v, _, ok := sc.Scalar()
	return v, ok
}

// Scalar is Text, also saying what kind of value it read.
func (sc *Scanner) Scalar() (v string, kind int, ok bool) {
	switch c := sc.Peek(); {
	case c == '"':
		v, _, _ = sc.str()
		kind = String
	case c == '-' || c >= '0' && c <= '9':
		v = sc.number()
		kind = Number
	case c == 't':
		v, kind = "true", Bool
		sc.literal(v)
	case c == 'f':
		v, kind = "false", Bool
		sc.literal(v)
	case c == 'n':
		kind = Null
		sc.literal("null")
	default:
		sc.bad = true
	}
	return v, kind, !sc.bad
}

// Bool reads true, false or null (false).
func (sc *Scanner) Bool() (bool, bool) {
	switch sc.Peek() {
	case 't':
		return true, sc.literal("true")
	case 'f':
		return false, sc.literal("false")
	case 'n':
		return false, sc.literal("null")
	}
	sc.bad = true
	return false, false
}

// Texts reads what extract.Texts decodes: an array of Text values without
// the empty ones (non-nil, possibly empty), or one value as a list of one
// (nil when it is empty).
func (sc *Scanner) Texts() ([]string, bool) {
	if sc.Peek() != '[' {
		v, ok := sc.Text()
		if !ok || v == "" {
			return nil, ok
		}
		return []string{v}, true
	}
	sc.i++
	out := []string{}
	for first := true; sc.Element(first); first = false {
		v, ok := sc.Text()
		if !ok {
			return nil, false
		}
		if v != "" {
			out = append(out, v)
		}
	}
	return out, !sc.bad
}

// Skip reads any value.
func (sc *Scanner) Skip() bool {
	return sc.skip(0)
}

func (sc *Scanner) skip(depth int) bool {
	switch sc.Peek() {
	case '{':
		if depth >= MaxDepth {
			sc.bad = true
			return false
		}
		sc.i++
		for first := true; ; first = false {
			if _, _, ok := sc.Member(first); !ok {
				break
			}
			if !sc.skip(depth + 1) {
				return false
			}
		}
	case '[':
		if depth >= MaxDepth {
			sc.bad = true
			return false
		}
		sc.i++
		for first := true; sc.Element(first); first = false {
			if !sc.skip(depth + 1) {
				return false
			}
		}
	case '"':
		sc.skipString()
	default:
		sc.Scalar()
	}
	return !sc.bad
}

// skipString reads a string without decoding it.
func (sc *Scanner) skipString() {
	s := sc.s
	j := sc.i + 1
	for j < len(s) {
		c := s[j]
		switch {
		case c == '"':
			sc.i = j + 1
			return
		case c == '\\':
			sc.str() // escapes are checked by decoding
			return
		case c < 0x20:
			sc.bad = true
			return
		}
		j++
	}
	sc.bad = true
}

// Raw reads any value and returns its text.
func (sc *Scanner) Raw() (string, bool) {
	sc.ws()
	start := sc.i
	if !sc.Skip() {
		return "", false
	}
	return sc.s[start:sc.i], true
}

// Numbers says how Canonical writes numbers.
type Numbers int

const (
	// Exact keeps a number's text, as decoding with UseNumber does.
	Exact Numbers = iota
	// Float64 writes the float64 nearest the number, as encoding/json
	// writes a float64 (decoding into any without UseNumber); a number out
	// of float64's range fails, as it fails encoding/json.
	Float64
)

// Canonical reads a value and appends its canonical text to dst: objects
// with keys sorted (the last of repeated keys kept, as a map keeps it),
// strings encoded as encoding/json encodes them without HTML escaping.
func (sc *Scanner) Canonical(dst []byte, nums Numbers) ([]byte, bool) {
	return sc.canonical(dst, nums, 0, nil)
}

// TopMember is told each member of the top-level object Canonical reads,
// in order: its key, and its value as text when it is a string or number.
type TopMember func(key, text string, kind int)

// CanonicalObject is Canonical for an object, telling top about each of its
// members (Moesif reads reserved keys out of metadata this way).
func (sc *Scanner) CanonicalObject(dst []byte, nums Numbers, top TopMember) ([]byte, bool) {
	if sc.Peek() != '{' {
		sc.bad = true
		return dst, false
	}
	return sc.canonical(dst, nums, 0, top)
}

func (sc *Scanner) canonical(dst []byte, nums Numbers, depth int, top TopMember) ([]byte, bool) {
	switch c := sc.Peek(); {
	case c == '{':
		if depth >= MaxDepth {
			sc.bad = true
			return dst, false
		}
		sc.i++
		for len(sc.levels) <= depth {
			sc.levels = append(sc.levels, level{})
		}
		base, mbase := len(sc.levels[depth].b), len(sc.levels[depth].m)
		for first := true; ; first = false {
			key, _, ok := sc.Member(first)
			if !ok {
				break
			}
			var b []byte
			start := len(sc.levels[depth].b)
			if top != nil {
				switch k := sc.Peek(); {
				case k == '"' || k == '-' || k >= '0' && k <= '9':
					b, ok = sc.scalarCanonical(sc.levels[depth].b, nums, func(text string, kind int) { top(key, text, kind) })
				default:
					top(key, "", Null)
					b, ok = sc.canonical(sc.levels[depth].b, nums, depth+1, nil)
				}
			} else {
				b, ok = sc.canonical(sc.levels[depth].b, nums, depth+1, nil)
			}
			sc.levels[depth].b = b
			if !ok {
				return dst, false
			}
			sc.levels[depth].m = append(sc.levels[depth].m, member{key: key, start: start, end: len(b)})
		}
		if sc.bad {
			return dst, false
		}
		lv := &sc.levels[depth]
		ms := lv.m[mbase:]
		slices.SortStableFunc(ms, func(a, b member) int { return strings.Compare(a.key, b.key) })
		dst = append(dst, '{')
		n := 0
		for i, m := range ms {
			if i+1 < len(ms) && ms[i+1].key == m.key {
				continue // a later value of the same key wins
			}
			if n > 0 {
				dst = append(dst, ',')
			}
			n++
			dst = AppendString(dst, m.key)
			dst = append(dst, ':')
			dst = append(dst, lv.b[m.start:m.end]...)
		}
		dst = append(dst, '}')
		lv.b, lv.m = lv.b[:base], lv.m[:mbase]
		return dst, true
	case c == '[':
		if depth >= MaxDepth {
			sc.bad = true
			return dst, false
		}
		sc.i++
		dst = append(dst, '[')
		for first := true; sc.Element(first); first = false {
			if !first {
				dst = append(dst, ',')
			}
			var ok bool
			if dst, ok = sc.canonical(dst, nums, depth+1, nil); !ok {
				return dst, false
			}
		}
		if sc.bad {
			return dst, false
		}
		return append(dst, ']'), true
	default:
		return sc.scalarCanonical(dst, nums, nil)
	}
}

// scalarCanonical appends a string, number, boolean or null; seen, if set,
// is told a string's or number's text.
func (sc *Scanner) scalarCanonical(dst []byte, nums Numbers, seen func(text string, kind int)) ([]byte, bool) {
	switch c := sc.Peek(); {
	case c == '"':
		start := sc.i
		v, _, safe := sc.str()
		if sc.bad {
			return dst, false
		}
		if seen != nil {
			seen(v, String)
		}
		if safe {
			return append(dst, sc.s[start:sc.i]...), true
		}
		return AppendString(dst, v), true
	case c == '-' || c >= '0' && c <= '9':
		lit := sc.number()
		if sc.bad {
			return dst, false
		}
		if seen != nil {
			seen(lit, Number)
		}
		if nums == Exact {
			return append(dst, lit...), true
		}
		return appendFloat(dst, lit, sc)
	case c == 't':
		return append(dst, "true"...), sc.literal("true")
	case c == 'f':
		return append(dst, "false"...), sc.literal("false")
	case c == 'n':
		return append(dst, "null"...), sc.literal("null")
	}
	sc.bad = true
	return dst, false
}

// appendFloat writes lit as encoding/json decodes it into any (a float64)
// and encodes it again.
func appendFloat(dst []byte, lit string, sc *Scanner) ([]byte, bool) {
	f, err := strconv.ParseFloat(lit, 64)
	if err != nil {
		sc.bad = true
		return dst, false
	}
	// encoding/json's floatEncoder for 64 bits.
	abs := math.Abs(f)
	format := byte('f')
	if abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		format = 'e'
	}
	start := len(dst)
	dst = strconv.AppendFloat(dst, f, format, -1, 64)
	if format == 'e' {
		// clean up e-09 to e-9
		n := len(dst) - start
		if n >= 4 && dst[len(dst)-4] == 'e' && dst[len(dst)-3] == '-' && dst[len(dst)-2] == '0' {
			dst[len(dst)-2] = dst[len(dst)-1]
			dst = dst[:len(dst)-1]
		}
	}
	return dst, true
}

const hex = "0123456789abcdef"

// AppendString appends s as a JSON string exactly as encoding/json encodes
// it with HTML escaping off: quote, backslash and control characters
// escaped, invalid UTF-8 as \ufffd, U+2028 and U+2029 escaped.
func AppendString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		if b := s[i]; b < utf8.RuneSelf {
			if b >= 0x20 && b != '"' && b != '\\' {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch b {
			case '\\', '"':
				dst = append(dst, '\\', b)
			case '\b':
				dst = append(dst, '\\', 'b')
			case '\f':
				dst = append(dst, '\\', 'f')
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hex[b>>4], hex[b&0xF])
			}
			i++
			start = i
			continue
		}
		c, size := utf8.DecodeRuneInString(s[i:])
		if c == utf8.RuneError && size == 1 {
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if c == '\u2028' || c == '\u2029' {
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', hex[c&0xF])
			i += size
			start = i
			continue
		}
		i += size
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}

// Pass reads the next value without checking it (quotes, escapes and
// brackets only) and returns its text: for the records of a page, each of
// which its decoder checks as it reads it. It fails at the end of the text
// or at a closing bracket that opens nothing.
func (sc *Scanner) Pass() (string, bool) {
	sc.ws()
	if sc.bad || sc.i >= len(sc.s) {
		sc.bad = true
		return "", false
	}
	s := sc.s
	start := sc.i
	i := start
	switch s[i] {
	case '"':
		i = stringEnd(s, i)
	case '{', '[':
		depth := 0
	scan:
		for ; i < len(s); i++ {
			switch s[i] {
			case '"':
				if i = stringEnd(s, i) - 1; i < 0 {
					break scan
				}
			case '{', '[':
				depth++
			case '}', ']':
				if depth--; depth == 0 {
					i++
					break scan
				}
			}
		}
		if depth != 0 {
			i = -1
		}
	case '}', ']', ',', ':':
		i = -1
	default:
		for ; i < len(s); i++ {
			switch s[i] {
			case ',', ']', '}', ' ', '\t', '\n', '\r':
				goto done
			}
		}
	done:
	}
	if i < 0 {
		sc.bad = true
		return "", false
	}
	sc.i = i
	return s[start:i], true
}

// stringEnd returns the index after the closing quote of the string at
// s[i], or -1 when it does not close.
func stringEnd(s string, i int) int {
	for i++; i < len(s); i++ {
		switch s[i] {
		case '\\':
			i++
		case '"':
			return i + 1
		}
	}
	return -1
}
