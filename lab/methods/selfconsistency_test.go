package methods

import (
	"bytes"
	"context"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/synthloop/synthloop/lab"
	"github.com/synthloop/synthloop/lab/task"
)

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

// noVerifier is a task whose verifier panics: data construction must not
// need it.
type noVerifier struct{ task.Copy }

func (noVerifier) Verify(task.Problem, string) bool { panic("the verifier was called") }

func TestSelfConsistencyPairsUseNoVerifier(t *testing.T) {
	ps := []task.Problem{{Prompt: "abc=", Difficulty: 3}, {Prompt: "xy=", Difficulty: 2}, {Prompt: "q=", Difficulty: 1}}
	ans := [][]lab.Answer{
		answers("abc abc abc cba abd ab abcd"), // wrong lengths do not vote
		answers("yx xy"),                       // a tie
		answers("q q -qqqqq"),                  // unanimous among the finished
	}
	cfg := SelfConsistencyConfig{Task: noVerifier{}, MinShare: 0.4, LengthFilter: true, CutRejected: true}
	lines, drops := selfConsistencyPairs(cfg, ps, ans)
	want := []any{dpoLine{Prompt: "abc=", Chosen: "abc", Rejected: "c"}}
	if !reflect.DeepEqual(lines, want) {
		t.Errorf("pairs = %+v, want %+v", lines, want)
	}
	if wantDrops := map[Drop]int{Tie: 1, Unanimous: 1}; !reflect.DeepEqual(drops, wantDrops) {
		t.Errorf("drops = %v, want %v", drops, wantDrops)
	}
}

// liar answers every verification wrongly and labels every problem
// wrongly: training data that depended on either would change.
type liar struct{ task.Copy }

func (l liar) Verify(p task.Problem, a string) bool { return !l.Copy.Verify(p, a) }

func (l liar) Generate(rng *rand.Rand, d int) task.Problem {
	p := l.Copy.Generate(rng, d)
	p.Answer = "LEAK"
	return p
}

// The verifier (and the true answers) only score a self-consistency run:
// with a lying task, the pairs and the trained weights are byte for byte
// those of an honest run, while the scores flip.
func TestSelfConsistencyTrainsWithoutLabels(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	base := tinySelfConsistency(t, task.Copy{})
	base.Rounds = 0
	startDir := t.TempDir()
	if _, err := SelfConsistency(ctx, startDir, base); err != nil {
		t.Fatal(err)
	}
	start := filepath.Join(lab.RoundDir(startDir, 0), "model")
	var dirs []string
	var runs [][]SelfConsistencyRound
	for _, tk := range []task.Task{task.Copy{}, liar{}} {
		cfg := tinySelfConsistency(t, tk)
		cfg.Start = Start{Dir: start}
		dir := t.TempDir()
		rs, err := SelfConsistency(ctx, dir, cfg)
		if err != nil {
			t.Fatal(err)
		}
		dirs, runs = append(dirs, dir), append(runs, rs)
	}
	for _, f := range []string{"round-01/data.jsonl", "round-02/data.jsonl", "round-02/model/model.safetensors"} {
		a, errA := os.ReadFile(filepath.Join(dirs[0], f))
		b, errB := os.ReadFile(filepath.Join(dirs[1], f))
		if errA != nil || errB != nil {
			t.Fatalf("%s: %v, %v", f, errA, errB)
		}
		if !bytes.Equal(a, b) {
			t.Errorf("%s differs between the honest and the lying task", f)
		}
		if bytes.Contains(a, []byte("LEAK")) {
			t.Errorf("%s holds a label", f)
		}
	}
	honest, lying := runs[0][1], runs[1][1]
	if honest.Examples == 0 {
		t.Fatalf("round 1 made no pairs: %+v", honest)
	}
	// Every chosen and rejected answer was finished, so their scores flip
	// exactly; accuracy counts unfinished answers wrong either way.
	if honest.ChosenRight+lying.ChosenRight != 1 || honest.RejectedWrong+lying.RejectedWrong != 1 || honest.Eval.Accuracy == lying.Eval.Accuracy {
		t.Errorf("scores should flip with the verifier: chosen right %g and %g, rejected wrong %g and %g, accuracy %g and %g",
			honest.ChosenRight, lying.ChosenRight, honest.RejectedWrong, lying.RejectedWrong, honest.Eval.Accuracy, lying.Eval.Accuracy)
	}
}

func tinySelfConsistency(t *testing.T, tk task.Task) SelfConsistencyConfig {
	return SelfConsistencyConfig{Task: tk, Seed: 3, Start: tinyStart(), Rounds: 2, Problems: 24, MinDifficulty: 1, MaxDifficulty: 2,
		K: 6, Temperature: 1, MinShare: 0.3, LengthFilter: true, CutRejected: true,
		Train: TrainConfig{Steps: 8, Batch: 4, LR: 1e-3, Warmup: 1, Beta: 0.1, NLL: 1}, Eval: tinyEval(), Log: testLog(t)}
}

// A round that makes no pair keeps its starting model and says so.
func TestSelfConsistencyWithoutPairs(t *testing.T) {
	t.Parallel()
	cfg := tinySelfConsistency(t, task.Copy{})
	cfg.Rounds, cfg.MinShare = 1, 1 // only unanimous answers reach it, and they make no pair
	rs, err := SelfConsistency(context.Background(), t.TempDir(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	r := rs[1]
	if r.Examples != 0 || r.Trained != 0 || r.Model != rs[0].Model || r.Eval.Accuracy != rs[0].Eval.Accuracy {
		t.Errorf("round without pairs: %+v, starting model %+v", r, rs[0])
	}
}
