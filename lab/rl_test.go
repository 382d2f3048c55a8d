package lab

import (
	"context"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/synthloop/synthloop/engine/train"
	"github.com/synthloop/synthloop/lab/task"
)

// TestRLRaisesAccuracy trains a reversal model a little on true labels,
// then runs GRPO on unlabelled problems with the verifier as the only
// reward, and checks that held-out pass@1 at temperature 1 rises (measured:
// 0.14 → 0.40 in 200 steps). Greedy accuracy moves much less at this size
// (0.48 → 0.50 in a run of 300 steps): RL first sharpens the samples
// towards what the model already answers best.
func TestRLRaisesAccuracy(t *testing.T) {
	ctx := context.Background()
	tk := task.Reverse{}
	m, ps := reversalStart(t, 500, TrainConfig{Steps: 400, Batch: 32, LR: 3e-3, Warmup: 20})
	held := HeldOut(tk, []int{2, 3}, 100, 9)
	acc := func() float64 {
		var all []task.Problem
		for _, s := range held {
			all = append(all, s...)
		}
		as, err := Answers(ctx, m, all, Decode{N: 8, Temperature: 1, Seed: 5, MaxTokens: 4})
		if err != nil {
			t.Fatal(err)
		}
		right := 0
		for i, p := range all {
			for _, a := range as[i] {
				if a.Stopped && tk.Verify(p, a.Text) {
					right++
				}
			}
		}
		return float64(right) / float64(8*len(all))
	}
	before := acc()
	rl, err := NewRL(m, nil, tk, ps, RLConfig{Steps: 200, Prompts: 16, Group: 8, Minibatches: 2, LR: 1e-3, Warmup: 5,
		GRPO: train.GRPOConfig{ClipLow: 0.2, ClipHigh: 0.28}}, 7)
	if err != nil {
		t.Fatal(err)
	}
	var first, last RLStats
	for s := range 200 {
		st, err := rl.Step(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if s == 0 {
			first = st
		}
		last = st
	}
	after := acc()
	t.Logf("held-out pass@1 %.2f → %.2f; training reward %.2f → %.2f; token entropy %.3f → %.3f", before, after, first.Reward, last.Reward, first.Entropy, last.Entropy)
	if before > 0.5 || after < before+0.15 {
		t.Errorf("held-out pass@1 %.2f → %.2f: GRPO did not raise it by 0.15 from a model that needs it", before, after)
	}
	// Rewarding the right answers sharpens the policy on them.
	if top := math.Log(float64(m.LM.Config.Vocab)); !(first.Entropy > 0 && first.Entropy <= top && last.Entropy < first.Entropy) {
		t.Errorf("token entropy %g → %g: want it in (0, log vocab = %g] and falling as the reward rises", first.Entropy, last.Entropy, top)
	}

	// Dynamic sampling trains only on groups whose rewards differ; two
	// passes over each step's rollouts take twice the optimizer steps.
	dyn, err := NewRL(m, nil, tk, ps, RLConfig{Steps: 3, Prompts: 16, Group: 8, Minibatches: 2, Epochs: 2, LR: 1e-4, Dynamic: true, MaxDraws: 4,
		GRPO: train.GRPOConfig{ClipLow: 0.2, ClipHigh: 0.28}}, 8)
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		st, err := dyn.Step(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if st.Useful != 1 || st.Draws < 1 || st.Draws > 4 {
			t.Errorf("dynamic step: useful share %g from %d draws, want 1 from 1 to 4", st.Useful, st.Draws)
		}
	}
	if dyn.Done() != 3 || dyn.tr.Steps() != 12 {
		t.Errorf("3 sampling steps of 2 passes × 2 minibatches: done %d, optimizer steps %d; want 3 and 12", dyn.Done(), dyn.tr.Steps())
	}
}

// TestRLRewardIsTheVerifiers: the problems' Answer fields never reach the
// reward, nor the cross-entropy term. Problems carrying wrong answers train exactly as problems
// without any do, sample for sample and weight for weight.
func TestRLRewardIsTheVerifiers(t *testing.T) {
	ctx := context.Background()
	tk := task.Reverse{}
	run := func(answer string) ([]RLStats, []float32) {
		m, err := NewModel(tk, Arch{Dim: 32, Layers: 2, Heads: 2, Hidden: 64, MaxSeq: 16, RoPE: true}, 1)
		if err != nil {
			t.Fatal(err)
		}
		rng := rand.New(rand.NewPCG(2, 2))
		var set []Conversation
		for range 200 {
			set = append(set, Messages(tk.Generate(rng, 1+rng.IntN(2))))
		}
		if _, err := Train(ctx, m, [][]Conversation{set}, TrainConfig{Steps: 300, Batch: 32, LR: 3e-3, Warmup: 20}, 1, nil); err != nil {
			t.Fatal(err)
		}
		var ps []task.Problem
		for range 50 {
			p := tk.Generate(rng, 1+rng.IntN(2))
			p.Answer = answer
			ps = append(ps, p)
		}
		// With the cross-entropy term and reuse: they train on sampled
		// answers the verifier accepted, never on the problems' answers.
		g := train.DefaultGRPO
		g.SFT = 0.5
		rl, err := NewRL(m, nil, tk, ps, RLConfig{Steps: 3, Prompts: 8, Group: 4, LR: 1e-3, GRPO: g, Reuse: 4}, 3)
		if err != nil {
			t.Fatal(err)
		}
		var sts []RLStats
		for range 3 {
			st, err := rl.Step(ctx)
			if err != nil {
				t.Fatal(err)
			}
			st.CPUSeconds, st.SampleCPU = 0, 0
			sts = append(sts, st)
		}
		return sts, m.LM.Params
	}
	s1, w1 := run("")
	s2, w2 := run("definitely wrong")
	if s1[0].Reward == 0 && s1[1].Reward == 0 && s1[2].Reward == 0 {
		t.Fatal("no rollout was rewarded: the test needs a model that answers some problems")
	}
	if !slices.Equal(s1, s2) || !slices.Equal(w1, w2) {
		t.Errorf("problems' answers changed the run:\n%+v\n%+v", s1, s2)
	}
}

// TestRLWithDemos checks the layout of a step with replayed examples and
// reused answers: each minibatch gets its share of both, demos are marked
// so and drawn the same way for the same step, and the reuse buffer keeps
// the newest distinct verified answers.
func TestRLWithDemos(t *testing.T) {
	ex := func(a int32) train.Example { return train.Example{Tokens: []int32{1, a}, Mask: []bool{false, true}} }
	r := &RL{cfg: RLConfig{Minibatches: 2, Replay: 4, Reuse: 2, ReuseKeep: 3}, seed: 1,
		demos: []train.Example{ex(10), ex(11), ex(12)}}
	var rs []train.Rollout
	for i := range 6 {
		rs = append(rs, train.Rollout{Example: ex(int32(i)), Group: i / 3, Reward: float64(i % 2)})
	}
	// No verified answers yet: only the replayed examples join.
	out, bounds := r.withDemos(0, rs, nil)
	if len(out) != 10 || !slices.Equal(bounds, []int{0, 5, 10}) {
		t.Fatalf("withDemos: %d rollouts in minibatches %v, want 10 in [0 5 10]", len(out), bounds)
	}
	for k := range 2 {
		demos := 0
		for _, x := range out[bounds[k]:bounds[k+1]] {
			if x.Demo {
				demos++
			}
		}
		if demos != 2 {
			t.Errorf("minibatch %d has %d demos, want 2", k, demos)
		}
	}
	again, _ := r.withDemos(0, rs, nil)
	if !slices.EqualFunc(out, again, func(a, b train.Rollout) bool { return slices.Equal(a.Tokens, b.Tokens) }) {
		t.Error("the same step drew other demos")
	}

	r.keepVerified(rs) // answers 1, 3, 5 are right
	r.keepVerified(rs) // again: nothing new
	r.keepVerified([]train.Rollout{{Example: ex(7), Reward: 1}, {Example: ex(8)}})
	var kept []int32
	for _, e := range r.verified {
		kept = append(kept, e.Tokens[1])
	}
	if !slices.Equal(kept, []int32{3, 5, 7}) {
		t.Errorf("reuse buffer %v, want the newest three distinct right answers [3 5 7]", kept)
	}
	out, _ = r.withDemos(1, rs, nil)
	if len(out) != 12 {
		t.Errorf("with a reuse buffer a step has %d rollouts, want 6 + 4 replayed + 2 reused", len(out))
	}
}

// FuzzParseReuse: a reuse buffer file either parses into examples the
// model can train on or is an error; it never panics.
func FuzzParseReuse(f *testing.F) {
	f.Add([]byte(`[{"Tokens":[1,2,3],"Mask":[false,true,true]}]`))
	f.Add([]byte(`[]`))
	f.Add([]byte(`[{"Tokens":[1,99],"Mask":[false,true]}]`))
	f.Add([]byte(`[{"Tokens":[1,2],"Mask":[true]}]`))
	f.Fuzz(func(t *testing.T, raw []byte) {
		es, err := parseReuse(raw, 16)
		if err != nil {
			return
		}
		for _, e := range es {
			if len(e.Tokens) < 2 || len(e.Mask) != len(e.Tokens) {
				t.Fatalf("parsed an example of %d tokens and %d mask entries", len(e.Tokens), len(e.Mask))
			}
			for _, x := range e.Tokens {
				if x < 0 || x >= 16 {
					t.Fatalf("parsed token %d outside the vocabulary", x)
				}
			}
		}
	})
}

// TestRLSampledLogProbs: the log-probs the sampler hands GRPO as its
// sampling policy's, the closing <|end|> included, are those a second
// forward pass of the policy gives, within float32 rounding, so taking them
// leaves the clipped objective as it was.
func TestRLSampledLogProbs(t *testing.T) {
	tk := task.Reverse{}
	m, ps := reversalStart(t, 100, TrainConfig{Steps: 100, Batch: 16, LR: 3e-3, Warmup: 5})
	rl, err := NewRL(m, nil, tk, ps, RLConfig{Steps: 1, Prompts: 8, Group: 4, LR: 1e-3, GRPO: train.DefaultGRPO}, 1)
	if err != nil {
		t.Fatal(err)
	}
	var st RLStats
	rs, _, err := rl.sample(0, 0, &st, nil)
	if err != nil {
		t.Fatal(err)
	}
	seq := m.LM.Config.MaxSeq
	ws, err := m.LM.NewForwardWorkspace(1, seq)
	if err != nil {
		t.Fatal(err)
	}
	in, tg := make([]int32, seq), make([]int32, seq)
	ends, worst := 0, 0.0
	for i, r := range rs {
		for j := range seq {
			in[j], tg[j] = 0, -1
			if j < len(r.Tokens) {
				in[j] = r.Tokens[j]
			}
			if j+1 < len(r.Tokens) && r.Mask[j+1] {
				tg[j] = r.Tokens[j+1]
			}
		}
		if err := ws.Forward(in, tg); err != nil {
			t.Fatal(err)
		}
		for j := 1; j < len(r.Tokens); j++ {
			if !r.Mask[j] {
				continue
			}
			d := math.Abs(float64(r.OldLogProbs[j] - ws.LogProbs[j-1]))
			worst = max(worst, d)
			if d > 1e-4 {
				t.Fatalf("rollout %d token %d: sampled log-prob %g, forward pass %g", i, j, r.OldLogProbs[j], ws.LogProbs[j-1])
			}
		}
		if r.Tokens[len(r.Tokens)-1] == m.end {
			ends++
		}
	}
	if ends == 0 {
		t.Fatal("no rollout closed with <|end|>: the test needs its log-prob")
	}
	t.Logf("%d rollouts, %d closed; largest difference %.2g", len(rs), ends, worst)
}

// TestRLFewerWrong: each group with a right answer keeps all of them and at
// most Wrong wrong ones per right one, weighted so that every kept
// rollout's advantage is what the whole group gives it; groups without a
// right answer and groups with few wrong ones stay whole; the same step
// keeps the same rollouts.
func TestRLFewerWrong(t *testing.T) {
	var rs []train.Rollout
	for g, right := range []int{1, 3, 0, 6} { // of 8 answers each
		for i := range 8 {
			reward := 0.0
			if i >= 8-right {
				reward = 1
			}
			tok := int32(10*g + i)
			rs = append(rs, train.Rollout{Example: train.Example{Tokens: []int32{1, tok}, Mask: []bool{false, true}}, Group: g, Reward: reward})
		}
	}
	r := &RL{cfg: RLConfig{Wrong: 1}, seed: 4}
	out := r.fewerWrong(5, rs)
	full := map[int32]float64{}
	for i, a := range train.Advantages(rs, false) {
		full[rs[i].Tokens[1]] = a
	}
	kept := map[int][2]int{}
	for i, a := range train.Advantages(out, false) {
		x := out[i]
		if math.Abs(a-full[x.Tokens[1]]) > 1e-12 {
			t.Errorf("group %d: kept rollout %d has advantage %g, %g in the whole group", x.Group, x.Tokens[1], a, full[x.Tokens[1]])
		}
		k := kept[x.Group]
		k[int(x.Reward)]++
		kept[x.Group] = k
	}
	// [wrong, right] kept per group.
	want := map[int][2]int{0: {1, 1}, 1: {3, 3}, 2: {8, 0}, 3: {2, 6}}
	for g, w := range want {
		if kept[g] != w {
			t.Errorf("group %d keeps %v wrong and right answers, want %v", g, kept[g], w)
		}
	}
	if again := r.fewerWrong(5, rs); !slices.EqualFunc(out, again, func(a, b train.Rollout) bool { return slices.Equal(a.Tokens, b.Tokens) }) {
		t.Error("the same step kept other wrong answers")
	}
}

// TestRLMergeSame: identical answers of a group become one whose weight
// is the sum of theirs, the same answer in another group stays apart, and
// the group advantages of the merged rollouts are those of the copies.
func TestRLMergeSame(t *testing.T) {
	ex := func(tok int32) train.Example {
		return train.Example{Tokens: []int32{1, tok}, Mask: []bool{false, true}}
	}
	rs := []train.Rollout{
		{Example: ex(7), Group: 0, Reward: 1, SFT: true}, {Example: ex(5), Group: 0, Weight: 3}, {Example: ex(7), Group: 0, Reward: 1, SFT: true},
		{Example: ex(7), Group: 1, Reward: 1}, {Example: ex(6), Group: 1}, {Example: ex(7), Group: 0, Reward: 1, SFT: true}, {Example: ex(6), Group: 1, Weight: 2},
	}
	out := mergeSame(rs)
	type row struct {
		tok, group int
		w          float64
	}
	var got []row
	for _, x := range out {
		got = append(got, row{int(x.Tokens[1]), x.Group, x.Weight})
	}
	want := []row{{7, 0, 3}, {5, 0, 3}, {7, 1, 0}, {6, 1, 3}}
	if !slices.Equal(got, want) {
		t.Errorf("mergeSame = %v, want %v", got, want)
	}
	full, merged := train.Advantages(rs, false), train.Advantages(out, false)
	for i, j := range []int{0, 1, 3, 4} {
		if math.Abs(full[j]-merged[i]) > 1e-12 {
			t.Errorf("rollout %d: advantage %g merged, %g as copies", i, merged[i], full[j])
		}
	}
}

// TestRLCountOnce: the identical verified answers of a group weigh 1
// together in the cross-entropy term, merged or not, whatever their
// Weights; other groups' copies and wrong answers are left alone.
func TestRLCountOnce(t *testing.T) {
	ex := func(a int32) train.Example { return train.Example{Tokens: []int32{1, a}, Mask: []bool{false, true}} }
	rs := []train.Rollout{
		{Example: ex(7), Reward: 1, SFT: true}, {Example: ex(7), Reward: 1, SFT: true, Weight: 2}, {Example: ex(5), Weight: 3},
		{Example: ex(8), Reward: 1, SFT: true}, {Example: ex(7), Group: 1, Reward: 1, SFT: true, Weight: 4},
	}
	countOnce(rs)
	var got []float64
	for _, x := range rs {
		got = append(got, x.SFTWeight)
	}
	if want := []float64{1.0 / 3, 2.0 / 3, 0, 1, 1}; !slices.Equal(got, want) {
		t.Errorf("cross-entropy weights %v, want %v", got, want)
	}
}

// TestRLFirstError: a wrong answer keeps its tokens up to the first one at
// which it leaves every right answer of its group (the longest shared
// prefix decides), the prompt stays unmasked, right answers and groups
// without a right answer are untouched, and a mask shared with another
// rollout is not changed in place.
func TestRLFirstError(t *testing.T) {
	ex := func(toks ...int32) train.Example {
		m := make([]bool, len(toks))
		for i := 2; i < len(toks); i++ { // tokens 0-1: the prompt
			m[i] = true
		}
		return train.Example{Tokens: toks, Mask: m}
	}
	shared := ex(1, 2, 5, 6, 7, 8)
	rs := []train.Rollout{
		{Example: ex(1, 2, 3, 4, 5, 6), Group: 0, Reward: 1},
		{Example: ex(1, 2, 3, 9, 9, 9), Group: 0, Reward: 1},
		{Example: ex(1, 2, 3, 4, 7, 7), Group: 0}, // leaves the first right answer at token 4
		{Example: ex(1, 2, 3, 9, 9, 8), Group: 0}, // leaves the second one at token 5
		{Example: shared, Group: 0, Weight: 2},    // wrong from its first answer token
		{Example: ex(1, 2, 5, 6, 7, 8), Group: 1}, // no right answer in group 1
		{Example: ex(1, 2, 3, 4, 5, 6), Group: 1}, // (the right answer of group 0 does not count)
		{Example: ex(1, 2, 3, 4, 5), Group: 2, Reward: 1},
		{Example: ex(1, 2, 3, 4), Group: 2}, // a prefix of the right answer: nothing to cut
	}
	cut := firstError(rs)
	want := [][]bool{
		{false, false, true, true, true, true},
		{false, false, true, true, true, true},
		{false, false, true, true, true, false},
		{false, false, true, true, true, true},
		{false, false, true, false, false, false},
		{false, false, true, true, true, true},
		{false, false, true, true, true, true},
		{false, false, true, true, true},
		{false, false, true, true},
	}
	for i, w := range want {
		if !slices.Equal(rs[i].Mask, w) {
			t.Errorf("rollout %d: mask %v, want %v", i, rs[i].Mask, w)
		}
	}
	if !slices.Equal(shared.Mask, []bool{false, false, true, true, true, true}) {
		t.Errorf("the shared mask changed in place: %v", shared.Mask)
	}
	// Wrong answers with a right one in their group: 4 + 4 + 4 + 2 trained
	// tokens, of which 1 + 0 + 3 + 0 were cut.
	if w := 4.0 / 14; math.Abs(cut-w) > 1e-12 {
		t.Errorf("cut %g, want %g", cut, w)
	}
	if cut := firstError(nil); cut != 0 {
		t.Errorf("no rollouts: cut %g", cut)
	}
}

func TestRLSchedule(t *testing.T) {
	for _, tc := range []struct {
		decay          bool
		mid, last, end float64 // the rate at step 50, 99 and 100 of 100
	}{
		{false, 1e-4, 1e-4, 1e-4},
		{true, 5.87e-5, 1e-5, 1e-5}, // step 50 is 45 of the 95 steps after warmup
	} {
		s := RLConfig{LR: 1e-4, Warmup: 5, Decay: tc.decay}.schedule(100)
		for i, want := range []float64{tc.mid, tc.last, tc.end} {
			step := []int{50, 99, 100}[i]
			if got := s.LR(step); math.Abs(got-want) > 2e-7 {
				t.Errorf("decay %v: LR(%d) = %g, want %g", tc.decay, step, got, want)
			}
		}
	}
}

// reversalStart trains a small reversal model by cfg on n worked examples
// of 1–3 characters and returns it with n unlabelled problems of the same
// sizes for RL.
func reversalStart(t *testing.T, n int, cfg TrainConfig) (*Model, []task.Problem) {
	t.Helper()
	tk := task.Reverse{}
	m, err := NewModel(tk, Arch{Dim: 32, Layers: 2, Heads: 2, Hidden: 64, MaxSeq: 16, RoPE: true}, 1)
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(1, 1))
	var set []Conversation
	var ps []task.Problem
	for range n {
		set = append(set, Messages(tk.Generate(rng, 1+rng.IntN(3))))
		p := tk.Generate(rng, 1+rng.IntN(3))
		ps = append(ps, task.Problem{Prompt: p.Prompt, Difficulty: p.Difficulty})
	}
	if _, err := Train(context.Background(), m, [][]Conversation{set}, cfg, 1, nil); err != nil {
		t.Fatal(err)
	}
	return m, ps
}

