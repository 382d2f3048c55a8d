package scripted

import (
	"context"
	"fmt"
	"math/big"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/synthloop/synthloop/model"
)

// eval works steps out exactly, as the reasoning stand-in does without slips.
func eval(steps []step) *big.Rat {
	cur := new(big.Rat)
	for _, s := range steps {
		switch s.op {
		case '=':
			cur.Set(s.n)
		case '+':
			cur.Add(cur, s.n)
		case '-':
			cur.Sub(cur, s.n)
		case '*':
			cur.Mul(cur, s.n)
		case '/':
			cur.Quo(cur, s.n)
		}
	}
	return cur
}

// TestInventedProblemsAreSolvable checks that every arithmetic problem the
// inventor writes is one the reasoning stand-in reads to its answer, so a
// vote among its samples establishes the right reference.
func TestInventedProblemsAreSolvable(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for i := range 500 {
		lo, hi := []int{1, 1, 2, 4}[i%4], []int{3, 1, 3, 5}[i%4] // any, easy, medium, hard
		p, want := arithmeticInvention(r, lo, hi)
		steps, ok := arithmeticProblem(`Solve it, answer in \boxed{}.` + "\n\nProblem: " + p)
		if !ok {
			t.Fatalf("the solver cannot read %q", p)
		}
		if got := eval(steps); got.Cmp(big.NewRat(int64(want), 1)) != 0 || want < 0 {
			t.Fatalf("%q: solver gets %s, inventor %d", p, got.RatString(), want)
		}
	}
}

func TestProblemsReply(t *testing.T) {
	prompt := "Here are some problems:\n\nProblem 1: Mia has 12 apples. She buys 7 more apples. How many apples does Mia have now?\n\n" +
		"Problem 2: Tom has 30 marbles. He shares them equally among 5 friends. How many marbles does each friend get?\n\n" +
		"Write 5 new problems of the same kind.\n\nProblem 3:"
	resp, err := New(1).Generate(context.Background(), model.Request{Messages: []model.Message{{Role: "user", Content: prompt}}})
	if err != nil {
		t.Fatal(err)
	}
	txt := resp.Choices[0].Text
	if n := strings.Count(txt, "\nProblem "); n != 4 || !strings.HasPrefix(txt, " ") {
		t.Fatalf("reply with %d more headers:\n%s", n, txt)
	}
	code := strings.ReplaceAll(prompt, "Mia has 12 apples. She buys 7 more apples. How many apples does Mia have now?", "Write a Python function `square_all(xs)` that squares each element.")
	resp, _ = New(1).Generate(context.Background(), model.Request{Messages: []model.Message{{Role: "user", Content: code}}})
	if !strings.Contains(resp.Choices[0].Text, "Write a Python function `") {
		t.Errorf("code seeds, reply:\n%s", resp.Choices[0].Text)
	}
}

// TestProblemsFollowDifficulty: asked for easy problems the inventor
// writes one step after the start, for hard ones four or five.
func TestProblemsFollowDifficulty(t *testing.T) {
	base := "Here are some problems:\n\nProblem 1: Mia has 12 apples. She buys 7 more apples. How many apples does Mia have now?\n\n" +
		"Every new problem must fit these attributes:\n- topic: shopping\n- difficulty: %s\n\nWrite 40 new problems of the same kind.\n\nProblem 2:"
	for _, tc := range []struct {
		difficulty string
		lo, hi     int
	}{{"easy", 1, 1}, {"medium", 2, 3}, {"hard", 4, 5}} {
		resp, err := New(1).Generate(context.Background(), model.Request{Messages: []model.Message{{Role: "user", Content: fmt.Sprintf(base, tc.difficulty)}}})
		if err != nil {
			t.Fatal(err)
		}
		seen := 0
		for _, p := range strings.Split(resp.Choices[0].Text, "\n\nProblem ") {
			_, p, _ = strings.Cut(p, ": ")
			steps, ok := arithmeticProblem(`Solve it, answer in \boxed{}.` + "\n\nProblem: " + strings.TrimSpace(p))
			if !ok || strings.Contains(p, "Mia") || !strings.Contains(p, "has") || strings.Contains(p, "Answer:") {
				continue // a near-copy of the seed, a too-short one, or one with an answer
			}
			seen++
			n := len(steps) - 1
			if n > 0 && steps[1].op == '*' {
				n-- // "N boxes with M in each box" is the start
			}
			if n < tc.lo || n > tc.hi {
				t.Errorf("%s: %d steps after the start, want %d to %d: %q", tc.difficulty, n, tc.lo, tc.hi, p)
			}
		}
		if seen < 10 {
			t.Errorf("%s: only %d invented problems to check", tc.difficulty, seen)
		}
	}
}

func TestCodeTasksTellRightFromWrong(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for _, task := range codeTasks {
		if len(task.bad) == 0 || !strings.Contains(task.good, "def "+task.name+"(") {
			t.Fatalf("%s: no bad variants or a good one under another name", task.name)
		}
		for range 50 {
			if args, want, wrong := task.input(r); want == wrong || args == "" {
				t.Fatalf("%s(%s): the wrong value %s equals the right one", task.name, args, wrong)
			}
		}
		tests, ok := codeReply(r, fmt.Sprintf("Write 3 test cases for a correct solution of the programming problem below.\n\nProblem: %s", task.problem()))
		if !ok || strings.Count(tests, "assert "+task.name+"(") != 3 {
			t.Errorf("%s: tests reply %q", task.name, tests)
		}
	}
}

// TestPoolPersonalities rates many answers of each persona with the
// scripted judge: larger models rate higher on average, and a name with
// no persona keeps the plain reply.
func TestPoolPersonalities(t *testing.T) {
	judge := func(b *Backend, task string) float64 {
		a, _ := b.Generate(context.Background(), model.Request{Messages: []model.Message{{Role: "user", Content: task}}})
		p := "You are grading an answer that an AI assistant gave to a user. Read the user's request and the answer, then rate the answer on a scale from 1 (worst) to 10 (best) by these criteria:\n- Anything.\n\n<request>\n" +
			task + "\n</request>\n\n<answer>\n" + a.Choices[0].Text + "\n</answer>\n\nScore: N"
		j, _ := New(1).Generate(context.Background(), model.Request{Messages: []model.Message{{Role: "user", Content: p}}})
		var s float64
		if _, err := fmt.Sscanf(j.Choices[0].Text[strings.LastIndex(j.Choices[0].Text, "Score: "):], "Score: %g", &s); err != nil {
			t.Fatalf("judge reply %q: %v", j.Choices[0].Text, err)
		}
		return s
	}
	mean := map[string]float64{}
	for _, name := range []string{"large", "medium", "small"} {
		for i := range 60 {
			mean[name] += judge(&Backend{Seed: 1, Model: name}, fmt.Sprintf("Plan task number %d for the team.", i)) / 60
		}
	}
	if !(mean["large"] > mean["medium"] && mean["medium"] > mean["small"]) {
		t.Errorf("mean ratings %v; want large > medium > small", mean)
	}
	plain, _ := New(1).Generate(context.Background(), model.Request{Messages: []model.Message{{Role: "user", Content: "Plan a trip."}}})
	if !strings.Contains(plain.Choices[0].Text, "scripted answer") {
		t.Errorf("an unnamed backend answers %q", plain.Choices[0].Text)
	}
}
