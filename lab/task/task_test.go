package task

import (
	"errors"
	"math/big"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

func TestSolve(t *testing.T) {
	for _, tc := range []struct {
		task   string
		prompt string
		want   string
	}{
		{"reverse-addition", "321+654=", "9750"},
		{"reverse-addition", "9+1=", "01"},
		{"reverse-addition", "99+1=", "001"},
		{"reverse-addition", "0+0=", "00"},
		{"reverse-addition", "5+5=", "01"},
		{"reverse-addition", "12+0=", "120"},
		{"reverse-addition", "10+00=", "100"},
		{"reverse-addition", "99999+99999=", "899991"},
		{"multiplication", "21*3=", "630"},
		{"multiplication", "9*9=", "18"},
		{"multiplication", "0*7=", "00"},
		{"multiplication", "99*99=", "1089"},
		{"multiplication", "01*01=", "0010"},
		{"long-multiplication", "21*43=", "840;630:8040#8040"},
		{"long-multiplication", "9*9=", "18#18"},
		{"long-multiplication", "99*99=", "198;198:1089#1089"},
		{"long-multiplication", "5*21=", "01;50:060#060"},
		{"long-multiplication", "1*", ""},
		{"copy", "ab3=", "ab3"},
		{"copy", "==", ""},
		{"reverse", "ab3=", "3ba"},
		{"reverse", "x=", "x"},
	} {
		task, err := Lookup(tc.task)
		if err != nil {
			t.Fatal(err)
		}
		got, err := task.(Shape).Solve(tc.prompt)
		if tc.want == "" {
			if !errors.Is(err, ErrPrompt) {
				t.Errorf("%s.Solve(%q) = %q, %v; want ErrPrompt", tc.task, tc.prompt, got, err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("%s.Solve(%q) = %q, %v; want %q", tc.task, tc.prompt, got, err, tc.want)
		}
	}
}

func TestVerify(t *testing.T) {
	add, _ := Lookup("reverse-addition")
	p := Problem{Prompt: "321+654=", Answer: "wrong label", Difficulty: 3}
	for _, tc := range []struct {
		answer string
		want   bool
	}{
		{"9750", true},
		{" 9750\n", true},
		{"975", false}, // the sum is padded to n+1 digits
		{"97500", false},
		{"0579", false},
		{"", false},
	} {
		if got := add.Verify(p, tc.answer); got != tc.want {
			t.Errorf("Verify(%q, %q) = %v, want %v", p.Prompt, tc.answer, got, tc.want)
		}
	}
	if add.Verify(Problem{Prompt: "12-3="}, "9") {
		t.Error("Verify accepted an answer to a malformed prompt")
	}
}

func TestLookupUnknown(t *testing.T) {
	if _, err := Lookup("division"); !errors.Is(err, ErrUnknown) {
		t.Fatalf("Lookup(division) error = %v, want ErrUnknown", err)
	}
	if got, want := Names(), []string{"copy", "long-multiplication", "multiplication", "reverse", "reverse-addition"}; !slices.Equal(got, want) {
		t.Fatalf("Names() = %v, want %v", got, want)
	}
}

// reversedInt reads a least-significant-first digit string.
func reversedInt(s string) *big.Int {
	b := []byte(s)
	slices.Reverse(b)
	n, _ := new(big.Int).SetString(string(b), 10)
	return n
}

func TestGenerate(t *testing.T) {
	for _, name := range Names() {
		task, _ := Lookup(name)
		sh := task.(Shape)
		for d := 0; d <= 40; d++ {
			rng := rand.New(rand.NewPCG(uint64(d), 3))
			for range 50 {
				p := task.Generate(rng, d)
				if p.Difficulty != max(d, 1) {
					t.Fatalf("%s: Generate(%d).Difficulty = %d", name, d, p.Difficulty)
				}
				if !task.Verify(p, p.Answer) {
					t.Fatalf("%s: Verify(%+v, own answer) = false", name, p)
				}
				lo, hi := sh.AnswerLen(d)
				if n := len(p.Answer); n < lo || n > hi {
					t.Fatalf("%s: %+v answer length %d outside [%d, %d]", name, p, n, lo, hi)
				}
				for _, r := range p.Prompt + p.Answer {
					if !strings.ContainsRune(sh.Alphabet(), r) {
						t.Fatalf("%s: %+v has %q outside the alphabet", name, p, r)
					}
				}
				switch name {
				case "reverse-addition", "multiplication":
					op := map[string]string{"reverse-addition": "+", "multiplication": "*"}[name]
					a, b, _ := strings.Cut(strings.TrimSuffix(p.Prompt, "="), op)
					if len(a) != p.Difficulty || len(b) != p.Difficulty {
						t.Fatalf("%s: %q operands are not %d digits", name, p.Prompt, p.Difficulty)
					}
					want := new(big.Int).Add(reversedInt(a), reversedInt(b))
					if op == "*" {
						want = new(big.Int).Mul(reversedInt(a), reversedInt(b))
					}
					if got := reversedInt(p.Answer); got.Cmp(want) != 0 {
						t.Fatalf("%s: %q answer %q reads %v, want %v", name, p.Prompt, p.Answer, got, want)
					}
				case "long-multiplication":
					direct, _ := Multiplication{}.Solve(p.Prompt)
					if got, ok := (LongMultiplication{}).Final(p.Answer); !ok || got != direct {
						t.Fatalf("%s: %q final answer %q, want %q", name, p.Prompt, got, direct)
					}
				case "copy", "reverse":
					if len(p.Prompt) != p.Difficulty+1 {
						t.Fatalf("%s: %q is not %d characters and =", name, p.Prompt, p.Difficulty)
					}
				}
			}
		}
	}
}

func TestGenerateDeterministic(t *testing.T) {
	for _, name := range Names() {
		task, _ := Lookup(name)
		a, b := rand.New(rand.NewPCG(42, 1)), rand.New(rand.NewPCG(42, 1))
		for d := 1; d < 20; d++ {
			if p, q := task.Generate(a, d), task.Generate(b, d); p != q {
				t.Fatalf("%s: same seed gave %+v and %+v", name, p, q)
			}
		}
	}
}

// FuzzVerify checks that no prompt or answer makes Solve or Verify panic,
// that Verify accepts exactly Solve's answer, and that reverse addition and
// multiplication agree with math/big on every well-formed prompt.
func FuzzVerify(f *testing.F) {
	for _, s := range []string{"321+654=", "9*9=", "ab3=", "", "=", "+=", "1+=", "00+00=", "12*3", "é="} {
		f.Add(s, "975")
	}
	f.Fuzz(func(t *testing.T, prompt, answer string) {
		for _, name := range Names() {
			task, _ := Lookup(name)
			sh := task.(Shape)
			want, err := sh.Solve(prompt)
			got := task.Verify(Problem{Prompt: prompt}, answer)
			if err != nil {
				if !errors.Is(err, ErrPrompt) || got {
					t.Fatalf("%s: Solve(%q) error %v, Verify = %v", name, prompt, err, got)
				}
				continue
			}
			if got != (strings.TrimSpace(answer) == want) {
				t.Fatalf("%s: Verify(%q, %q) = %v, Solve = %q", name, prompt, answer, got, want)
			}
			if !task.Verify(Problem{Prompt: prompt}, want) {
				t.Fatalf("%s: Verify rejects Solve's answer %q to %q", name, want, prompt)
			}
			op := map[string]string{"reverse-addition": "+", "multiplication": "*"}[name]
			if op == "" {
				continue
			}
			a, b, _ := strings.Cut(strings.TrimSuffix(prompt, "="), op)
			x, y := reversedInt(a), reversedInt(b)
			exp := new(big.Int).Add(x, y)
			if op == "*" {
				exp.Mul(x, y)
			}
			if reversedInt(want).Cmp(exp) != 0 {
				t.Fatalf("%s: Solve(%q) = %q, want %v reversed", name, prompt, want, exp)
			}
		}
	})
}

func TestGenerateOperands(t *testing.T) {
	var op Operands = ReverseAddition{}
	rng := rand.New(rand.NewPCG(5, 5))
	for _, tc := range []struct{ la, lb, want int }{{3, 7, 7}, {7, 3, 7}, {1, 1, 1}, {0, 2, 2}} {
		p := op.GenerateOperands(rng, tc.la, tc.lb)
		a, b, _ := strings.Cut(strings.TrimSuffix(p.Prompt, "="), "+")
		if len(a) != max(tc.la, 1) || len(b) != max(tc.lb, 1) || p.Difficulty != tc.want || len(p.Answer) != tc.want+1 {
			t.Errorf("GenerateOperands(%d, %d) = %+v", tc.la, tc.lb, p)
		}
		if !(ReverseAddition{}).Verify(p, p.Answer) {
			t.Errorf("GenerateOperands(%d, %d) = %+v: wrong answer", tc.la, tc.lb, p)
		}
	}
	// Generate is GenerateOperands with equal lengths, draw for draw.
	r1, r2 := rand.New(rand.NewPCG(9, 9)), rand.New(rand.NewPCG(9, 9))
	if p, q := (ReverseAddition{}).Generate(r1, 5), op.GenerateOperands(r2, 5, 5); p != q {
		t.Errorf("Generate(5) = %+v, GenerateOperands(5, 5) = %+v", p, q)
	}
}

// TestLongMultiplicationWorking checks every number of the working against
// big-integer arithmetic, and that Verify looks only at the final answer
// while WorkingRight looks only at the working.
func TestLongMultiplicationWorking(t *testing.T) {
	var lm LongMultiplication
	rng := rand.New(rand.NewPCG(4, 4))
	for range 300 {
		p := lm.GenerateOperands(rng, 1+rng.IntN(6), 1+rng.IntN(6))
		a, b, _ := strings.Cut(strings.TrimSuffix(p.Prompt, "="), "*")
		work, _, _ := strings.Cut(p.Answer, "#")
		sum := new(big.Int)
		for j, step := range strings.Split(work, ";") {
			part, run, hasRun := strings.Cut(step, ":")
			want := new(big.Int).Mul(reversedInt(a), big.NewInt(int64(b[j]-'0')))
			if len(part) != len(a)+1 || reversedInt(part).Cmp(want) != 0 {
				t.Fatalf("%q: partial product %d is %q, want %v in %d digits", p.Prompt, j, part, want, len(a)+1)
			}
			sum.Add(sum, want.Mul(want, new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(j)), nil)))
			if hasRun != (j > 0) {
				t.Fatalf("%q: step %d %q: a running sum is written from the second step on", p.Prompt, j, step)
			}
			if hasRun && (len(run) != len(a)+j+1 || reversedInt(run).Cmp(sum) != 0) {
				t.Fatalf("%q: running sum %d is %q, want %v in %d digits", p.Prompt, j, run, sum, len(a)+j+1)
			}
		}
		if len(p.Answer) != workedLen(len(a), len(b)) {
			t.Fatalf("%q: answer of %d characters, workedLen says %d", p.Prompt, len(p.Answer), workedLen(len(a), len(b)))
		}
	}
	p := Problem{Prompt: "21*43="}
	for _, tc := range []struct {
		answer        string
		verified, was bool
	}{
		{"840;630:8040#8040", true, true},
		{" 840;630:8040#8040\n", true, false}, // white space around the answer belongs to the working
		{"#8040", true, false},                // no working, right product
		{"840;630:8041#8040", true, false},    // wrong working, right product
		{"840;630:8040#8041", false, true},    // right working, wrong product
		{"840;630:8040", false, false},        // no final answer
		{"8040", false, false},
	} {
		if got := lm.Verify(p, tc.answer); got != tc.verified {
			t.Errorf("Verify(%q) = %v, want %v", tc.answer, got, tc.verified)
		}
		if got := lm.WorkingRight(p, tc.answer); got != tc.was {
			t.Errorf("WorkingRight(%q) = %v, want %v", tc.answer, got, tc.was)
		}
	}
}

func TestParse(t *testing.T) {
	for _, tc := range []struct {
		task, prompt string
		want         int // difficulty; 0 for a malformed prompt
	}{
		{"reverse-addition", "321+65=", 3},
		{"reverse-addition", "3+6543=", 4},
		{"multiplication", "21*3=", 2},
		{"long-multiplication", "2*431=", 3},
		{"copy", "ab3=", 3},
		{"reverse", "x=", 1},
		{"copy", "ab3", 0},
		{"reverse-addition", "12+=", 0},
		{"long-multiplication", "12+3=", 0},
	} {
		tk, _ := Lookup(tc.task)
		p, err := Parse(tk, tc.prompt)
		if tc.want == 0 {
			if !errors.Is(err, ErrPrompt) {
				t.Errorf("Parse(%s, %q) = %+v, %v; want ErrPrompt", tc.task, tc.prompt, p, err)
			}
			continue
		}
		if err != nil || p.Difficulty != tc.want || p.Prompt != tc.prompt || p.Answer != "" {
			t.Errorf("Parse(%s, %q) = %+v, %v; want difficulty %d", tc.task, tc.prompt, p, err, tc.want)
		}
	}
	// Every generated problem parses back to its difficulty.
	for _, name := range Names() {
		tk, _ := Lookup(name)
		rng := rand.New(rand.NewPCG(1, 1))
		for d := 1; d < 9; d++ {
			p := tk.Generate(rng, d)
			if q, err := Parse(tk, p.Prompt); err != nil || q.Difficulty != d {
				t.Errorf("%s: Parse(%q) = %+v, %v; want difficulty %d", name, p.Prompt, q, err, d)
			}
		}
	}
}

func TestSwap(t *testing.T) {
	for _, c := range []struct {
		t      Commutative
		prompt string
		want   string
		ok     bool
	}{
		{ReverseAddition{}, "12+345=", "345+12=", true},
		{Multiplication{}, "9*87=", "87*9=", true},
		{ReverseAddition{}, "12*345=", "", false},
		{ReverseAddition{}, "12+345", "", false},
	} {
		got, ok := c.t.Swap(c.prompt)
		if got != c.want || ok != c.ok {
			t.Errorf("Swap(%q) = %q, %v; want %q, %v", c.prompt, got, ok, c.want, c.ok)
		}
	}
	// Swapping never changes the true answer.
	rng := rand.New(rand.NewPCG(1, 1))
	for _, tk := range []Task{ReverseAddition{}, Multiplication{}} {
		for range 50 {
			p := tk.Generate(rng, 1+rng.IntN(9))
			if op, ok := tk.(Operands); ok {
				p = op.GenerateOperands(rng, 1+rng.IntN(9), 1+rng.IntN(9))
			}
			q, _ := tk.(Commutative).Swap(p.Prompt)
			if a, _ := tk.(Shape).Solve(q); a != p.Answer {
				t.Fatalf("%s: %q answers %q, swapped %q answers %q", tk.Name(), p.Prompt, p.Answer, q, a)
			}
		}
	}
}

func FuzzSwap(f *testing.F) {
	f.Add("12+345=")
	f.Add("+=")
	f.Fuzz(func(t *testing.T, prompt string) {
		q, ok := ReverseAddition{}.Swap(prompt)
		if !ok {
			return
		}
		if back, ok := (ReverseAddition{}).Swap(q); !ok || back != prompt {
			t.Errorf("Swap(Swap(%q)) = %q, %v", prompt, back, ok)
		}
	})
}
