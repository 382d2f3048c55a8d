package grammar

import (
	"slices"
	"strconv"
	"strings"
)

// A frame is one open value on a stack of them: the innermost value being
// read, with up pointing at the value that contains it. Frames are
// immutable, so states share their stacks and branching is cheap. A
// container's frame below a child already holds its state for after the
// child, so a finished child just pops.
type frame struct {
	n      *node
	phase  uint8
	i      int32 // object: next property; array: items so far; string: characters; literal: trie node; key: offset
	j      int32 // object key: property; string: bytes left of a UTF-8 character or hex digits read
	lo, hi byte  // string: range of the next byte of a UTF-8 character
	text   string
	up     *frame
	key    string // memo of the stack's identity
}

// Phases.
const (
	// object
	oOpen uint8 = iota
	oFirst
	oNext
	oKey
	oDeclKey
	oColon
)

const (
	// array
	aOpen uint8 = iota
	aFirst
	aAfter
	aItem
)

const (
	// string
	sOpen uint8 = iota
	sIn
	sEsc
	sHex
	sHexD // the first hex digit was d: a surrogate is refused
	sUTF
)

var done = &frame{n: &node{kind: kDone}, key: "$"}

// state is a set of stacks: the readings of the text so far that are still
// alive (anyOf alternatives, a number that may end or go on).
type state []*frame

// start returns the stacks of a value of n about to begin, above up.
func start(n *node, up *frame, out state) state {
	return startSeen(n, up, out, nil)
}

func startSeen(n *node, up *frame, out state, seen []*node) state {
	if n.kind != kAlt {
		return append(out, &frame{n: n, up: up})
	}
	if slices.Contains(seen, n) {
		return out // a cycle of alternatives adds no new reading
	}
	seen = append(seen, n)
	for _, a := range n.alts {
		out = startSeen(a, up, out, seen)
	}
	return out
}

func (f *frame) with(phase uint8, i int32) *frame {
	g := *f
	g.phase, g.i, g.key = phase, i, ""
	return &g
}

// step appends the stacks that follow f by reading b.
func step(f *frame, b byte, out state) state {
	n := f.n
	switch n.kind {
	case kObject:
		return stepObject(f, b, out)
	case kArray:
		return stepArray(f, b, out)
	case kString:
		return stepString(f, b, out)
	case kNumber:
		next := f.text + string(b)
		if numberSyntax(n, next) && numberViable(n, next) {
			g := *f
			g.text, g.key = next, ""
			out = append(out, &g)
		}
		if numberComplete(n, f.text) {
			out = step(f.up, b, out)
		}
		return out
	case kLiteral:
		t := &n.trie[f.i]
		for _, e := range t.next {
			if e.b == b {
				out = append(out, f.with(0, e.to))
			}
		}
		if t.end {
			out = step(f.up, b, out)
		}
		return out
	}
	return out // done: nothing may follow
}

func stepObject(f *frame, b byte, out state) state {
	n := f.n
	free := len(n.props) == 0
	switch f.phase {
	case oOpen:
		if b == '{' {
			out = append(out, f.with(oFirst, f.i))
		}
	case oFirst, oNext, oKey:
		closable := free || n.nextReq[f.i] == len(n.props)
		switch {
		case b == '}' && f.phase != oKey && closable:
			out = append(out, f.up)
		case b == ',' && f.phase == oNext && (free && n.extra != nil || int(f.i) < len(n.props)):
			out = append(out, f.with(oKey, f.i))
		case b == '"' && f.phase != oNext:
			if free {
				if n.extra != nil {
					out = append(out, &frame{n: keyString, phase: sIn, up: f.with(oColon, 0)})
				}
				break
			}
			for j := int(f.i); j < len(n.props) && j <= n.nextReq[f.i]; j++ {
				g := f.with(oDeclKey, 1)
				g.j = int32(j)
				out = append(out, g)
			}
		}
	case oDeclKey:
		key := n.props[f.j].key
		if key[f.i] != b {
			break
		}
		if int(f.i)+1 < len(key) {
			g := f.with(oDeclKey, f.i+1)
			out = append(out, g)
			break
		}
		after := f.with(oNext, f.j+1)
		after.j = 0
		out = start(n.props[f.j].val, after, out)
	case oColon:
		if b == ':' {
			out = start(n.extra, f.with(oNext, 0), out)
		}
	}
	return out
}

// keyString reads the free keys of json_object and additionalProperties.
var keyString = &node{id: -1, kind: kString, maxLen: -1}

