package loopplug_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/synthloop/synthloop/lab"
	"github.com/synthloop/synthloop/lab/loopplug"
	"github.com/synthloop/synthloop/lab/task"
)

// TestProposeRound trains a model to solve and to propose copy problems,
// then lets it propose: the round keeps only problems it solves sometimes
// but not always, writes their verified answers and proposer examples, and
// never trains on a held-out problem.
func TestProposeRound(t *testing.T) {
	y := "name: t\nrounds: 2\n" +
		"generate: {type: lab-propose, with: {task: copy, labels: {count: 300, from: 1, to: 3}, count: 300, proposer_temperature: 1.5, k: 4, temperature: 1.5}}\n" +
		"train: {type: lab-train, with: {arch: {dim: 32, layers: 2, heads: 2, hidden: 64, max_seq: 24}, steps: 20, warmup: 1, lr: 3e-3, " +
		"first: {steps: 300, warmup: 10}}}\n" +
		"evaluate: {type: lab-accuracy, with: {difficulties: [1, 2, 3], problems: 10}}\n"
	_, dir, sum := runLoop(t, y)
	m := sum.Rounds[1].Metrics
	for _, k := range []string{"gen_proposed_difficulty", "gen_kept_difficulty", "gen_learnable", "gen_malformed", "gen_pass_at_1"} {
		if _, ok := m[k]; !ok {
			t.Errorf("round 2 lacks %s: %v", k, m)
		}
	}
	if m["gen_learnable"] <= 0 || m["gen_learnable"] >= 1 {
		t.Fatalf("learnable share %g: the test needs some problems kept and some not", m["gen_learnable"])
	}
	held := map[string]bool{}
	for _, set := range lab.HeldOut(task.Copy{}, []int{1, 2, 3}, 10, loopplug.DefaultEvalSeed) {
		for _, p := range set {
			held[p.Prompt] = true
		}
	}
	f, err := os.Open(filepath.Join(dir, "round-002", loopplug.LabelsFile))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	kept, wrong := 0, 0
	for sc.Scan() {
		var p struct {
			Prompt string `json:"prompt"`
			Right  []bool `json:"right"`
			Kept   bool   `json:"kept"`
		}
		if err := json.Unmarshal(sc.Bytes(), &p); err != nil {
			t.Fatal(err)
		}
		if held[p.Prompt] {
			t.Errorf("held-out problem %q was proposed and kept in the round's problems", p.Prompt)
		}
		right := 0
		for _, r := range p.Right {
			if r {
				right++
			}
		}
		if learnable := right > 0 && right < len(p.Right); learnable != p.Kept {
			t.Errorf("%q: %d of %d right, kept %v", p.Prompt, right, len(p.Right), p.Kept)
		}
		if p.Kept {
			kept++
			wrong += len(p.Right) - right
		}
	}
	if kept == 0 {
		t.Error("no problem kept")
	}
	data, err := os.ReadFile(filepath.Join(dir, "round-002", loopplug.DataFile))
	if err != nil {
		t.Fatal(err)
	}
	proposer := 0
	for _, line := range splitLines(data) {
		var l struct {
			Messages []struct{ Role, Content string } `json:"messages"`
		}
		if err := json.Unmarshal(line, &l); err != nil {
			t.Fatal(err)
		}
		if l.Messages[0].Content == loopplug.ProposerPrompt {
			proposer++
		}
	}
	if proposer != wrong {
		t.Errorf("%d proposer examples for %d kept problems with %d wrong answers: want one for each wrong answer", proposer, kept, wrong)
	}
}

func splitLines(b []byte) [][]byte {
	var out [][]byte
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		out = append(out, append([]byte(nil), sc.Bytes()...))
	}
	return out
}
