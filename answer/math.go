package answer

import (
	"math"
	"math/big"
	"regexp"
	"strings"
)

// A math answer is read into a value: a tuple of elements (one element for
// a plain answer), each an exact rational when it is a number or a simple
// expression of numbers, and normalised text otherwise.
//
// What is read as a number, exactly (math/big.Rat):
//   - integers and decimals, with a sign, thousands separators written
//     without a space ("1,234.5") and an exponent up to ±100 ("1.5e3");
//   - fractions a/b and LaTeX \frac{a}{b}, \dfrac, \tfrac and \frac12;
//   - + - * / and ^ with an integer exponent, parentheses, \cdot, \times,
//     \div, \left( \right);
//   - a trailing % (see Equal), and units after a number: \text{ cm},
//     "5 apples", ^\circ, a leading $ or \$.
//
// A leading "x =" is dropped. Everything else (\sqrt, \pi, variables,
// words) is compared as text after normalisation: LaTeX spacing and
// \left/\right removed, \dfrac written \frac, spaces dropped, lowercased.
// A comma followed by a space, or by other than three digits, separates
// the elements of a tuple; "(1, 2)" and "[1, 2)" keep their brackets.

// value is a read answer.
type value struct {
	open, close string // brackets around a tuple, "" when bare
	elems       []elem
}

type elem struct {
	num  *big.Rat // nil: not a number
	pct  bool     // written with a % sign
	text string   // normalised text; the canonical form when num is nil
}

// Canonical returns the canonical form of a math answer: numbers as reduced
// fractions or integers ("0.50" and "\frac{2}{4}" are both "1/2"), tuples as "(a,b)" of canonical elements, other text normalised.
// Canonical(Canonical(s)) == Canonical(s), and answers with the same
// canonical form are Equal.
func Canonical(s string) string {
	return settle(s).String()
}

// settle reads s again and again from its own canonical form until that
// stops changing. One reading nearly always settles; a second is needed
// when normalising uncovers new notation (lowercasing "\\LEFT(", dropping
// the spaces of "\\te xt{}"), and the bound keeps adversarial input cheap.
func settle(s string) value {
	v := read(s)
	for range 16 {
		c := v.String()
		if c == s {
			break
		}
		s, v = c, read(c)
	}
	return v
}

func (v value) String() string {
	parts := make([]string, len(v.elems))
	for i, e := range v.elems {
		parts[i] = e.String()
	}
	// ", " keeps the elements of a tuple apart when read again: "1,234" is
	// a thousand and more, "1, 234" two numbers.
	return v.open + strings.Join(parts, ", ") + v.close
}

func (e elem) String() string {
	if e.num != nil && e.pct {
		return e.num.RatString() + "%"
	}
	if e.num != nil {
		return e.num.RatString()
	}
	return e.text
}

// Tolerance bounds how far apart two numbers may be and still be equal:
// within Abs, or within Rel times the reference's magnitude. The zero
// value demands exact equality.
type Tolerance struct {
	Abs, Rel float64
}

// Equal reports whether candidate states the same math answer as
// reference. Numbers are equal when their exact values are, or within tol;
// text when its normalised form is. A tuple equals a tuple of the same
// length whose elements are equal in order; brackets must agree when both
// have them ("[1,2)" is not "(1,2)", but "1, 2" is "(1, 2)").
//
// Percentages: a number written with % equals the same number without it
// and that number divided by 100, on either side ("50%" equals "50" and
// "0.5"). Which one a problem means is rarely in doubt, and graders of
// math benchmarks accept both.
func Equal(candidate, reference string, tol Tolerance) bool {
	return equalValues(settle(candidate), settle(reference), tol)
}

func equalValues(a, b value, tol Tolerance) bool {
	if len(a.elems) != len(b.elems) {
		return false
	}
	if a.open != "" && b.open != "" && (a.open != b.open || a.close != b.close) {
		return false
	}
	for i := range a.elems {
		if !equalElems(a.elems[i], b.elems[i], tol) {
			return false
		}
	}
	return true
}

var hundred = big.NewRat(100, 1)

func equalElems(a, b elem, tol Tolerance) bool {
	if a.num == nil || b.num == nil {
		return a.num == nil && b.num == nil && a.text == b.text
	}
	as, bs := []*big.Rat{a.num}, []*big.Rat{b.num}
	if a.pct {
		as = append(as, new(big.Rat).Quo(a.num, hundred))
	}
	if b.pct {
		bs = append(bs, new(big.Rat).Quo(b.num, hundred))
	}
	for _, x := range as {
		for _, y := range bs {
			if x.Cmp(y) == 0 || near(x, y, tol) {
				return true
			}
		}
	}
	return false
}

