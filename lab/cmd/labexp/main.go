// Command labexp runs quick lab experiments: supervised training on a task
// and accuracy by difficulty, with CPU time.
package main

import (
	"cmp"
	"context"
	"flag"
	"fmt"
	"log"
	"math/rand/v2"
	"os"
	"runtime/pprof"
	"time"

	"github.com/synthloop/synthloop/engine/train"
	"github.com/synthloop/synthloop/lab"
	"github.com/synthloop/synthloop/lab/task"
	"github.com/synthloop/synthloop/trainjob"
)

func main() {
	name := flag.String("task", "reverse-addition", "task")
	dim := flag.Int("dim", 128, "")
	layers := flag.Int("layers", 2, "")
	heads := flag.Int("heads", 4, "")
	hidden := flag.Int("hidden", 512, "")
	rope := flag.Bool("rope", false, "")
	lo := flag.Int("lo", 1, "")
	hi := flag.Int("hi", 8, "")
	n := flag.Int("n", 20000, "training problems")
	steps := flag.Int("steps", 1000, "")
	batch := flag.Int("batch", 32, "")
	lr := flag.Float64("lr", 1e-3, "")
	wd := flag.Float64("wd", 0, "weight decay (0: the engine default)")
	beta2 := flag.Float64("beta2", 0, "AdamW beta2 (0: the engine default)")
	warmup := flag.Int("warmup", 0, "warmup steps (0: steps/20)")
	evalTo := flag.Int("eval", 12, "")
	seed := flag.Uint64("seed", 1, "")
	mixed := flag.Bool("mixed", false, "train on operands of independent lengths in [lo, hi]")
	show := flag.Int("show", 0, "print this many answers at each difficulty above hi")
	save := flag.String("save", "", "save the model here")
	load := flag.String("load", "", "start from this model")
	probeN := flag.Int("probe-samples", 1, "answers per problem for the probe's vote")
	probeT := flag.Float64("probe-temp", 1, "temperature of the probe's samples")
	probe := flag.Int("probe", 0, "with -load: label 1000 problems of this difficulty and report the length filter's yield and precision, no training")
	rlSteps := flag.Int("rl", 0, "with -load: this many GRPO steps on -n fresh problems of lo..hi instead of SFT")
	rlPrompts := flag.Int("rl-prompts", 16, "GRPO: problems per step")
	rlGroup := flag.Int("rl-group", 8, "GRPO: answers per problem")
	rlMB := flag.Int("rl-minibatches", 2, "GRPO: optimizer steps per sampling step")
	rlKL := flag.Float64("rl-kl", 0, "GRPO: KL weight")
	rlHigh := flag.Float64("rl-clip-high", 0.28, "GRPO: upper clip")
	rlEpochs := flag.Int("rl-epochs", 1, "GRPO: passes over a step's rollouts")
	rlDyn := flag.Int("rl-dynamic", 0, "GRPO: dynamic sampling with this many draws at most (0: off)")
	rlSFT := flag.Float64("rl-sft", 0, "GRPO: weight of the cross-entropy term on rewarded rollouts and demos")
	rlReplay := flag.Int("rl-replay", 0, "GRPO: demos from -rl-demos a step (needs -rl-sft)")
	rlDemos := flag.String("rl-demos", "", "GRPO: a JSONL file of worked examples to replay (a loop round's data.jsonl)")
	rlReuse := flag.Int("rl-reuse", 0, "GRPO: verified answers of earlier steps a step (needs -rl-sft)")
	rlReuseKeep := flag.Int("rl-reuse-keep", 0, "GRPO: the reuse buffer's size (0: 1024)")
	rlWrong := flag.Int("rl-wrong", 0, "GRPO: wrong answers trained per right one in a group, weighted up (0: all)")
	rlMerge := flag.Bool("rl-merge", false, "GRPO: train identical answers of a group once, weighted by their copies")
	rlDecay := flag.Bool("rl-decay", false, "GRPO: cosine learning-rate decay to lr/10 by the last step")
	cpuProfile := flag.String("cpuprofile", "", "write a CPU profile here")
	flag.Parse()
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			log.Fatal(err)
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			log.Fatal(err)
		}
		defer pprof.StopCPUProfile()
	}
	t, err := task.Lookup(*name)
	if err != nil {
		log.Fatal(err)
	}
	m, err := lab.NewModel(t, lab.Arch{Dim: *dim, Layers: *layers, Heads: *heads, Hidden: *hidden, MaxSeq: 512, RoPE: *rope}, *seed)
	if err != nil {
		log.Fatal(err)
	}
	if *load != "" {
		if m, err = lab.LoadModel(*load); err != nil {
			log.Fatal(err)
		}
	}
	if *probe > 0 {
		probeFilter(m, t, *probe, *probeN, *probeT)
		return
	}
	if *rlSteps > 0 {
		var demos []lab.Conversation
		if *rlDemos != "" {
			cs, err := trainjob.ReadJSONL(*rlDemos)
			if err != nil {
				log.Fatal(err)
			}
			for _, c := range cs {
				demos = append(demos, c.Messages)
			}
		}
		rl(m, t, *lo, *hi, *n, *evalTo, *seed, *save, lab.RLConfig{Steps: *rlSteps, Prompts: *rlPrompts, Group: *rlGroup, Minibatches: *rlMB, Epochs: *rlEpochs,
			LR: *lr, Warmup: *warmup, Dynamic: *rlDyn > 0, MaxDraws: *rlDyn, Replay: *rlReplay, Demos: demos, Reuse: *rlReuse, ReuseKeep: *rlReuseKeep, Wrong: *rlWrong, Merge: *rlMerge, Decay: *rlDecay,
			GRPO: train.GRPOConfig{ClipLow: 0.2, ClipHigh: *rlHigh, KL: *rlKL, SFT: *rlSFT}})
		return
	}
	rng := rand.New(rand.NewPCG(*seed, 99))
	var data []lab.Conversation
	for range *n {
		if op, ok := t.(task.Operands); ok && *mixed {
			data = append(data, lab.Messages(op.GenerateOperands(rng, *lo+rng.IntN(*hi-*lo+1), *lo+rng.IntN(*hi-*lo+1))))
			continue
		}
		data = append(data, lab.Messages(t.Generate(rng, *lo+rng.IntN(*hi-*lo+1))))
	}
	ctx := context.Background()
	c0, w0 := lab.CPUSeconds(), time.Now()
	evalEvery := max(*steps/4, 1)
	var ds []int
	for d := 1; d <= *evalTo; d++ {
		ds = append(ds, d)
	}
	held := lab.HeldOut(t, ds, 100, 12345)
	st, err := lab.Train(ctx, m, [][]lab.Conversation{data}, lab.TrainConfig{Steps: *steps, Batch: *batch, LR: *lr, Warmup: cmp.Or(*warmup, *steps/20), WeightDecay: *wd, Beta2: *beta2}, *seed, func(i int, loss float64) {
		if (i+1)%evalEvery == 0 {
			c1 := lab.CPUSeconds()
			pts, err := lab.Evaluate(ctx, m, t, held)
			if err != nil {
				log.Fatal(err)
			}
			fmt.Printf("step %d loss %.4f cpu %.0fs (eval %.1fs) wall %.0fs:", i+1, loss, lab.CPUSeconds()-c0, lab.CPUSeconds()-c1, time.Since(w0).Seconds())
			for _, p := range pts {
				fmt.Printf(" %d:%.2f", p.Difficulty, p.Accuracy)
			}
			fmt.Println()
		}
	})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("params %d loss %.3f→%.3f\n", len(m.LM.Params), st.FirstLoss, st.LastLoss)
	if *save != "" {
		if err := m.Save(*save); err != nil {
			log.Fatal(err)
		}
	}
	for d := *hi + 1; d <= *evalTo && *show > 0; d++ {
		ps := held[d-1][:*show]
		as, err := lab.Answers(ctx, m, ps, lab.Decode{MaxTokens: 3 * d})
		if err != nil {
			log.Fatal(err)
		}
		for i, p := range ps {
			fmt.Printf("  %s want %s got %s stopped=%v ok=%v\n", p.Prompt, p.Answer, as[i][0].Text, as[i][0].Stopped, t.Verify(p, as[i][0].Text))
		}
	}
}