// TestRLCarryReuse: a run's reuse buffer can start with the newest one an
// earlier run saved, cut to the newest ReuseKeep answers; a directory
// without one leaves it empty, and a run that has stepped refuses it.
func TestRLCarryReuse(t *testing.T) {
	ctx := context.Background()
	tk := task.Reverse{}
	m, err := NewModel(tk, Arch{Dim: 16, Layers: 1, Heads: 2, Hidden: 32, MaxSeq: 16, RoPE: true}, 1)
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(1, 1))
	var ps []task.Problem
	for range 20 {
		ps = append(ps, tk.Generate(rng, 2))
	}
	g := train.DefaultGRPO
	g.SFT = 1
	cfg := RLConfig{Steps: 2, Prompts: 4, Group: 2, LR: 1e-3, GRPO: g, Reuse: 2, ReuseKeep: 3}
	first, err := NewRL(m, nil, tk, ps, cfg, 1)
	if err != nil {
		t.Fatal(err)
	}
	ex := func(a int32) train.Example { return train.Example{Tokens: []int32{1, a}, Mask: []bool{false, true}} }
	dir := t.TempDir()
	first.verified = []train.Example{ex(3), ex(4), ex(5)}
	if err := first.Save(dir); err != nil {
		t.Fatal(err)
	}
	// As if saved after step 7, beside an older buffer of step 2 that
	// must not be the one taken.
	if err := os.Rename(filepath.Join(dir, reuseFile(0)), filepath.Join(dir, reuseFile(7))); err != nil {
		t.Fatal(err)
	}
	if err := writeReuse(filepath.Join(dir, reuseFile(2)), []train.Example{ex(9)}); err != nil {
		t.Fatal(err)
	}

	cfg.ReuseKeep = 2
	next, err := NewRL(m, nil, tk, ps, cfg, 2)
	if err != nil {
		t.Fatal(err)
	}
	if err := next.CarryReuse(t.TempDir()); err != nil || next.verified != nil {
		t.Fatalf("carrying from a directory without a buffer: %v, buffer %v", err, next.verified)
	}
	if err := next.CarryReuse(dir); err != nil {
		t.Fatal(err)
	}
	var kept []int32
	for _, e := range next.verified {
		kept = append(kept, e.Tokens[1])
	}
	if !slices.Equal(kept, []int32{4, 5}) {
		t.Errorf("carried buffer %v, want the newest two answers [4 5]", kept)
	}
	if _, err := next.Step(ctx); err != nil {
		t.Fatal(err)
	}
	if err := next.CarryReuse(dir); err == nil {
		t.Error("a run that has stepped took a carried buffer")
	}
}