func near(x, y *big.Rat, tol Tolerance) bool {
	if tol.Abs <= 0 && tol.Rel <= 0 {
		return false
	}
	d, _ := new(big.Rat).Sub(x, y).Float64()
	d = math.Abs(d)
	ref, _ := y.Float64()
	return d <= tol.Abs || d <= tol.Rel*math.Abs(ref)
}

// read parses a math answer.
func read(s string) value {
	s = normalize(s)
	var v value
	body := s
	if len(s) >= 2 && strings.ContainsRune("([", rune(s[0])) && strings.ContainsRune(")]", rune(s[len(s)-1])) && enclosing(s) {
		if parts := splitTop(s[1 : len(s)-1]); len(parts) > 1 {
			v.open, v.close, body = s[:1], s[len(s)-1:], s[1:len(s)-1]
		}
	}
	for _, p := range splitTop(body) {
		v.elems = append(v.elems, readElem(p))
	}
	return v
}

// enclosing reports whether s's first bracket closes at its last byte, so
// "(1)+(2)" is not a tuple in parentheses.
func enclosing(s string) bool {
	return outside(s, func(i int) bool {
		return i == len(s)-1 || !strings.ContainsRune(")]}", rune(s[i]))
	}) == 0
}

// splitTop splits s at the commas outside brackets.
func splitTop(s string) []string {
	var out []string
	last := 0
	outside(s, func(i int) bool {
		if s[i] == ',' {
			out = append(out, s[last:i])
			last = i + 1
		}
		return true
	})
	return append(out, s[last:])
}

// outside calls at with the index of each byte of s after which the
// bracket depth is zero (a closing bracket included), until at returns
// false. It returns -1 when at stopped it, else the depth at the end: zero
// when the brackets balance.
func outside(s string, at func(i int) bool) int {
	depth := 0
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '(', '[', '{':
			depth++
		case ')', ']', '}':
			depth--
		}
		if depth == 0 && !at(i) {
			return -1
		}
	}
	return depth
}

var (
	assignRe = regexp.MustCompile(`^[a-zA-Z][a-zA-Z0-9_]*\s*=\s*`)
	unitRe   = regexp.MustCompile(`^(.*?\d)\s+[a-zA-Z][a-zA-Z ]*$`)
)

func readElem(s string) elem {
	s = strings.TrimSpace(s)
	for assignRe.MatchString(s) {
		s = assignRe.ReplaceAllString(s, "")
	}
	if m := unitRe.FindStringSubmatch(s); m != nil {
		if _, ok := evalExpr(strings.TrimSuffix(m[1], "%")); ok {
			s = m[1] // "5 cm": the number is the answer, the rest a unit
		}
	}
	s = strings.TrimSpace(s)
	e := elem{}
	num := s
	if strings.HasSuffix(num, "%") {
		num, e.pct = strings.TrimSpace(strings.TrimSuffix(num, "%")), true
	}
	if r, ok := evalExpr(num); ok {
		e.num = r
		return e
	}
	e.pct = false
	e.text = strings.ToLower(strings.Join(strings.Fields(s), ""))
	return e
}

// latexSimple are LaTeX spellings replaced before reading: spacing and
// sizing that carry no meaning, and operators written as words.
var latexSimple = strings.NewReplacer(
	`\\`, " ", `\left`, "", `\right`, "", `\displaystyle`, "", `\!`, "", `\,`, " ", `\;`, " ", `\:`, " ", `\ `, " ", `~`, " ",
	`\dfrac`, `\frac`, `\tfrac`, `\frac`, `\cdot`, "*", `\times`, "*", `\div`, "/", `\%`, "%", `\$`, "",
	`^\circ`, "", `^{\circ}`, "", "°", "", `\circ`, "", `\(`, "", `\)`, "", `\[`, "", `\]`, "",
	"−", "-", "×", "*", "÷", "/", "，", ",", "％", "%",
)

var textCmdRe = regexp.MustCompile(`\\(?:text|textbf|textrm|mathrm|mathbf|mbox)\s*\{([^{}]*)\}`)

