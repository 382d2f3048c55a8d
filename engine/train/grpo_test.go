package train

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/synthloop/synthloop/engine/llama"
	"github.com/synthloop/synthloop/engine/sample"
)

func TestAdvantages(t *testing.T) {
	rs := []Rollout{{Group: 0, Reward: 1}, {Group: 0, Reward: 0}, {Group: 1, Reward: 1}, {Group: 1, Reward: 1},
		{Group: 0, Reward: 0}, {Group: 0, Reward: 1}, {Group: 0, Reward: 1, Demo: true}}
	// The same with group 1's answers given a bonus, the second standing
	// for 3 copies: the batch's weighted mean reward is 6/8.
	bonus := slices.Clone(rs)
	bonus[2].Bonus, bonus[3].Bonus, bonus[3].Weight = 0.1, 0.1, 3
	sd := math.Sqrt(0.75*0.25) + 1e-4
	tests := []struct {
		name       string
		rs         []Rollout
		std, batch bool
		want       []float64
	}{
		{"mean only (Dr. GRPO)", rs, false, false, []float64{0.5, -0.5, 0, 0, -0.5, 0.5, 0}},
		{"std scaled (GRPO)", rs, true, false, []float64{0.5 / 0.5001, -0.5 / 0.5001, 0, 0, -0.5 / 0.5001, 0.5 / 0.5001, 0}},
		{"bonus on an all-right group", bonus, false, false, []float64{0.5, -0.5, 0.1, 0.1, -0.5, 0.5, 0}},
		{"batch baseline (REINFORCE++)", rs, false, true, []float64{1.0 / 3, -2.0 / 3, 1.0 / 3, 1.0 / 3, -2.0 / 3, 1.0 / 3, 0}},
		{"batch baseline, weights and bonus", bonus, false, true, []float64{0.25, -0.75, 0.35, 0.35, -0.75, 0.25, 0}},
		{"batch baseline, std scaled", bonus, true, true, []float64{0.25 / sd, -0.75 / sd, 0.25/sd + 0.1, 0.25/sd + 0.1, -0.75 / sd, 0.25 / sd, 0}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := Advantages(tc.rs, tc.std)
			if tc.batch {
				got = BatchAdvantages(tc.rs, tc.std)
			}
			for i := range got {
				if math.Abs(got[i]-tc.want[i]) > 1e-12 {
					t.Fatalf("Advantages = %v, want %v", got, tc.want)
				}
			}
		})
	}
}

// TestGRPOTokenLoss checks the derivative against finite differences away
// from the clip's kinks, and that a clipped token has no gradient from the
// surrogate.
func TestGRPOTokenLoss(t *testing.T) {
	g := GRPOConfig{ClipLow: 0.2, ClipHigh: 0.28, KL: 0.3}
	tests := []struct {
		lp, old, ref, adv float64
		clipped           bool
	}{
		{-1, -1, -1.2, 1, false},     // ρ = 1
		{-1, -1.1, -0.7, 1, false},   // ρ ≈ 1.105 < 1.28
		{-1, -1.5, -0.7, 1, true},    // ρ ≈ 1.65: too much gain for a good token
		{-1, -1.5, -0.7, -1, false},  // the same ratio for a bad token is pushed down in full
		{-2, -1.5, -2.5, -0.5, true}, // ρ ≈ 0.61: a bad token already pushed down enough
		{-2, -1.5, -2.5, 0.5, false}, // a good token pushed down is pulled up in full
	}
	for _, tc := range tests {
		_, d, c := GRPOTokenLoss(g, tc.lp, tc.old, tc.ref, tc.adv)
		if c != tc.clipped {
			t.Errorf("%+v: clipped %v", tc, c)
		}
		const h = 1e-6
		lp, _, _ := GRPOTokenLoss(g, tc.lp+h, tc.old, tc.ref, tc.adv)
		lm, _, _ := GRPOTokenLoss(g, tc.lp-h, tc.old, tc.ref, tc.adv)
		if num := (lp - lm) / (2 * h); math.Abs(num-d) > 1e-6 {
			t.Errorf("%+v: derivative %g, numeric %g", tc, d, num)
		}
		if tc.clipped {
			_, d0, _ := GRPOTokenLoss(GRPOConfig{ClipLow: 0.2, ClipHigh: 0.28}, tc.lp, tc.old, tc.ref, tc.adv)
			if d0 != 0 {
				t.Errorf("%+v: clipped token without KL has gradient %g", tc, d0)
			}
		}
	}
}

