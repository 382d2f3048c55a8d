package loopplug_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"maps"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/goccy/go-yaml"

	"github.com/synthloop/synthloop/lab"
	"github.com/synthloop/synthloop/lab/loopplug"
	"github.com/synthloop/synthloop/lab/task"
	"github.com/synthloop/synthloop/loop"
	"github.com/synthloop/synthloop/trainjob"
)

// shrink reads an example loop file and applies replacements (old, new,
// ...), each of which must match: a renamed key in the example fails the
// test instead of silently running it at full size.
func shrink(t *testing.T, name string, pairs ...string) *loop.Config {
	t.Helper()
	path := filepath.Join("..", "..", "examples", name)
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	for i := 0; i < len(pairs); i += 2 {
		if !strings.Contains(s, pairs[i]) {
			t.Fatalf("%s lacks %q", name, pairs[i])
		}
		s = strings.ReplaceAll(s, pairs[i], pairs[i+1])
	}
	cfg, err := loop.ParseConfig(path, []byte(s))
	if err != nil {
		t.Fatalf("shrunk %s: %v\n%s", name, err, s)
	}
	return cfg
}

// tinySelfImprove is examples/loop-lab-selfimprove.yaml at test size: three
// rounds on small models, three voters of which two must agree. It learns
// little; it exercises the machinery.
func tinySelfImprove(t *testing.T) *loop.Config {
	return shrinkWith(t, "loop-lab-selfimprove.yaml", tinySelfImproveYAML)
}

// tinySelfImproveYAML is merged over the example; baseline: null leaves the
// baseline to the tests that want one.
const tinySelfImproveYAML = `
rounds: 3
generate: {with: {labels: {count: 1200, from: 1, to: 3}, from: 4, count: 60, filter: {agree: 0.3}}}
train: {with: {voters: 3, arch: {dim: 32, layers: 2, heads: 4, hidden: 64, max_seq: 16}, first: {steps: 600, lr: 3e-3, warmup: 20},
  steps: 40, batch: 16, lr: 1e-3, warmup: 4}}
evaluate: {with: {difficulties: [1, 2, 3, 4, 5], problems: 20, target: [1, 2, 3, 4, 5]}}
baseline: null
`

// shrinkWith reads an example loop file and merges over (YAML) into it.
func shrinkWith(t *testing.T, name, over string) *loop.Config {
	t.Helper()
	cfg, err := loop.LoadConfig(filepath.Join("..", "..", "examples", name))
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := yaml.Unmarshal([]byte(over), &m); err != nil {
		t.Fatal(err)
	}
	if cfg, err = cfg.With(m); err != nil {
		t.Fatalf("shrunk %s: %v", name, err)
	}
	return cfg
}

func logRounds(t *testing.T, s *loop.Summary) {
	for _, r := range s.Rounds {
		t.Logf("round %d: %s, kept %d/%d, %d steps, loss %.3f → %.3f, %.1f CPU-s; student %v teacher %v; metrics %v",
			r.Index, r.Reason, r.Kept, r.Generated, r.TrainSteps, r.FirstLoss, r.TrainLoss, r.CPUSeconds,
			r.AccuracyByDifficulty, r.TeacherAccuracyByDifficulty, r.Metrics)
	}
}

// readJSONL decodes every line of a file into a T.
func readJSONL[T any](t *testing.T, path string) []T {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []T
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var v T
		if err := json.Unmarshal(sc.Bytes(), &v); err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		out = append(out, v)
	}
	return out
}

