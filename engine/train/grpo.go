package train

import (
	"errors"
	"fmt"
	"math"
	"slices"

	"github.com/synthloop/synthloop/engine/llama"
)

// Rollout is one sampled completion of a prompt with its reward: Tokens are
// the prompt and the completion, Mask marks the completion tokens (the ones
// the policy chose and is trained on). Rollouts of the same prompt share a
// Group; advantages are relative to the group.
type Rollout struct {
	Example
	Group  int
	Reward float64
	// SFT adds the completion to the cross-entropy term (GRPOConfig.SFT):
	// a verified answer the policy sampled is also a demonstration.
	SFT bool
	// Demo marks an example that no policy sampled (a replayed worked
	// example): it takes part in the cross-entropy term only, never in a
	// group's advantages or the policy-ratio term.
	Demo bool
	// OldLogProbs, when set, holds log p(Tokens[i] | Tokens[:i]) under the
	// policy that sampled the rollout at each masked position i (the
	// sampler computes them anyway), and Prepare takes them instead of
	// running that policy again. Entries at unmasked positions are unused.
	OldLogProbs []float32
	// Weight scales the rollout in its group's mean reward, in the policy
	// term and in the cross-entropy term; 0 means 1. A group whose wrong
	// answers were subsampled weighs the kept ones up by (wrong answers) /
	// (kept), so that its mean reward, its advantages and the expected
	// gradient are those of the whole group; one of k identical answers
	// with weight k trains exactly as the k copies.
	Weight float64
	// SFTWeight, when above 0, is the rollout's weight in the cross-entropy
	// term instead of Weight: a trainer can count a verified answer once
	// there however many copies of it its Weight stands for, as rejection
	// sampling keeps each distinct answer once.
	SFTWeight float64
	// Bonus is added to the rollout's advantage in the policy term: a
	// trainer can give the answers of a group that is all right, whose
	// group-relative advantage is 0, a small positive one.
	Bonus float64
}

// Weighted returns the rollout's weight, 1 unless set.
func (r *Rollout) Weighted() float64 {
	if r.Weight == 0 {
		return 1
	}
	return r.Weight
}

// GRPOConfig holds the policy-gradient settings of group relative policy
// optimisation (Shao et al., 2024) with the corrections of Dr. GRPO (Liu et
// al., 2025) and DAPO (Yu et al., 2025).
type GRPOConfig struct {
	// ClipLow and ClipHigh bound the policy ratio to [1−ClipLow, 1+ClipHigh]
	// in the clipped surrogate (PPO's ε = 0.2; DAPO raises the upper bound to
	// 0.28 so that unlikely tokens can still gain probability).
	ClipLow, ClipHigh float64
	// KL weighs the k3 estimate of KL(policy ‖ reference) per token; 0 drops
	// the term and the reference model (as Dr. GRPO and DAPO do).
	KL float64
	// StdScale divides a group's advantages by its reward standard deviation,
	// as the original GRPO does. Dr. GRPO shows that this weighs nearly
	// solved and nearly unsolved prompts up, a difficulty bias; off by default.
	StdScale bool
	// ConstNorm, when above 0, divides the summed token losses of a step by
	// rollouts × ConstNorm (Dr. GRPO's constant normaliser, usually the
	// generation budget) instead of by the number of completion tokens in
	// the step (DAPO's token-level mean). Either way every token weighs the
	// same, so long wrong answers are not excused by their length, as the
	// per-sequence mean of the original GRPO excuses them.
	ConstNorm int
	// SFT weighs a cross-entropy term on the completions of rollouts marked
	// SFT or Demo, its token mean over the minibatch added to the policy
	// loss. The policy term uses each verified answer once with a weight of
	// 1 − the group's mean reward; this term trains on it as rejection
	// sampling does, and on replayed demonstrations that keep what no
	// prompt of the batch asks for from being forgotten.
	SFT float64
	// BatchBaseline takes each rollout's advantage relative to the
	// (weighted) mean reward of all the sampled rollouts Prepare takes, not
	// of its group (REINFORCE++'s global baseline): a group whose answers
	// are all right then has a positive advantage, one all wrong a
	// negative one, so a trainer can train them instead of discarding them.
	BatchBaseline bool
}

// DefaultGRPO is PPO's symmetric clip without a KL term or std scaling.
var DefaultGRPO = GRPOConfig{ClipLow: 0.2, ClipHigh: 0.2}

func (g GRPOConfig) check() error {
	if !(g.ClipLow > 0 && g.ClipLow < 1) || !(g.ClipHigh > 0) || g.KL < 0 || g.ConstNorm < 0 || g.SFT < 0 {
		return fmt.Errorf("train: grpo: clip low %g in (0, 1), clip high %g > 0, kl %g, const norm %d and sft %g ≥ 0", g.ClipLow, g.ClipHigh, g.KL, g.ConstNorm, g.SFT)
	}
	return nil
}

