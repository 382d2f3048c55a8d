package loopplug_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/synthloop/synthloop/lab/loopplug"
	"github.com/synthloop/synthloop/loop"
)

// grpoLoop is a two-round loop: round 1 trains a copy model a little on
// true labels, round 2 runs GRPO on prompts with the verifier as reward,
// with the cross-entropy term on verified answers, round 1's examples
// replayed and earlier steps' verified answers reused (state a resumed run
// must restore), one wrong answer trained per right one (drawn from a
// stream a resumed step must draw again), identical answers merged, and a
// learning rate that decays over the round (a resumed run must continue
// the schedule).
const grpoLoop = "name: t\nrounds: 2\n" +
	"generate: {type: lab-prompts, with: {task: copy, labels: {count: 200, from: 1, to: 2}, count: 50, from: 1, to: 2}}\n" +
	"train: {type: lab-train, with: {arch: {dim: 16, layers: 1, heads: 2, hidden: 32, max_seq: 16}, steps: 12, batch: 8, lr: 3e-3, warmup: 1, " +
	"save_every: 5, grpo: {group: 4, minibatches: 2, micro: 16, kl: 0.05, sft: 0.5, replay: 4, reuse: 4, wrong: 1, merge: true, decay: true}, first: {steps: 300, batch: 32, lr: 3e-3, warmup: 10}}}\n" +
	"evaluate: {type: lab-accuracy, with: {difficulties: [1, 2], problems: 20}}\n"

