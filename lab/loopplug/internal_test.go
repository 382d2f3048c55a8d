package loopplug

import (
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/synthloop/synthloop/engine/tokenizer"
	"github.com/synthloop/synthloop/lab/task"
	"github.com/synthloop/synthloop/loop"
)

// operandLens returns the digit counts of a reverse-addition prompt "A+B=".
func operandLens(t *testing.T, prompt string) (int, int) {
	a, b, ok := operandLengths(prompt)
	if !ok {
		t.Fatalf("prompt %q is not A+B=", prompt)
	}
	return a, b
}

func TestDrawLengths(t *testing.T) {
	tk, err := task.Lookup("reverse-addition")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name    string
		ls      lengths
		lo, hi  int
		check   func(la, lb, d int) bool
		unequal bool // some problem has operands of different lengths
	}{
		{"equal", equal, 2, 5, func(la, lb, d int) bool { return la == d && lb == d }, false},
		{"independent", independent, 2, 5, func(la, lb, d int) bool {
			return la >= 2 && la <= 5 && lb >= 2 && lb <= 5 && d == max(la, lb)
		}, true},
		{"up to", upTo, 6, 7, func(la, lb, d int) bool {
			return max(la, lb) == d && min(la, lb) >= 1 && d >= 6 && d <= 7
		}, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			ps := draw(tk, rand.New(rand.NewPCG(1, 2)), 200, c.lo, c.hi, nil, c.ls)
			unequal := false
			for _, p := range ps {
				la, lb := operandLens(t, p.Prompt)
				if !c.check(la, lb, p.Difficulty) {
					t.Fatalf("%q: operands of %d and %d digits, difficulty %d", p.Prompt, la, lb, p.Difficulty)
				}
				if !tk.Verify(p, p.Answer) {
					t.Fatalf("%q: answer %q is not the true one", p.Prompt, p.Answer)
				}
				unequal = unequal || la != lb
			}
			if unequal != c.unequal {
				t.Errorf("some operands of different lengths: %v, want %v", unequal, c.unequal)
			}
		})
	}
}

func TestAdvance(t *testing.T) {
	c := &SelfLabelConfig{Problems: Problems{From: 9, Step: 1}, Labels: &Labels{Count: 1, From: 1, To: 8}, Advance: 0.5}
	labelled := loop.Data{Metrics: map[string]float64{"from": 1, "to": 8, "labelled": 1, "yield": 1}}
	round := func(d int, yield float64) loop.Data {
		return loop.Data{Metrics: map[string]float64{"from": float64(d), "to": float64(d), "yield": yield}}
	}
	for _, tt := range []struct {
		name    string
		advance float64
		earlier []loop.Data
		want    int
	}{
		{"first self-labelled round", 0.5, []loop.Data{labelled}, 9},
		{"kept enough: move on", 0.5, []loop.Data{labelled, round(9, 0.7)}, 10},
		{"kept too few: again", 0.5, []loop.Data{labelled, round(9, 0.2)}, 9},
		{"again after again", 0.5, []loop.Data{labelled, round(9, 0.2), round(9, 0.6), round(10, 0.1)}, 10},
		{"the share itself moves on", 0.5, []loop.Data{labelled, round(9, 0.5)}, 10},
		{"advance 0: the fixed curriculum", 0, []loop.Data{labelled, round(9, 0), round(10, 0)}, 11},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c.Advance = tt.advance
			lo, hi := c.difficulties(len(tt.earlier)+1, tt.earlier, nil)
			if lo != tt.want || hi != tt.want {
				t.Errorf("difficulties %d..%d, want %d", lo, hi, tt.want)
			}
		})
	}
}

func TestMinKept(t *testing.T) {
	dir := t.TempDir()
	file := func(name string, n int) loop.DataFile {
		p := filepath.Join(dir, name)
		line := `{"messages":[{"role":"user","content":"ab"},{"role":"assistant","content":"ab"}]}` + "\n"
		if err := os.WriteFile(p, []byte(strings.Repeat(line, n)), 0o644); err != nil {
			t.Fatal(err)
		}
		return loop.DataFile{Path: p, Kept: n}
	}
	a, b, c := file("a", 300), file("b", 100), file("c", 50)
	a.Weight, b.Weight, c.Weight = 0.4, 0.4, 0.2 // the loop's: newest 0.2, earlier rounds equally
	for _, tt := range []struct {
		name    string
		minKept int
		pool    bool
		want    []float64
	}{
		{"off", 0, false, []float64{0.4, 0.4, 0.2}},
		{"enough kept", 50, false, []float64{0.4, 0.4, 0.2}},
		{"pool_earlier", 0, true, []float64{0.6, 0.2, 0.2}},
		{"too few kept: pooled by size", 51, false, []float64{300.0 / 450, 100.0 / 450, 50.0 / 450}},
		{"too few kept wins over pool_earlier", 100, true, []float64{300.0 / 450, 100.0 / 450, 50.0 / 450}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			tr := &trainer{&TrainConfig{MinKept: tt.minKept, PoolEarlier: tt.pool}}
			files, n, err := tr.mixture(loop.TrainInput{Data: []loop.DataFile{a, b, c}, Format: "sft"})
			if err != nil {
				t.Fatal(err)
			}
			if n != 450 {
				t.Errorf("%d examples, want 450", n)
			}
			for i, f := range files {
				if d := f.Weight - tt.want[i]; d > 1e-9 || d < -1e-9 {
					t.Errorf("file %d weight %g, want %g", i, f.Weight, tt.want[i])
				}
			}
		})
	}
}

