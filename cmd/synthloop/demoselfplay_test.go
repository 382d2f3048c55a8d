package main

import (
	"bytes"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/synthloop/synthloop/report"
)

// tinyDemo shrinks the demo's loop file to seconds; the real demo's figures
// are measured in BENCHMARKS.md, not in tests. Two of the three voters must
// agree, as in the demo; the baseline shares round 1.
const tinyDemo = `{rounds: 3,
  generate: {with: {labels: {count: 1200, from: 1, to: 3}, from: 4, count: 60, filter: {agree: 0.3}}},
  train: {with: {voters: 3, arch: {dim: 32, layers: 2, heads: 4, hidden: 64, max_seq: 16}, first: {steps: 600, lr: 3e-3, warmup: 20},
    steps: 40, batch: 16, lr: 1e-3, warmup: 4}},
  evaluate: {with: {difficulties: [1, 2, 3, 4, 5], problems: 20, target: null}}}`

// TestSelfPlayDemo runs `synthloop demo` end to end on a tiny loop through
// loop.Run: the filtered run, the baseline sharing its round 1, the
// per-round tables, the report with its plots, a servable model. Then it
// runs the same demo killed with SIGKILL at random moments and resumed each
// time: every data file, label file and model must come out byte for byte
// as in the uninterrupted run, and a last rerun redoes nothing.
func TestSelfPlayDemo(t *testing.T) {
	dir := t.TempDir()
	began := time.Now()
	out, err := cli(dir, nil, "demo", "--set", tinyDemo, "--json", "--run-dir", "ref").CombinedOutput()
	wall := time.Since(began)
	if err != nil {
		t.Fatalf("demo: %v\n%s", err, out)
	}
	text := string(out)
	for _, want := range []string{
		"loop file examples/loop-lab-selfimprove.yaml; run directory ref",
		"== with the filter",
		"== baseline: without the filter",
		"held-out accuracy % at difficulty   1   2   3   4   5",
		"(shared with the filtered run)",
		"held-out accuracy above difficulty 3:",
		"report: ref/report.html",
		"next:   synthloop serve ",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("output lacks %q\n%s", want, text)
		}
	}
	ref := filepath.Join(dir, "ref")
	for _, f := range []string{"report.html", report.AccuracyPlot, report.BaselinePlot, report.YieldPlot,
		"round-003/student/model.safetensors", "round-003/student-2/model.safetensors", "round-001/data.jsonl",
		"round-002/labels.jsonl", "baseline/round-003/data.jsonl", "baseline/round-001/student/model.safetensors"} {
		if _, err := os.Stat(filepath.Join(ref, f)); err != nil {
			t.Errorf("run directory lacks %s: %v", f, err)
		}
	}
	if _, err := os.Stat(filepath.Join(ref, "baseline", "round-003", "student-1")); err == nil {
		t.Error("the baseline trained voters; it has one model")
	}
	r, err := report.Load(filepath.Join(ref, report.SummaryFile))
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Rounds) != 3 || r.LabelledUpTo != 3 || r.Rounds[2].Baseline == nil || len(r.Rounds[1].AccuracyByDifficulty) != 5 {
		t.Errorf("report input: %d rounds, labelled up to %d, %+v", len(r.Rounds), r.LabelledUpTo, r.Rounds)
	}

	rng := rand.New(rand.NewPCG(7, 1))
	kills, finished := 0, false
	for attempt := 0; attempt < 6 && !finished; attempt++ {
		// Kills spread over the run's length, whatever the machine's load.
		delay := time.Duration(float64(wall) * (0.05 + 0.9*rng.Float64()))
		if finished = runOrKill(t, dir, delay, "demo", "--set", tinyDemo, "--json", "--run-dir", "killed"); !finished {
			kills++
		}
	}
	if kills == 0 {
		t.Fatal("the demo finished before any kill; the test exercised nothing")
	}
	again, err := cli(dir, nil, "demo", "--set", tinyDemo, "--json", "--run-dir", "killed").CombinedOutput()
	if err != nil {
		t.Fatalf("final rerun: %v\n%s", err, again)
	}
	t.Logf("killed %d times", kills)
	if n := strings.Count(string(again), "(finished earlier)") + strings.Count(string(again), "(shared with"); n != 6 {
		t.Errorf("the last rerun reports %d rounds done before, want 6 (3 filtered, 3 baseline)\n%s", n, again)
	}
	if strings.Contains(string(again), `"step":"train"`) {
		t.Errorf("the last rerun trained again\n%s", again)
	}

	// What a round leaves behind must not depend on the kills: the data, the
	// labels with every voter's answer, every model's weights.
	want := roundFiles(t, ref)
	got := roundFiles(t, filepath.Join(dir, "killed"))
	if !slices.Equal(want, got) {
		t.Fatalf("files differ:\nuninterrupted %v\nkilled        %v", want, got)
	}
	for _, f := range want {
		a, _ := os.ReadFile(filepath.Join(ref, f))
		b, _ := os.ReadFile(filepath.Join(dir, "killed", f))
		if !bytes.Equal(a, b) {
			t.Errorf("%s differs from the uninterrupted run's", f)
		}
	}
}

