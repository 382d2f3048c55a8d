package loopplug_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/synthloop/synthloop/lab/loopplug"
	"github.com/synthloop/synthloop/loop"
)

// tinyLengthGen is a two-round copy loop on tiny models: true
// labels of 1–2 characters, then two voters label 3; train is appended
// into lab-train's with block.
func tinyLengthGen(t *testing.T, train string) *loop.Config {
	t.Helper()
	y := "name: t\nrounds: 2\nmargin: 0\n" +
		"generate: {type: lab-selflabel, with: {task: copy, labels: {count: 200, from: 1, to: 2}, " +
		"from: 3, step: 1, count: 40}}\n" +
		"train: {type: lab-train, with: {init: previous, voters: 2, arch: {dim: 16, layers: 1, heads: 2, hidden: 32, max_seq: 24}, " +
		"first: {steps: 200, lr: 3e-3, warmup: 10}, steps: 20, batch: 16, lr: 1e-3, warmup: 0" + train + "}}\n" +
		"evaluate: {type: lab-accuracy, with: {difficulties: [1, 2, 3], problems: 20}}\n"
	cfg, err := loop.ParseConfig("t.yaml", []byte(y))
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// adamSteps reads the AdamW update count of a student checkpoint.
func adamSteps(t *testing.T, dir string) int {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, "trainer_state.json"))
	if err != nil {
		t.Fatal(err)
	}
	var st struct {
		AdamSteps int `json:"adam_steps"`
	}
	if err := json.Unmarshal(b, &st); err != nil {
		t.Fatal(err)
	}
	return st.AdamSteps
}