// TestGRPORound runs GRPO as a loop round, checks its log and metrics and
// that no answer reaches the trainer, then kills a second run in the middle
// of its GRPO round and checks that the resumed run ends with the same
// weights byte for byte.
func TestGRPORound(t *testing.T) {
	cfg, dir, sum := runLoop(t, grpoLoop)
	r := sum.Rounds[1]
	if r.TrainSteps != 12 {
		t.Fatalf("round 2 trained %d steps, want 12", r.TrainSteps)
	}
	for _, k := range []string{"train_reward_first", "train_reward_last", "train_solved_last", "train_length_last", "train_entropy_first", "train_entropy_last", "train_cpu_seconds"} {
		if _, ok := r.Metrics[k]; !ok {
			t.Errorf("round 2 lacks metric %s: %v", k, r.Metrics)
		}
	}
	log, err := os.ReadFile(filepath.Join(dir, "round-002", "train.log"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(log, []byte(`"reward":0.`)) {
		t.Errorf("no rollout was ever rewarded:\n%s", log)
	}
	if n := bytes.Count(log, []byte("\n")); n != 12 {
		t.Errorf("train.log has %d lines, want one a step", n)
	}
	data, err := os.ReadFile(filepath.Join(dir, "round-002", "data.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(data, []byte("answer")) || !bytes.Contains(data, []byte(`"prompt"`)) {
		t.Errorf("the prompts file must hold prompts and no answers:\n%s", data[:min(len(data), 200)])
	}
	checkVerdicts(t, dir, 2, 8, 4)
	resumesExactly(t, cfg, dir)
}

// checkVerdicts checks round's VerdictsFile against its prompts file and
// its train.log: a line per prompt, in order, no more right answers than
// drawn, and every answer of every draw of every step counted (batch
// problems of group answers a draw).
func checkVerdicts(t *testing.T, dir string, round, batch, group int) {
	t.Helper()
	rd := filepath.Join(dir, fmt.Sprintf("round-%03d", round))
	type verdict struct {
		Prompt       string
		Drawn, Right int
	}
	vs := readJSONL[verdict](t, filepath.Join(rd, loopplug.VerdictsFile))
	var prompts []string
	for _, l := range readJSONL[struct{ Prompt string }](t, filepath.Join(rd, loopplug.DataFile)) {
		if l.Prompt != "" {
			prompts = append(prompts, l.Prompt)
		}
	}
	drawn, right := 0, 0
	for i, v := range vs {
		if i >= len(prompts) || v.Prompt != prompts[i] || v.Right < 0 || v.Right > v.Drawn {
			t.Fatalf("round %d: verdict %d %+v against %d prompts", round, i, v, len(prompts))
		}
		drawn += v.Drawn
		right += v.Right
	}
	if len(vs) != len(prompts) {
		t.Errorf("round %d: %d verdict lines for %d prompts", round, len(vs), len(prompts))
	}
	want, reward := 0, 0.0
	for _, st := range trainLog[struct {
		Draws  int
		Reward float64
	}](t, dir, round) {
		want += st.Draws * batch * group
		reward += st.Reward * float64(st.Draws*batch*group)
	}
	if drawn != want || math.Abs(float64(right)-reward) > 1e-6*float64(want) {
		t.Errorf("round %d: verdicts count %d answers, %d right; the log's draws %d, %.1f right", round, drawn, right, want, reward)
	}
}

// resumesExactly kills a run of cfg in the middle of its GRPO round 2 and
// checks that the resumed run ends with the weights and the log of the
// straight run in dir, byte for byte (but for CPU times).
func resumesExactly(t *testing.T, cfg *loop.Config, dir string) {
	t.Helper()
	want, err := os.ReadFile(filepath.Join(dir, "round-002", "student", "model.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	log, err := os.ReadFile(filepath.Join(dir, "round-002", "train.log"))
	if err != nil {
		t.Fatal(err)
	}
	killed := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	_, err = loop.Run(ctx, cfg, loop.Options{RunDir: killed, Progress: func(e loop.Event) {
		if e.Round == 2 && strings.HasPrefix(e.Note, "reward") && e.Done == 11 {
			cancel()
		}
	}})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("the interrupted run ended with %v", err)
	}
	if _, err := loop.Run(context.Background(), cfg, loop.Options{RunDir: killed}); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(filepath.Join(killed, "round-002", "student", "model.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Error("the resumed GRPO round's weights differ from the straight run's")
	}
	v1, err1 := os.ReadFile(filepath.Join(dir, "round-002", loopplug.VerdictsFile))
	v2, err2 := os.ReadFile(filepath.Join(killed, "round-002", loopplug.VerdictsFile))
	if err1 != nil || err2 != nil || !bytes.Equal(v1, v2) {
		t.Errorf("the resumed GRPO round's verdicts differ from the straight run's (%v, %v)", err1, err2)
	}
	log2, _ := os.ReadFile(filepath.Join(killed, "round-002", "train.log"))
	cpu := regexp.MustCompile(`"(cpu_seconds|sample_cpu)":[0-9.e-]+`)
	if !bytes.Equal(cpu.ReplaceAll(log2, nil), cpu.ReplaceAll(log, nil)) {
		t.Errorf("the resumed GRPO round's log differs:\n%s\nwant\n%s", log2, log)
	}
}

// TestGRPOLearnable runs grpoLoop with learnable selection (and trimmed
// micro-batches): its steps draw
// problems seen earlier in the round (the pool of 50 is small), each step's
// problems are distinct, the selection state is kept with the checkpoint,
// and a killed run resumes to the same weights and log.
func TestGRPOLearnable(t *testing.T) {
	text := strings.Replace(grpoLoop, "decay: true}", "decay: true, select: learnable, trim_tail: true}", 1)
	cfg, dir, _ := runLoop(t, text)
	seen := 0.0
	for _, st := range trainLog[struct{ Seen float64 }](t, dir, 2) {
		seen += st.Seen
	}
	if !(seen > 0) {
		t.Error("no step drew a problem seen before")
	}
	if files, _ := filepath.Glob(filepath.Join(dir, "round-002", "student", "rl-select-*.json")); len(files) != 1 {
		t.Errorf("the student keeps selection states %v, want one", files)
	}
	resumesExactly(t, cfg, dir)
}

// TestGRPOFirstError runs grpoLoop with first_error: the setting reaches
// the trainer (some step cuts wrong answers' tokens, none cuts them all),
// and a killed run resumes to the same weights and log.
func TestGRPOFirstError(t *testing.T) {
	text := strings.Replace(grpoLoop, "decay: true}", "decay: true, first_error: true}", 1)
	cfg, dir, _ := runLoop(t, text)
	cut := 0.0
	for _, st := range trainLog[struct{ Cut float64 }](t, dir, 2) {
		if st.Cut >= 1 {
			t.Errorf("a step cut %.2f of its wrong answers' tokens: a wrong answer keeps at least its first wrong token", st.Cut)
		}
		cut += st.Cut
	}
	if !(cut > 0) {
		t.Error("no step cut a wrong answer's tokens")
	}
	resumesExactly(t, cfg, dir)
}

// runLoop parses a loop file's text, runs it in a new directory and checks
// that its first round's student was promoted (the lab's later rounds need
// it as their teacher).
func runLoop(t *testing.T, text string) (*loop.Config, string, *loop.Summary) {
	t.Helper()
	cfg, err := loop.ParseConfig("t.yaml", []byte(text))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	sum, err := loop.Run(context.Background(), cfg, loop.Options{RunDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	if !sum.Rounds[0].Promoted {
		t.Fatalf("round 1's student was not promoted: %s", sum.Rounds[0].Reason)
	}
	return cfg, dir, sum
}

// TestGRPOLongExample runs examples/loop-lab-grpo-long.yaml at test size:
// a worked-example round, a GRPO round with merged answers, and the RFT
// baseline from the same round 1; both report pass@1 with its standard
// error.
func TestGRPOLongExample(t *testing.T) {
	cfg := shrinkWith(t, "loop-lab-grpo-long.yaml", `
rounds: 2
generate: {with: {labels: {count: 300, from: 1, to: 2}, count: 100, from: 1, to: 2}}
train: {with: {arch: {dim: 32, layers: 2, heads: 4, hidden: 64, max_seq: 48}, first: {steps: 200, lr: 3e-3, warmup: 10},
  steps: 4, batch: 4, warmup: 1, grpo: {group: 4}}}
evaluate: {with: {difficulties: [1, 2], problems: 10, target: [1, 2], samples: 4, k: 4}}
baseline: {generate: {count: 40, k: 4}, train: {steps: 10, warmup: 2}}
`)
	sum, err := loop.Run(context.Background(), cfg, loop.Options{RunDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	logRounds(t, sum)
	if len(sum.Rounds) != 2 || sum.Baseline == nil || len(sum.Baseline.Rounds) != 2 {
		t.Fatalf("want 2 rounds and a baseline of 2, got %d and %+v", len(sum.Rounds), sum.Baseline)
	}
	for _, r := range []loop.RoundSummary{sum.Rounds[1], sum.Baseline.Rounds[1]} {
		for _, k := range []string{"pass_at_1", "pass_at_1_se", "pass_at_k_se", "eval_cpu_seconds"} {
			if _, ok := r.Metrics[k]; !ok {
				t.Errorf("round 2 lacks metric %s: %v", k, r.Metrics)
			}
		}
	}
	if sum.Rounds[1].TrainSteps != 4 || sum.Baseline.Rounds[1].TrainSteps != 10 {
		t.Errorf("round 2 trained %d GRPO and %d RFT steps, want 4 and 10", sum.Rounds[1].TrainSteps, sum.Baseline.Rounds[1].TrainSteps)
	}
}

// TestGRPOCarryAndLate runs three rounds of grpoLoop with carry and a late
// shape from round 3: round 3's reuse buffer starts with round 2's, so it
// ends holding every verified answer round 2 kept (the buffer is large
// enough to drop none); round 3 samples 16 problems a step with 2 answers
// each where round 2 sampled 8 with 4, and one batch a step where round 2
// drew up to 3; each round logs the policy's token entropy.
func TestGRPOCarryAndLate(t *testing.T) {
	text := strings.Replace(grpoLoop, "rounds: 2", "rounds: 3", 1)
	text = strings.Replace(text, "reuse: 4,", "reuse: 4, reuse_keep: 4096, carry: true, dynamic: true, max_draws: 3, late: {from: 3, batch: 16, group: 2, max_draws: 1},", 1)
	_, dir, sum := runLoop(t, text)
	if len(sum.Rounds) != 3 {
		t.Fatalf("%d rounds, want 3", len(sum.Rounds))
	}
	buffer := func(round int) map[string]bool {
		files, _ := filepath.Glob(filepath.Join(dir, fmt.Sprintf("round-%03d", round), "student", "rl-reuse-*.json"))
		if len(files) != 1 {
			t.Fatalf("round %d keeps reuse buffers %v, want one", round, files)
		}
		raw, err := os.ReadFile(files[0])
		if err != nil {
			t.Fatal(err)
		}
		var es []struct{ Tokens []int32 }
		if err := json.Unmarshal(raw, &es); err != nil {
			t.Fatal(err)
		}
		out := map[string]bool{}
		for _, e := range es {
			out[fmt.Sprint(e.Tokens)] = true
		}
		return out
	}
	second, third := buffer(2), buffer(3)
	if len(second) == 0 {
		t.Fatal("round 2 kept no verified answer: the test needs some")
	}
	for k := range second {
		if !third[k] {
			t.Errorf("round 3's buffer lacks round 2's %s", k)
		}
	}
	for i, r := range sum.Rounds[1:] {
		if h := r.Metrics["train_entropy_first"]; !(h > 0) {
			t.Errorf("round %d: token entropy %g, want above 0", r.Index, h)
		}
		want := [][2]float64{{8, 4}, {16, 2}}[i]
		if got := [2]float64{r.Metrics["train_step_problems"], r.Metrics["train_group"]}; got != want {
			t.Errorf("round %d: %v problems a step and answers each, want %v", r.Index, got, want)
		}
		most := 0
		for _, st := range trainLog[struct{ Draws int }](t, dir, r.Index) {
			most = max(most, st.Draws)
		}
		// Round 2's model rarely gets a group mixed, so its steps draw again.
		if want := []int{3, 1}[i]; most != want {
			t.Errorf("round %d: steps drew up to %d batches, want %d", r.Index, most, want)
		}
	}
}

// TestGRPOAllRightGroups runs grpoLoop with dynamic sampling and the
// all-right groups trained, by cross-entropy (solved) or in the policy term
// under a batch baseline or with a bonus: steps train rows from such groups
// (all_right in train.log), and a killed run resumes to the same weights
// and log.
func TestGRPOAllRightGroups(t *testing.T) {
	for _, tc := range []struct{ name, opts string }{
		{"solved", "solved: true"},
		{"batch baseline", "baseline: batch"},
		{"bonus", "solved_adv: 0.2, sft_distinct: true"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// A round 1 long enough that some groups come out all right.
			text := strings.Replace(grpoLoop, "first: {steps: 300", "first: {steps: 1200", 1)
			text = strings.Replace(text, "decay: true}", "decay: true, dynamic: true, max_draws: 2, "+tc.opts+"}", 1)
			cfg, dir, _ := runLoop(t, text)
			rows := 0
			for _, st := range trainLog[struct {
				AllRight int `json:"all_right"`
			}](t, dir, 2) {
				rows += st.AllRight
			}
			if rows == 0 {
				t.Error("no step trained an all-right group")
			}
			resumesExactly(t, cfg, dir)
		})
	}
}

// trainLog reads round's train.log in the run directory dir, one T a line.
func trainLog[T any](t *testing.T, dir string, round int) []T {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(dir, fmt.Sprintf("round-%03d", round), "train.log"))
	if err != nil {
		t.Fatal(err)
	}
	var out []T
	for line := range bytes.Lines(raw) {
		var st T
		if err := json.Unmarshal(line, &st); err != nil {
			t.Fatal(err)
		}
		out = append(out, st)
	}
	return out
}

// TestGRPOOldCheckpoint resumes a GRPO round from a checkpoint of a
// synthloop from before every GRPO run kept its verdicts (no selection
// state in the student directory). Uniform selection, which never reads
// them, resumes to the straight run's weights, its verdicts counting the
// steps after the resume only; learnable selection needs them and stops.
func TestGRPOOldCheckpoint(t *testing.T) {
	learnable := strings.Replace(grpoLoop, "decay: true}", "decay: true, select: learnable}", 1)
	for _, tc := range []struct {
		name, text string
		fails      bool
	}{{"uniform", grpoLoop, false}, {"learnable", learnable, true}} {
		cfg, ref, _ := runLoop(t, tc.text)
		dir := t.TempDir()
		ctx, cancel := context.WithCancel(context.Background())
		_, err := loop.Run(ctx, cfg, loop.Options{RunDir: dir, Progress: func(e loop.Event) {
			if e.Round == 2 && strings.HasPrefix(e.Note, "reward") && e.Done == 11 {
				cancel() // after the checkpoint of step 10 (save_every 5)
			}
		}})
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("%s: the interrupted run ended with %v", tc.name, err)
		}
		old, _ := filepath.Glob(filepath.Join(dir, "round-002", "student", "rl-select-*.json"))
		if len(old) != 1 {
			t.Fatalf("%s: selection states %v, want one", tc.name, old)
		}
		if err := os.Remove(old[0]); err != nil {
			t.Fatal(err)
		}
		_, err = loop.Run(context.Background(), cfg, loop.Options{RunDir: dir})
		if tc.fails {
			if err == nil || !strings.Contains(err.Error(), "rl-select-000010.json") {
				t.Errorf("%s: resumed without its selection state: %v, want an error naming it", tc.name, err)
			}
			continue
		}
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		want, _ := os.ReadFile(filepath.Join(ref, "round-002", "student", "model.safetensors"))
		got, _ := os.ReadFile(filepath.Join(dir, "round-002", "student", "model.safetensors"))
		if len(want) == 0 || !bytes.Equal(got, want) {
			t.Errorf("%s: the weights resumed without the selection state differ from the straight run's", tc.name)
		}
		drawn := 0
		for _, v := range readJSONL[struct{ Drawn int }](t, filepath.Join(dir, "round-002", loopplug.VerdictsFile)) {
			drawn += v.Drawn
		}
		if want := 2 * 8 * 4; drawn != want { // steps 11 and 12, 8 problems of 4 answers
			t.Errorf("%s: the verdicts count %d answers, want %d (the steps after the resume)", tc.name, drawn, want)
		}
	}
}