func TestCutAtDivergence(t *testing.T) {
	for _, tc := range []struct{ chosen, rejected, want string }{
		{"abcdef", "abxdef", "abx"}, // the first wrong character ends it
		{"abcdef", "xbcdef", "x"},   //
		{"abcdef", "abc", "abc"},    // ended early: the end token is the mistake
		{"abc", "abcd", "abcd"},     // ran on: the extra character is the mistake
		{"abc", "abcde", "abcd"},    //
		{"", "a", "a"},              //
		{"héllo", "hèllo", "hè"},    // characters, not bytes
	} {
		if got := cutAtDivergence(tc.chosen, tc.rejected); got != tc.want {
			t.Errorf("cutAtDivergence(%q, %q) = %q, want %q", tc.chosen, tc.rejected, got, tc.want)
		}
	}
}

func TestPhaseCapped(t *testing.T) {
	for _, tc := range []struct {
		p                   Phase
		n                   int
		wantSteps, wantWarm int
	}{
		{Phase{Steps: 200, Batch: 16, Warmup: 10}, 40, 200, 10},                  // no cap
		{Phase{Steps: 200, Batch: 16, Warmup: 10, MaxEpochs: 4}, 40, 10, 9},      // 4 × 40 / 16
		{Phase{Steps: 200, Batch: 16, Warmup: 10, MaxEpochs: 4}, 41, 11, 10},     // rounded up
		{Phase{Steps: 200, Batch: 16, Warmup: 10, MaxEpochs: 4}, 10000, 200, 10}, // Steps is the bound
		{Phase{Steps: 200, Batch: 16, Warmup: 10, MaxEpochs: 0.01}, 1, 1, 0},     // at least a step
	} {
		got := tc.p.capped(tc.n)
		if got.Steps != tc.wantSteps || got.Warmup != tc.wantWarm {
			t.Errorf("%+v.capped(%d) = %d steps, %d warmup; want %d, %d", tc.p, tc.n, got.Steps, got.Warmup, tc.wantSteps, tc.wantWarm)
		}
	}
}

// TestDrawEqualShare: up to with an equal share gives that share of the
// problems two operands of the difficulty, the rest one of it.
func TestDrawEqualShare(t *testing.T) {
	tk, _ := task.Lookup("reverse-addition")
	ps := draw(tk, rand.New(rand.NewPCG(3, 4)), 2000, 9, 9, nil, lengths{kind: upTo.kind, Equal: 0.8})
	eq := 0
	for _, p := range ps {
		la, lb := operandLens(t, p.Prompt)
		if max(la, lb) != 9 {
			t.Fatalf("%q: no operand of 9 digits", p.Prompt)
		}
		if la == lb {
			eq++
		}
	}
	// 80% drawn equal, and a ninth of the rest equal by chance.
	if share := float64(eq) / float64(len(ps)); share < 0.79 || share > 0.86 {
		t.Errorf("share of equal operands %.3f, want about 0.82", share)
	}
}

// TestDrawIndependentEqualShare: lab-propose's labels with equal_share
// give that share both operands of the problem's length and draw the
// others' second operand from the whole range.
func TestDrawIndependentEqualShare(t *testing.T) {
	tk, _ := task.Lookup("reverse-addition")
	ps := draw(tk, rand.New(rand.NewPCG(5, 6)), 2000, 1, 4, nil, lengths{kind: independent.kind, Equal: 0.5})
	eq, longer := 0, 0
	for _, p := range ps {
		la, lb := operandLens(t, p.Prompt)
		if la == lb {
			eq++
		}
		if lb > la {
			longer++ // only an independent draw makes the second operand the longer
		}
	}
	// 50% drawn equal, and a quarter of the rest equal by chance.
	if share := float64(eq) / float64(len(ps)); share < 0.58 || share > 0.67 {
		t.Errorf("share of equal operands %.3f, want about 0.62", share)
	}
	if longer == 0 {
		t.Error("no problem has a longer second operand: the others are not independent")
	}
}

