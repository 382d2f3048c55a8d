package loopplug

import (
	"context"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"testing"

	"github.com/synthloop/synthloop/engine/checkpoint"
	"github.com/synthloop/synthloop/engine/tensor"
	"github.com/synthloop/synthloop/engine/train"
	"github.com/synthloop/synthloop/lab"
	"github.com/synthloop/synthloop/loop"
	"github.com/synthloop/synthloop/trainjob"
)

// BenchmarkLabTrain measures lab training throughput in CPU-seconds, old
// against new on the same work: the first round of
// examples/loop-lab-reverse-addition.yaml (its labels of 1 to 8 digits,
// its model of 3 layers, d = 64, batch 32), one voter, one engine thread,
// trained by lab-train under loop.Run (new: trainjob, reading the round's
// file, checkpoints and logs included) and by lab.Train, the former lab
// runner's trainer, on the same examples held in memory (old). Both start
// from the same weights and draw the same batches, and the benchmark fails
// unless they end with the same weights, bit for bit. Each iteration runs
// both, in alternating order; other engineers share the machine, so
// compare the two side by side rather than with figures from another
// time or machine.
//
//	go test -run '^$' -bench LabTrain -benchtime 3x ./lab/loopplug
//
// LABTRAIN_STEPS (default 300) and LABTRAIN_LABELS (default 200000, as the
// example) change the size. Tokens are trained (target) tokens; a step
// computes batch × (longest example − 1) positions, reported as fill.
func BenchmarkLabTrain(b *testing.B) {
	steps := envInt(b, "LABTRAIN_STEPS", 300)
	labels := envInt(b, "LABTRAIN_LABELS", 200000)
	registerBenchTrainer()
	cfg, err := loop.LoadConfig(filepath.Join("..", "..", "examples", "loop-lab-reverse-addition.yaml"))
	if err != nil {
		b.Fatal(err)
	}
	cfg, err = cfg.With(map[string]any{
		"rounds":   1,
		"baseline": nil,
		"generate": map[string]any{"with": map[string]any{"labels": map[string]any{"count": labels}}},
		"train": map[string]any{"type": benchTrainer, "with": map[string]any{"voters": 1,
			"first": map[string]any{"steps": steps, "warmup": steps / 10, "until": 0, "max_steps": 0}}},
		"evaluate": map[string]any{"with": map[string]any{"difficulties": []int{8}, "problems": 1, "target": []int{8}}},
	})
	if err != nil {
		b.Fatal(err)
	}
	defer tensor.SetThreads(tensor.Threads())
	tensor.SetThreads(1)
	var oldCPU, newCPU float64
	var oldSteps, newSteps, tokens int
	b.ResetTimer()
	runNew := func() *cpuTrainer {
		benchTrainers.last = nil
		if _, err := loop.Run(context.Background(), cfg, loop.Options{RunDir: b.TempDir()}); err != nil {
			b.Fatal(err)
		}
		return benchTrainers.last
	}
	for i := range b.N {
		// lab.Train needs the round's data, which the loop writes: on odd
		// iterations that first run only makes the data, and lab.Train
		// runs before the lab-train run that counts.
		t := runNew()
		n := t
		if i%2 == 1 {
			n = nil
		}
		st, cpu, err := t.old(b)
		if err != nil {
			b.Fatal(err)
		}
		oldCPU, oldSteps, tokens = oldCPU+cpu, oldSteps+st.Steps, tokens+st.Targets
		if n == nil {
			n = runNew()
		}
		newCPU, newSteps = newCPU+n.cpu, newSteps+n.out.Steps
	}
	b.StopTimer()
	b.ReportMetric(float64(oldSteps)/oldCPU, "old-steps/cpu-s")
	b.ReportMetric(float64(newSteps)/newCPU, "new-steps/cpu-s")
	b.ReportMetric(float64(tokens)/oldCPU, "old-tokens/cpu-s")
	b.ReportMetric(float64(tokens)/newCPU, "new-tokens/cpu-s")
	b.ReportMetric(newCPU/oldCPU, "new/old-cpu")
}

const benchTrainer = "lab-train-bench"