// Advantages returns each rollout's reward minus the (weighted) mean
// reward of its group, divided by the group's standard deviation (plus
// 1e-4, so a group of equal rewards gets zeros) when stdScale is set, plus
// its Bonus. Demos get 0 and are no part of any group.
func Advantages(rs []Rollout, stdScale bool) []float64 {
	return advantages(rs, stdScale, false)
}

// BatchAdvantages is Advantages with one baseline for all: each rollout's
// reward minus the (weighted) mean reward of every sampled rollout of rs
// (GRPOConfig.BatchBaseline), scaled by their standard deviation when
// stdScale is set, plus its Bonus.
func BatchAdvantages(rs []Rollout, stdScale bool) []float64 {
	return advantages(rs, stdScale, true)
}

// advantages computes Advantages, or with batch BatchAdvantages.
func advantages(rs []Rollout, stdScale, batch bool) []float64 {
	key := func(r Rollout) int {
		if batch {
			return 0
		}
		return r.Group
	}
	sum, sq, n := map[int]float64{}, map[int]float64{}, map[int]float64{}
	for _, r := range rs {
		if r.Demo {
			continue
		}
		w := r.Weighted()
		sum[key(r)] += w * r.Reward
		sq[key(r)] += w * r.Reward * r.Reward
		n[key(r)] += w
	}
	out := make([]float64, len(rs))
	for i, r := range rs {
		if r.Demo {
			continue
		}
		mean := sum[key(r)] / n[key(r)]
		out[i] = r.Reward - mean
		if stdScale {
			v := max(sq[key(r)]/n[key(r)]-mean*mean, 0)
			out[i] /= math.Sqrt(v) + 1e-4
		}
		out[i] += r.Bonus
	}
	return out
}

// GRPOTokenLoss returns one token's loss and its derivative with respect
// to the policy's log-probability lp of the token, given the log-probability
// old under the policy that sampled it, ref under the reference model, and
// the rollout's advantage adv:
//
//	loss = −min(ρ·A, clip(ρ, 1−εl, 1+εh)·A) + β·(e^(ref−lp) − (ref−lp) − 1),  ρ = e^(lp−old)
//
// clipped reports that the clipped branch was taken (its gradient is 0).
func GRPOTokenLoss(g GRPOConfig, lp, old, ref, adv float64) (loss, dlp float64, clipped bool) {
	rho := math.Exp(lp - old)
	un := rho * adv
	cl := min(max(rho, 1-g.ClipLow), 1+g.ClipHigh) * adv
	if un <= cl {
		loss, dlp = -un, -un
	} else {
		loss, clipped = -cl, true
	}
	if g.KL > 0 {
		d := ref - lp
		e := math.Exp(d)
		loss += g.KL * (e - d - 1)
		dlp += g.KL * (1 - e)
	}
	return loss, dlp, clipped
}

// GRPO trains a policy on rollouts it sampled, rewarded by a verifier:
// Prepare takes one batch of rollouts and records their log-probabilities
// under the sampling policy (and the reference), then each Step takes one
// optimizer step on a slice of them (PPO's minibatches), so that the ratio
// to the sampling policy, and its clip, matter from the second step on.
type GRPO struct {
	*core
	G   GRPOConfig
	ref *llama.Workspace // nil without KL
	// TrimTail runs a minibatch's last micro-batch on its own rows only,
	// instead of a full micro-batch whose padding rows get no gradient: the
	// same loss and gradient but for the order of float sums, for less CPU.
	TrimTail bool

	rows             int       // packed rollouts of the current batch
	in, tg           []int32   // their inputs and targets, rows × Seq
	old, refLP       []float32 // per position: sampling-policy and reference log-probs
	adv, w, sw       []float64 // per row: advantage, weight and cross-entropy weight
	sft, demo        []bool    // per row: in the cross-entropy term; in it only
	lastClip, lastKL float64
	lastSFT          float64 // mean cross-entropy of the SFT tokens
	lastTokens       int
	lastSFTTokens    int
}

// GRPOStats describe one GRPO step besides Stats.
type GRPOStats struct {
	Stats
	ClipFrac float64 // share of trained tokens whose ratio was clipped
	KL       float64 // mean k3 KL estimate per token (0 without a reference)
	// SFTLoss is the mean cross-entropy of the SFT and Demo tokens (before
	// the weight GRPOConfig.SFT) and SFTTokens their count; Loss includes
	// the weighted term.
	SFTLoss   float64
	SFTTokens int
}