// TestAdvanceProbe: with advance_probe the range moves on only when the
// teacher's probe at the next difficulty reached the threshold, and both
// rules must pass; a teacher without a probe leaves the yield rule alone.
func TestAdvanceProbe(t *testing.T) {
	labelled := loop.Data{Metrics: map[string]float64{"from": 1, "to": 8, "labelled": 1, "yield": 1}}
	round := func(d int, yield float64) loop.Data {
		return loop.Data{Metrics: map[string]float64{"from": float64(d), "to": float64(d), "yield": yield}}
	}
	probe := func(at int, score float64) func(int) (float64, bool) {
		return func(next int) (float64, bool) {
			if next != at {
				return 0, true
			}
			return score, true
		}
	}
	none := func(int) (float64, bool) { return 0, false }
	for _, tt := range []struct {
		name    string
		advance float64
		earlier []loop.Data
		probe   func(int) (float64, bool)
		want    int
	}{
		{"first self-labelled round", 0, []loop.Data{labelled}, probe(9, 0), 9},
		{"probe high: move on", 0, []loop.Data{labelled, round(9, 0.1)}, probe(10, 0.95), 10},
		{"probe low: again", 0, []loop.Data{labelled, round(9, 0.9)}, probe(10, 0.5), 9},
		{"probe of another length: again", 0, []loop.Data{labelled, round(9, 0.9)}, probe(11, 0.99), 9},
		{"probe high, yield low: again", 0.5, []loop.Data{labelled, round(9, 0.2)}, probe(10, 0.95), 9},
		{"no probe: the yield rule", 0.5, []loop.Data{labelled, round(9, 0.7)}, none, 10},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c := &SelfLabelConfig{Problems: Problems{From: 9, Step: 1}, Labels: &Labels{Count: 1, From: 1, To: 8}, Advance: tt.advance, AdvanceProbe: 0.9}
			lo, hi := c.difficulties(len(tt.earlier)+1, tt.earlier, tt.probe)
			if lo != tt.want || hi != tt.want {
				t.Errorf("difficulties %d..%d, want %d", lo, hi, tt.want)
			}
		})
	}
}

// TestProposerRollouts: each online proposal GRPO drew becomes a scored
// completion, its proposer prompt and the problem it wrote, rewarded
// 1 − solve rate when its answers were some right and some wrong and 0
// when none or all were right; one GRPO never drew, and the labelled
// round's lines, are left out.
func TestProposerRollouts(t *testing.T) {
	line := func(prompt string, online bool, drawn, right int32) keptLine {
		return keptLine{Problem: task.Problem{Prompt: prompt, Difficulty: 2}, From: "11+22==", Online: online,
			verdict: verdictLine{Prompt: prompt, Drawn: drawn, Right: right}}
	}
	prev := []keptLine{
		line("12+34=", true, 8, 0),  // never solved
		line("56+78=", true, 8, 8),  // always solved
		line("90+12=", true, 8, 3),  // learnable: 3 of 8
		line("34+56=", true, 16, 1), // drawn twice: 1 of 16
		line("78+90=", true, 0, 0),  // never drawn: no verdict
		line("1+2=", false, 0, 0),   // the labelled round's
		line("12+3=", false, 8, 4),  // not online: its own round's answers
	}
	want := []struct {
		prompt string
		reward float64
	}{{"12+34=", 0}, {"56+78=", 0}, {"90+12=", 5.0 / 8}, {"34+56=", 15.0 / 16}}
	got := proposerRollouts(prev)
	if len(got) != len(want) {
		t.Fatalf("proposerRollouts gave %d rollouts, want %d", len(got), len(want))
	}
	for i, w := range want {
		g := got[i]
		if g.Prompt != "" || len(g.Messages) != 2 || g.Messages[0] != (tokenizer.Message{Role: "user", Content: "11+22=="}) ||
			g.Messages[1] != (tokenizer.Message{Role: "assistant", Content: w.prompt}) || g.Reward == nil || *g.Reward != w.reward {
			t.Errorf("rollout %d = %+v (reward %v), want %q → %q rewarded %g", i, g, g.Reward, "11+22==", w.prompt, w.reward)
		}
	}
	for _, tc := range []struct {
		drawn, right int32
		want         float64
	}{{8, 0, 0}, {8, 8, 0}, {8, 3, 0.625}, {8, 7, 0.125}, {1, 1, 0}, {0, 0, 0}} {
		if got := learnabilityReward(tc.drawn, tc.right); got != tc.want {
			t.Errorf("learnabilityReward(%d drawn, %d right) = %g, want %g", tc.drawn, tc.right, got, tc.want)
		}
	}
}