// TestSelfImproveExample runs the self-improvement example: a first round
// on true labels without a teacher whose student is promoted, then rounds in
// which the teacher labels one difficulty more, filtered, and the loop
// records everything the report plots.
func TestSelfImproveExample(t *testing.T) {
	dir := t.TempDir()
	sum, err := loop.Run(context.Background(), tinySelfImprove(t), loop.Options{RunDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	logRounds(t, sum)
	if len(sum.Rounds) != 3 || sum.Stopped != loop.StopRounds || sum.Metric != "accuracy" {
		t.Fatalf("%d rounds, stopped %q, metric %q", len(sum.Rounds), sum.Stopped, sum.Metric)
	}
	r1 := sum.Rounds[0]
	if r1.Teacher != "" || !r1.Promoted || r1.TeacherScore != 0 || r1.Kept != 1200 || r1.Metrics["gen_labelled"] != 1 || r1.TrainSteps != 600 || r1.Metrics["train_scratch"] != 1 {
		t.Errorf("round 1 (labels, no teacher) = %+v", r1)
	}
	for i, r := range sum.Rounds {
		if len(r.AccuracyByDifficulty) != 5 || r.Status != "done" || r.TrainLoss <= 0 || r.FirstLoss <= 0 {
			t.Errorf("round %d: %+v", r.Index, r)
		}
		if i == 0 {
			continue
		}
		prev := sum.Rounds[i-1]
		want := prev.Teacher
		if prev.Promoted {
			want = prev.Student
		}
		if r.Teacher != want || len(r.TeacherAccuracyByDifficulty) != 5 || r.Generated != 60 || r.Kept > r.Generated {
			t.Errorf("round %d: teacher %q (want %q), teacher accuracy %v, kept %d of %d", r.Index, r.Teacher, want, r.TeacherAccuracyByDifficulty, r.Kept, r.Generated)
		}
		if r.Metrics["gen_from"] != float64(3+r.Index-1) || r.Metrics["train_scratch"] != 0 {
			t.Errorf("round %d labelled from %v, scratch %v; want difficulty %d, continued", r.Index, r.Metrics["gen_from"], r.Metrics["train_scratch"], 3+r.Index-1)
		}
		for _, k := range []string{"gen_yield", "gen_kept_correct", "teacher_accuracy"} {
			if _, ok := r.Metrics[k]; !ok {
				t.Errorf("round %d lacks metric %s", r.Index, k)
			}
		}
		// Every kept label is the majority of its answers, none longer than
		// the task allows; the verdicts agree with the verifier.
		labels := readJSONL[struct {
			task.Problem
			Answers []lab.Answer `json:"answers"`
			Kept    bool         `json:"kept"`
			Correct bool         `json:"correct"`
		}](t, filepath.Join(dir, filepath.Dir(r.Data), loopplug.LabelsFile))
		kept, right := 0, 0
		for _, l := range labels {
			if len(l.Answers) != 3 || l.Difficulty != 3+r.Index-1 {
				t.Fatalf("round %d label %+v", r.Index, l)
			}
			if l.Kept {
				kept++
				if len(l.Answer) != l.Difficulty {
					t.Errorf("round %d kept %q for a copy of length %d", r.Index, l.Answer, l.Difficulty)
				}
				if l.Correct != (task.Copy{}).Verify(l.Problem, l.Answer) {
					t.Errorf("round %d: verdict %v on %+v", r.Index, l.Correct, l)
				}
				if l.Correct {
					right++
				}
			}
		}
		if kept != r.Kept || (kept > 0 && r.Metrics["gen_kept_correct"] != float64(right)/float64(kept)) {
			t.Errorf("round %d: labels.jsonl keeps %d (%d right); summary %d, kept_correct %v", r.Index, kept, right, r.Kept, r.Metrics["gen_kept_correct"])
		}
	}
	// No round trains on a held-out problem.
	held := map[string]bool{}
	for _, set := range lab.HeldOut(task.Copy{}, []int{1, 2, 3, 4, 5}, 20, loopplug.DefaultEvalSeed) {
		for _, p := range set {
			held[p.Prompt] = true
		}
	}
	for _, r := range sum.Rounds {
		if r.Kept == 0 {
			continue
		}
		convs, err := trainjob.ReadJSONL(filepath.Join(dir, r.Data))
		if err != nil || len(convs) != r.Kept {
			t.Errorf("round %d data: %d conversations, %v; want %d", r.Index, len(convs), err, r.Kept)
		}
		for _, c := range convs {
			if held[c.Messages[0].Content] {
				t.Errorf("round %d trains on the held-out problem %q", r.Index, c.Messages[0].Content)
			}
		}
		if _, err := lab.LoadModel(strings.TrimPrefix(r.Student, "local/")); err != nil {
			t.Errorf("round %d student: %v", r.Index, err)
		}
		if _, err := os.Stat(filepath.Join(dir, r.TrainLog)); err != nil {
			t.Errorf("round %d: %v", r.Index, err)
		}
	}
}

// TestSelfImproveResume stops the loop in the middle of round 2's training
// and runs it again: the round resumes from the student's checkpoint, and
// the loop ends exactly as an uninterrupted one.
func TestSelfImproveResume(t *testing.T) {
	cfg := tinySelfImprove(t)
	ref, err := loop.Run(context.Background(), cfg, loop.Options{RunDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	stopped := 0
	_, err = loop.Run(ctx, cfg, loop.Options{RunDir: dir, Progress: func(e loop.Event) {
		if e.Round == 2 && e.Step == "train" && e.Done >= 25 {
			stopped = e.Done
			cancel()
		}
	}})
	if !errors.Is(err, loop.ErrStopped) || stopped == 0 {
		t.Fatalf("stopped at step %d with %v; want a clean stop in round 2's training", stopped, err)
	}
	got, err := loop.Run(context.Background(), cfg, loop.Options{RunDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Rounds) != len(ref.Rounds) {
		t.Fatalf("%d rounds after resuming, want %d", len(got.Rounds), len(ref.Rounds))
	}
	for i := range ref.Rounds {
		a, b := comparable(ref.Rounds[i]), comparable(got.Rounds[i])
		if !reflect.DeepEqual(a, b) {
			t.Errorf("round %d differs after the resume:\n got %+v\nwant %+v", i+1, b, a)
		}
	}
	// The resumed job continued from the checkpoint written at the stop:
	// its log starts once.
	log := readJSONL[struct{ Step int }](t, filepath.Join(dir, "round-002", loopplug.TrainLog))
	starts := 0
	for _, l := range log {
		if l.Step == 1 {
			starts++
		}
	}
	if starts != 1 || log[len(log)-1].Step != 40 {
		t.Errorf("train.log of the resumed round: %d starts, last step %d; want 1 start and 40 steps", starts, log[len(log)-1].Step)
	}
}

// comparable is a round summary without what differs between runs: times,
// CPU (the round's and the CPU metrics) and the run directory in model paths.
func comparable(r loop.RoundSummary) loop.RoundSummary {
	r.CPUSeconds = 0
	r.Metrics = maps.Clone(r.Metrics)
	maps.DeleteFunc(r.Metrics, func(k string, _ float64) bool { return strings.Contains(k, "cpu") })
	r.Started, r.Finished = r.Started.AddDate(-3000, 0, 0).Truncate(1<<62), r.Finished.Truncate(1<<62)
	r.Teacher, r.Student = filepath.Base(filepath.Dir(r.Teacher)), filepath.Base(filepath.Dir(r.Student))
	return r
}

// TestRFTExample runs the RFT example: round 2 trains on verified samples
// only, and the evaluator reports pass@k.
func TestRFTExample(t *testing.T) {
	cfg := shrink(t, "loop-lab-rft.yaml",
		"rounds: 5", "rounds: 2",
		"labels: {count: 1000, from: 1, to: 6}", "labels: {count: 600, from: 1, to: 3}",
		"count: 2000", "count: 60",
		"to: 6\n", "to: 3\n",
		"k: 8 ", "k: 4 ",
		"{dim: 64, layers: 2, heads: 4, hidden: 256, max_seq: 32}", "{dim: 32, layers: 2, heads: 4, hidden: 64, max_seq: 16}",
		"first: {steps: 500, lr: 1e-3, warmup: 25}", "first: {steps: 500, lr: 3e-3, warmup: 10}",
		"steps: 300", "steps: 30",
		"difficulties: [3, 4, 5, 6]", "difficulties: [2, 3]",
		"problems: 100", "problems: 20",
		"samples: 16 ", "samples: 4 ",
		"k: 8\n", "k: 2\n",
	)
	dir := t.TempDir()
	sum, err := loop.Run(context.Background(), cfg, loop.Options{RunDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	logRounds(t, sum)
	r := sum.Rounds[1]
	if r.Generated != 60*4 || r.Kept == 0 || r.Metrics["gen_pass_at_k"] < r.Metrics["gen_pass_at_1"] || r.Metrics["gen_solved"] != r.Metrics["gen_pass_at_k"] {
		t.Fatalf("round 2 = %+v", r)
	}
	for _, k := range []string{"pass_at_1", "pass_at_k", "majority", "teacher_pass_at_1", "teacher_pass_at_k", "pass_at_1_se", "pass_at_k_se", "eval_cpu_seconds"} {
		if _, ok := r.Metrics[k]; !ok {
			t.Errorf("round 2 lacks metric %s", k)
		}
	}
	seen := map[string]bool{}
	for _, c := range readJSONL[struct {
		Messages []struct{ Content string } `json:"messages"`
	}](t, filepath.Join(dir, r.Data)) {
		p, a := c.Messages[0].Content, c.Messages[1].Content
		if !(task.Reverse{}).Verify(task.Problem{Prompt: p}, a) || seen[p+"\x00"+a] {
			t.Errorf("round 2 trains on %q → %q: wrong or repeated", p, a)
		}
		seen[p+"\x00"+a] = true
	}
}

// TestSCDPOExample runs the self-consistency example: round 1 is SFT on
// labels, round 2 DPO on pairs from the teacher's samples.
func TestSCDPOExample(t *testing.T) {
	cfg := shrink(t, "loop-lab-scdpo.yaml",
		"rounds: 3", "rounds: 2",
		"labels: {count: 1000, from: 1, to: 6}", "labels: {count: 600, from: 1, to: 4}",
		"count: 2000", "count: 120",
		"from: 3 ", "from: 2 ",
		"to: 6\n", "to: 3\n",
		"min_share: 0.5", "min_share: 0.25",
		"{dim: 64, layers: 2, heads: 4, hidden: 256, max_seq: 32}", "{dim: 32, layers: 2, heads: 4, hidden: 64, max_seq: 16}",
		"first: {steps: 500, batch: 32, lr: 1e-3, warmup: 25}", "first: {steps: 500, batch: 16, lr: 3e-3, warmup: 10}",
		"steps: 200", "steps: 20",
		"difficulties: [3, 4, 5, 6]", "difficulties: [1, 2, 3, 4]",
		"problems: 100", "problems: 20",
		"samples: 16\n", "samples: 4\n",
		"k: 8\n", "k: 2\n",
	)
	dir := t.TempDir()
	sum, err := loop.Run(context.Background(), cfg, loop.Options{RunDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	logRounds(t, sum)
	r1, r2 := sum.Rounds[0], sum.Rounds[1]
	if !r1.Promoted || r1.TrainSteps != 500 {
		t.Fatalf("round 1 = %+v", r1)
	}
	if r2.Teacher != r1.Student || r2.Generated != 120 || r2.Kept == 0 || r2.TrainSteps < 1 || r2.TrainSteps > 20 {
		t.Fatalf("round 2 = %+v", r2)
	}
	for _, k := range []string{"gen_chosen_right", "gen_rejected_wrong", "gen_drop_unanimous", "gen_drop_tie"} {
		if _, ok := r2.Metrics[k]; !ok {
			t.Errorf("round 2 lacks metric %s", k)
		}
	}
	pairs, err := trainjob.ReadJSONL(filepath.Join(dir, r2.Data))
	if err != nil || len(pairs) != r2.Kept {
		t.Fatalf("round 2 pairs: %d, %v", len(pairs), err)
	}
	for _, p := range pairs {
		if p.Chosen == "" || p.Rejected == "" || p.Chosen == p.Rejected {
			t.Errorf("pair %+v", p)
		}
	}
}

// TestDistillExample runs the distillation example: round 1 trains the
// teacher at its own size, round 2 a new student under a quarter of it on
// the teacher's unfiltered labels, round 3 continues that student.
func TestDistillExample(t *testing.T) {
	cfg := shrink(t, "loop-lab-distill.yaml",
		"labels: {count: 20000, from: 1, to: 6}", "labels: {count: 800, from: 1, to: 3}",
		"count: 10000", "count: 100",
		"to: 6\n", "to: 3\n",
		"{dim: 64, layers: 2, heads: 4, hidden: 224, max_seq: 32}", "{dim: 16, layers: 1, heads: 2, hidden: 32, max_seq: 16}",
		"{dim: 128, layers: 2, heads: 4, hidden: 512, max_seq: 32}", "{dim: 48, layers: 2, heads: 4, hidden: 96, max_seq: 16}",
		"steps: 2500", "steps: 300",
		"steps: 1500", "steps: 30",
		"warmup: 75", "warmup: 3",
		"difficulties: [3, 4, 5, 6]", "difficulties: [1, 2, 3]",
		"problems: 100", "problems: 20",
	)
	dir := t.TempDir()
	sum, err := loop.Run(context.Background(), cfg, loop.Options{RunDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	logRounds(t, sum)
	if len(sum.Rounds) != 3 {
		t.Fatalf("%d rounds", len(sum.Rounds))
	}
	r1, r2, r3 := sum.Rounds[0], sum.Rounds[1], sum.Rounds[2]
	if !r1.Promoted || r1.Metrics["train_scratch"] != 1 {
		t.Fatalf("round 1 (the teacher) = %+v", r1)
	}
	if r2.Teacher != r1.Student || r2.Metrics["train_scratch"] != 1 || r2.Kept < 90 || r2.Kept > r2.Generated || r2.Metrics["param_ratio"] >= 0.25 ||
		r2.Metrics["train_params"] >= 0.25*r1.Metrics["train_params"] {
		t.Errorf("round 2 (a new student) = %+v", r2)
	}
	for _, k := range []string{"relative", "gen_kept_correct", "teacher_accuracy"} {
		if _, ok := r2.Metrics[k]; !ok {
			t.Errorf("round 2 lacks metric %s", k)
		}
	}
	if r3.Metrics["train_scratch"] != 0 || r3.Metrics["train_params"] != r2.Metrics["train_params"] {
		t.Errorf("round 3 (the student continued) = %+v", r3)
	}
}