// normalize rewrites LaTeX into the plain notation read parses, and trims
// what surrounds an answer. It is idempotent.
func normalize(s string) string {
	s = strings.TrimSpace(s)
	if b, ok := lastBoxed(s); ok {
		s = b.Text
	}
	s = strings.ToLower(s)
	s = latexSimple.Replace(s)
	// \text{ cm} keeps a space before a unit so that "5\text{ cm}" reads as
	// a number and a unit; \text{yes} is the text yes.
	s = textCmdRe.ReplaceAllString(s, " $1")
	s = replaceFrac(s)
	s = strings.ReplaceAll(s, "$", "")
	s = strings.TrimSpace(s)
	s = strings.TrimRight(s, ".。")
	s = dropThousands(s)
	// Braces left over group (2^{10}); \{ \} are set braces and stay.
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '\\' && i+1 < len(s) && (s[i+1] == '{' || s[i+1] == '}'):
			b.WriteByte(c)
			b.WriteByte(s[i+1])
			i++
		case c == '{':
			b.WriteByte('(')
		case c == '}':
			b.WriteByte(')')
		default:
			b.WriteByte(c)
		}
	}
	return strings.TrimSpace(b.String())
}

// replaceFrac writes \frac{a}{b} (and \frac12, \frac{a}2) as ((a)/(b)),
// innermost arguments first by recursion.
func replaceFrac(s string) string {
	for { // each pass removes one \frac
		i := strings.Index(s, `\frac`)
		if i < 0 {
			return s
		}
		rest := s[i+len(`\frac`):]
		num, n1, ok1 := fracArg(rest)
		den, n2, ok2 := fracArg(rest[n1:])
		if !ok1 || !ok2 {
			// Malformed: drop the command so the loop ends; the text compares as text.
			s = s[:i] + "frac" + rest
			continue
		}
		s = s[:i] + "((" + replaceFrac(num) + ")/(" + replaceFrac(den) + "))" + rest[n1+n2:]
	}
}

// fracArg reads one argument of \frac: a brace group or one character.
func fracArg(s string) (arg string, n int, ok bool) {
	i := 0
	for i < len(s) && s[i] == ' ' {
		i++
	}
	if i >= len(s) {
		return "", 0, false
	}
	if s[i] != '{' {
		if s[i] == '\\' || s[i] == '}' {
			return "", 0, false
		}
		return s[i : i+1], i + 1, true
	}
	depth := 0
	for j := i; j < len(s); j++ {
		switch s[j] {
		case '{':
			depth++
		case '}':
			depth--
			if depth == 0 {
				return s[i+1 : j], j + 1, true
			}
		}
	}
	return "", 0, false
}

// thousandsRe finds a number with comma thousands separators and no space
// after a comma; dropThousands removes the commas.
var thousandsRe = regexp.MustCompile(`(^|[^\d.,])(\d{1,3}(?:,\d{3})+)($|[^\d,])`)

func dropThousands(s string) string {
	for range 16 {
		t := thousandsRe.ReplaceAllStringFunc(s, func(m string) string { return strings.ReplaceAll(m, ",", "") })
		if t == s {
			return s
		}
		s = t
	}
	return s
}

// Limits that keep reading an answer cheap whatever the reply holds.
const (
	maxDigits   = 1300 // digits of one number literal: a canonical number of maxBits reads again
	maxExponent = 100  // |e| of 1.5e3 and of x^n
	maxBits     = 4096 // size of any intermediate numerator or denominator
	maxDepth    = 64   // nesting of parentheses and unary signs
)

// evalExpr evaluates s as an arithmetic expression over exact rationals.
func evalExpr(s string) (*big.Rat, bool) {
	p := &parser{s: s}
	r, ok := p.sum()
	p.space()
	if !ok || p.i != len(p.s) {
		return nil, false
	}
	return r, true
}

type parser struct {
	s     string
	i     int
	depth int
}

func (p *parser) space() {
	for p.i < len(p.s) && (p.s[p.i] == ' ' || p.s[p.i] == '\t' || p.s[p.i] == '\n') {
		p.i++
	}
}

func (p *parser) peek() byte {
	p.space()
	if p.i < len(p.s) {
		return p.s[p.i]
	}
	return 0
}

func small(r *big.Rat) bool {
	return r.Num().BitLen() <= maxBits && r.Denom().BitLen() <= maxBits
}

func (p *parser) sum() (*big.Rat, bool) {
	r, ok := p.product()
	for ok {
		c := p.peek()
		if c != '+' && c != '-' {
			return r, small(r)
		}
		p.i++
		t, ok2 := p.product()
		if !ok2 {
			return nil, false
		}
		if c == '+' {
			r = new(big.Rat).Add(r, t)
		} else {
			r = new(big.Rat).Sub(r, t)
		}
		if !small(r) {
			return nil, false
		}
	}
	return nil, false
}

