package scripted

import (
	"fmt"
	"math/rand/v2"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"unicode"
)

// The code stand-in answers the prompts of stage/codet for the functions
// of codeTasks: a solution prompt gets a Python function, right with
// probability 0.6 and otherwise one of the task's plausible bugs; a test
// prompt gets assert lines on random inputs, each expected value worked
// out in Go and wrong (off by one, or another plausible value) with
// probability 0.2. That is the situation CodeT is for: neither the
// solutions nor the tests can be trusted alone, and their agreement picks
// out the right ones.

// codeTask is one function-writing problem.
type codeTask struct {
	name, params, desc string
	good               string   // a correct Python definition
	bad                []string // plausible wrong ones
	// input returns the Python arguments of a random call and the correct
	// result and a plausible wrong one, as Python literals.
	input func(r *rand.Rand) (args, want, wrong string)
}

func (t codeTask) problem() string {
	return fmt.Sprintf("Write a Python function `%s(%s)` that %s", t.name, t.params, t.desc)
}

func pyList(xs []int) string {
	s := make([]string, len(xs))
	for i, x := range xs {
		s[i] = strconv.Itoa(x)
	}
	return "[" + strings.Join(s, ", ") + "]"
}

func randInts(r *rand.Rand, n, lo, hi int) []int {
	xs := make([]int, n)
	for i := range xs {
		xs[i] = lo + r.IntN(hi-lo+1)
	}
	return xs
}

var codeWords = []string{"apple", "Echo", "sky", "banana", "Idea", "rhythm", "ocean", "tree", "Umbrella", "glass"}

