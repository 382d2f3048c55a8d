package lab

import (
	"context"
	"math/rand/v2"
	"sync/atomic"
	"testing"

	"github.com/synthloop/synthloop/lab/task"
)

func TestCommuteScore(t *testing.T) {
	sh := task.ReverseAddition{}
	qs := []task.Problem{{Prompt: "12+34=", Difficulty: 2}, {Prompt: "56+78=", Difficulty: 2}, {Prompt: "9+9=", Difficulty: 1}, {Prompt: "1+2=", Difficulty: 1}}
	one := func(text string, stopped bool) []Answer { return []Answer{{Text: text, Stopped: stopped}} }
	as := [][]Answer{one("460", true), one("222", true), one("81", true), one("30", false)}
	bs := [][]Answer{one("460", true), one("223", true), one("81", true), one("30", true)}
	// Agreeing and length-OK: 1 and 3; 2 disagrees; 4 was never closed.
	if got := commuteScore(sh, qs, as, bs); got != 0.5 {
		t.Errorf("commuteScore = %g, want 0.5", got)
	}
	long := [][]Answer{one("4600", true)}
	if got := commuteScore(sh, qs[:1], long, long); got != 0 {
		t.Errorf("commuteScore of answers too long = %g, want 0", got)
	}
}

func TestSamplesScore(t *testing.T) {
	sh := task.ReverseAddition{}
	qs := []task.Problem{{Prompt: "12+34=", Difficulty: 2}, {Prompt: "5+5=", Difficulty: 1}}
	a := func(text string) Answer { return Answer{Text: text, Stopped: true} }
	as := [][]Answer{{a("460"), a("460"), a("461"), a("4600")}, {a("01"), a("02"), a("03"), a("04")}}
	// 2 of 4 agree on the first (the long one fails the filter), 1 of 4 on the second.
	if got := samplesScore(sh, qs, as); got != (0.5+0.25)/2 {
		t.Errorf("samplesScore = %g, want 0.375", got)
	}
}

// spyTask is reverse addition whose verifier and solver count their calls:
// a label-free probe must leave both at zero.
type spyTask struct {
	task.ReverseAddition
	calls *atomic.Int64
}

func (s spyTask) Verify(p task.Problem, a string) bool {
	s.calls.Add(1)
	return s.ReverseAddition.Verify(p, a)
}

func (s spyTask) Solve(prompt string) (string, error) {
	s.calls.Add(1)
	return s.ReverseAddition.Solve(prompt)
}

// TestProbeIsLabelFree scores a model with both signals on problems whose
// answers are true, wrong or missing: the score is the same, it matches the
// model's own answers, and the task's verifier and solver are never called.
func TestProbeIsLabelFree(t *testing.T) {
	ctx := context.Background()
	calls := &atomic.Int64{}
	spy := spyTask{calls: calls}
	m, err := NewModel(task.ReverseAddition{}, Arch{Dim: 16, Layers: 1, Heads: 2, Hidden: 32, MaxSeq: 32}, 5)
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(4, 4))
	var truth, wrong, none []task.Problem
	for range 30 {
		p := task.ReverseAddition{}.Generate(rng, 3)
		truth = append(truth, p)
		wrong = append(wrong, task.Problem{Prompt: p.Prompt, Answer: "0000", Difficulty: 3})
		none = append(none, task.Problem{Prompt: p.Prompt, Difficulty: 3})
	}
	// A model taught to answer 2000 to everything often answers both orders
	// alike, and its samples alike (it has seen only one order).
	var same []Conversation
	for _, p := range none {
		same = append(same, Messages(task.Problem{Prompt: p.Prompt, Answer: "2000"}))
	}
	if _, err := Train(ctx, m, [][]Conversation{same}, TrainConfig{Steps: 100, Batch: 8, LR: 1e-2, Warmup: 1}, 1, nil); err != nil {
		t.Fatal(err)
	}
	for _, p := range []Probe{{Signal: "commute"}, {Signal: "samples", Samples: 4, Temperature: 1}} {
		var scores []float64
		for _, ps := range [][]task.Problem{truth, wrong, none} {
			s, err := p.Score(ctx, m, spy, ps, 9)
			if err != nil {
				t.Fatal(err)
			}
			scores = append(scores, s)
		}
		if scores[0] != scores[1] || scores[1] != scores[2] {
			t.Errorf("%s: scores %v depend on the problems' answers", p.Signal, scores)
		}
		if scores[0] < 0.25 {
			t.Errorf("%s: a model taught to answer 2000 to everything scores %g, want ≥ 0.25", p.Signal, scores[0])
		}
	}
	if n := calls.Load(); n != 0 {
		t.Errorf("the probe called the task's verifier or solver %d times", n)
	}
	if err := (Probe{Signal: "commute"}).Check(task.Copy{}); err == nil {
		t.Error("commute accepted a task without operands")
	}
	if err := (Probe{Signal: "samples", Samples: 1, Temperature: 1}).Check(spy); err == nil {
		t.Error("samples accepted a single sample")
	}
}