// NewGRPO prepares GRPO of policy. ref is the frozen reference of the KL
// term and may be nil when g.KL is 0. cfg.Batch is the rollouts one forward
// pass takes; Step sums micro-batches of that size.
func NewGRPO(policy, ref *llama.Model, g GRPOConfig, cfg Config) (*GRPO, error) {
	if err := g.check(); err != nil {
		return nil, err
	}
	if g.KL > 0 && ref == nil {
		return nil, errors.New("train: grpo: a KL term needs a reference model")
	}
	c, err := newCore(policy, cfg, cfg.Batch)
	if err != nil {
		return nil, err
	}
	t := &GRPO{core: c, G: g}
	if g.KL > 0 {
		if ref.Config != policy.Config {
			return nil, errors.New("train: grpo: reference and policy configs differ")
		}
		if t.ref, err = ref.NewForwardWorkspace(cfg.Batch, cfg.Seq); err != nil {
			return nil, fmt.Errorf("train: grpo: %w", err)
		}
	}
	return t, nil
}

// Prepare packs a batch of rollouts, computes their advantages and their
// log-probabilities under the current policy (the one that sampled them)
// and the reference. The policy's forward pass runs only on the
// micro-batches holding a sampled rollout without its OldLogProbs, and
// only such rollouts take its log-probabilities: the others keep their
// own. It returns how many rollouts
// carry a non-zero advantage: a group whose rollouts all got the same
// reward teaches nothing (DAPO drops such groups when sampling). Demos
// count in no group.
func (t *GRPO) Prepare(rs []Rollout) (int, error) {
	seq, rows := t.cfg.Seq, t.cfg.Batch
	rescore := false // some sampled rollout lacks its sampling policy's log-probs
	for i := range rs {
		r := &rs[i]
		if err := r.validate(t.m.Config.Vocab); err != nil {
			return 0, fmt.Errorf("train: grpo: rollout %d: %w", i, err)
		}
		if len(r.Tokens) > seq+1 {
			return 0, fmt.Errorf("train: grpo: rollout %d has %d tokens, more than seq+1 = %d", i, len(r.Tokens), seq+1)
		}
		if r.OldLogProbs != nil && len(r.OldLogProbs) != len(r.Tokens) || r.Weight < 0 || r.SFTWeight < 0 {
			return 0, fmt.Errorf("train: grpo: rollout %d has %d tokens, %d old log-probs, weight %g and sft weight %g", i, len(r.Tokens), len(r.OldLogProbs), r.Weight, r.SFTWeight)
		}
		rescore = rescore || needsScore(*r)
	}
	// Whole micro-batches, and one more of padding so that a minibatch
	// starting anywhere reads whole micro-batches.
	n := (len(rs)+rows-1)/rows*rows + rows
	grow := func(s []int32) []int32 {
		if cap(s) < n*seq {
			return make([]int32, n*seq)
		}
		return s[:n*seq]
	}
	t.in, t.tg = grow(t.in), grow(t.tg)
	if cap(t.old) < n*seq {
		t.old, t.refLP = make([]float32, n*seq), make([]float32, n*seq)
	}
	t.old, t.refLP = t.old[:n*seq], t.refLP[:n*seq]
	t.rows = len(rs)
	t.adv = advantages(rs, t.G.StdScale, t.G.BatchBaseline)
	t.sft, t.demo, t.w, t.sw = t.sft[:0], t.demo[:0], t.w[:0], t.sw[:0]
	for _, r := range rs {
		t.sft, t.demo, t.w = append(t.sft, r.SFT || r.Demo), append(t.demo, r.Demo), append(t.w, r.Weighted())
		sw := r.SFTWeight
		if sw == 0 {
			sw = r.Weighted()
		}
		t.sw = append(t.sw, sw)
	}
	useful := 0
	for i := range n {
		e := &Example{}
		if i < len(rs) {
			e = &rs[i].Example
			if t.adv[i] != 0 {
				useful++
			}
		}
		packRow(e, t.in[i*seq:(i+1)*seq], t.tg[i*seq:(i+1)*seq], t.cfg.Pad)
		// Position j predicts token j+1, as packRow lays targets out.
		old := t.old[i*seq : (i+1)*seq]
		clear(old)
		if i < len(rs) && rs[i].OldLogProbs != nil {
			copy(old, rs[i].OldLogProbs[1:])
		}
	}
	for lo := 0; lo < len(rs); lo += rows {
		in, tg := t.in[lo*seq:(lo+rows)*seq], t.tg[lo*seq:(lo+rows)*seq]
		if rescore && slices.ContainsFunc(rs[lo:min(lo+rows, len(rs))], needsScore) {
			if err := t.ws.Forward(in, tg); err != nil {
				return 0, err
			}
			// Only the rows without their own: a row that brings its
			// sampling policy's log-probs keeps them, whatever rows share
			// its micro-batch.
			for i := lo; i < min(lo+rows, len(rs)); i++ {
				if needsScore(rs[i]) {
					copy(t.old[i*seq:(i+1)*seq], t.ws.LogProbs[(i-lo)*seq:])
				}
			}
		}
		if t.ref != nil {
			if err := t.ref.Forward(in, tg); err != nil {
				return 0, err
			}
			copy(t.refLP[lo*seq:], t.ref.LogProbs)
		}
	}
	return useful, nil
}

