package loopplug

import (
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/synthloop/synthloop/lab/task"
)

func TestProposerPrompt(t *testing.T) {
	for _, c := range []struct {
		refs []string
		want string
	}{
		{nil, "="},
		{[]string{"21+43="}, "21+43=="},
		{[]string{"21+43=", "5+78="}, "21+43=5+78=="},
		{[]string{"ab3=", "x="}, "ab3=x=="},
	} {
		var ps []task.Problem
		for _, r := range c.refs {
			ps = append(ps, task.Problem{Prompt: r})
		}
		if got := proposerPrompt(ps); got != c.want {
			t.Errorf("proposerPrompt(%q) = %q, want %q", c.refs, got, c.want)
		}
		// Each reference ends with its own "=": the prompt splits back.
		got := strings.SplitAfter(strings.TrimSuffix(c.want, "="), "=")
		if got = got[:len(got)-1]; strings.Join(got, "|") != strings.Join(c.refs, "|") {
			t.Errorf("%q splits into %q, want %q", c.want, got, c.refs)
		}
	}
}

func TestPickReferences(t *testing.T) {
	pool := []task.Problem{{Prompt: "1+2="}, {Prompt: "12+34="}, {Prompt: "123+456="}, {Prompt: "1234+5678="}}
	for _, c := range []struct {
		n, limit, want int
	}{
		{2, 0, 2},
		{9, 0, 4},          // never more than the pool
		{4, 1 + 4 + 6, -1}, // 11 characters: "1+2=12+34==" or one reference alone
		{3, 1 + 4 - 1, 0},  // none fits
		{0, 0, 0},
	} {
		rng := rand.New(rand.NewPCG(1, uint64(c.n)))
		got := pickReferences(rng, pool, c.n, c.limit)
		seen := map[string]bool{}
		for _, p := range got {
			if seen[p.Prompt] {
				t.Errorf("pickReferences(n=%d, limit=%d) repeats %q", c.n, c.limit, p.Prompt)
			}
			seen[p.Prompt] = true
		}
		if c.want >= 0 && len(got) != c.want || len(got) == 0 && c.want != 0 || c.limit > 0 && len(proposerPrompt(got)) > c.limit {
			t.Errorf("pickReferences(n=%d, limit=%d) = %v: want %d references in a prompt of at most %d characters", c.n, c.limit, got, c.want, c.limit)
		}
	}
	// A problem the pool holds three times (three wrong answers) is still
	// shown once in a prompt.
	heavy := []task.Problem{{Prompt: "1+2="}, {Prompt: "1+2="}, {Prompt: "1+2="}, {Prompt: "3+4="}}
	for seed := range uint64(20) {
		if got := pickReferences(rand.New(rand.NewPCG(seed, 0)), heavy, 2, 0); len(got) == 2 && got[0] == got[1] {
			t.Errorf("seed %d: pickReferences = %v, a problem twice", seed, got)
		}
	}
	if got := pickReferences(rand.New(rand.NewPCG(1, 1)), nil, 3, 0); len(got) != 0 {
		t.Errorf("pickReferences from no pool = %v", got)
	}
}

// TestReadKept reads a labels file's kept problems without their answers
// and takes a missing file as none.
func TestReadKept(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, LabelsFile)
	lines := `{"prompt":"12+34=","answer":"460","difficulty":2,"kept":true}
{"prompt":"1+1=","difficulty":1,"answers":[],"right":[],"kept":false}
{"prompt":"999+1=","difficulty":3,"from":"12+34==","right":[true,false,false],"kept":true}
{"prompt":"5+5=","difficulty":1,"right":[true,false],"kept":true,"copies":3}
`
	if err := os.WriteFile(path, []byte(lines), 0o644); err != nil {
		t.Fatal(err)
	}
	got, err := readKept(path)
	if err != nil {
		t.Fatal(err)
	}
	// The labelled problem once, the proposed one once per wrong answer,
	// the one that stopped drawing early (chunk) as often as its line says.
	want := []task.Problem{{Prompt: "12+34=", Difficulty: 2}, {Prompt: "999+1=", Difficulty: 3}, {Prompt: "999+1=", Difficulty: 3},
		{Prompt: "5+5=", Difficulty: 1}, {Prompt: "5+5=", Difficulty: 1}, {Prompt: "5+5=", Difficulty: 1}}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("readKept = %+v, want %+v", got, want)
	}
	if got, err := readKept(filepath.Join(dir, "none.jsonl")); err != nil || got != nil {
		t.Errorf("readKept(missing) = %v, %v; want none, no error", got, err)
	}
	if err := os.WriteFile(path, []byte("{\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := readKept(path); err == nil || !strings.Contains(err.Error(), ":1:") {
		t.Errorf("readKept(bad line) = %v, want an error naming line 1", err)
	}
}

