package loopplug

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/synthloop/synthloop/engine/train"
	"github.com/synthloop/synthloop/lab"
	"github.com/synthloop/synthloop/lab/task"
	"github.com/synthloop/synthloop/trainjob"
)

// BenchmarkProposeFilter measures lab-propose's learnability filter in
// CPU-seconds: the k answers to each proposal of a real round drawn at once
// against chunk at a time, stopping once a proposal has a right and a
// wrong answer (ProposeConfig.Chunk), side by side in alternating order on
// the same teacher and proposals. It fails unless both keep the same
// problems. PROPOSE_ROUND is a lab-propose round directory; its teacher is
// the student of the round before it, beside it:
//
//	PROPOSE_ROUND=/tmp/run/round-006 go test -run '^$' -bench ProposeFilter -benchtime 3x ./lab/loopplug
//
// PROPOSE_K (default 32) and PROPOSE_CHUNK (default 8) set the sizes.
func BenchmarkProposeFilter(b *testing.B) {
	round, start := benchRound(b)
	k, chunk := envInt(b, "PROPOSE_K", 32), envInt(b, "PROPOSE_CHUNK", 8)
	m, err := lab.LoadModel(start)
	if err != nil {
		b.Fatal(err)
	}
	raw, err := os.ReadFile(filepath.Join(round, LabelsFile))
	if err != nil {
		b.Fatal(err)
	}
	var ps []task.Problem
	for line := range bytes.Lines(raw) {
		var p task.Problem
		if err := json.Unmarshal(line, &p); err != nil {
			b.Fatal(err)
		}
		ps = append(ps, task.Problem{Prompt: p.Prompt, Difficulty: p.Difficulty})
	}
	t, _ := lookup("reverse-addition")
	dec := lab.Decode{N: k, Temperature: 1, Seed: 7, MaxTokens: maxTokens(t, ps)}
	answer := func(ps []task.Problem, dec lab.Decode, _ string) ([][]lab.Answer, error) {
		return lab.Answers(context.Background(), m, ps, dec)
	}
	kept := func(as [][]lab.Answer) (out []bool, drawn int) {
		for i, a := range as {
			_, right := verdicts(t, ps[i], a)
			out = append(out, right > 0 && right < len(a))
			drawn += len(a)
		}
		return out, drawn
	}
	var cpu [2]float64
	var drawn [2]int
	for i := range b.N {
		var keep [2][]bool
		for j := range 2 {
			arm := (i + j) % 2 // 0: at once, 1: in chunks
			c0 := lab.CPUSeconds()
			as, err := solve(t, ps, dec, arm*chunk, answer)
			if err != nil {
				b.Fatal(err)
			}
			cpu[arm] += lab.CPUSeconds() - c0
			keep[arm], drawn[arm] = kept(as)
		}
		for p := range ps {
			if keep[0][p] != keep[1][p] {
				b.Fatalf("%q kept %v at once, %v in chunks", ps[p].Prompt, keep[0][p], keep[1][p])
			}
		}
	}
	b.ReportMetric(cpu[0]/float64(b.N), "cpu-s/at-once")
	b.ReportMetric(cpu[1]/float64(b.N), "cpu-s/chunked")
	b.ReportMetric(cpu[1]/cpu[0], "ratio")
	b.ReportMetric(float64(drawn[1])/float64(drawn[0]), "answers-ratio")
	b.ReportMetric(float64(len(ps)), "proposals")
}

// BenchmarkGRPOMicro measures lab-train's GRPO in CPU-seconds with
// grpo.micro 64 (the default, the base arm) against GRPO_MICRO (default
// 32) answers per forward pass, side by side in alternating order, from
// the same model on the same prompts: a round of a lab-propose run with
// prompts: true (or of lab-prompts), its teacher the student of the round
// before, its replay round 1's labels and the round's proposer examples,
// as lab-train runs it. A minibatch computes whole micro-batches,
// so rows past the last real one cost as much as real ones.
//
//	PROPOSE_ROUND=/tmp/run/round-010 go test -run '^$' -bench GRPOMicro -benchtime 2x ./lab/loopplug
//
// GRPO_STEPS (default 10) sets the steps of each run; GRPO_BASE_MERGE=0
// turns merge off in the first arm, so that with GRPO_MICRO=64 the two
// differ by merge alone.
func BenchmarkGRPOMicro(b *testing.B) {
	round, start := benchRound(b)
	steps, micro := envInt(b, "GRPO_STEPS", 10), envInt(b, "GRPO_MICRO", 32)
	baseMerge := os.Getenv("GRPO_BASE_MERGE") != "0"
	pf, err := readPrompts(filepath.Join(round, DataFile))
	if err != nil {
		b.Fatal(err)
	}
	ps, own := pf.problems, pf.demos
	labels, err := trainjob.ReadJSONL(filepath.Join(filepath.Dir(round), "round-001", DataFile))
	if err != nil {
		b.Fatal(err)
	}
	var demos []lab.Conversation
	for _, c := range labels {
		demos = append(demos, c.Messages)
	}
	demos = withOwn(demos, own)
	t, _ := lookup("reverse-addition")
	var cpu [2]float64
	var rows [2]int
	for i := range b.N {
		for j := range 2 {
			arm := (i + j) % 2 // 0: micro 64, 1: micro
			m, err := lab.LoadModel(start)
			if err != nil {
				b.Fatal(err)
			}
			cfg := lab.RLConfig{Steps: steps, Prompts: 32, Group: 8, Minibatches: 2, Micro: []int{64, micro}[arm], LR: 1e-4, Warmup: 5,
				Dynamic: true, MaxDraws: 2, Replay: 32, Reuse: 64, Wrong: 1, Merge: arm == 1 || baseMerge, Demos: demos,
				GRPO: train.GRPOConfig{ClipLow: 0.2, ClipHigh: 0.28, SFT: 1}}
			rl, err := lab.NewRL(m, nil, t, ps, cfg, 11)
			if err != nil {
				b.Fatal(err)
			}
			c0 := lab.CPUSeconds()
			for range steps {
				st, err := rl.Step(context.Background())
				if err != nil {
					b.Fatal(err)
				}
				rows[arm] += st.Trained
			}
			cpu[arm] += lab.CPUSeconds() - c0
		}
	}
	b.ReportMetric(cpu[0]/float64(b.N*steps), "cpu-s/step-base")
	b.ReportMetric(cpu[1]/float64(b.N*steps), "cpu-s/step-other")
	b.ReportMetric(cpu[1]/cpu[0], "ratio")
	b.ReportMetric(float64(rows[0])/float64(b.N*steps), "rows/step-base")
	b.ReportMetric(float64(rows[1])/float64(b.N*steps), "rows/step-other")
}

// benchRound returns the round directory PROPOSE_ROUND names (it skips the
// benchmark when unset) and the student of the round before it, beside it.
func benchRound(b *testing.B) (round, start string) {
	round = os.Getenv("PROPOSE_ROUND")
	if round == "" {
		b.Skip("PROPOSE_ROUND names no lab-propose round directory")
	}
	n, err := strconv.Atoi(strings.TrimPrefix(filepath.Base(round), "round-"))
	if err != nil {
		b.Fatalf("PROPOSE_ROUND=%s: want a round-NNN directory", round)
	}
	return round, filepath.Join(filepath.Dir(round), fmt.Sprintf("round-%03d", n-1), StudentDir)
}
