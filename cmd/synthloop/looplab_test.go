package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/synthloop/synthloop/loop"
)

// writeLabSelfImprove writes examples/loop-lab-selfimprove.yaml cut to test
// size: three rounds of a small model, a vote that keeps any majority.
func writeLabSelfImprove(t *testing.T, dir string) string {
	t.Helper()
	b, err := os.ReadFile("../../examples/loop-lab-selfimprove.yaml")
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	for _, r := range [][2]string{
		{"rounds: 5", "rounds: 3"},
		{"labels: {count: 10000, from: 1, to: 6}", "labels: {count: 1200, from: 1, to: 3}"},
		{"from: 7 ", "from: 4 "},
		{"count: 1000", "count: 100"},
		{"samples: 5 ", "samples: 3 "},
		{"agree: 0.6 ", "agree: 0.3 "},
		{"{dim: 128, layers: 2, heads: 4, hidden: 512, max_seq: 48}", "{dim: 32, layers: 2, heads: 4, hidden: 64, max_seq: 16}"},
		{"first: {steps: 2000, lr: 1e-3, warmup: 100}", "first: {steps: 800, lr: 3e-3, warmup: 20}"},
		{"steps: 400", "steps: 80"},
		{"batch: 32", "batch: 16"},
		{"lr: 5e-4", "lr: 1e-3"},
		{"warmup: 20", "warmup: 4"},
		{"difficulties: [2, 4, 6, 7, 8, 9, 10, 11, 12]", "difficulties: [1, 2, 3, 4, 5]"},
		{"problems: 100", "problems: 20"},
		{"target: [6, 7, 8, 9, 10, 11, 12]", "target: [1, 2, 3, 4, 5]"},
	} {
		if !strings.Contains(s, r[0]) {
			t.Fatalf("the example lacks %q", r[0])
		}
		s = strings.ReplaceAll(s, r[0], r[1])
	}
	p := filepath.Join(dir, "selfimprove.yaml")
	if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestLoopLabSelfImprove runs the lab's self-improvement example through
// the CLI (true labels without a teacher, then self-labelled rounds), then
// runs it again killed with SIGKILL at random moments and resumed each time:
// every round must come out as in the uninterrupted loop.
func TestLoopLabSelfImprove(t *testing.T) {
	dir := t.TempDir()
	cfg := writeLabSelfImprove(t, dir)
	start, began := cpuNow(), time.Now()
	out, err := cli(dir, nil, "loop", cfg, "--run-dir", "ref", "--json").CombinedOutput()
	wall := time.Since(began)
	if err != nil {
		t.Fatalf("loop: %v\n%s", err, out)
	}
	t.Logf("uninterrupted loop: %.1f CPU-seconds (user+sys of the child), %v wall", cpuNow()-start, wall.Round(time.Millisecond))
	for _, w := range []string{"round  teacher", "stopped by rounds", "summary: ref/summary.json", `"step":"train"`, `"note":"labelling"`} {
		if !strings.Contains(string(out), w) {
			t.Errorf("output lacks %q:\n%s", w, out)
		}
	}
	ref, err := loop.Load(context.Background(), filepath.Join(dir, "ref"))
	if err != nil {
		t.Fatal(err)
	}
	if len(ref.Rounds) != 3 || ref.Metric != "accuracy" {
		t.Fatalf("summary: %d rounds, metric %q", len(ref.Rounds), ref.Metric)
	}
	if r := ref.Rounds[0]; r.Teacher != "" || !r.Promoted || r.Kept != 1200 {
		t.Errorf("round 1 (true labels, no teacher) = %+v", r)
	}
	for _, r := range ref.Rounds {
		t.Logf("round %d: %s; kept %d/%d; student %v; %.1f CPU-s", r.Index, r.Reason, r.Kept, r.Generated, r.AccuracyByDifficulty, r.CPUSeconds)
		if r.Index > 1 && (r.Generated != 100 || len(r.TeacherAccuracyByDifficulty) != 5 || r.Metrics["gen_from"] != float64(r.Index+2)) {
			t.Errorf("round %d = %+v", r.Index, r)
		}
	}

	rng := rand.New(rand.NewPCG(5, 1))
	kills, finished := 0, false
	var at []string
	for attempt := 0; attempt < 6 && !finished; attempt++ {
		cmd := cli(dir, nil, "loop", cfg, "--run-dir", "killed", "--json")
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		exited := make(chan error, 1)
		go func() { exited <- cmd.Wait() }()
		select {
		case err := <-exited:
			if err != nil {
				t.Fatalf("resumed loop failed: %v\n%s", err, out.String())
			}
			finished = true
		// Kills spread over the loop's length, whatever the machine's load.
		case <-time.After(time.Duration(float64(wall) * (0.05 + 0.9*rng.Float64()))):
			cmd.Process.Signal(syscall.SIGKILL)
			<-exited
			kills++
			if s, err := loop.Load(context.Background(), filepath.Join(dir, "killed")); err == nil && len(s.Rounds) > 0 {
				last := s.Rounds[len(s.Rounds)-1]
				at = append(at, fmt.Sprintf("round %d %s", last.Index, last.Status))
			}
		}
	}
	if !finished {
		if out, err := cli(dir, nil, "loop", cfg, "--run-dir", "killed", "--json").CombinedOutput(); err != nil {
			t.Fatalf("final resumed loop: %v\n%s", err, out)
		}
	}
	if kills == 0 {
		t.Fatal("the loop finished before any kill; the test exercised nothing")
	}
	t.Logf("killed %d times, at %v", kills, at)
	got, err := loop.Load(context.Background(), filepath.Join(dir, "killed"))
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Rounds) != len(ref.Rounds) || got.Stopped != ref.Stopped {
		t.Fatalf("killed loop: %d rounds stopped by %q; reference %d by %q", len(got.Rounds), got.Stopped, len(ref.Rounds), ref.Stopped)
	}
	for i := range ref.Rounds {
		a, b := ref.Rounds[i], got.Rounds[i]
		if a.Generated != b.Generated || a.Kept != b.Kept || a.TrainSteps != b.TrainSteps || a.FirstLoss != b.FirstLoss || a.TrainLoss != b.TrainLoss ||
			a.Score != b.Score || a.TeacherScore != b.TeacherScore || a.Promoted != b.Promoted ||
			!reflect.DeepEqual(a.AccuracyByDifficulty, b.AccuracyByDifficulty) || !reflect.DeepEqual(a.Metrics, b.Metrics) {
			t.Errorf("round %d differs:\n got %+v\nwant %+v", i+1, b, a)
		}
		files := []string{a.Data}
		if i > 0 { // round 1 has true labels only
			files = append(files, filepath.Join(filepath.Dir(a.Data), "labels.jsonl"))
		}
		for _, f := range files {
			da, _ := os.ReadFile(filepath.Join(dir, "ref", f))
			db, _ := os.ReadFile(filepath.Join(dir, "killed", f))
			if len(da) == 0 || !bytes.Equal(da, db) {
				t.Errorf("round %d: %s differs from the uninterrupted loop's", i+1, f)
			}
		}
		var ea, eb struct{ Score json.RawMessage }
		ra, _ := os.ReadFile(filepath.Join(dir, "ref", filepath.Dir(a.Data), "lab-accuracy.json"))
		rb, _ := os.ReadFile(filepath.Join(dir, "killed", filepath.Dir(b.Data), "lab-accuracy.json"))
		if json.Unmarshal(ra, &ea) != nil || json.Unmarshal(rb, &eb) != nil || !bytes.Equal(ea.Score, eb.Score) {
			t.Errorf("round %d: the evaluation differs from the uninterrupted loop's (the student trained differently?)", i+1)
		}
	}
}