// roundFiles lists the data, labels and model weights under dir's rounds.
func roundFiles(t *testing.T, dir string) []string {
	var out []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		switch d.Name() {
		case "data.jsonl", "labels.jsonl", "model.safetensors":
			rel, _ := filepath.Rel(dir, p)
			out = append(out, rel)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(out) < 10 {
		t.Fatalf("%s holds only %v", dir, out)
	}
	return out
}

func TestDemoBadSet(t *testing.T) {
	for _, set := range []string{`{rounds: [`, `{train: {with: {votrs: 2}}}`} {
		out, err := cli(t.TempDir(), nil, "demo", "--set", set).CombinedOutput()
		if exitCode(err) != 2 || !strings.Contains(string(out), "--set") {
			t.Errorf("--set %s: exit %d\n%s", set, exitCode(err), out)
		}
	}
}

// tinyReasoning shrinks the reasoning demo's loop file to seconds. Round
// 1's student must score above nothing on the target sizes to be promoted,
// or every round is a labelled one and no GRPO or RFT runs.
const tinyReasoning = `{
  generate: {with: {labels: {count: 300, from: 1, to: 2}, count: 100, from: 1, to: 2}},
  train: {with: {arch: {dim: 32, layers: 2, heads: 4, hidden: 64, max_seq: 48}, first: {steps: 200, lr: 3e-3, warmup: 10},
    steps: 4, batch: 4, warmup: 1, grpo: {group: 4, max_draws: 2}}},
  evaluate: {with: {difficulties: [1, 2], problems: 10, target: [1, 2], samples: 4, k: 4}},
  baseline: {generate: {count: 40, k: 4}, train: {steps: 10, warmup: 2}}}`

// TestReasoningDemo runs `synthloop demo reasoning` end to end on a tiny
// loop: the GRPO rounds, the RFT baseline sharing round 1, the tables with
// pass@1 and pass@k, the headline and the report.
func TestReasoningDemo(t *testing.T) {
	dir := t.TempDir()
	out, err := cli(dir, nil, "demo", "reasoning", "--set", tinyReasoning, "--json", "--run-dir", "r").CombinedOutput()
	if err != nil {
		t.Fatalf("demo reasoning: %v\n%s", err, out)
	}
	text := string(out)
	for _, want := range []string{
		"loop file examples/loop-lab-reasoning.yaml; run directory r",
		"== GRPO",
		"== baseline: RFT",
		"pass@1",
		"held-out pass@1: ",
		"(round 1's pass@k: ",
		"; baseline, RFT",
		"report: r/report.html",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("output lacks %q\n%s", want, text)
		}
	}
	for _, f := range []string{"report.html", "round-003/student/model.safetensors", "baseline/round-003/data.jsonl"} {
		if _, err := os.Stat(filepath.Join(dir, "r", f)); err != nil {
			t.Errorf("run directory lacks %s: %v", f, err)
		}
	}
}