// toyRollouts are prompts [0, a] answered by one token and the end token
// 11, rewarded 1 when the token repeats a; every other rollout is right.
func toyRollouts(n, group int, seed uint64) []Rollout {
	r := rand.New(rand.NewPCG(seed, 1))
	var rs []Rollout
	for i := range n {
		a := int32(1 + r.IntN(10))
		b := int32(1 + r.IntN(10))
		if i%2 == 0 {
			b = a
		}
		reward := 0.0
		if a == b {
			reward = 1
		}
		rs = append(rs, Rollout{Example: Example{Tokens: []int32{0, a, b, 11}, Mask: []bool{false, false, true, true}},
			Group: i / group, Reward: reward})
	}
	return rs
}

func newToyGRPO(t testing.TB, g GRPOConfig, batch int) *GRPO {
	t.Helper()
	policy, ref := tinyModel(t, 3), tinyModel(t, 4)
	tr, err := NewGRPO(policy, ref, g, Config{Batch: batch, Seq: 4, Seed: 1, AdamW: DefaultAdamW, Schedule: Constant(3e-3), ClipNorm: 1})
	if err != nil {
		t.Fatal(err)
	}
	return tr
}

// TestGRPOGradientCheck compares the GRPO gradient through the whole policy
// with finite differences of the loss along random directions, with the
// sampling policy's log-probs moved so that some ratios are clipped and
// some not, a KL term, std scaling, both normalisers, the cross-entropy
// term on verified rollouts and demos, and a minibatch that starts inside a
// micro-batch.
func TestGRPOGradientCheck(t *testing.T) {
	for _, g := range []GRPOConfig{
		{ClipLow: 0.2, ClipHigh: 0.28, KL: 0.2},
		{ClipLow: 0.2, ClipHigh: 0.2, StdScale: true, ConstNorm: 3},
		{ClipLow: 0.2, ClipHigh: 0.28, KL: 0.1, SFT: 0.7},
		{ClipLow: 0.2, ClipHigh: 0.2, ConstNorm: 3, SFT: 1.3},
		{ClipLow: 0.2, ClipHigh: 0.28, SFT: 0.5, BatchBaseline: true},
	} {
		tr := newToyGRPO(t, g, 3)
		tr.TrimTail = g.SFT > 0 // half the cases run the short last micro-batch on its own row
		for i := range tr.m.Params {
			tr.m.Params[i] *= 3
		}
		rs := toyRollouts(16, 4, 2)
		if g.SFT > 0 {
			markSFT(rs)
			for i := range rs { // weights, some apart in the cross-entropy term
				rs[i].Weight = float64(1 + i%3)
				if i%4 == 1 {
					rs[i].SFTWeight = 0.5
				}
			}
		}
		if g.BatchBaseline { // and a bonus on one group, as a trainer gives an all-right one
			for i := 4; i < 8; i++ {
				rs[i].Bonus = 0.3
			}
		}
		if _, err := tr.Prepare(rs); err != nil {
			t.Fatal(err)
		}
		if want := advantages(rs, g.StdScale, g.BatchBaseline); !slices.Equal(tr.adv, want) || g.BatchBaseline && slices.Equal(want, Advantages(rs, g.StdScale)) {
			t.Fatalf("%+v: Prepare took advantages %v, want %v", g, tr.adv, want)
		}
		// Move the sampling policy's log-probs away from the policy's, by
		// amounts inside the clip range or well outside it, never near its
		// edges, where the loss has kinks finite differences cannot check.
		r := rand.New(rand.NewPCG(9, 9))
		for i := range tr.old {
			shift := 0.05 + 0.1*r.Float64()
			if r.IntN(2) == 0 {
				shift = 0.4 + 0.3*r.Float64()
			}
			if r.IntN(2) == 0 {
				shift = -shift
			}
			tr.old[i] += float32(shift)
		}
		lo, hi := 1, 14
		lossAt := func() float64 {
			l, err := tr.lossAndGrad(lo, hi)
			if err != nil {
				t.Fatal(err)
			}
			return l
		}
		lossAt()
		if tr.lastClip == 0 || tr.lastClip == 1 {
			t.Fatalf("%+v: clipped share %g: the check needs both kinds of token", g, tr.lastClip)
		}
		grad := slices.Clone(tr.m.Grads)
		checkDirections(t, fmt.Sprintf("%+v", g), tr.m.Params, grad, r, 3, lossAt)
	}
}