// probeFilter reports how often the length filter keeps a greedy answer at
// difficulty d, and how often a kept answer is right.
func probeFilter(m *lab.Model, t task.Task, d, n int, temp float64) {
	ps := lab.HeldOut(t, []int{d}, 1000, 777)[0]
	_, hi := t.(task.Shape).AnswerLen(d)
	as, err := lab.Answers(context.Background(), m, ps, lab.Decode{MaxTokens: hi + 2})
	if err != nil {
		log.Fatal(err)
	}
	if n > 1 {
		ss, err := lab.Answers(context.Background(), m, ps, lab.Decode{MaxTokens: hi + 2, N: n, Temperature: temp, Seed: 5})
		if err != nil {
			log.Fatal(err)
		}
		f := lab.Filter{Length: true, Samples: n, Temperature: temp, Agree: 0.6}
		kept, right := 0, 0
		for i, p := range ps {
			label, _, ok := f.Pick(t.(task.Shape), p, ss[i])
			if ok {
				kept++
				if t.Verify(p, label) {
					right++
				}
			}
		}
		fmt.Printf("difficulty %d: %d samples at T=%g, vote ≥ 0.6 keeps %.3f, of which right %.3f\n", d, n, temp, float64(kept)/1000, float64(right)/float64(max(kept, 1)))
	}
	kept, right, correct := 0, 0, 0
	for i, p := range ps {
		ok := t.Verify(p, as[i][0].Text) && as[i][0].Stopped
		if ok {
			correct++
		}
		if lab.LengthOK(t.(task.Shape), p, as[i][0]) {
			kept++
			if ok {
				right++
			}
		}
	}
	fmt.Printf("difficulty %d: accuracy %.3f, length filter keeps %.3f, of which right %.3f\n", d, float64(correct)/1000, float64(kept)/1000, float64(right)/float64(max(kept, 1)))
}