// runStopped runs cfg in dir, stops it cleanly once round 2's training
// reached step at, and runs it again to the end.
func runStopped(t *testing.T, cfg *loop.Config, dir string, at int) *loop.Summary {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	stopped := 0
	_, err := loop.Run(ctx, cfg, loop.Options{RunDir: dir, Progress: func(e loop.Event) {
		if e.Round == 2 && e.Step == "train" && e.Done >= at && stopped == 0 {
			stopped = e.Done
			cancel()
		}
	}})
	if !errors.Is(err, loop.ErrStopped) || stopped == 0 {
		t.Fatalf("stopped at step %d with %v; want a clean stop in round 2's training", stopped, err)
	}
	sum, err := loop.Run(context.Background(), cfg, loop.Options{RunDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	return sum
}

// sameFiles fails unless the named files of two round directories are
// byte for byte the same.
func sameFiles(t *testing.T, a, b string, names ...string) {
	t.Helper()
	for _, n := range names {
		x, err1 := os.ReadFile(filepath.Join(a, n))
		y, err2 := os.ReadFile(filepath.Join(b, n))
		if err1 != nil || err2 != nil || !bytes.Equal(x, y) {
			t.Errorf("%s differs after the resume (%v, %v)", n, err1, err2)
		}
	}
}

// TestContinueOptimizer: with continue_optimizer, round 2's voters go on
// with round 1's AdamW moments (their update count runs on), without it they
// start fresh; a round stopped in its training and run again ends with the
// same files as one run straight through.
func TestContinueOptimizer(t *testing.T) {
	freshDir := t.TempDir()
	fresh, err := loop.Run(context.Background(), tinyLengthGen(t, ""), loop.Options{RunDir: freshDir})
	if err != nil {
		t.Fatal(err)
	}
	if !fresh.Rounds[0].Promoted {
		t.Fatalf("round 1 was not promoted (%s): round 2 has no teacher", fresh.Rounds[0].Reason)
	}
	if n := adamSteps(t, filepath.Join(freshDir, "round-002", "student")); n != 20 {
		t.Errorf("without continue_optimizer round 2's AdamW took %d updates, want its own 20", n)
	}
	cfg := tinyLengthGen(t, ", continue_optimizer: true")
	dir := t.TempDir()
	sum, err := loop.Run(context.Background(), cfg, loop.Options{RunDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	r2 := filepath.Join(dir, "round-002")
	for _, v := range []string{"student", "student-1"} {
		if n := adamSteps(t, filepath.Join(r2, v)); n != 220 {
			t.Errorf("%s: AdamW at %d updates, want 200 of round 1 and 20 of round 2", v, n)
		}
	}
	if sum.Rounds[1].Metrics["train_optimizer_continued"] != 1 || sum.Rounds[0].Metrics["train_optimizer_continued"] != 0 {
		t.Errorf("optimizer_continued metrics: round 1 %g, round 2 %g; want 0 and 1",
			sum.Rounds[0].Metrics["train_optimizer_continued"], sum.Rounds[1].Metrics["train_optimizer_continued"])
	}
	stopped := t.TempDir()
	runStopped(t, cfg, stopped, 8)
	for _, v := range []string{"student", "student-1"} {
		sameFiles(t, filepath.Join(r2, v), filepath.Join(stopped, "round-002", v), "model.safetensors", "optimizer.safetensors", "trainer_state.json")
	}
}

// TestProbeKeepsBest: with a probe, each voter is scored on the next
// length every few steps, the best-scoring checkpoint (with its optimizer
// state) is the round's student, the curve is in the train log, probe.json
// and the metrics, and a round stopped in its training and run again ends
// with the same files.
func TestProbeKeepsBest(t *testing.T) {
	cfg := tinyLengthGen(t, ", continue_optimizer: true, probe: {every: 5, problems: 12, signal: samples, samples: 3, temperature: 1}")
	dir := t.TempDir()
	sum, err := loop.Run(context.Background(), cfg, loop.Options{RunDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	logRounds(t, sum)
	for i, want := range []struct{ difficulty, steps int }{{3, 200}, {4, 20}} {
		r := sum.Rounds[i]
		rd := filepath.Join(dir, fmt.Sprintf("round-%03d", i+1))
		for _, v := range []string{"student", "student-1"} {
			b, err := os.ReadFile(filepath.Join(rd, v, loopplug.ProbeFile))
			if err != nil {
				t.Fatal(err)
			}
			var rec loopplug.ProbeRecord
			if err := json.Unmarshal(b, &rec); err != nil {
				t.Fatal(err)
			}
			if rec.Difficulty != want.difficulty || len(rec.Curve) != want.steps/5+1 || rec.Curve[0].Step != 0 || rec.Curve[len(rec.Curve)-1].Step != want.steps {
				t.Fatalf("round %d %s: probe of difficulty %d at %d points; want %d, every 5 steps from 0 to %d", i+1, v, rec.Difficulty, len(rec.Curve), want.difficulty, want.steps)
			}
			// The best after step 0 (the starting model is never the student).
			best := rec.Curve[1]
			for _, p := range rec.Curve[1:] {
				if p.Score >= best.Score {
					best = p
				}
			}
			if rec.Step != best.Step || rec.Score != best.Score {
				t.Errorf("round %d %s: probe.json names step %d (%g), the best is step %d (%g)", i+1, v, rec.Step, rec.Score, best.Step, best.Score)
			}
			// The student is the checkpoint of the best step, the last training
			// state is apart.
			if n := stepOf(t, filepath.Join(rd, v)); n != best.Step {
				t.Errorf("round %d %s: the student is the checkpoint of step %d, want the best probe's %d", i+1, v, n, best.Step)
			}
			last := "last"
			if v != "student" {
				last = "last-1"
			}
			if n := stepOf(t, filepath.Join(rd, last)); n != want.steps {
				t.Errorf("round %d %s: last training state at step %d, want %d", i+1, last, n, want.steps)
			}
			if v == "student" && (r.Metrics["train_probe"] != rec.Score || r.Metrics["train_probe_step"] != float64(rec.Step) || r.Metrics["train_probe_difficulty"] != float64(want.difficulty)) {
				t.Errorf("round %d metrics %v disagree with probe.json %+v", i+1, r.Metrics, rec)
			}
		}
		probes := 0
		for _, l := range readJSONL[map[string]float64](t, filepath.Join(rd, loopplug.TrainLog)) {
			if _, ok := l["probe"]; ok {
				probes++
			}
		}
		if probes != want.steps/5+1 {
			t.Errorf("round %d: %d probes in the train log, want %d", i+1, probes, want.steps/5+1)
		}
	}
	stopped := t.TempDir()
	runStopped(t, cfg, stopped, 8)
	r2, s2 := filepath.Join(dir, "round-002"), filepath.Join(stopped, "round-002")
	sameFiles(t, r2, s2, loopplug.TrainLog, "train-1.log")
	for _, v := range []string{"student", "student-1", "last", "last-1"} {
		sameFiles(t, filepath.Join(r2, v), filepath.Join(s2, v), "model.safetensors", "optimizer.safetensors", "trainer_state.json")
	}
	for _, v := range []string{"student", "student-1"} {
		sameFiles(t, filepath.Join(r2, v), filepath.Join(s2, v), loopplug.ProbeFile)
	}
}

// stepOf reads the step of a training checkpoint.
func stepOf(t *testing.T, dir string) int {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, "trainer_state.json"))
	if err != nil {
		t.Fatal(err)
	}
	var st struct{ Step int }
	if err := json.Unmarshal(b, &st); err != nil {
		t.Fatal(err)
	}
	return st.Step
}

// TestByLengthInLoop: lab-train with by_length trains and resumes exactly.
func TestByLengthInLoop(t *testing.T) {
	cfg := tinyLengthGen(t, ", by_length: 2")
	dir := t.TempDir()
	if _, err := loop.Run(context.Background(), cfg, loop.Options{RunDir: dir}); err != nil {
		t.Fatal(err)
	}
	stopped := t.TempDir()
	runStopped(t, cfg, stopped, 8)
	for _, v := range []string{"student", "student-1"} {
		sameFiles(t, filepath.Join(dir, "round-002", v), filepath.Join(stopped, "round-002", v), "model.safetensors", "optimizer.safetensors", "trainer_state.json")
	}
}

// TestAdvanceProbeInLoop: a teacher whose probe at the next length is
// below advance_probe labels the same length again, and the round records
// the teacher's probe at the length it labels.
func TestAdvanceProbeInLoop(t *testing.T) {
	cfg := tinyLengthGen(t, ", probe: {every: 10, problems: 8, signal: samples, samples: 3, temperature: 1}")
	cfg.Rounds = 3
	cfg.Generate.Settings.(*loopplug.SelfLabelConfig).AdvanceProbe = 1 // out of reach of these models
	sum, err := loop.Run(context.Background(), cfg, loop.Options{RunDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	r2, r3 := sum.Rounds[1], sum.Rounds[2]
	if r2.Metrics["gen_to"] != 3 || r3.Metrics["gen_to"] != 3 {
		t.Errorf("rounds 2 and 3 labelled %g and %g, want 3 twice (probe %g < 1)", r2.Metrics["gen_to"], r3.Metrics["gen_to"], r2.Metrics["train_probe"])
	}
	if _, ok := r2.Metrics["gen_teacher_probe"]; !ok {
		t.Errorf("round 2 lacks the teacher's probe: %v", r2.Metrics)
	}
}

// TestReverseAdditionProbeExample runs
// examples/loop-lab-reverse-addition-probe.yaml at test size: the labelled
// round and two self-labelled ones, with every fix of the example on
// (commute probe, advance_probe, continued optimizer, equal-length labels,
// batches by length).
func TestReverseAdditionProbeExample(t *testing.T) {
	cfg := shrinkWith(t, "loop-lab-reverse-addition-probe.yaml", `
rounds: 3
generate: {with: {labels: {count: 400, from: 1, to: 2}, from: 3, count: 60, filter: {length: false, agree: 0.3}}}
train: {with: {arch: {dim: 32, layers: 2, heads: 2, hidden: 64, max_seq: 24}, first: {steps: 300, lr: 3e-3, warmup: 20, max_steps: 300},
  steps: 20, probe: {every: 10, problems: 12}}}
evaluate: {with: {difficulties: [1, 2, 3, 4], problems: 20, target: [1, 2]}}
`)
	dir := t.TempDir()
	sum, err := loop.Run(context.Background(), cfg, loop.Options{RunDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	logRounds(t, sum)
	if len(sum.Rounds) != 3 {
		t.Fatalf("%d rounds, want 3", len(sum.Rounds))
	}
	r1 := sum.Rounds[0]
	if r1.Metrics["train_probe_difficulty"] != 3 {
		t.Errorf("round 1 probed difficulty %g, want 3 (the first self-labelled one)", r1.Metrics["train_probe_difficulty"])
	}
	for _, r := range sum.Rounds[1:] {
		if _, ok := r.Metrics["train_probe"]; !ok {
			t.Errorf("round %d has no probe metrics: %v", r.Index, r.Metrics)
		}
		if r.Metrics["gen_generated"] == 0 && r.Generated == 0 {
			t.Errorf("round %d labelled nothing", r.Index)
		}
	}
	// Mostly equal operands in the self-labelled data.
	eq, n := 0, 0
	for _, l := range readJSONL[struct{ Prompt string }](t, filepath.Join(dir, "round-002", loopplug.LabelsFile)) {
		a, b, _ := strings.Cut(strings.TrimSuffix(l.Prompt, "="), "+")
		n++
		if len(a) == len(b) {
			eq++
		}
	}
	if n == 0 || float64(eq)/float64(n) < 0.7 {
		t.Errorf("%d of %d labelled problems have equal operands, want about 80%%", eq, n)
	}
}

// TestProbeKill9 kills (SIGKILL) a run with the probe, the continued
// optimizer and batches by length in the middle of round 2's training,
// runs it again, and requires the same files as a run straight through:
// both students and last training states, their optimizer states and
// probe records.
func TestProbeKill9(t *testing.T) {
	cfg := func() *loop.Config {
		c := tinyLengthGen(t, ", continue_optimizer: true, by_length: 2, save_every: 30, probe: {every: 20, problems: 12, signal: samples, samples: 3, temperature: 1}")
		c.Train.Settings.(*loopplug.TrainConfig).Steps = 400
		return c
	}
	if dir := os.Getenv("LENGTHGEN_KILL9_DIR"); dir != "" {
		// The child: run until killed.
		loop.Run(context.Background(), cfg(), loop.Options{RunDir: dir})
		return
	}
	if testing.Short() {
		t.Skip("runs the loop three times")
	}
	straight := t.TempDir()
	if _, err := loop.Run(context.Background(), cfg(), loop.Options{RunDir: straight}); err != nil {
		t.Fatal(err)
	}
	killed := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^TestProbeKill9$")
	cmd.Env = append(os.Environ(), "LENGTHGEN_KILL9_DIR="+killed)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	at := 0
	for at == 0 {
		time.Sleep(2 * time.Millisecond)
		b, _ := os.ReadFile(filepath.Join(killed, "round-002", loopplug.TrainLog))
		for _, line := range strings.Split(string(b), "\n") {
			var l struct{ Step int }
			if json.Unmarshal([]byte(line), &l) == nil && l.Step >= 100 {
				at = l.Step
			}
		}
		if cmd.ProcessState != nil {
			break
		}
	}
	cmd.Process.Kill()
	cmd.Wait()
	if at == 0 || at >= 400 {
		t.Fatalf("the child was killed at step %d of round 2, want mid-round", at)
	}
	if _, err := loop.Run(context.Background(), cfg(), loop.Options{RunDir: killed}); err != nil {
		t.Fatal(err)
	}
	r2, k2 := filepath.Join(straight, "round-002"), filepath.Join(killed, "round-002")
	for _, v := range []string{"student", "student-1", "last", "last-1"} {
		sameFiles(t, filepath.Join(r2, v), filepath.Join(k2, v), "model.safetensors", "optimizer.safetensors", "trainer_state.json")
	}
	for _, v := range []string{"student", "student-1"} {
		sameFiles(t, filepath.Join(r2, v), filepath.Join(k2, v), loopplug.ProbeFile)
	}
	t.Logf("killed at step %d of 400", at)
}