// TestGRPOTrimTail: a minibatch whose last micro-batch is short gives the
// same loss and gradient with TrimTail (the short micro-batch run on its
// own rows) as padded to a full one, micro-batch sizes and starts of all
// kinds; the workspace is back at its full batch afterwards.
func TestGRPOTrimTail(t *testing.T) {
	g := GRPOConfig{ClipLow: 0.2, ClipHigh: 0.28, KL: 0.1, SFT: 0.7}
	rs := toyRollouts(16, 4, 2)
	markSFT(rs)
	for _, c := range []struct{ batch, lo, hi int }{{3, 1, 14}, {3, 0, 16}, {5, 2, 9}, {4, 0, 16}, {16, 3, 11}} {
		var losses []float64
		var grads [][]float32
		for _, trim := range []bool{false, true} {
			tr := newToyGRPO(t, g, c.batch)
			tr.TrimTail = trim
			if _, err := tr.Prepare(rs); err != nil {
				t.Fatal(err)
			}
			l, err := tr.lossAndGrad(c.lo, c.hi)
			if err != nil {
				t.Fatal(err)
			}
			if tr.ws.B != c.batch {
				t.Fatalf("%+v: the workspace is left at %d rows, want %d", c, tr.ws.B, c.batch)
			}
			losses, grads = append(losses, l), append(grads, slices.Clone(tr.m.Grads))
		}
		if math.Abs(losses[0]-losses[1]) > 1e-6*max(1, math.Abs(losses[0])) {
			t.Errorf("%+v: loss %g padded, %g trimmed", c, losses[0], losses[1])
		}
		for i := range grads[0] {
			if d := math.Abs(float64(grads[0][i] - grads[1][i])); d > 1e-6*max(1, math.Abs(float64(grads[0][i]))) {
				t.Fatalf("%+v: gradient %d is %g padded, %g trimmed", c, i, grads[0][i], grads[1][i])
			}
		}
	}
}

// markSFT marks the rewarded rollouts SFT and every fifth a demo, as a
// replayed worked example would be.
func markSFT(rs []Rollout) {
	for i := range rs {
		rs[i].SFT = rs[i].Reward > 0
		rs[i].Demo = i%5 == 2
	}
}

// TestGRPOSFTTerm checks the cross-entropy term's value: on demos alone
// the loss is SFT times their mean cross-entropy, the policy term is
// empty, and with both it adds to the policy loss.
func TestGRPOSFTTerm(t *testing.T) {
	g := GRPOConfig{ClipLow: 0.2, ClipHigh: 0.28, SFT: 0.5}
	tr := newToyGRPO(t, g, 4)
	rs := toyRollouts(8, 4, 5)
	demos := slices.Clone(rs)
	for i := range demos {
		demos[i].Demo = true
	}
	useful, err := tr.Prepare(demos)
	if err != nil {
		t.Fatal(err)
	}
	// Demos alone need no sampling policy's log-probs: score them here.
	nll, seq := 0.0, tr.cfg.Seq
	for lo := 0; lo < len(demos); lo += 4 {
		in, tg := tr.in[lo*seq:(lo+4)*seq], tr.tg[lo*seq:(lo+4)*seq]
		if err := tr.ws.Forward(in, tg); err != nil {
			t.Fatal(err)
		}
		for i, lp := range tr.ws.LogProbs[:4*seq] {
			if tg[i] >= 0 {
				nll -= float64(lp)
			}
		}
	}
	nll /= float64(2 * len(demos)) // two trained tokens a rollout
	s, err := tr.Step(0, len(demos))
	if err != nil {
		t.Fatal(err)
	}
	if useful != 0 || s.Targets != 0 || s.SFTTokens != 2*len(demos) || math.Abs(s.SFTLoss-nll) > 1e-5 || math.Abs(s.Loss-0.5*nll) > 1e-5 {
		t.Errorf("demos only: useful %d, targets %d, sft tokens %d, sft loss %g, loss %g; want 0, 0, %d, %g, %g",
			useful, s.Targets, s.SFTTokens, s.SFTLoss, s.Loss, 2*len(demos), nll, 0.5*nll)
	}

	// On policy, the policy term is −Σ A / tokens, as without SFT.
	tr = newToyGRPO(t, g, 4)
	markSFT(rs)
	if _, err := tr.Prepare(rs); err != nil {
		t.Fatal(err)
	}
	adv := Advantages(rs, false)
	pol, tokens := 0.0, 0
	for i, r := range rs {
		if !r.Demo {
			pol -= 2 * adv[i]
			tokens += 2
		}
	}
	s, err = tr.Step(0, len(rs))
	if err != nil {
		t.Fatal(err)
	}
	if want := pol/float64(tokens) + 0.5*s.SFTLoss; s.SFTTokens == 0 || s.Targets != tokens || math.Abs(s.Loss-want) > 1e-5 {
		t.Errorf("mixed: loss %g with %d targets and %d SFT tokens, want %g with %d targets", s.Loss, s.Targets, s.SFTTokens, want, tokens)
	}
}