// TestRLStepRows: a dynamic step's all-right groups join its rows once,
// after its mixed groups and numbered on from them: by the cross-entropy
// term only with Solved, in the policy term with a bonus with SolvedAdv;
// and a step with no mixed group trains every answer it drew, the
// all-right ones by cross-entropy once, not again as extra rows.
func TestRLStepRows(t *testing.T) {
	ex := func(a int32) train.Example { return train.Example{Tokens: []int32{1, a}, Mask: []bool{false, true}} }
	right := func(a int32, g int) train.Rollout {
		return train.Rollout{Example: ex(a), Group: g, Reward: 1, SFT: true}
	}
	wrong := func(a int32, g int) train.Rollout { return train.Rollout{Example: ex(a), Group: g} }
	// A draw of 3 problems: problem 0 mixed, 1 all right (answer 7 twice),
	// 2 all wrong; the mixed one is group 0 of the step, the all-right one
	// numbered apart (draw 1 of 3 problems: 1*3+1).
	mixed := []train.Rollout{right(5, 0), wrong(6, 0)}
	all := []train.Rollout{right(5, 0), wrong(6, 0), right(7, 1), right(7, 1), wrong(8, 2), wrong(9, 2)}
	solved := func() []train.Rollout { return []train.Rollout{right(7, 4), right(7, 4)} }
	type row struct {
		tok, group         int
		w, bonus           float64
		demo, crossEntropy bool
	}
	rows := func(rs []train.Rollout) []row {
		var out []row
		for _, x := range rs {
			out = append(out, row{int(x.Tokens[1]), x.Group, x.Weighted(), x.Bonus, x.Demo, x.SFT || x.Demo})
		}
		return out
	}
	tests := []struct {
		name          string
		cfg           RLConfig
		rs, solved    []train.Rollout
		policy, extra []row
	}{
		{"solved", RLConfig{Solved: true}, mixed, solved(),
			[]row{{5, 0, 1, 0, false, true}, {6, 0, 1, 0, false, false}}, []row{{7, 1, 2, 0, true, true}}},
		{"solved_adv", RLConfig{SolvedAdv: 0.2}, mixed, solved(),
			[]row{{5, 0, 1, 0, false, true}, {6, 0, 1, 0, false, false}, {7, 1, 1, 0.2, false, true}, {7, 1, 1, 0.2, false, true}}, nil},
		{"solved, no mixed group", RLConfig{Solved: true}, nil, solved(), rows(all), nil},
		{"batch baseline, no mixed group", RLConfig{GRPO: train.GRPOConfig{BatchBaseline: true}}, nil, solved(),
			[]row{{7, 0, 1, 0, false, true}, {7, 0, 1, 0, false, true}}, nil},
		{"off, no mixed group", RLConfig{}, nil, nil, rows(all), nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := &RL{cfg: tc.cfg}
			policy, extra := r.stepRows(slices.Clone(tc.rs), all, tc.solved, len(tc.rs)/2)
			if got := rows(policy); !slices.Equal(got, tc.policy) {
				t.Errorf("policy rows %v, want %v", got, tc.policy)
			}
			if got := rows(extra); !slices.Equal(got, tc.extra) {
				t.Errorf("extra rows %v, want %v", got, tc.extra)
			}
		})
	}
}