// FuzzReadKept feeds readKept any file: it returns an error or kept
// problems, never an answer (references must not carry one) or a panic.
func FuzzReadKept(f *testing.F) {
	f.Add([]byte(`{"prompt":"12+34=","answer":"460","difficulty":2,"kept":true}` + "\n"))
	f.Add([]byte(`{"prompt":"1+1=","kept":false}` + "\n\n"))
	f.Add([]byte("{\n"))
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, b []byte) {
		path := filepath.Join(dir, LabelsFile)
		if err := os.WriteFile(path, b, 0o644); err != nil {
			t.Fatal(err)
		}
		ps, err := readKept(path)
		if err != nil {
			return
		}
		for _, p := range ps {
			if p.Answer != "" {
				t.Errorf("reference %+v carries an answer", p)
			}
		}
	})
}

func TestOperandShape(t *testing.T) {
	for _, c := range []struct {
		prompts        []string
		equal, shorter float64
	}{
		{nil, 0, 0},
		{[]string{"12+34="}, 1, 2},
		{[]string{"12345+6=", "123+456="}, 0.5, 2},
		{[]string{"12*3=", "abc="}, 0, 0.5}, // no operator: neither equal nor counted as shorter
	} {
		var ps []task.Problem
		for _, p := range c.prompts {
			ps = append(ps, task.Problem{Prompt: p})
		}
		if e, s := operandShape(ps); e != c.equal || s != c.shorter {
			t.Errorf("operandShape(%q) = %g, %g; want %g, %g", c.prompts, e, s, c.equal, c.shorter)
		}
	}
}

// FuzzOperandLengths: the two lengths and the operator add up to the
// prompt less a final "=".
func FuzzOperandLengths(f *testing.F) {
	for _, s := range []string{"12+345=", "1*2=", "=", "+", "abc", "1+2+3="} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		a, b, ok := operandLengths(s)
		if !ok {
			if strings.ContainsAny(s, "+*") {
				t.Fatalf("operandLengths(%q) missed its operator", s)
			}
			return
		}
		if a < 0 || b < 0 || a+1+b != len(strings.TrimSuffix(s, "=")) {
			t.Fatalf("operandLengths(%q) = %d, %d", s, a, b)
		}
	})
}

func TestHardest(t *testing.T) {
	pool := func(ds ...int) []task.Problem {
		var ps []task.Problem
		for i, d := range ds {
			ps = append(ps, task.Problem{Prompt: fmt.Sprint(i), Difficulty: d})
		}
		return ps
	}
	for _, c := range []struct {
		ds    []int
		share float64
		want  []int
	}{
		{[]int{3, 1, 4, 2}, 0, []int{3, 1, 4, 2}},
		{[]int{3, 1, 4, 2}, 1, []int{3, 1, 4, 2}},
		{[]int{3, 1, 4, 2}, 0.5, []int{3, 4}},
		{[]int{3, 1, 4, 2}, 0.1, []int{4}},          // at least one
		{[]int{2, 4, 4, 1, 4}, 0.2, []int{4, 4, 4}}, // ties at the cut stay
		{[]int{3, 3, 3}, 0.3, []int{3, 3, 3}},
		{nil, 0.5, nil},
	} {
		var got []int
		for _, p := range hardest(pool(c.ds...), c.share) {
			got = append(got, p.Difficulty)
		}
		if fmt.Sprint(got) != fmt.Sprint(c.want) {
			t.Errorf("hardest(%v, %g) = %v, want %v", c.ds, c.share, got, c.want)
		}
	}
}
