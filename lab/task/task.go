// Package task defines verifiable problems for the offline lab: a generator by
// difficulty and an exact verifier per task.
package task

import (
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"strings"
)

// Problem is one instance of a task. Prompt is what a model is shown, Answer
// its label (the true answer for generated problems, a model's answer for
// self-labelled ones), Difficulty the number of digits or characters.
type Problem struct {
	Prompt     string `json:"prompt"`
	Answer     string `json:"answer"`
	Difficulty int    `json:"difficulty"`
}

// Task is a problem generator and verifier. Implementations are stateless and
// safe for concurrent use; randomness comes only from the rng passed in, so a
// seeded rng reproduces the same problems.
type Task interface {
	Name() string
	// Generate returns a problem of the given difficulty (values below 1 are
	// taken as 1) with its true answer.
	Generate(rng *rand.Rand, difficulty int) Problem
	// Verify reports whether answer, trimmed of surrounding white space, is
	// exactly the true answer to p.Prompt. It solves the prompt itself and
	// ignores p.Answer, so it also checks labels a model wrote.
	Verify(p Problem, answer string) bool
}

// Shape is what the lab needs beyond Task to build a tokenizer and a length
// filter. Every task of this package implements it.
type Shape interface {
	// Alphabet holds every character a prompt or an answer can contain.
	Alphabet() string
	// AnswerLen is the shortest and longest length in characters of a true
	// answer at difficulty d.
	AnswerLen(d int) (lo, hi int)
	// Solve returns the true answer of a prompt, or ErrPrompt.
	Solve(prompt string) (string, error)
}

// ErrPrompt reports a prompt that is not of the task's form.
var ErrPrompt = errors.New("task: malformed prompt")

// ErrUnknown reports a task name Lookup does not know.
var ErrUnknown = errors.New("task: unknown task")

var tasks = map[string]Task{
	"reverse-addition":    ReverseAddition{},
	"multiplication":      Multiplication{},
	"long-multiplication": LongMultiplication{},
	"copy":                Copy{},
	"reverse":             Reverse{},
}

// Names lists the tasks Lookup knows, sorted.
func Names() []string { return slices.Sorted(maps.Keys(tasks)) }

// Lookup returns the task of a name: "reverse-addition", "copy", "reverse",
// "multiplication" or "long-multiplication".
func Lookup(name string) (Task, error) {
	t, ok := tasks[name]
	if !ok {
		return nil, fmt.Errorf("%w %q (known: %s)", ErrUnknown, name, strings.Join(Names(), ", "))
	}
	return t, nil
}

// verify is the shared Verify: solve the prompt, compare the trimmed answer.
func verify(s Shape, p Problem, answer string) bool {
	want, err := s.Solve(p.Prompt)
	return err == nil && strings.TrimSpace(answer) == want
}

const digits = "0123456789"

// number returns n random digits, least significant first, with a non-zero
// most significant digit (the last one) unless n is 1.
func number(rng *rand.Rand, n int) string {
	b := make([]byte, n)
	for i := range b {
		b[i] = '0' + byte(rng.IntN(10))
	}
	if n > 1 {
		b[n-1] = '1' + byte(rng.IntN(9))
	}
	return string(b)
}

// twoNumbers draws the problem "A op B=" with operands of la and lb digits
// (at least 1), of difficulty max(la, lb), and its answer by solve.
func twoNumbers(rng *rand.Rand, la, lb int, op string, solve func(prompt string) (string, error)) Problem {
	la, lb = max(la, 1), max(lb, 1)
	p := number(rng, la) + op + number(rng, lb) + "="
	ans, _ := solve(p)
	return Problem{Prompt: p, Answer: ans, Difficulty: max(la, lb)}
}

// operands parses "A<op>B=" where A and B are non-empty digit strings.
func operands(prompt string, op byte) (a, b string, err error) {
	body, ok := strings.CutSuffix(prompt, "=")
	if !ok {
		return "", "", fmt.Errorf("%w: %q does not end with =", ErrPrompt, prompt)
	}
	a, b, ok = strings.Cut(body, string(op))
	if !ok || !isDigits(a) || !isDigits(b) {
		return "", "", fmt.Errorf("%w: %q is not digits%cdigits=", ErrPrompt, prompt, op)
	}
	return a, b, nil
}