// needsScore reports whether Prepare scores r under the current policy:
// a sampled rollout that does not bring its OldLogProbs.
func needsScore(r Rollout) bool { return !r.Demo && r.OldLogProbs == nil }

// Step takes one optimizer step on the prepared rollouts lo..hi−1 (a
// minibatch; pass 0 and the batch size for all of them).
func (t *GRPO) Step(lo, hi int) (GRPOStats, error) {
	var s GRPOStats
	if lo < 0 || hi > t.rows || lo >= hi {
		return s, fmt.Errorf("train: grpo: minibatch [%d, %d) outside the %d prepared rollouts", lo, hi, t.rows)
	}
	loss, err := t.lossAndGrad(lo, hi)
	if err != nil {
		return s, err
	}
	s.Loss, s.Targets, s.ClipFrac, s.KL = loss, t.lastTokens, t.lastClip, t.lastKL
	s.SFTLoss, s.SFTTokens = t.lastSFT, t.lastSFTTokens
	return s, t.apply(&s.Stats)
}

// lossAndGrad sets the policy's Grads to the gradient of the GRPO loss
// over rollouts lo..hi−1 and returns the loss: the policy term over the
// sampled rollouts' tokens plus, with SFT above 0, the weighted mean
// cross-entropy of the SFT and Demo rollouts' tokens.
func (t *GRPO) lossAndGrad(lo, hi int) (float64, error) {
	seq, rows := t.cfg.Seq, t.cfg.Batch
	tokens, sftTokens := 0, 0
	var wTokens, sampled, wSFT float64 // weighted: what the whole groups would count
	for r := lo; r < hi; r++ {
		n := 0
		for i := r * seq; i < (r+1)*seq; i++ {
			if t.tg[i] >= 0 {
				n++
			}
		}
		if !t.demo[r] {
			tokens += n
			wTokens += t.w[r] * float64(n)
			sampled += t.w[r]
		}
		if t.sft[r] {
			sftTokens += n
			wSFT += t.sw[r] * float64(n)
		}
	}
	norm := max(wTokens, 1)
	if t.G.ConstNorm > 0 {
		norm = max(sampled, 1) * float64(t.G.ConstNorm)
	}
	sftNorm := max(wSFT, 1)
	t.m.ZeroGrads()
	var loss, kl, nll float64
	clipped := 0
	dlogp := t.dlogp[:rows*seq]
	in, tg := t.in, t.tg
	for a := lo; a < hi; a += rows {
		// The micro-batch is rows a..a+rows−1; those past hi (the
		// minibatch's end, or the padding past the batch) get no gradient,
		// and with TrimTail are not computed at all.
		b := rows
		if t.TrimTail && hi-a < rows {
			b = hi - a
		}
		if err := t.ws.SetBatch(b); err != nil {
			return 0, err
		}
		if err := t.ws.Forward(in[a*seq:(a+b)*seq], tg[a*seq:(a+b)*seq]); err != nil {
			return 0, err
		}
		for r := range b {
			for j := range seq {
				i, k := r*seq+j, (a+r)*seq+j
				dlogp[i] = 0
				if a+r >= hi || tg[k] < 0 {
					continue
				}
				lp, ref := float64(t.ws.LogProbs[i]), float64(t.refLP[k])
				w := t.w[a+r]
				if t.sft[a+r] {
					sw := t.sw[a+r]
					nll -= sw * lp
					dlogp[i] = float32(-t.G.SFT * sw / sftNorm)
				}
				if t.demo[a+r] {
					continue
				}
				l, d, c := GRPOTokenLoss(t.G, lp, float64(t.old[k]), ref, t.adv[a+r])
				loss += w * l
				dlogp[i] += float32(w * d / norm)
				if c {
					clipped++
				}
				if t.ref != nil {
					kl += math.Exp(ref-lp) - (ref - lp) - 1
				}
			}
		}
		if err := t.ws.Backward(dlogp[:b*seq]); err != nil {
			return 0, err
		}
	}
	if err := t.ws.SetBatch(rows); err != nil {
		return 0, err
	}
	t.lastTokens = tokens
	t.lastClip = float64(clipped) / float64(max(tokens, 1))
	t.lastKL = kl / float64(max(tokens, 1))
	t.lastSFT, t.lastSFTTokens = nll/sftNorm, sftTokens
	return loss/norm + t.G.SFT*t.lastSFT, nil
}