func (p *parser) product() (*big.Rat, bool) {
	r, ok := p.unary()
	for ok {
		c := p.peek()
		switch {
		case c == '*' || c == '/':
			p.i++
			t, ok2 := p.unary()
			if !ok2 {
				return nil, false
			}
			if c == '*' {
				r = new(big.Rat).Mul(r, t)
			} else {
				if t.Sign() == 0 {
					return nil, false
				}
				r = new(big.Rat).Quo(r, t)
			}
		case c == '(':
			// Implicit multiplication by a parenthesis: 3(2+1), (1)(2).
			t, ok2 := p.unary()
			if !ok2 {
				return nil, false
			}
			r = new(big.Rat).Mul(r, t)
		default:
			return r, true
		}
		if !small(r) {
			return nil, false
		}
	}
	return nil, false
}

func (p *parser) unary() (*big.Rat, bool) {
	p.depth++
	defer func() { p.depth-- }()
	if p.depth > maxDepth {
		return nil, false
	}
	switch p.peek() {
	case '-':
		p.i++
		r, ok := p.unary()
		if !ok {
			return nil, false
		}
		return new(big.Rat).Neg(r), true
	case '+':
		p.i++
		return p.unary()
	}
	return p.power()
}

func (p *parser) power() (*big.Rat, bool) {
	base, ok := p.atom()
	if !ok {
		return nil, false
	}
	if p.peek() != '^' {
		return base, true
	}
	p.i++
	exp, ok := p.unary()
	if !ok || !exp.IsInt() || !exp.Num().IsInt64() {
		return nil, false
	}
	n := exp.Num().Int64()
	if n > maxExponent || n < -maxExponent {
		return nil, false
	}
	if n < 0 && base.Sign() == 0 {
		return nil, false
	}
	num := new(big.Int).Exp(base.Num(), big.NewInt(abs(n)), nil)
	den := new(big.Int).Exp(base.Denom(), big.NewInt(abs(n)), nil)
	r := new(big.Rat).SetFrac(num, den)
	if n < 0 {
		r.Inv(r)
	}
	return r, small(r)
}

func abs(n int64) int64 {
	if n < 0 {
		return -n
	}
	return n
}

func (p *parser) atom() (*big.Rat, bool) {
	c := p.peek()
	if c == '(' {
		p.depth++
		defer func() { p.depth-- }()
		if p.depth > maxDepth {
			return nil, false
		}
		p.i++
		r, ok := p.sum()
		if !ok || p.peek() != ')' {
			return nil, false
		}
		p.i++
		return r, true
	}
	return p.number()
}

// number reads a decimal literal: digits, an optional fraction, an
// optional exponent of at most maxExponent.
func (p *parser) number() (*big.Rat, bool) {
	p.space()
	start := p.i
	digits := 0
	for p.i < len(p.s) && isDigit(p.s[p.i]) {
		p.i++
		digits++
	}
	if p.i < len(p.s) && p.s[p.i] == '.' {
		p.i++
		for p.i < len(p.s) && isDigit(p.s[p.i]) {
			p.i++
			digits++
		}
	}
	if digits == 0 || digits > maxDigits {
		return nil, false
	}
	mant := p.s[start:p.i]
	exp := int64(0)
	if p.i < len(p.s) && (p.s[p.i] == 'e' || p.s[p.i] == 'E') {
		j := p.i + 1
		neg := false
		if j < len(p.s) && (p.s[j] == '+' || p.s[j] == '-') {
			neg = p.s[j] == '-'
			j++
		}
		k := j
		for k < len(p.s) && isDigit(p.s[k]) && k-j < 4 {
			exp = exp*10 + int64(p.s[k]-'0')
			k++
		}
		if k > j {
			if exp > maxExponent {
				return nil, false
			}
			if neg {
				exp = -exp
			}
			p.i = k
		} else {
			exp = 0
		}
	}
	r, ok := new(big.Rat).SetString(strings.TrimSuffix(mant, "."))
	if !ok {
		return nil, false
	}
	if exp != 0 {
		scale := new(big.Rat).SetInt(new(big.Int).Exp(big.NewInt(10), big.NewInt(abs(exp)), nil))
		if exp > 0 {
			r.Mul(r, scale)
		} else {
			r.Quo(r, scale)
		}
	}
	return r, small(r)
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// IsNumber reports whether s reads as a number or an expression of numbers.
func IsNumber(s string) bool {
	v := read(s)
	return len(v.elems) == 1 && v.elems[0].num != nil
}