func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// ReverseAddition is addition with the operands and the sum written least
// significant digit first, the sum padded with high zeros to one digit more
// than the longer operand, as in Lee et al. (2025): "321+654=" → "9750" is
// 123 + 456 = 0579, and "9+1=" → "01". Difficulty n gives two n-digit
// operands and an answer of exactly n+1 digits, so a length filter can check
// it without knowing the sum.
type ReverseAddition struct{}

func (ReverseAddition) Name() string                      { return "reverse-addition" }
func (ReverseAddition) Alphabet() string                  { return digits + "+=" }
func (ReverseAddition) AnswerLen(d int) (int, int)        { d = max(d, 1); return d + 1, d + 1 }
func (t ReverseAddition) Verify(p Problem, a string) bool { return verify(t, p, a) }

func (t ReverseAddition) Generate(rng *rand.Rand, d int) Problem {
	return t.GenerateOperands(rng, d, d)
}

// Operands is implemented by tasks with two numbers to combine: a problem
// whose operands have la and lb digits (values below 1 taken as 1), of
// difficulty max(la, lb). Lee et al. (2025) train addition on operands of
// independent lengths, which teaches a model to find digit i of each number
// wherever the other one ends.
type Operands interface {
	GenerateOperands(rng *rand.Rand, la, lb int) Problem
}

// Commutative is implemented by tasks whose two operands can swap places
// without changing the true answer. Swap returns the prompt with its
// operands swapped; it reads only the prompt, so a label-free check (the
// answers to both orders must agree) can use it without a true answer.
type Commutative interface {
	Swap(prompt string) (string, bool)
}

// swap swaps the operands of "A<op>B=".
func swap(prompt string, op byte) (string, bool) {
	a, b, err := operands(prompt, op)
	if err != nil {
		return "", false
	}
	return b + string(op) + a + "=", true
}

// Swap implements Commutative.
func (ReverseAddition) Swap(prompt string) (string, bool) { return swap(prompt, '+') }

// Swap implements Commutative.
func (Multiplication) Swap(prompt string) (string, bool) { return swap(prompt, '*') }

// GenerateOperands implements Operands.
func (t ReverseAddition) GenerateOperands(rng *rand.Rand, la, lb int) Problem {
	return twoNumbers(rng, la, lb, "+", t.Solve)
}

// Solve adds the reversed operands of "A+B=" into max(len(A), len(B))+1 digits.
func (ReverseAddition) Solve(prompt string) (string, error) {
	a, b, err := operands(prompt, '+')
	if err != nil {
		return "", err
	}
	out := make([]byte, 0, max(len(a), len(b))+1)
	carry := byte(0)
	for i := 0; i < max(len(a), len(b)); i++ {
		s := carry
		if i < len(a) {
			s += a[i] - '0'
		}
		if i < len(b) {
			s += b[i] - '0'
		}
		out = append(out, '0'+s%10)
		carry = s / 10
	}
	return string(append(out, '0'+carry)), nil
}

// Multiplication is multiplication in the same reversed-digit format, the
// product padded with high zeros to len(A)+len(B) digits: "21*3=" → "630"
// is 12 × 3 = 036. Difficulty n gives two n-digit operands and an answer of
// exactly 2n digits.
type Multiplication struct{}

func (Multiplication) Name() string                      { return "multiplication" }
func (Multiplication) Alphabet() string                  { return digits + "*=" }
func (Multiplication) AnswerLen(d int) (int, int)        { d = max(d, 1); return 2 * d, 2 * d }
func (t Multiplication) Verify(p Problem, a string) bool { return verify(t, p, a) }

func (t Multiplication) Generate(rng *rand.Rand, d int) Problem {
	return twoNumbers(rng, d, d, "*", t.Solve)
}

