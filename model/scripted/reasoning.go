package scripted

import (
	"fmt"
	"math/big"
	"math/rand/v2"
	"regexp"
	"strings"

	"github.com/synthloop/synthloop/model"
)

// The reasoning stand-in answers prompts that ask for a \boxed{} answer to
// an arithmetic word problem (the reasoning stage's default prompt). It
// reads the problem sentence by sentence into steps (a start value, then
// add, take away, multiply, share, percent off), works them out exactly,
// and writes its reasoning step by step with the answer boxed. It slips
// on purpose: each step goes wrong by one with probability 0.1, so longer
// problems fail more often and a verifier has something to reject, the
// way a real model's pass rate falls with difficulty.
//
// Where the reasoning goes depends on the request, as with real models:
// a request with reasoning_effort or a thinking budget gets it apart in
// Choice.Reasoning and a short stated answer as the text; otherwise it is
// inline, and a third of those wrap it in <think></think> the way R1-style
// models served without a reasoning parser do.

// step is one operation read from a sentence.
type step struct {
	op byte // '=' start, '+', '-', '*', '/', '%' (percent off)
	n  *big.Rat
}

var (
	wordNumRe = regexp.MustCompile(`\d{1,3}(?:,\d{3})+|\d+`)
	problemRe = regexp.MustCompile(`(?s)(?:Problem|問題)\s*[:：]\s*(.+)$`)
)

// verbs map the words of a sentence to its operation, first match wins.
var verbs = []struct {
	re *regexp.Regexp
	op byte
}{
	{regexp.MustCompile(`%\s*off|\bpercent off\b`), '%'},
	{regexp.MustCompile(`\b(?:equally (?:among|between|into)|equal (?:pieces|groups)|shares? them|splits?)\b`), '/'},
	{regexp.MustCompile(`\b(?:each|times as many|per)\b`), '*'},
	{regexp.MustCompile(`\b(?:gives away|eats|loses|sells|spends|uses?|breaks|leaves?)\b`), '-'},
	{regexp.MustCompile(`\b(?:buys|gets|finds|receives|more|adds|earns|picks|arrives?|joins?)\b`), '+'},
}

// phrases say what each operation does, in the trace.
var phrases = map[byte]string{'+': "Adding", '-': "Taking away", '*': "Multiplying by", '/': "Dividing by"}

// arithmeticProblem reads the problem of a reasoning prompt into steps; ok
// is false for every other prompt.
func arithmeticProblem(prompt string) ([]step, bool) {
	if !strings.Contains(prompt, `\boxed`) {
		return nil, false
	}
	m := problemRe.FindStringSubmatch(prompt)
	if m == nil {
		return nil, false
	}
	var steps []step
	for _, sent := range strings.FieldsFunc(m[1], func(r rune) bool { return r == '.' || r == '?' || r == '!' || r == '\n' }) {
		// A decimal point ends a sentence here too: the stand-in reads whole
		// numbers and percentages, which is all its problems use.
		low := strings.ToLower(sent)
		nums := wordNumRe.FindAllString(low, -1)
		if strings.Contains(low, "half") && len(nums) == 0 && len(steps) > 0 {
			steps = append(steps, step{op: '/', n: big.NewRat(2, 1)})
			continue
		}
		if len(nums) == 0 {
			continue
		}
		op := byte('+')
		for _, v := range verbs {
			if v.re.MatchString(low) {
				op = v.op
				break
			}
		}
		for _, s := range nums {
			n, _ := new(big.Rat).SetString(strings.ReplaceAll(s, ",", ""))
			if len(steps) == 0 {
				// The first number starts the count: "8 trays with 6 on
				// each" starts at 8, then multiplies by 6.
				steps = append(steps, step{op: '=', n: n})
				continue
			}
			steps = append(steps, step{op: op, n: n})
		}
	}
	if len(steps) < 2 {
		return nil, false
	}
	return steps, true
}

// solve works the steps out, slipping now and then, and returns the
// reasoning and the stated answer.
func solve(r *rand.Rand, steps []step) (trace, final string) {
	var b strings.Builder
	b.WriteString("Let me work through the problem step by step.\n")
	cur := new(big.Rat)
	for _, s := range steps {
		prev := new(big.Rat).Set(cur)
		switch s.op {
		case '=':
			cur.Set(s.n)
			fmt.Fprintf(&b, "We start with %s.\n", ratText(cur))
			continue
		case '+':
			cur.Add(cur, s.n)
		case '-':
			cur.Sub(cur, s.n)
		case '*':
			cur.Mul(cur, s.n)
		case '/':
			if s.n.Sign() != 0 {
				cur.Quo(cur, s.n)
			}
		case '%':
			off := new(big.Rat).Mul(cur, new(big.Rat).Quo(s.n, big.NewRat(100, 1)))
			cur.Sub(cur, off)
		}
		if r.Float64() < 0.1 {
			cur.Add(cur, big.NewRat(int64(1-2*r.IntN(2)), 1)) // an arithmetic slip
		}
		sym := map[byte]string{'+': "+", '-': "-", '*': "×", '/': "÷"}[s.op]
		if s.op == '%' {
			fmt.Fprintf(&b, "Taking %s%% off %s leaves %s.\n", ratText(s.n), ratText(prev), ratText(cur))
		} else {
			fmt.Fprintf(&b, "%s %s: %s %s %s = %s.\n", phrases[s.op], ratText(s.n), ratText(prev), sym, ratText(s.n), ratText(cur))
		}
	}
	b.WriteString("Let me check the steps once more: each one follows from the last.")
	return b.String(), latexNumber(cur)
}

func ratText(x *big.Rat) string { return x.RatString() }

// latexNumber writes a non-integer as \frac{a}{b}, as a math model would.
func latexNumber(x *big.Rat) string {
	if x.IsInt() {
		return x.RatString()
	}
	sign := ""
	if x.Sign() < 0 {
		sign = "-"
	}
	a := new(big.Int).Abs(x.Num())
	return fmt.Sprintf(`%s\frac{%s}{%s}`, sign, a, x.Denom())
}

// reasoningReply answers a reasoning prompt; ok is false for other prompts.
func reasoningReply(r *rand.Rand, req model.Request, prompt string) (txt, reasoning string, ok bool) {
	steps, ok := arithmeticProblem(prompt)
	if !ok {
		return "", "", false
	}
	trace, final := solve(r, steps)
	stated := fmt.Sprintf(`The answer is \boxed{%s}.`, final)
	switch {
	case req.ReasoningEffort != "" || req.ThinkingBudget > 0:
		return stated, trace, true
	case r.IntN(3) == 0:
		return "<think>\n" + trace + "\n</think>\n\n" + stated, "", true
	}
	return trace + "\nSo " + strings.ToLower(stated[:1]) + stated[1:], "", true
}
