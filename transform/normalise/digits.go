package normalise

import (
	"errors"
	"regexp/syntax"
	"strconv"
)

// digitDFA is a regular expression compiled into a deterministic automaton
// over the ASCII digits, for phonenumbers' metadata patterns, which only
// ever see digit strings. On a digit string it answers exactly what Go's
// regexp answers for the same pattern (regexp backtracks through these
// patterns for every phone, and that was most of a phone's cost); other
// bytes have no transitions.
type digitDFA struct {
	next [][10]int32 // state → digit → state; -1: no string goes on to match
	end  []bool      // the input may end here and match
	hit  []bool      // a match is complete here, whatever follows (no $ pending)
}

// maxDFAStates bounds one pattern's automaton; the metadata's largest need
// a few hundred states.
const maxDFAStates = 20000

var errDFAUnsupported = errors.New("pattern needs more than a digit automaton")

// compileDigits compiles pattern with regexp's syntax (syntax.Perl).
func compileDigits(pattern string) (*digitDFA, error) {
	re, err := syntax.Parse(pattern, syntax.Perl)
	if err != nil {
		return nil, err
	}
	prog, err := syntax.Compile(re.Simplify())
	if err != nil {
		return nil, err
	}
	b := dfaBuilder{prog: prog, ids: map[string]int32{}}
	start, err := b.state(b.closure(nil, uint32(prog.Start), true, false), true)
	if err != nil {
		return nil, err
	}
	if start != 0 {
		panic("digitDFA: start state is not 0")
	}
	for s := 0; s < len(b.sets); s++ {
		var row [10]int32
		for d := range 10 {
			var set []uint32
			for _, pc := range b.sets[s] {
				in := &prog.Inst[pc]
				switch in.Op {
				case syntax.InstRune, syntax.InstRune1, syntax.InstRuneAny, syntax.InstRuneAnyNotNL:
					if in.MatchRune(rune('0' + d)) {
						set = b.closure(set, in.Out, false, false)
					}
				}
			}
			row[d] = -1
			if len(set) > 0 {
				if row[d], err = b.state(set, false); err != nil {
					return nil, err
				}
			}
		}
		b.dfa.next = append(b.dfa.next, row)
	}
	return &b.dfa, b.err
}

type dfaBuilder struct {
	prog *syntax.Prog
	ids  map[string]int32
	sets [][]uint32
	dfa  digitDFA
	err  error
}

// closure adds to set the instructions reachable from pc without reading a
// digit: those that read one, Match, and $ assertions waiting for the end.
// begin says the position is the input's start.
func (b *dfaBuilder) closure(set []uint32, pc uint32, begin, end bool) []uint32 {
	stack := []uint32{pc}
	seen := map[uint32]bool{}
	for len(stack) > 0 {
		pc := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		if seen[pc] {
			continue
		}
		seen[pc] = true
		in := &b.prog.Inst[pc]
		switch in.Op {
		case syntax.InstAlt, syntax.InstAltMatch:
			stack = append(stack, in.Arg, in.Out)
		case syntax.InstCapture, syntax.InstNop:
			stack = append(stack, in.Out)
		case syntax.InstEmptyWidth:
			op := syntax.EmptyOp(in.Arg)
			if op&^(syntax.EmptyBeginText|syntax.EmptyBeginLine|syntax.EmptyEndText|syntax.EmptyEndLine) != 0 {
				b.err = errDFAUnsupported // word boundaries: never in digit patterns
				continue
			}
			atBegin := op&(syntax.EmptyBeginText|syntax.EmptyBeginLine) != 0
			atEnd := op&(syntax.EmptyEndText|syntax.EmptyEndLine) != 0
			switch {
			case atBegin && !begin:
			case atEnd && !end:
				set = addPC(set, pc) // decided when the input ends
			default:
				stack = append(stack, in.Out)
			}
		case syntax.InstMatch, syntax.InstRune, syntax.InstRune1, syntax.InstRuneAny, syntax.InstRuneAnyNotNL:
			set = addPC(set, pc)
		}
	}
	return set
}

func addPC(set []uint32, pc uint32) []uint32 {
	for i, p := range set {
		if p == pc {
			return set
		}
		if p > pc {
			set = append(set, 0)
			copy(set[i+1:], set[i:])
			set[i] = pc
			return set
		}
	}
	return append(set, pc)
}

// state returns the id of the state holding set; first marks the start
// state, the only one at the input's start.
func (b *dfaBuilder) state(set []uint32, first bool) (int32, error) {
	key := make([]byte, 0, 1+4*len(set))
	if first {
		key = append(key, 'S')
	}
	for _, pc := range set {
		key = strconv.AppendUint(key, uint64(pc), 36)
		key = append(key, ',')
	}
	if id, ok := b.ids[string(key)]; ok {
		return id, nil
	}
	if len(b.sets) >= maxDFAStates {
		return 0, errDFAUnsupported
	}
	id := int32(len(b.sets))
	b.ids[string(key)] = id
	b.sets = append(b.sets, set)
	hit, end := false, false
	for _, pc := range set {
		in := &b.prog.Inst[pc]
		switch {
		case in.Op == syntax.InstMatch:
			hit, end = true, true
		case in.Op == syntax.InstEmptyWidth && !end:
			for _, q := range b.closure(nil, in.Out, first, true) {
				end = end || b.prog.Inst[q].Op == syntax.InstMatch
			}
		}
	}
	b.dfa.hit = append(b.dfa.hit, hit)
	b.dfa.end = append(b.dfa.end, end)
	return id, nil
}

// full reports whether the whole of s matches (s: ASCII digits).
func (d *digitDFA) full(s string) bool {
	st := int32(0)
	for i := 0; i < len(s); i++ {
		c := s[i] - '0'
		if c > 9 {
			return false
		}
		if st = d.next[st][c]; st < 0 {
			return false
		}
	}
	return d.end[st]
}

// prefix reports whether some prefix of s (the empty one and s included)
// matches: what an unanchored search finds at position 0.
func (d *digitDFA) prefix(s string) bool {
	st := int32(0)
	for i := 0; i < len(s); i++ {
		if d.hit[st] {
			return true
		}
		c := s[i] - '0'
		if c > 9 {
			return false
		}
		if st = d.next[st][c]; st < 0 {
			return false
		}
	}
	return d.hit[st] || d.end[st]
}