// Solve multiplies the reversed operands of "A*B=" by schoolbook long
// multiplication (operands may be long, so no fixed-width integers).
func (Multiplication) Solve(prompt string) (string, error) {
	a, b, err := operands(prompt, '*')
	if err != nil {
		return "", err
	}
	acc := make([]int, len(a)+len(b))
	for i := 0; i < len(a); i++ {
		for j := 0; j < len(b); j++ {
			acc[i+j] += int(a[i]-'0') * int(b[j]-'0')
		}
	}
	out := make([]byte, len(acc))
	carry := 0
	for i, v := range acc {
		v += carry
		out[i] = '0' + byte(v%10)
		carry = v / 10
	}
	return string(out), nil
}

const symbols = digits + "abcdefghijklmnopqrstuvwxyz"

// randomString returns n characters of symbols.
func randomString(rng *rand.Rand, n int) string {
	b := make([]byte, n)
	for i := range b {
		b[i] = symbols[rng.IntN(len(symbols))]
	}
	return string(b)
}

// body parses "S=" where S is a non-empty string of digits and lower-case letters.
func body(prompt string) (string, error) {
	s, ok := strings.CutSuffix(prompt, "=")
	if !ok || s == "" {
		return "", fmt.Errorf("%w: %q is not string=", ErrPrompt, prompt)
	}
	for i := 0; i < len(s); i++ {
		if strings.IndexByte(symbols, s[i]) < 0 {
			return "", fmt.Errorf("%w: %q has %q outside [0-9a-z]", ErrPrompt, prompt, s[i])
		}
	}
	return s, nil
}

// Copy repeats a string of digits and lower-case letters: "ab3=" → "ab3".
// Difficulty is the length of the string.
type Copy struct{}

func (Copy) Name() string                        { return "copy" }
func (Copy) Alphabet() string                    { return symbols + "=" }
func (Copy) AnswerLen(d int) (int, int)          { d = max(d, 1); return d, d }
func (t Copy) Verify(p Problem, a string) bool   { return verify(t, p, a) }
func (Copy) Solve(prompt string) (string, error) { return body(prompt) }

func (t Copy) Generate(rng *rand.Rand, d int) Problem {
	d = max(d, 1)
	s := randomString(rng, d)
	return Problem{Prompt: s + "=", Answer: s, Difficulty: d}
}

// Reverse writes a string of digits and lower-case letters backwards:
// "ab3=" → "3ba". Difficulty is the length of the string.
type Reverse struct{}

func (Reverse) Name() string                      { return "reverse" }
func (Reverse) Alphabet() string                  { return symbols + "=" }
func (Reverse) AnswerLen(d int) (int, int)        { d = max(d, 1); return d, d }
func (t Reverse) Verify(p Problem, a string) bool { return verify(t, p, a) }

func (Reverse) Solve(prompt string) (string, error) {
	s, err := body(prompt)
	if err != nil {
		return "", err
	}
	b := []byte(s)
	slices.Reverse(b)
	return string(b), nil
}

func (t Reverse) Generate(rng *rand.Rand, d int) Problem {
	d = max(d, 1)
	s := randomString(rng, d)
	ans, _ := t.Solve(s + "=")
	return Problem{Prompt: s + "=", Answer: ans, Difficulty: d}
}

// Worked is implemented by tasks whose answers show their working before a
// final answer, the reasoning tasks: a model may write the working well or
// badly, and only the final answer is verified.
type Worked interface {
	// Final returns the final answer of a worked answer: the text after its
	// last '#', or false when it has none.
	Final(answer string) (string, bool)
	// WorkingRight reports whether answer's working, everything before the
	// final answer, is the true working of p.Prompt. It measures the
	// working for reports; Verify never looks at it.
	WorkingRight(p Problem, answer string) bool
}

// LongMultiplication is Multiplication with its working shown, as a pupil
// writes long multiplication: for each digit b_j of B, the partial product
// A·b_j, and from the second on the running sum of the partial products so
// far; then '#' and the product. All numbers are reversed (least
// significant digit first) and padded with high zeros: a partial product to
// len(A)+1 digits, the running sum after digit j to len(A)+j+1, the product
// to len(A)+len(B). So 12 × 34 = 408, prompted "21*43=", is answered
//
//	840;630:8040#8040
//
// (48, then 36 and 48 + 360 = 408). Each number of the working depends on
// a few digits nearby, which a small model learns; the product emitted
// directly (the multiplication task) is a much harder function. Verify
// checks only the final answer, so a model is free to find other working.
type LongMultiplication struct{}