// TestGRPOStepOnPolicyIsPolicyGradient checks that the first step after
// Prepare, where every ratio is 1, has the plain policy gradient's loss:
// −Σ A over trained tokens / tokens.
func TestGRPOStepOnPolicyIsPolicyGradient(t *testing.T) {
	tr := newToyGRPO(t, DefaultGRPO, 4)
	rs := toyRollouts(8, 4, 3)
	useful, err := tr.Prepare(rs)
	if err != nil {
		t.Fatal(err)
	}
	if useful == 0 {
		t.Fatal("no rollout with an advantage")
	}
	adv := Advantages(rs, false)
	want, tokens := 0.0, 0
	for i, r := range rs {
		want -= 2 * adv[i] // two trained tokens a rollout
		tokens += len(r.Tokens) - 2
	}
	s, err := tr.Step(0, len(rs))
	if err != nil {
		t.Fatal(err)
	}
	if math.Abs(s.Loss-want/float64(tokens)) > 1e-6 || s.ClipFrac != 0 || s.Targets != tokens {
		t.Errorf("on-policy step: loss %g clip %g targets %d, want loss %g, no clip, %d targets", s.Loss, s.ClipFrac, s.Targets, want/float64(tokens), tokens)
	}
}

// TestGRPOLearnsFromRewards samples from a tiny model, rewards answers that
// repeat the prompt's token, and checks that GRPO raises the reward from
// chance (1 in 12) to most of the time (measured: 0.04 at the first step,
// 0.7–0.8 over the last ten; faster learning rates collapse the policy onto
// one wrong token, after which every group agrees and nothing is learnt).
func TestGRPOLearnsFromRewards(t *testing.T) {
	m, err := llama.New(llama.Config{Vocab: 12, Dim: 32, Layers: 1, Heads: 2, KVHeads: 2, Hidden: 64, MaxSeq: 8, NormEps: 1e-5}, 11)
	if err != nil {
		t.Fatal(err)
	}
	const prompts, group = 16, 8
	tr, err := NewGRPO(m, nil, DefaultGRPO, Config{Batch: 32, Seq: 3, Seed: 1, AdamW: DefaultAdamW, Schedule: Constant(1e-2), ClipNorm: 1})
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	var first, last float64
	for step := range 200 {
		var ps [][]int32
		for range prompts {
			ps = append(ps, []int32{0, int32(1 + rng.IntN(10))})
		}
		cs, err := sample.Generate(m, ps, sample.Options{N: group, Temperature: 1, MaxTokens: 1, Seed: uint64(step)})
		if err != nil {
			t.Fatal(err)
		}
		var rs []Rollout
		mean := 0.0
		for _, c := range cs {
			r := 0.0
			if c.Tokens[0] == ps[c.Prompt][1] {
				r = 1
			}
			mean += r / float64(len(cs))
			rs = append(rs, Rollout{Example: Example{Tokens: []int32{0, ps[c.Prompt][1], c.Tokens[0]}, Mask: []bool{false, false, true}},
				Group: c.Prompt, Reward: r})
		}
		if step == 0 {
			first = mean
		}
		if step >= 190 {
			last += mean / 10
		}
		if _, err := tr.Prepare(rs); err != nil {
			t.Fatal(err)
		}
		for lo := 0; lo < len(rs); lo += 32 {
			if _, err := tr.Step(lo, lo+32); err != nil {
				t.Fatal(err)
			}
		}
	}
	if first > 0.2 || last < 0.6 {
		t.Errorf("mean reward %g at the first step and %g over the last ten: GRPO did not learn", first, last)
	}
}