var codeTasks = []codeTask{
	{name: "sum_even", params: "xs", desc: "returns the sum of the even numbers in the list of integers xs (0 for an empty list).",
		good: "def sum_even(xs):\n    return sum(x for x in xs if x % 2 == 0)",
		bad:  []string{"def sum_even(xs):\n    return sum(x for x in xs if x % 2 == 1)", "def sum_even(xs):\n    return sum(xs)"},
		input: func(r *rand.Rand) (string, string, string) {
			xs := randInts(r, r.IntN(6), -9, 20)
			s := 0
			for _, x := range xs {
				if x%2 == 0 {
					s += x
				}
			}
			return pyList(xs), strconv.Itoa(s), strconv.Itoa(s + 2)
		}},
	{name: "count_vowels", params: "s", desc: "returns how many vowels (a, e, i, o, u, in either case) the string s contains.",
		good: "def count_vowels(s):\n    return sum(1 for c in s.lower() if c in 'aeiou')",
		bad:  []string{"def count_vowels(s):\n    return sum(1 for c in s if c in 'aeiou')", "def count_vowels(s):\n    return sum(1 for c in s.lower() if c in 'aeiouy')"},
		input: func(r *rand.Rand) (string, string, string) {
			w := pick(r, codeWords) + " " + pick(r, codeWords)
			n := 0
			for _, c := range strings.ToLower(w) {
				if strings.ContainsRune("aeiou", c) {
					n++
				}
			}
			return fmt.Sprintf("'%s'", w), strconv.Itoa(n), strconv.Itoa(n + 1)
		}},
	{name: "reverse_words", params: "s", desc: "returns the words of the string s in reverse order, joined by single spaces.",
		good: "def reverse_words(s):\n    return ' '.join(reversed(s.split()))",
		bad:  []string{"def reverse_words(s):\n    return s[::-1]", "def reverse_words(s):\n    return ' '.join(s.split()[1:][::-1])"},
		input: func(r *rand.Rand) (string, string, string) {
			ws := make([]string, 2+r.IntN(3))
			for i := range ws {
				ws[i] = pick(r, codeWords)
			}
			rev := slices.Clone(ws)
			slices.Reverse(rev)
			return fmt.Sprintf("'%s'", strings.Join(ws, " ")), fmt.Sprintf("'%s'", strings.Join(rev, " ")), fmt.Sprintf("'%s'", strings.Join(rev[1:], " "))
		}},
	{name: "max_gap", params: "xs", desc: "returns the largest absolute difference between two neighbouring elements of the list of integers xs, or 0 when it has fewer than two.",
		good: "def max_gap(xs):\n    return max((abs(a - b) for a, b in zip(xs, xs[1:])), default=0)",
		bad:  []string{"def max_gap(xs):\n    return max(xs) - min(xs) if xs else 0", "def max_gap(xs):\n    return max((b - a for a, b in zip(xs, xs[1:])), default=0)"},
		input: func(r *rand.Rand) (string, string, string) {
			xs := randInts(r, 2+r.IntN(4), 0, 30)
			g := 0
			for i := 1; i < len(xs); i++ {
				g = max(g, abs(xs[i]-xs[i-1]))
			}
			return pyList(xs), strconv.Itoa(g), strconv.Itoa(g - 1)
		}},
	{name: "is_palindrome", params: "s", desc: "returns True when the string s reads the same backwards as forwards, ignoring case and every character that is not a letter, and False otherwise.",
		good: "def is_palindrome(s):\n    t = [c.lower() for c in s if c.isalpha()]\n    return t == t[::-1]",
		bad:  []string{"def is_palindrome(s):\n    return s == s[::-1]", "def is_palindrome(s):\n    t = [c for c in s if c.isalpha()]\n    return t == t[::-1]"},
		input: func(r *rand.Rand) (string, string, string) {
			s := pick(r, []string{"Racecar", "Never odd, or even", "level", "Step on no pets", "banana", "Rhythm", "Noon!", "Abc cba", "Open"})
			t := []rune{}
			for _, c := range strings.ToLower(s) {
				if unicode.IsLetter(c) {
					t = append(t, c)
				}
			}
			rev := slices.Clone(t)
			slices.Reverse(rev)
			ok := string(t) == string(rev)
			return fmt.Sprintf("'%s'", s), pyBool(ok), pyBool(!ok)
		}},
	{name: "running_total", params: "xs", desc: "returns the list of running totals of the list of integers xs: element i is the sum of xs[0] to xs[i].",
		good: "def running_total(xs):\n    out, s = [], 0\n    for x in xs:\n        s += x\n        out.append(s)\n    return out",
		bad:  []string{"def running_total(xs):\n    out, s = [], 0\n    for x in xs:\n        out.append(s)\n        s += x\n    return out"},
		input: func(r *rand.Rand) (string, string, string) {
			xs := randInts(r, 1+r.IntN(5), -5, 12)
			out, s := make([]int, len(xs)), 0
			for i, x := range xs {
				s += x
				out[i] = s
			}
			wrong := slices.Clone(out)
			wrong[len(wrong)-1]++
			return pyList(xs), pyList(out), pyList(wrong)
		}},
	{name: "dedupe", params: "xs", desc: "returns the list xs without repeated elements, keeping the first occurrence of each in its original order.",
		good: "def dedupe(xs):\n    seen, out = set(), []\n    for x in xs:\n        if x not in seen:\n            seen.add(x)\n            out.append(x)\n    return out",
		bad:  []string{"def dedupe(xs):\n    return sorted(set(xs))", "def dedupe(xs):\n    return list(set(xs))"},
		input: func(r *rand.Rand) (string, string, string) {
			xs := randInts(r, 3+r.IntN(5), 0, 9)
			var out []int
			for _, x := range xs {
				if !slices.Contains(out, x) {
					out = append(out, x)
				}
			}
			wrong := slices.Clone(out)
			slices.Sort(wrong)
			if slices.Equal(wrong, out) {
				wrong = append(wrong, wrong[0])
			}
			return pyList(xs), pyList(out), pyList(wrong)
		}},
	{name: "digit_sum", params: "n", desc: "returns the sum of the decimal digits of the non-negative integer n.",
		good: "def digit_sum(n):\n    return sum(int(d) for d in str(n))",
		bad:  []string{"def digit_sum(n):\n    return n % 9", "def digit_sum(n):\n    return sum(int(d) for d in str(n)[1:])"},
		input: func(r *rand.Rand) (string, string, string) {
			n := r.IntN(100000)
			s := 0
			for _, d := range strconv.Itoa(n) {
				s += int(d - '0')
			}
			return strconv.Itoa(n), strconv.Itoa(s), strconv.Itoa(s + 1)
		}},
}

func abs(x int) int {
	if x < 0 {
		return -x
	}
	return x
}

func pyBool(b bool) string {
	if b {
		return "True"
	}
	return "False"
}

// taskOf finds the code task a prompt is about, by the function it names.
func taskOf(prompt string) (codeTask, bool) {
	for _, m := range functionCallRe.FindAllStringSubmatch(prompt, -1) {
		for _, t := range codeTasks {
			if t.name == m[1] {
				return t, true
			}
		}
	}
	return codeTask{}, false
}

var testCountRe = regexp.MustCompile(`Write (\d+) test cases`)

// codeReply answers a codet solution or test prompt about a known task;
// ok is false for other prompts.
func codeReply(r *rand.Rand, prompt string) (string, bool) {
	if !strings.Contains(prompt, "programming problem") {
		return "", false
	}
	t, ok := taskOf(prompt)
	if !ok {
		return "", false
	}
	if m := testCountRe.FindStringSubmatch(prompt); m != nil {
		n, _ := strconv.Atoi(m[1])
		var b strings.Builder
		b.WriteString("Here are the tests:\n```python\n")
		for range n {
			args, want, wrong := t.input(r)
			if r.Float64() < 0.2 {
				want = wrong
			}
			fmt.Fprintf(&b, "assert %s(%s) == %s\n", t.name, args, want)
		}
		b.WriteString("```")
		return b.String(), true
	}
	code := t.good
	if r.Float64() >= 0.6 {
		code = pick(r, t.bad)
	}
	return "```python\n" + code + "\n```", true
}