func (LongMultiplication) Name() string     { return "long-multiplication" }
func (LongMultiplication) Alphabet() string { return digits + "*=;:#" }

// AnswerLen is the worked answer's length for two d-digit operands, which
// only depends on the operands' lengths.
func (LongMultiplication) AnswerLen(d int) (int, int) {
	d = max(d, 1)
	n := workedLen(d, d)
	return n, n
}

// workedLen is the length of the worked answer to an la-digit by lb-digit
// product.
func workedLen(la, lb int) int {
	n := lb*(la+1) + (la + lb) + 1 // partial products, product, '#'
	for j := 1; j < lb; j++ {
		n += la + j + 1 + 2 // running sum, ';' and ':'
	}
	return n
}

func (t LongMultiplication) Verify(p Problem, a string) bool {
	want, err := t.Solve(p.Prompt)
	if err != nil {
		return false
	}
	w, _ := t.Final(want)
	got, ok := t.Final(strings.TrimSpace(a))
	return ok && got == w
}

func (LongMultiplication) Final(answer string) (string, bool) {
	i := strings.LastIndexByte(answer, '#')
	if i < 0 {
		return "", false
	}
	return answer[i+1:], true
}

func (t LongMultiplication) WorkingRight(p Problem, answer string) bool {
	want, err := t.Solve(p.Prompt)
	if err != nil {
		return false
	}
	i, j := strings.LastIndexByte(want, '#'), strings.LastIndexByte(answer, '#')
	return j >= 0 && answer[:j] == want[:i]
}

func (t LongMultiplication) Generate(rng *rand.Rand, d int) Problem {
	return t.GenerateOperands(rng, d, d)
}

// GenerateOperands implements Operands.
func (t LongMultiplication) GenerateOperands(rng *rand.Rand, la, lb int) Problem {
	return twoNumbers(rng, la, lb, "*", t.Solve)
}

// Solve returns the worked answer of "A*B=".
func (LongMultiplication) Solve(prompt string) (string, error) {
	a, b, err := operands(prompt, '*')
	if err != nil {
		return "", err
	}
	var out strings.Builder
	var sum []int // reversed digits of the running sum
	for j := 0; j < len(b); j++ {
		part := make([]int, len(a)+1)
		carry := 0
		for i := 0; i < len(a); i++ {
			v := int(a[i]-'0')*int(b[j]-'0') + carry
			part[i], carry = v%10, v/10
		}
		part[len(a)] = carry
		if j > 0 {
			out.WriteByte(';')
		}
		writeDigits(&out, part)
		if j == 0 {
			sum = part
			continue
		}
		next := make([]int, len(a)+j+1)
		carry = 0
		for k := range next {
			v := carry
			if k < len(sum) {
				v += sum[k]
			}
			if k >= j && k-j < len(part) {
				v += part[k-j]
			}
			next[k], carry = v%10, v/10
		}
		sum = next
		out.WriteByte(':')
		writeDigits(&out, sum)
	}
	out.WriteByte('#')
	writeDigits(&out, sum)
	return out.String(), nil
}

func writeDigits(b *strings.Builder, ds []int) {
	for _, d := range ds {
		b.WriteByte('0' + byte(d))
	}
}

// Parse reads a prompt of t's grammar, as a model that invents problems
// writes one, into a problem with its difficulty (and no answer). A prompt
// t cannot solve is ErrPrompt.
func Parse(t Task, prompt string) (Problem, error) {
	sh, ok := t.(Shape)
	if !ok {
		return Problem{}, fmt.Errorf("task: %s has no grammar to parse", t.Name())
	}
	if _, err := sh.Solve(prompt); err != nil {
		return Problem{}, err
	}
	d := len(prompt) - 1 // copy and reverse: the string before '='
	if _, ok := t.(Operands); ok || t.Name() == "multiplication" {
		a, b, _ := strings.Cut(strings.TrimSuffix(prompt, "="), string(prompt[strings.IndexAny(prompt, "+*")]))
		d = max(len(a), len(b))
	}
	return Problem{Prompt: prompt, Difficulty: d}, nil
}