// rl runs GRPO from m on n problems of lo..hi and prints the reward and
// held-out accuracy (greedy, and pass@1/pass@8 at temperature 1) as it goes.
func rl(m *lab.Model, t task.Task, lo, hi, n, evalTo int, seed uint64, save string, cfg lab.RLConfig) {
	rng := rand.New(rand.NewPCG(seed, 77))
	var ps []task.Problem
	for range n {
		p := t.Generate(rng, lo+rng.IntN(hi-lo+1))
		ps = append(ps, task.Problem{Prompt: p.Prompt, Difficulty: p.Difficulty})
	}
	var ref *lab.Model
	if cfg.GRPO.KL > 0 {
		// A frozen copy of the start: saved and read back.
		dir, err := os.MkdirTemp("", "labexp-ref")
		if err != nil {
			log.Fatal(err)
		}
		defer os.RemoveAll(dir)
		if err := m.Save(dir); err != nil {
			log.Fatal(err)
		}
		if ref, err = lab.LoadModel(dir); err != nil {
			log.Fatal(err)
		}
	}
	r, err := lab.NewRL(m, ref, t, ps, cfg, seed)
	if err != nil {
		log.Fatal(err)
	}
	var ds []int
	for d := 1; d <= evalTo; d++ {
		ds = append(ds, d)
	}
	held := lab.HeldOut(t, ds, 100, 12345)
	ctx := context.Background()
	// cpu is the steps' own (lab.RLStats.CPUSeconds), without the
	// evaluations in between.
	report := func(step int, cpu float64) {
		pts, err := lab.Evaluate(ctx, m, t, held)
		if err != nil {
			log.Fatal(err)
		}
		fmt.Printf("step %d cpu %.0fs greedy:", step, cpu)
		for _, p := range pts {
			fmt.Printf(" %d:%.2f(w%.2f)", p.Difficulty, p.Accuracy, p.Working)
		}
		fmt.Print(" pass@1/pass@8:")
		for _, set := range held[lo-1 : min(hi+1, len(held))] {
			as, err := lab.Answers(ctx, m, set, lab.Decode{N: 8, Temperature: 1, Seed: 3, MaxTokens: 80})
			if err != nil {
				log.Fatal(err)
			}
			p1, p8 := 0.0, 0.0
			for i, p := range set {
				right := 0
				for _, a := range as[i] {
					if a.Stopped && t.Verify(p, a.Text) {
						right++
					}
				}
				p1 += float64(right) / 8 / float64(len(set))
				if right > 0 {
					p8 += 1 / float64(len(set))
				}
			}
			fmt.Printf(" %d:%.2f/%.2f", set[0].Difficulty, p1, p8)
		}
		fmt.Println()
	}
	cpu := 0.0
	report(0, 0)
	every := max(cfg.Steps/5, 1)
	for s := range cfg.Steps {
		st, err := r.Step(ctx)
		if err != nil {
			log.Fatal(err)
		}
		cpu += st.CPUSeconds
		if (s+1)%10 == 0 {
			fmt.Printf("  rl step %d reward %.3f solved %.2f useful %.2f trained %d draws %d len %.1f working %.2f clip %.3f kl %.4f sft %.3f cpu %.1fs (sampling %.1fs)\n", s+1, st.Reward, st.Solved, st.Useful, st.Trained, st.Draws, st.Length, st.WorkingOK, st.ClipFrac, st.KL, st.SFTLoss, st.CPUSeconds, st.SampleCPU)
		}
		if (s+1)%every == 0 {
			report(s+1, cpu)
		}
	}
	if save != "" {
		if err := m.Save(save); err != nil {
			log.Fatal(err)
		}
	}
}