// TestGRPOResumeIsExact saves a GRPO trainer half-way through and checks
// that a restored one continues to the same weights.
func TestGRPOResumeIsExact(t *testing.T) {
	run := func(tr *GRPO, from, to int) {
		for s := from; s < to; s++ {
			rs := toyRollouts(8, 4, uint64(s))
			if _, err := tr.Prepare(rs); err != nil {
				t.Fatal(err)
			}
			for lo := 0; lo < 8; lo += 4 {
				if _, err := tr.Step(lo, lo+4); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	g := GRPOConfig{ClipLow: 0.2, ClipHigh: 0.28, KL: 0.1}
	straight := newToyGRPO(t, g, 3)
	run(straight, 0, 6)
	half := newToyGRPO(t, g, 3)
	run(half, 0, 3)
	dir := t.TempDir()
	if err := half.Save(dir); err != nil {
		t.Fatal(err)
	}
	resumed := newToyGRPO(t, g, 3)
	if err := resumed.Restore(dir); err != nil {
		t.Fatal(err)
	}
	run(resumed, 3, 6)
	if !slices.Equal(straight.m.Params, resumed.m.Params) {
		t.Error("weights after save/restore differ from training straight through")
	}
}

// TestGRPOWeightStandsForDuplicates: a wrong answer kept once with weight k
// gives the same advantages, loss and gradient as k copies of it, which is
// what subsampling a group's wrong answers relies on.
func TestGRPOWeightStandsForDuplicates(t *testing.T) {
	ex := func(b int32) Example {
		return Example{Tokens: []int32{0, 3, b, 11}, Mask: []bool{false, false, true, true}}
	}
	right := []Rollout{{Example: ex(3), Reward: 1, SFT: true}, {Example: ex(3), Group: 1, Reward: 1}}
	// Two copies of a verified answer, trained by both terms, against one
	// of weight 2.
	full := append(slices.Clone(right), Rollout{Example: ex(5), Group: 1}, Rollout{Example: ex(5), Group: 1}, Rollout{Example: ex(5), Group: 1},
		Rollout{Example: ex(7)}, Rollout{Example: ex(2), Demo: true}, Rollout{Example: ex(4), Group: 2, Reward: 1, SFT: true},
		Rollout{Example: ex(4), Group: 2, Reward: 1, SFT: true}, Rollout{Example: ex(6), Group: 2})
	sub := append(slices.Clone(right), Rollout{Example: ex(5), Group: 1, Weight: 3}, Rollout{Example: ex(7)}, Rollout{Example: ex(2), Demo: true},
		Rollout{Example: ex(4), Group: 2, Reward: 1, SFT: true, Weight: 2}, Rollout{Example: ex(6), Group: 2})
	for _, g := range []GRPOConfig{{ClipLow: 0.2, ClipHigh: 0.28, KL: 0.1, SFT: 0.5}, {ClipLow: 0.2, ClipHigh: 0.2, StdScale: true, ConstNorm: 3}} {
		var losses []float64
		var grads [][]float32
		for _, rs := range [][]Rollout{full, sub} {
			tr, l := toyLoss(t, g, rs)
			losses, grads = append(losses, l), append(grads, slices.Clone(tr.m.Grads))
		}
		if math.Abs(losses[0]-losses[1]) > 1e-6 {
			t.Errorf("%+v: loss %g with copies, %g with a weight", g, losses[0], losses[1])
		}
		for i := range grads[0] {
			if math.Abs(float64(grads[0][i]-grads[1][i])) > 1e-6 {
				t.Fatalf("%+v: gradient %d is %g with copies, %g with a weight", g, i, grads[0][i], grads[1][i])
			}
		}
	}
}

// toyLoss prepares rs on a fresh toy policy and returns it, its gradient
// set, with the loss over all of rs.
func toyLoss(t *testing.T, g GRPOConfig, rs []Rollout) (*GRPO, float64) {
	t.Helper()
	tr := newToyGRPO(t, g, 3)
	if _, err := tr.Prepare(rs); err != nil {
		t.Fatal(err)
	}
	l, err := tr.lossAndGrad(0, len(rs))
	if err != nil {
		t.Fatal(err)
	}
	return tr, l
}

// TestGRPOSFTWeight: a rollout's SFTWeight replaces its Weight in the
// cross-entropy term only: one verified answer standing for two copies in
// the policy term and counted once in the cross-entropy term trains the
// policy term as the two copies and the cross-entropy term as one.
func TestGRPOSFTWeight(t *testing.T) {
	ex := func(b int32) Example {
		return Example{Tokens: []int32{0, 3, b, 11}, Mask: []bool{false, false, true, true}}
	}
	rs := func(w, sw float64) []Rollout {
		return []Rollout{{Example: ex(3), Reward: 1, SFT: true, Weight: w, SFTWeight: sw}, {Example: ex(5)}, {Example: ex(5)},
			{Example: ex(2), Demo: true}, {Example: ex(4), Group: 1, Reward: 1, SFT: true}, {Example: ex(6), Group: 1}}
	}
	g := GRPOConfig{ClipLow: 0.2, ClipHigh: 0.28, SFT: 0.5}
	run := func(rs []Rollout) (policy, sft float64) {
		tr, l := toyLoss(t, g, rs)
		return l - g.SFT*tr.lastSFT, tr.lastSFT
	}
	p, s := run(rs(2, 1))
	pTwo, _ := run(rs(2, 0))
	_, sOne := run(rs(1, 0))
	if math.Abs(p-pTwo) > 1e-9 || math.Abs(s-sOne) > 1e-9 {
		t.Errorf("weight 2, sft weight 1: policy term %g (want %g, as weight 2) and cross-entropy %g (want %g, as weight 1)", p, pTwo, s, sOne)
	}
	if _, sTwo := run(rs(2, 0)); math.Abs(sTwo-sOne) < 1e-6 {
		t.Error("the test needs a cross-entropy term that a weight changes")
	}
}

// TestGRPOOldLogProbs: rollouts that bring their sampling policy's
// log-probs train exactly as rollouts Prepare scores itself.
func TestGRPOOldLogProbs(t *testing.T) {
	g := GRPOConfig{ClipLow: 0.2, ClipHigh: 0.28, SFT: 0.5}
	rs := toyRollouts(8, 4, 7)
	markSFT(rs)
	scored := newToyGRPO(t, g, 3)
	if _, err := scored.Prepare(rs); err != nil {
		t.Fatal(err)
	}
	seq := scored.cfg.Seq
	given := slices.Clone(rs)
	for i := range given {
		if !given[i].Demo {
			given[i].OldLogProbs = append([]float32{0}, scored.old[i*seq:i*seq+len(rs[i].Tokens)-1]...)
		}
	}
	tr := newToyGRPO(t, g, 3)
	if _, err := tr.Prepare(given); err != nil {
		t.Fatal(err)
	}
	for i := range rs {
		if rs[i].Demo {
			continue
		}
		for j := i * seq; j < (i+1)*seq; j++ {
			if scored.tg[j] >= 0 && tr.old[j] != scored.old[j] {
				t.Fatalf("rollout %d position %d: old log-prob %g given, %g scored", i, j-i*seq, tr.old[j], scored.old[j])
			}
		}
	}
	for k := range 2 {
		a, err := scored.Step(4*k, 4*k+4)
		if err != nil {
			t.Fatal(err)
		}
		b, err := tr.Step(4*k, 4*k+4)
		if err != nil {
			t.Fatal(err)
		}
		if a != b {
			t.Errorf("step %d: %+v scored, %+v given", k, a, b)
		}
	}
	if !slices.Equal(scored.m.Params, tr.m.Params) {
		t.Error("weights differ")
	}
	// Mixed: the rollouts that bring log-probs (shifted, to tell them
	// apart) keep them; the others are scored.
	mixed := slices.Clone(given)
	for i := range mixed {
		if mixed[i].Demo {
			continue
		}
		if i%3 == 0 {
			mixed[i].OldLogProbs = nil
			continue
		}
		mixed[i].OldLogProbs = slices.Clone(mixed[i].OldLogProbs)
		for j := range mixed[i].OldLogProbs {
			mixed[i].OldLogProbs[j] -= 0.25
		}
	}
	mt := newToyGRPO(t, g, 3)
	if _, err := mt.Prepare(mixed); err != nil {
		t.Fatal(err)
	}
	for i := range rs {
		if rs[i].Demo {
			continue
		}
		shift := float32(0.25)
		if i%3 == 0 {
			shift = 0
		}
		for j := i * seq; j < (i+1)*seq; j++ {
			if want := scored.old[j] - shift; mt.tg[j] >= 0 && mt.old[j] != want {
				t.Fatalf("mixed rollout %d position %d: old log-prob %g, want %g (its own shifted by %g, or scored)", i, j-i*seq, mt.old[j], want, shift)
			}
		}
	}
	bad := slices.Clone(given)
	bad[0].OldLogProbs = bad[0].OldLogProbs[:1]
	if _, err := tr.Prepare(bad); err == nil {
		t.Error("Prepare took old log-probs shorter than the tokens")
	}
}