// byProblem is a task whose verifier passes every stopped answer to the
// problems in easy and none to the others: its groups are all right or all
// wrong, never mixed.
type byProblem struct {
	task.Reverse
	easy map[string]bool
}

func (b byProblem) Verify(p task.Problem, _ string) bool { return b.easy[p.Prompt] }

// TestRLNoMixedGroup: a dynamic step whose draws hold no mixed group trains
// with zero advantages, even when an all-right group of one draw and an
// all-wrong one of another sit at the same place in their draws (they are
// different problems, not one group).
func TestRLNoMixedGroup(t *testing.T) {
	for _, firstError := range []bool{false, true} {
		m, ps := reversalStart(t, 300, TrainConfig{Steps: 300, Batch: 32, LR: 3e-3, Warmup: 20}) // the same start for both
		tk := byProblem{easy: map[string]bool{}}
		for i, p := range ps {
			if i%2 == 0 {
				tk.easy[p.Prompt] = true
			}
		}
		rl, err := NewRL(m, nil, tk, ps, RLConfig{Steps: 4, Prompts: 8, Group: 2, LR: 1e-4, Dynamic: true, MaxDraws: 3,
			FirstError: firstError, GRPO: train.DefaultGRPO}, 3)
		if err != nil {
			t.Fatal(err)
		}
		steps := 0
		for range 4 {
			st, err := rl.Step(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if st.Mixed > 0 {
				continue // an easy problem's answer did not stop: not the case tested
			}
			steps++
			if st.Useful != 0 || st.Cut != 0 {
				t.Errorf("first_error %v, step %d without a mixed group: %.2f of the rows have an advantage and %.2f of the wrong tokens were cut, want 0 and 0",
					firstError, st.Step, st.Useful, st.Cut)
			}
		}
		if steps == 0 {
			t.Fatalf("first_error %v: every step had a mixed group; the test tests nothing", firstError)
		}
	}
}

// TestRLScored: scored rollouts get their reward less the mean over all of
// them as their advantage (each in a group of its own, where GRPO's
// group-relative advantage is 0), the steps take each once, spread evenly
// (or ScoredStep a step, round and round), and training on them raises
// the log-probability of the rewarded completion against the unrewarded
// ones, measured against the same run without them.
func TestRLScored(t *testing.T) {
	conv := func(a string) Conversation {
		return Conversation{{Role: "user", Content: "="}, {Role: "assistant", Content: a}}
	}
	// A learnable proposal, 3 of 8 answers right (reward 5/8), and two solved every time.
	scored := []Scored{{conv("abc="), 0.625}, {conv("ab="), 0}, {conv("ba="), 0}}
	logp := func(m *Model) []float64 {
		var es []train.Example
		for _, s := range scored {
			e, err := m.example(s.Messages)
			if err != nil {
				t.Fatal(err)
			}
			es = append(es, e)
		}
		lp, _, err := train.Score(m.LM, es, len(es), m.LM.Config.MaxSeq)
		if err != nil {
			t.Fatal(err)
		}
		return lp
	}
	// gain is how much more log-probability the rewarded completion has
	// than the first unrewarded one after steps GRPO steps, less before.
	gain := func(ss []Scored, step int) float64 {
		m, ps := reversalStart(t, 200, TrainConfig{Steps: 150, Batch: 32, LR: 3e-3, Warmup: 10})
		before := logp(m)
		rl, err := NewRL(m, nil, task.Reverse{}, ps, RLConfig{Steps: 6, Prompts: 4, Group: 4, LR: 3e-3, Minibatches: 2,
			GRPO: train.DefaultGRPO, Scored: ss, ScoredStep: step}, 5)
		if err != nil {
			t.Fatal(err)
		}
		if len(ss) > 0 {
			mean := 0.625 / 3
			for _, x := range rl.scored {
				if want := x.Reward - mean; math.Abs(x.Bonus-want) > 1e-12 {
					t.Errorf("scored rollout with reward %g has advantage %g, want %g", x.Reward, x.Bonus, want)
				}
			}
		}
		used := map[int]int{}
		var counts []int
		for s := range 6 {
			for _, x := range rl.scoredRows(s) {
				used[x.Group]++
			}
			st, err := rl.Step(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			counts = append(counts, st.Scored)
		}
		if len(ss) > 0 {
			want := []int{0, 1, 0, 1, 0, 1} // each once: 3 rows over 6 steps
			if step > 0 {
				want = []int{step, step, step, step, step, step}
			}
			if !slices.Equal(counts, want) {
				t.Errorf("scored_step %d: scored rows a step %v, want %v", step, counts, want)
			}
			uses := 1 // each once
			if step > 0 {
				uses = 6 * step / len(ss)
			}
			if len(used) != len(ss) {
				t.Errorf("scored_step %d: %d of the %d scored rollouts trained", step, len(used), len(ss))
			}
			for g, n := range used {
				if n != uses {
					t.Errorf("scored_step %d: group %d trained %d times, want %d", step, g, n, uses)
				}
			}
		}
		after := logp(m)
		return (after[0] - after[1]) - (before[0] - before[1])
	}
	without := gain(nil, 0)
	for _, step := range []int{0, 2} {
		if with := gain(scored, step); with <= without {
			t.Errorf("scored_step %d: the rewarded completion gained %.4f nats on an unrewarded one, %.4f without the scored rollouts; want more", step, with, without)
		} else {
			t.Logf("scored_step %d: gain %.4f nats with the scored rollouts, %.4f without", step, with, without)
		}
	}
	if _, err := NewRL(nil, nil, task.Reverse{}, []task.Problem{{Prompt: "ab="}}, RLConfig{Steps: 1, Prompts: 1, Group: 2, LR: 1,
		GRPO: train.GRPOConfig{ClipLow: 0.2, ClipHigh: 0.2, BatchBaseline: true}, Scored: scored}, 1); err == nil {
		t.Error("scored rollouts with a batch baseline: no error")
	}
}
