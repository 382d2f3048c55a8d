package loopplug

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/synthloop/synthloop/lab"
	"github.com/synthloop/synthloop/lab/task"
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
	round := os.Getenv("PROPOSE_ROUND")
	if round == "" {
		b.Skip("PROPOSE_ROUND names no lab-propose round directory")
	}
	k, chunk := envInt(b, "PROPOSE_K", 32), envInt(b, "PROPOSE_CHUNK", 8)
	n, err := strconv.Atoi(filepath.Base(round)[len("round-"):])
	if err != nil {
		b.Fatal(err)
	}
	m, err := lab.LoadModel(filepath.Join(filepath.Dir(round), fmt.Sprintf("round-%03d", n-1), StudentDir))
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