func stepArray(f *frame, b byte, out state) state {
	n := f.n
	switch f.phase {
	case aOpen:
		if b == '[' {
			out = append(out, f.with(aFirst, 0))
		}
	case aFirst, aItem:
		if f.phase == aFirst && b == ']' && n.minItems == 0 {
			return append(out, f.up)
		}
		if n.maxItems >= 0 && int(f.i) >= n.maxItems {
			return out
		}
		count := f.i + 1
		if n.maxItems < 0 {
			count = min(count, int32(n.minItems)) // the count matters no more
		}
		for _, g := range start(n.items, f.with(aAfter, count), nil) {
			out = step(g, b, out)
		}
	case aAfter:
		if b == ']' && int(f.i) >= n.minItems {
			out = append(out, f.up)
		}
		if b == ',' && (n.maxItems < 0 || int(f.i) < n.maxItems) {
			out = append(out, f.with(aItem, f.i))
		}
	}
	return out
}

func stepString(f *frame, b byte, out state) state {
	n := f.n
	room := n.maxLen < 0 || int(f.i) < n.maxLen
	// The count is kept only while a bound still needs it.
	more := f.i + 1
	if n.maxLen < 0 {
		more = min(more, int32(n.minLen))
	}
	switch f.phase {
	case sOpen:
		if b == '"' {
			out = append(out, f.with(sIn, 0))
		}
	case sIn:
		switch {
		case b == '"':
			if int(f.i) >= n.minLen {
				out = append(out, f.up)
			}
		case !room || b < 0x20:
		case b == '\\':
			out = append(out, f.with(sEsc, more))
		case b < 0x80:
			out = append(out, f.with(sIn, more))
		default:
			left, lo, hi := utf8Lead(b)
			if left > 0 {
				g := f.with(sUTF, more)
				g.j, g.lo, g.hi = left, lo, hi
				out = append(out, g)
			}
		}
	case sEsc:
		switch {
		case strings.IndexByte(`"\/bfnrt`, b) >= 0:
			out = append(out, f.with(sIn, f.i))
		case b == 'u':
			g := f.with(sHex, f.i)
			g.j = 0
			out = append(out, g)
		}
	case sHex, sHexD:
		if !isHex(b) {
			break
		}
		if f.j == 1 && f.phase == sHexD && (b >= '8' && b <= '9' || b >= 'a' && b <= 'f' || b >= 'A' && b <= 'F') {
			break // \uD800-\uDFFF: a surrogate
		}
		if f.j == 3 {
			out = append(out, f.with(sIn, f.i))
			break
		}
		phase := f.phase
		if f.j == 0 && (b == 'd' || b == 'D') {
			phase = sHexD
		}
		g := f.with(phase, f.i)
		g.j = f.j + 1
		out = append(out, g)
	case sUTF:
		if b < f.lo || b > f.hi {
			break
		}
		if f.j == 1 {
			out = append(out, f.with(sIn, f.i))
			break
		}
		g := f.with(sUTF, f.i)
		g.j, g.lo, g.hi = f.j-1, 0x80, 0xBF
		out = append(out, g)
	}
	return out
}

func isHex(b byte) bool {
	return b >= '0' && b <= '9' || b >= 'a' && b <= 'f' || b >= 'A' && b <= 'F'
}

// utf8Lead returns how many continuation bytes follow a lead byte of valid
// UTF-8 and the range of the first of them (which rules out overlong forms,
// surrogates and code points above U+10FFFF), or 0 if b cannot lead.
func utf8Lead(b byte) (left int32, lo, hi byte) {
	switch {
	case b >= 0xC2 && b <= 0xDF:
		return 1, 0x80, 0xBF
	case b == 0xE0:
		return 2, 0xA0, 0xBF
	case b >= 0xE1 && b <= 0xEC, b == 0xEE, b == 0xEF:
		return 2, 0x80, 0xBF
	case b == 0xED:
		return 2, 0x80, 0x9F
	case b == 0xF0:
		return 3, 0x90, 0xBF
	case b >= 0xF1 && b <= 0xF3:
		return 3, 0x80, 0xBF
	case b == 0xF4:
		return 3, 0x80, 0x8F
	}
	return 0, 0, 0
}

// numberSyntax reports whether text is a prefix of a number the automaton
// writes: -?(0|[1-9][0-9]*)(\.[0-9]+)? within the digit bounds.
func numberSyntax(n *node, text string) bool {
	_, ip, dot, fp := splitNumber(text)
	maxInt, maxFrac := intDigits, 0
	if !n.integer {
		maxInt, maxFrac = numIntDigits, numFracDigits
	}
	if len(ip) > maxInt || len(fp) > maxFrac || (dot && ip == "") {
		return false
	}
	for i := 0; i < len(ip); i++ {
		if ip[i] < '0' || ip[i] > '9' {
			return false
		}
	}
	if len(ip) > 1 && ip[0] == '0' {
		return false
	}
	for i := 0; i < len(fp); i++ {
		if fp[i] < '0' || fp[i] > '9' {
			return false
		}
	}
	return !dot || maxFrac > 0
}

func splitNumber(text string) (neg bool, ip string, dot bool, fp string) {
	if strings.HasPrefix(text, "-") {
		neg, text = true, text[1:]
	}
	ip, fp, dot = strings.Cut(text, ".")
	return neg, ip, dot, fp
}

