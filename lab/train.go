package lab

import (
	"context"
	"fmt"

	"github.com/synthloop/synthloop/engine/tokenizer"
	"github.com/synthloop/synthloop/engine/train"
)

// TrainConfig is one training phase: a cosine schedule from a fresh AdamW
// state, over a mixture of data sets.
type TrainConfig struct {
	Steps  int     `json:"steps"`
	Batch  int     `json:"batch"`
	LR     float64 `json:"lr"`     // peak; the schedule decays to LR/10
	Warmup int     `json:"warmup"` // steps
	// WeightDecay and Beta2 override train.DefaultAdamW's when set.
	WeightDecay float64 `json:"weight_decay,omitempty"`
	Beta2       float64 `json:"beta2,omitempty"`
}

func (c TrainConfig) adamW() train.AdamWConfig {
	a := train.DefaultAdamW
	if c.WeightDecay > 0 {
		a.WeightDecay = c.WeightDecay
	}
	if c.Beta2 > 0 {
		a.Beta2 = c.Beta2
	}
	return a
}

// TrainStats summarise a phase.
type TrainStats struct {
	Steps     int     `json:"steps"`
	FirstLoss float64 `json:"first_loss"`
	LastLoss  float64 `json:"last_loss"` // mean over the last 10% of steps
	// Targets counts the trained (target) tokens of all steps.
	Targets int `json:"targets"`
}

// Conversation is one SFT example as data.jsonl holds it.
type Conversation = []tokenizer.Message

// Train continues training m for cfg.Steps on sets, the oldest first. seed
// drives batch sampling. progress, if set, is called after every step. It
// returns early with ctx's error, leaving m part-trained.
func Train(ctx context.Context, m *Model, sets [][]Conversation, cfg TrainConfig, seed uint64, progress func(step int, loss float64)) (TrainStats, error) {
	if cfg.Steps <= 0 || cfg.Batch <= 0 || !(cfg.LR > 0) {
		return TrainStats{}, fmt.Errorf("lab: train: steps %d, batch %d and lr %g must be positive", cfg.Steps, cfg.Batch, cfg.LR)
	}
	var ds []train.Dataset[train.Example]
	seq := 0
	for i, set := range sets {
		d := train.Dataset[train.Example]{Name: fmt.Sprintf("set-%d", i), Weight: float64(len(set))}
		for _, c := range set {
			e, err := m.example(c)
			if err != nil {
				return TrainStats{}, err
			}
			seq = max(seq, len(e.Tokens))
			d.Items = append(d.Items, e)
		}
		if len(d.Items) > 0 || i == len(sets)-1 {
			ds = append(ds, d)
		}
	}
	mix, err := train.NewMixture(ds...)
	if err != nil {
		return TrainStats{}, fmt.Errorf("lab: train: %w", err)
	}
	pad, _ := m.Tok.SpecialID(tokenizer.PAD)
	// Targets are next tokens, so the last token needs no input position.
	tr, err := train.NewSFT(m.LM, mix, train.Config{Batch: cfg.Batch, Seq: seq - 1, Seed: seed, AdamW: cfg.adamW(),
		Schedule: train.Cosine{Peak: cfg.LR, Min: cfg.LR / 10, Warmup: min(cfg.Warmup, cfg.Steps-1), Total: cfg.Steps},
		ClipNorm: 1, Pad: int32(pad)})
	if err != nil {
		return TrainStats{}, fmt.Errorf("lab: train: %w", err)
	}
	st := TrainStats{}
	tail, n := 0.0, 0
	for i := range cfg.Steps {
		if err := ctx.Err(); err != nil {
			return st, err
		}
		s, err := tr.Step()
		if err != nil {
			return st, fmt.Errorf("lab: train step %d: %w", i, err)
		}
		if i == 0 {
			st.FirstLoss = s.Loss
		}
		if i >= cfg.Steps-max(cfg.Steps/10, 1) {
			tail += s.Loss
			n++
		}
		st.Steps = i + 1
		st.Targets += s.Targets
		if progress != nil {
			progress(i, s.Loss)
		}
	}
	st.LastLoss = tail / float64(max(n, 1))
	return st, nil
}
