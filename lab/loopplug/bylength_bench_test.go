package loopplug

import (
	"context"
	"math/rand/v2"
	"path/filepath"
	"testing"

	"github.com/synthloop/synthloop/engine/tensor"
	"github.com/synthloop/synthloop/lab"
	"github.com/synthloop/synthloop/lab/task"
	"github.com/synthloop/synthloop/trainjob"
)

// BenchmarkByLength measures lab-train's by_length in CPU-seconds on the
// mixture of a later round of examples/loop-lab-reverse-addition-probe.yaml:
// 20,000 true labels of 1–8 digits (operands of independent lengths) and,
// drawn 40% of the time, 5,000 labels of 12 digits (80% with equal
// operands), on its model (3 layers, d = 64, batch 32), one engine thread,
// 200 steps from the same weights, padded to the longest example (0) and
// in buckets of 4 tokens.
//
//	go test -run '^$' -bench ByLength -benchtime 2x ./lab/loopplug
func BenchmarkByLength(b *testing.B) {
	dir := b.TempDir()
	t := task.ReverseAddition{}
	rng := rand.New(rand.NewPCG(1, 2))
	old := draw(t, rng, 20000, 1, 8, nil, independent)
	newest := draw(t, rng, 5000, 12, 12, nil, lengths{kind: upTo.kind, Equal: 0.8})
	write := func(name string, ps []task.Problem) string {
		lines := make([]sftLine, len(ps))
		for i, p := range ps {
			lines[i] = sft(p)
		}
		path := filepath.Join(dir, name)
		if err := writeJSONL(path, lines); err != nil {
			b.Fatal(err)
		}
		return path
	}
	data := []trainjob.DataFile{{Path: write("old.jsonl", old), Weight: 0.6}, {Path: write("new.jsonl", newest), Weight: 0.4}}
	m, err := lab.NewModel(t, lab.Arch{Dim: 64, Layers: 3, Heads: 4, Hidden: 256, MaxSeq: 256}, 1)
	if err != nil {
		b.Fatal(err)
	}
	init := filepath.Join(dir, "init")
	if err := m.Save(init); err != nil {
		b.Fatal(err)
	}
	defer tensor.SetThreads(tensor.Threads())
	tensor.SetThreads(1)
	for _, width := range []int{0, 4} {
		b.Run(map[int]string{0: "padded", 4: "buckets-4"}[width], func(b *testing.B) {
			cpu, steps, loss := 0.0, 0, 0.0
			for i := range b.N {
				c0 := lab.CPUSeconds()
				res, err := trainjob.Run(context.Background(), trainjob.Options{Data: data, Init: init, Out: filepath.Join(dir, "out", b.Name(), string(rune('a'+i))),
					Steps: 200, Batch: 32, LR: 1e-3, Warmup: 20, ShortSeq: true, ByLength: width, Seed: 7, SaveEvery: 1000})
				if err != nil {
					b.Fatal(err)
				}
				cpu += lab.CPUSeconds() - c0
				steps += res.Steps
				loss = res.LastLoss
			}
			b.ReportMetric(float64(steps)/cpu, "steps/cpu-s")
			b.ReportMetric(loss, "last-loss")
		})
	}
}