func numberComplete(n *node, text string) bool {
	_, ip, dot, fp := splitNumber(text)
	if ip == "" || dot && fp == "" {
		return false
	}
	if !n.bounded {
		return true
	}
	m := gridValue(n, ip, fp)
	if strings.HasPrefix(text, "-") {
		m = -m
	}
	return m >= n.lo && m <= n.hi
}

// gridValue is the magnitude of a number in grid units.
func gridValue(n *node, ip, fp string) int64 {
	scale, frac := int64(1), 0
	if !n.integer {
		scale, frac = pow10(numFracDigits), numFracDigits
	}
	i, _ := strconv.ParseInt("0"+ip, 10, 64)
	f, _ := strconv.ParseInt("0"+fp, 10, 64)
	return i*scale + f*pow10(frac-len(fp))
}

func pow10(k int) int64 {
	p := int64(1)
	for range k {
		p *= 10
	}
	return p
}

// numberViable reports whether some number with the prefix text lies
// within n's bounds: it checks each run of magnitudes the remaining digits
// can reach (for "12": 12, 120-129, 1200-1299, ...) against them.
func numberViable(n *node, text string) bool {
	if !n.bounded {
		return true
	}
	neg, ip, dot, fp := splitNumber(text)
	lo, hi := n.lo, n.hi // allowed magnitudes with the sign so far
	if neg {
		lo, hi = -n.hi, -n.lo
	}
	either := func(a, b int64) bool {
		if text == "" { // the sign is still open
			return max(a, n.lo, 0) <= min(b, n.hi) || max(a, -n.hi, 0) <= min(b, -n.lo)
		}
		return max(a, lo, 0) <= min(b, hi)
	}
	scale, frac, maxInt := int64(1), 0, intDigits
	if !n.integer {
		scale, frac, maxInt = pow10(numFracDigits), numFracDigits, numIntDigits
	}
	switch {
	case dot:
		i, _ := strconv.ParseInt("0"+ip, 10, 64)
		f, _ := strconv.ParseInt("0"+fp, 10, 64)
		unit := pow10(frac - len(fp))
		base := i*scale + f*unit
		return either(base, base+unit-1)
	case ip == "":
		return either(0, pow10(maxInt)*scale-1)
	case ip == "0":
		return either(0, scale-1)
	default:
		i, _ := strconv.ParseInt(ip, 10, 64)
		for k := 0; k <= maxInt-len(ip); k++ {
			p := pow10(k)
			if either(i*p*scale, (i+1)*p*scale-1) {
				return true
			}
		}
		return false
	}
}

// maxStacks bounds the readings a state keeps. Overlapping alternatives
// nested in each other (anyOf of look-alike arrays of themselves) would
// otherwise double them at each level. Dropping readings beyond the bound
// keeps the automaton sound and live, as each kept one is a valid reading
// that can still be completed; it only loses some spellings.
const maxStacks = 64

// advance reads b in every stack of s.
func advance(s state, b byte) state {
	var out state
	for _, f := range s {
		out = step(f, b, out)
	}
	if len(out) > 1 {
		out = dedupe(out)
	}
	if len(out) > maxStacks {
		out = out[:maxStacks]
	}
	return out
}

func dedupe(s state) state {
	seen := make(map[string]bool, len(s))
	out := s[:0]
	for _, f := range s {
		k := f.id()
		if !seen[k] {
			seen[k] = true
			out = append(out, f)
		}
	}
	return out
}

// accepting reports whether the text read so far is a whole value.
func (s state) accepting() bool {
	for _, f := range s {
		switch {
		case f.n.kind == kDone:
			return true
		case f.up != nil && f.up.n.kind == kDone &&
			(f.n.kind == kNumber && numberComplete(f.n, f.text) || f.n.kind == kLiteral && f.n.trie[f.i].end):
			return true
		}
	}
	return false
}

// id identifies a stack by value, for deduplication and memoised masks.
func (f *frame) id() string {
	if f.key != "" {
		return f.key
	}
	var b []byte
	b = strconv.AppendInt(b, int64(f.n.id), 36)
	b = append(b, '.', f.phase+'a', '.')
	b = strconv.AppendInt(b, int64(f.i), 36)
	b = append(b, '.')
	b = strconv.AppendInt(b, int64(f.j), 36)
	b = append(b, '.', f.lo, f.hi)
	b = append(b, f.text...)
	b = append(b, '/')
	b = append(b, f.up.id()...)
	f.key = string(b)
	return f.key
}

// key identifies a state, whatever order its stacks are in.
func (s state) key() string {
	ids := make([]string, len(s))
	for i, f := range s {
		ids[i] = f.id()
	}
	slices.Sort(ids)
	return strings.Join(ids, "|")
}

// accepts runs n's automaton over a whole text.
func accepts(n *node, text []byte) bool {
	s := start(n, done, nil)
	for _, b := range text {
		if s = advance(s, b); len(s) == 0 {
			return false
		}
	}
	return s.accepting()
}