// benchTrainers holds the last lab-train-bench trainer that trained.
var benchTrainers struct {
	once sync.Once
	last *cpuTrainer
}

// registerBenchTrainer registers lab-train-bench: lab-train, measuring the
// CPU time of its Train.
func registerBenchTrainer() {
	benchTrainers.once.Do(func() {
		var lt loop.Type[loop.Trainer]
		for _, t := range loop.Trainers() {
			if t.Name == "lab-train" {
				lt = t
			}
		}
		loop.RegisterTrainer(loop.Type[loop.Trainer]{Name: benchTrainer, Config: lt.Config, New: func(c any) (loop.Trainer, error) {
			t, err := lt.New(c)
			if err != nil {
				return nil, err
			}
			return &cpuTrainer{tr: t.(*trainer)}, nil
		}})
	})
}

type cpuTrainer struct {
	tr  *trainer
	cpu float64
	r   *loop.Round
	in  loop.TrainInput
	out loop.Trained
}

func (t *cpuTrainer) Train(ctx context.Context, r *loop.Round, in loop.TrainInput) (loop.Trained, error) {
	c0 := lab.CPUSeconds()
	out, err := t.tr.Train(ctx, r, in)
	t.cpu = lab.CPUSeconds() - c0
	t.r, t.in, t.out = r, in, out
	benchTrainers.last = t
	return out, err
}

// old trains voter 0 of the round again with lab.Train, as the former lab
// runner did, and checks that it ends with the weights lab-train wrote.
func (t *cpuTrainer) old(b *testing.B) (lab.TrainStats, float64, error) {
	c := t.tr.c
	if len(t.in.Data) != 1 {
		return lab.TrainStats{}, 0, fmt.Errorf("the benchmark trains one data file, not %d", len(t.in.Data))
	}
	convs, err := trainjob.ReadJSONL(t.in.Data[0].Path)
	if err != nil {
		return lab.TrainStats{}, 0, err
	}
	set := make([]lab.Conversation, len(convs))
	for i, cv := range convs {
		set[i] = cv.Messages
	}
	phase, arch := c.Phase, c.Arch
	if f := c.First; f != nil {
		phase = f.Phase.over(c.Phase)
		if f.Arch != nil {
			arch = *f.Arch
		}
	}
	phase = phase.capped(len(set))
	tk, _ := lookup(c.Task)
	seed := t.tr.seed(t.r)
	m, err := lab.NewModel(tk, arch.lab(), seed^forInit)
	if err != nil {
		return lab.TrainStats{}, 0, err
	}
	longest := 0
	for _, cv := range set {
		e, err := train.ChatExample(m.Tok, cv)
		if err != nil {
			return lab.TrainStats{}, 0, err
		}
		longest = max(longest, len(e.Tokens))
	}
	c0 := lab.CPUSeconds()
	st, err := lab.Train(context.Background(), m, [][]lab.Conversation{set}, lab.TrainConfig{Steps: phase.Steps, Batch: phase.Batch, LR: phase.LR, Warmup: phase.Warmup}, seed^forTrain<<32, nil)
	cpu := lab.CPUSeconds() - c0
	if err != nil {
		return st, cpu, err
	}
	got, err := checkpoint.LoadModel(t.out.Student.Dir)
	if err != nil {
		return st, cpu, err
	}
	for i, v := range m.LM.Params {
		if math.Float32bits(v) != math.Float32bits(got.Params[i]) {
			return st, cpu, fmt.Errorf("lab-train and lab.Train differ at parameter %d: %g, %g", i, got.Params[i], v)
		}
	}
	b.Logf("%d steps of %d sequences × %d positions, fill %.2f (trained tokens / positions); CPU-s: lab-train %.2f, lab.Train %.2f",
		st.Steps, phase.Batch, longest-1, float64(st.Targets)/float64(st.Steps*phase.Batch*(longest-1)), t.cpu, cpu)
	return st, cpu, nil
}

func envInt(b *testing.B, name string, def int) int {
	s := os.Getenv(name)
	if s == "" {
		return def
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 {
		b.Fatalf("%s=%q: want a positive integer", name, s)
	}
	return n
}
