// Command gotrain times training steps of the engine (engine/train's SFT
// step: forward, backward, gradient clipping, AdamW) on the reference
// configs of issue 3 and prints one RESULT line in the format that
// train_step.py prints for PyTorch, so run.sh can compare them.
//
// It lives in its own module so that the main module's build and tests
// never involve PyTorch; run it through run.sh.
package main

import (
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"runtime"
	"syscall"
	"time"

	"github.com/synthloop/synthloop/engine/checkpoint"
	"github.com/synthloop/synthloop/engine/llama"
	"github.com/synthloop/synthloop/engine/tensor"
	"github.com/synthloop/synthloop/engine/train"
)

// cpuTime is the user plus system CPU time of the process so far, all
// threads included (like Python's time.process_time).
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func main() {
	config := flag.String("config", "A", "A (2 layers, d=128, seq 64, batch 32) or B (6 layers, d=384, seq 256, batch 8)")
	threads := flag.Int("threads", 1, "tensor pool threads (and GOMAXPROCS)")
	steps := flag.Int("steps", 10, "timed steps")
	warmup := flag.Int("warmup", 2, "untimed steps before timing")
	vocab := flag.Int("vocab", 32, "vocabulary size")
	check := flag.String("check", "", "instead of timing, save the initial weights to this directory and print the loss and gradient norm of one step on one fixed sequence (train_step.py --check compares)")
	flag.Parse()

	var cfg llama.Config
	var batch, seq int
	switch *config {
	case "A":
		cfg = llama.Config{Dim: 128, Layers: 2, Heads: 4, KVHeads: 4, Hidden: 512, MaxSeq: 64}
		batch, seq = 32, 64
	case "B":
		cfg = llama.Config{Dim: 384, Layers: 6, Heads: 6, KVHeads: 6, Hidden: 1536, MaxSeq: 256}
		batch, seq = 8, 256
	default:
		fmt.Fprintf(os.Stderr, "gotrain: unknown config %q\n", *config)
		os.Exit(2)
	}
	cfg.Vocab = *vocab
	cfg.RoPE, cfg.RopeTheta = true, 10000
	cfg.NormEps = 1e-5
	cfg.TiedEmbeddings = true

	runtime.GOMAXPROCS(*threads)
	tensor.SetThreads(*threads)

	m, err := llama.New(cfg, 1)
	if err != nil {
		die(err)
	}
	// Random token sequences, as in engine/train's BenchmarkTrainStep: every
	// position is a target.
	r := rand.New(rand.NewPCG(1, 1))
	items := make([]train.Example, 64)
	for i := range items {
		items[i].Tokens = make([]int32, seq+1)
		for j := range items[i].Tokens {
			items[i].Tokens[j] = int32(r.IntN(cfg.Vocab))
		}
	}
	if *check != "" {
		// One fixed sequence, (7i+3) mod vocab, in every row of the batch.
		items = items[:1]
		for j := range items[0].Tokens {
			items[0].Tokens[j] = int32((7*j + 3) % cfg.Vocab)
		}
		if err := checkpoint.SaveModel(*check, m); err != nil {
			die(err)
		}
	}
	mx, err := train.NewMixture(train.Dataset[train.Example]{Name: "random", Weight: 1, Items: items})
	if err != nil {
		die(err)
	}
	tr, err := train.NewSFT(m, mx, train.Config{Batch: batch, Seq: seq, Seed: 1,
		AdamW: train.DefaultAdamW, Schedule: train.Constant(1e-4), ClipNorm: 1})
	if err != nil {
		die(err)
	}
	if *check != "" {
		s, err := tr.Step()
		if err != nil {
			die(err)
		}
		fmt.Printf("CHECK impl=go config=%s loss=%.6f grad_norm=%.6f\n", *config, s.Loss, s.GradNorm)
		return
	}
	var first, last float64
	for i := range *warmup {
		s, err := tr.Step()
		if err != nil {
			die(err)
		}
		if i == 0 {
			first = s.Loss
		}
	}
	start, cpu0 := time.Now(), cpuTime()
	for range *steps {
		s, err := tr.Step()
		if err != nil {
			die(err)
		}
		last = s.Loss
	}
	wall, cpu := time.Since(start).Seconds(), (cpuTime() - cpu0).Seconds()
	tokens := float64(*steps * batch * seq)
	fmt.Printf("RESULT impl=go config=%s threads=%d params=%d tokens_per_s=%.1f tokens_per_cpu_s=%.1f step_ms=%.2f first_loss=%.4f last_loss=%.4f\n",
		*config, *threads, cfg.NumParams(), tokens/wall, tokens/cpu, 1000*wall/float64(*steps), first, last)
}

// die ends the run on an error the benchmark cannot go on from.
func die(err error) {
	fmt.Fprintln(os.Stderr, "gotrain:", err)
	os.Exit(1)
}
