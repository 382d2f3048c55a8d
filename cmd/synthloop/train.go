package main

import (
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/synthloop/synthloop/trainjob"
)

func newTrainCmd() *cobra.Command {
	var (
		o        trainjob.Options
		data     []string
		jsonProg bool
	)
	cmd := &cobra.Command{
		Use:   "train --data FILE[:WEIGHT]... --out MODEL_DIR",
		Short: "Train a built-in model (SFT or DPO) from exported JSONL data",
		Long: `Train a built-in LLaMA-style model on JSONL data in any synthloop export format
(alpaca, sharegpt, openai chat; DPO pairs of prompt, chosen, rejected for --method dpo).
SFT trains on assistant tokens only. Several --data files are mixed by weight
(FILE:WEIGHT, e.g. the newest round at 0.5).

A new model takes a --preset size and a tokenizer built from the data; --init starts
from an existing model directory instead (required for DPO, where it is also the frozen
reference). The model directory is checkpointed as it trains: Ctrl-C saves and stops,
and the same command continues exactly where it stopped. The result loads with
synthloop sample and synthloop serve, and as ref local/MODEL_DIR in a pipeline.`,
		Example: `  synthloop export runs/demo --format openai --out demo.jsonl
  synthloop train --data demo.jsonl --out runs/demo/model --steps 300
  synthloop train --data round1.jsonl:0.5 --data round2.jsonl:0.5 --init runs/m1 --out runs/m2
  synthloop train --method dpo --data pairs.jsonl --init runs/m2 --out runs/m2-dpo --beta 0.1`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(data) == 0 || o.Out == "" {
				return fmt.Errorf("%w: train needs --data and --out", errUsage)
			}
			files, err := parseDataFlags(data)
			if err != nil {
				return err
			}
			o.Data = append(o.Data, files...)
			errOut := cmd.ErrOrStderr()
			tty := !jsonProg && isTerminal(errOut)
			o.Progress = trainProgress(errOut, tty)
			res, err := trainjob.Run(cmd.Context(), o)
			if tty {
				fmt.Fprintln(errOut)
			}
			if err != nil {
				if cmd.Context().Err() != nil {
					return fmt.Errorf("%w (%w)", errStopped, err)
				}
				return err
			}
			from := ""
			if res.Resumed {
				from = fmt.Sprintf(" (resumed at step %d)", res.ResumeStep)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "trained %s: %d parameters, %d examples, %d steps%s, loss %.4f → %.4f\n",
				res.Out, res.Params, res.Examples, res.Steps, from, res.FirstLoss, res.LastLoss)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringArrayVar(&data, "data", nil, "training JSONL file, optionally FILE:WEIGHT (repeatable)")
	f.StringVar(&o.Out, "out", "", "model directory to write (and resume from)")
	f.StringVar(&o.Init, "init", "", "start from this model directory instead of a new model")
	f.StringVar(&o.Preset, "preset", "tiny", "size of a new model: tiny (2 layers, d=128) or small (6 layers, d=384)")
	f.StringVar(&o.Tokenizer, "tokenizer", "char", "tokenizer of a new model: char or bpe")
	f.IntVar(&o.BPEVocab, "bpe-vocab", 1024, "vocabulary size of a new BPE tokenizer")
	f.StringVar(&o.Method, "method", "sft", "sft or dpo")
	f.Float64Var(&o.Beta, "beta", 0.1, "DPO beta")
	f.Float64Var(&o.NLL, "nll", 0, "DPO: add this times the chosen answer's mean NLL to the loss (RPO; 0 = plain DPO)")
	f.IntVar(&o.Steps, "steps", 200, "optimizer steps")
	f.IntVar(&o.Batch, "batch", 16, "sequences (or DPO pairs) per step")
	f.IntVar(&o.Seq, "seq", 0, "positions per sequence (0 = the model's context)")
	f.Float64Var(&o.LR, "lr", 1e-3, "peak learning rate")
	f.IntVar(&o.Warmup, "warmup", 10, "warmup steps")
	f.StringVar(&o.Schedule, "schedule", "cosine", "learning-rate schedule: cosine or wsd")
	f.Uint64Var(&o.Seed, "seed", 1, "random seed (initial weights and data order)")
	f.IntVar(&o.SaveEvery, "save-every", 0, "steps between checkpoints (0 = every 10%)")
	f.BoolVar(&jsonProg, "json", false, "report progress as JSON lines even on a terminal")
	return cmd
}

// parseDataFlags reads --data values: FILE or FILE:WEIGHT. A colon not
// followed by a number is part of the path.
func parseDataFlags(data []string) ([]trainjob.DataFile, error) {
	var out []trainjob.DataFile
	for _, d := range data {
		f := trainjob.DataFile{Path: d}
		if i := strings.LastIndexByte(d, ':'); i > 0 {
			if w, err := strconv.ParseFloat(d[i+1:], 64); err == nil {
				if w <= 0 {
					return nil, fmt.Errorf("%w: --data %s: weight must be positive", errUsage, d)
				}
				f = trainjob.DataFile{Path: d[:i], Weight: w}
			}
		}
		out = append(out, f)
	}
	return out, nil
}

// trainProgress reports training progress on w: a bar redrawn five times a
// second on a terminal, else a JSON line a second; the last step always.
func trainProgress(w io.Writer, tty bool) func(trainjob.Progress) {
	interval := time.Second
	if tty {
		interval = 200 * time.Millisecond
	}
	last := time.Time{}
	return func(p trainjob.Progress) {
		now := time.Now()
		if p.Step != p.Steps && now.Sub(last) < interval {
			return
		}
		last = now
		if tty {
			frac := float64(p.Step) / float64(p.Steps)
			fill := int(frac * 30)
			fmt.Fprintf(w, "\r\x1b[2Ktrain %s %3.0f%% step %d/%d  loss %.4f  lr %.2e  %.0f tok/s  ETA %s",
				strings.Repeat("█", fill)+strings.Repeat("░", 30-fill), frac*100, p.Step, p.Steps, p.Loss, p.LR, p.TokensPerSec, p.ETA.Round(time.Second))
			return
		}
		b, _ := json.Marshal(map[string]any{"step": p.Step, "steps": p.Steps, "loss": p.Loss, "lr": p.LR, "tokens_per_sec": p.TokensPerSec, "eta_seconds": p.ETA.Seconds()})
		fmt.Fprintln(w, string(b))
	}
}
