package train

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/synthloop/synthloop/engine/llama"
)

func TestSchedules(t *testing.T) {
	cos := Cosine{Peak: 1, Min: 0.1, Warmup: 10, Total: 110}
	wsd := WSD{Peak: 1, Min: 0, Warmup: 10, Decay: 20, Total: 100}
	for _, tc := range []struct {
		name string
		s    Schedule
		step int
		want float64
	}{
		{"cosine warmup start", cos, 0, 0.1},
		{"cosine warmup end", cos, 9, 1},
		{"cosine peak", cos, 10, 1},
		{"cosine middle", cos, 60, 0.55},
		{"cosine end", cos, 110, 0.1},
		{"cosine after", cos, 500, 0.1},
		{"wsd warmup", wsd, 4, 0.5},
		{"wsd stable", wsd, 50, 1},
		{"wsd stable end", wsd, 79, 1},
		{"wsd decay half", wsd, 89, 0.5},
		{"wsd decay last", wsd, 99, 0},
		{"wsd after", wsd, 100, 0},
		{"constant", Constant(3e-4), 7, 3e-4},
	} {
		if got := tc.s.LR(tc.step); math.Abs(got-tc.want) > 1e-12 {
			t.Errorf("%s: LR(%d) = %g, want %g", tc.name, tc.step, got, tc.want)
		}
	}
}

func tinyModel(t testing.TB, seed uint64) *llama.Model {
	t.Helper()
	m, err := llama.New(llama.Config{Vocab: 12, Dim: 16, Layers: 2, Heads: 4, KVHeads: 2, Hidden: 32, MaxSeq: 16, NormEps: 1e-5}, seed)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// TestAdamWMatchesReference checks the fused float32 update against a
// textbook float64 AdamW, including that only Decay tensors are decayed.
func TestAdamWMatchesReference(t *testing.T) {
	m := tinyModel(t, 1)
	cfg := AdamWConfig{Beta1: 0.9, Beta2: 0.99, Eps: 1e-8, WeightDecay: 0.5}
	o := NewAdamW(m, cfg)
	m.InitGrads()
	n := len(m.Params)
	p := make([]float64, n)
	mm, vv := make([]float64, n), make([]float64, n)
	for i, x := range m.Params {
		p[i] = float64(x)
	}
	decay := make([]bool, n)
	for _, s := range m.Specs {
		for i := s.Offset; i < s.Offset+s.Size(); i++ {
			decay[i] = s.Decay
		}
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for step := 1; step <= 5; step++ {
		lr := 0.01 * float64(step)
		for i := range m.Grads {
			m.Grads[i] = float32(rng.NormFloat64())
		}
		o.Update(m.Params, m.Grads, lr)
		for i, g32 := range m.Grads {
			g := float64(g32)
			mm[i] = cfg.Beta1*mm[i] + (1-cfg.Beta1)*g
			vv[i] = cfg.Beta2*vv[i] + (1-cfg.Beta2)*g*g
			mh := mm[i] / (1 - math.Pow(cfg.Beta1, float64(step)))
			vh := vv[i] / (1 - math.Pow(cfg.Beta2, float64(step)))
			if decay[i] {
				p[i] -= lr * cfg.WeightDecay * p[i]
			}
			p[i] -= lr * mh / (math.Sqrt(vh) + cfg.Eps)
		}
	}
	for i := range p {
		if d := math.Abs(p[i] - float64(m.Params[i])); d > 1e-5 {
			t.Fatalf("param %d = %g, reference %g", i, m.Params[i], p[i])
		}
	}
}

func TestClipGradNorm(t *testing.T) {
	g := []float32{3, 4}
	if n := ClipGradNorm(g, 10); n != 5 || g[0] != 3 {
		t.Errorf("ClipGradNorm below limit = %g, %v", n, g)
	}
	if n := ClipGradNorm(g, 1); n != 5 || math.Abs(float64(g[0])-0.6) > 1e-6 || math.Abs(float64(g[1])-0.8) > 1e-6 {
		t.Errorf("ClipGradNorm(…, 1) = %g, %v, want 5, [0.6 0.8]", n, g)
	}
}

func TestMixtureWeights(t *testing.T) {
	mk := func(name string, w float64, v int32) Dataset[int32] {
		return Dataset[int32]{Name: name, Weight: w, Items: []int32{v, v}}
	}
	mx, err := NewMixture(mk("old", 1, 0), mk("older", 1, 1), mk("newest", 2, 2), mk("off", 0, 3))
	if err != nil {
		t.Fatal(err)
	}
	counts := make([]int, 4)
	r := rand.New(rand.NewPCG(9, 9))
	const n = 20000
	var first []int32
	for i := range n {
		e, k := mx.Sample(r)
		if *e != int32(k) {
			t.Fatalf("item %d from dataset %d", *e, k)
		}
		counts[k]++
		if i < 20 {
			first = append(first, *e)
		}
	}
	for k, want := range []float64{0.25, 0.25, 0.5, 0} {
		if got := float64(counts[k]) / n; math.Abs(got-want) > 0.015 {
			t.Errorf("dataset %d sampled %.3f of the time, want %.2f", k, got, want)
		}
	}
	r = rand.New(rand.NewPCG(9, 9))
	for i, want := range first {
		if e, _ := mx.Sample(r); *e != want {
			t.Fatalf("sample %d differs for the same seed", i)
		}
	}
	if _, err := NewMixture(mk("neg", -1, 0)); err == nil {
		t.Error("negative weight accepted")
	}
	if _, err := NewMixture(Dataset[int32]{Name: "empty", Weight: 1}); err == nil {
		t.Error("empty weighted dataset accepted")
	}
}

func TestPackRow(t *testing.T) {
	e := Example{Tokens: []int32{1, 2, 3, 4}, Mask: []bool{false, false, true, true}}
	in, tg := make([]int32, 6), make([]int32, 6)
	if n := packRow(&e, in, tg, 0); n != 2 {
		t.Errorf("packRow counted %d targets, want 2", n)
	}
	if want := []int32{1, 2, 3, 4, 0, 0}; !slices.Equal(in, want) {
		t.Errorf("inputs = %v, want %v", in, want)
	}
	if want := []int32{-1, 3, 4, -1, -1, -1}; !slices.Equal(tg, want) {
		t.Errorf("targets = %v, want %v", tg, want)
	}
}

func TestDPOLossDerivatives(t *testing.T) {
	if l, _, _ := DPOLoss(0.1, -3, -4, -3, -4); math.Abs(l-math.Ln2) > 1e-12 {
		t.Errorf("loss with policy = reference is %g, want ln 2", l)
	}
	for _, x := range [][4]float64{{-3, -5, -4, -4}, {-10, -2, -3, -3}, {-1000, 0, 0, 0}, {0, -1000, 0, 0}} {
		const beta, h = 0.5, 1e-6
		l, dc, dr := DPOLoss(beta, x[0], x[1], x[2], x[3])
		if math.IsInf(l, 0) || math.IsNaN(l) {
			t.Errorf("DPOLoss(%v) = %g", x, l)
		}
		lc1, _, _ := DPOLoss(beta, x[0]+h, x[1], x[2], x[3])
		lc0, _, _ := DPOLoss(beta, x[0]-h, x[1], x[2], x[3])
		lr1, _, _ := DPOLoss(beta, x[0], x[1]+h, x[2], x[3])
		lr0, _, _ := DPOLoss(beta, x[0], x[1]-h, x[2], x[3])
		if nc, nr := (lc1-lc0)/(2*h), (lr1-lr0)/(2*h); math.Abs(nc-dc) > 1e-6 || math.Abs(nr-dr) > 1e-6 {
			t.Errorf("DPOLoss(%v) derivatives (%g, %g), numeric (%g, %g)", x, dc, dr, nc, nr)
		}
	}
}

// toyPairs prefers responses that repeat the prompt's token over responses
// that do not.
func toyPairs(n int) []Pair {
	r := rand.New(rand.NewPCG(5, 5))
	var ps []Pair
	mask := []bool{false, false, true, true}
	for range n {
		a, b := int32(1+r.IntN(10)), int32(1+r.IntN(10))
		if a == b {
			b = a%10 + 1
		}
		ps = append(ps, Pair{
			Chosen:   Example{Tokens: []int32{0, a, a, 11}, Mask: mask},
			Rejected: Example{Tokens: []int32{0, a, b, 11}, Mask: mask},
		})
	}
	return ps
}

func newToyDPO(t testing.TB, batch int) *DPO {
	t.Helper()
	policy, ref := tinyModel(t, 3), tinyModel(t, 4)
	mx, err := NewMixture(Dataset[Pair]{Name: "toy", Weight: 1, Items: toyPairs(64)})
	if err != nil {
		t.Fatal(err)
	}
	d, err := NewDPO(policy, ref, mx, 0.5, Config{Batch: batch, Seq: 6, Seed: 1, AdamW: DefaultAdamW, Schedule: Constant(3e-3), ClipNorm: 1})
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// TestDPOGradientCheck compares the DPO gradient through the whole policy
// with finite differences of the DPO loss along random directions.
// With NLL set, the check covers the chosen answer's NLL term too.
func TestDPOGradientCheck(t *testing.T) {
	for _, nll := range []float64{0, 1.5} {
		t.Run(fmt.Sprintf("nll=%g", nll), func(t *testing.T) { dpoGradientCheck(t, nll) })
	}
}

func dpoGradientCheck(t *testing.T, nll float64) {
	d := newToyDPO(t, 3)
	d.NLL = nll
	r := rand.New(rand.NewPCG(7, 7))
	// Enlarge the weights so the policy differs from the reference a lot.
	for i := range d.m.Params {
		d.m.Params[i] *= 3
	}
	seq := d.cfg.Seq
	for b := range d.cfg.Batch {
		p, _ := d.data.Sample(r)
		packRow(&p.Chosen, d.inputs[2*b*seq:(2*b+1)*seq], d.targets[2*b*seq:(2*b+1)*seq], 0)
		packRow(&p.Rejected, d.inputs[(2*b+1)*seq:(2*b+2)*seq], d.targets[(2*b+1)*seq:(2*b+2)*seq], 0)
	}
	if _, err := d.lossAndGrad(); err != nil {
		t.Fatal(err)
	}
	g := slices.Clone(d.m.Grads)
	lossAt := func() float64 {
		l, err := d.lossAndGrad()
		if err != nil {
			t.Fatal(err)
		}
		return l
	}
	checkDirections(t, "dpo", d.m.Params, g, r, 4, lossAt)
}

// checkDirections compares the gradient grad of lossAt at params with
// Richardson-extrapolated central differences along random unit
// directions, restoring params after each.
func checkDirections(t *testing.T, name string, params, grad []float32, r *rand.Rand, trials int, lossAt func() float64) {
	t.Helper()
	for trial := range trials {
		u := make([]float64, len(grad))
		var analytic, norm float64
		for i := range u {
			u[i] = r.NormFloat64()
			norm += u[i] * u[i]
		}
		for i := range u {
			u[i] /= math.Sqrt(norm)
			analytic += u[i] * float64(grad[i])
		}
		orig := slices.Clone(params)
		shift := func(s float64) float64 {
			for i := range u {
				params[i] = orig[i] + float32(s*u[i])
			}
			return lossAt()
		}
		const eps = 1e-2
		d1 := (shift(eps) - shift(-eps)) / (2 * eps)
		d2 := (shift(eps/2) - shift(-eps/2)) / eps
		numeric := (4*d2 - d1) / 3
		copy(params, orig)
		if diff := math.Abs(numeric - analytic); diff > 2e-3*math.Max(math.Abs(numeric), math.Abs(analytic))+1e-4 {
			t.Errorf("%s direction %d: analytic %.6g, numeric %.6g", name, trial, analytic, numeric)
		}
	}
}

func TestDPOLearnsPreference(t *testing.T) {
	d := newToyDPO(t, 8)
	first, err := d.Step()
	if err != nil {
		t.Fatal(err)
	}
	if math.Abs(first.Loss-math.Ln2) > 0.05 {
		// Policy and reference start from different seeds, so not exactly ln 2.
		t.Logf("first DPO loss %g", first.Loss)
	}
	var last Stats
	for range 60 {
		if last, err = d.Step(); err != nil {
			t.Fatal(err)
		}
	}
	if last.Loss > 0.5*first.Loss {
		t.Errorf("DPO loss went from %g to %g, want it at least halved", first.Loss, last.Loss)
	}
}

func toySFT(t testing.TB, seed uint64) *SFT { return toySFTBy(t, seed, 0) }

// toySFTBy is toySFT batching by length in buckets of byLength positions.
func toySFTBy(t testing.TB, seed uint64, byLength int) *SFT {
	t.Helper()
	m := tinyModel(t, 2)
	var items []Example
	r := rand.New(rand.NewPCG(3, 3))
	for range 50 {
		n := 2 + r.IntN(8)
		e := Example{Tokens: make([]int32, n), Mask: make([]bool, n)}
		for i := range e.Tokens {
			e.Tokens[i] = int32(1 + r.IntN(11)) // 0 is the padding
			e.Mask[i] = i >= n/2
		}
		items = append(items, e)
	}
	mx, err := NewMixture(Dataset[Example]{Name: "a", Weight: 1, Items: items[:25]}, Dataset[Example]{Name: "b", Weight: 1, Items: items[25:]})
	if err != nil {
		t.Fatal(err)
	}
	s, err := NewSFT(m, mx, Config{Batch: 4, Seq: 8, Seed: seed, AdamW: DefaultAdamW,
		Schedule: WSD{Peak: 1e-2, Min: 1e-3, Warmup: 2, Decay: 4, Total: 10}, ClipNorm: 1, ByLength: byLength})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestResumeIsExact trains N steps straight, and N/2 steps, a save, a load
// into a fresh trainer and N/2 more, and requires bit-identical weights.
func TestResumeIsExact(t *testing.T) {
	const n = 10
	straight := toySFT(t, 42)
	for range n {
		if _, err := straight.Step(); err != nil {
			t.Fatal(err)
		}
	}
	half := toySFT(t, 42)
	for range n / 2 {
		half.Step()
	}
	dir := t.TempDir()
	if err := half.Save(dir); err != nil {
		t.Fatal(err)
	}
	resumed := toySFT(t, 999) // a different seed: Restore must bring back the RNG
	if err := resumed.Restore(dir); err != nil {
		t.Fatal(err)
	}
	if resumed.Steps() != n/2 {
		t.Fatalf("restored step %d, want %d", resumed.Steps(), n/2)
	}
	for range n / 2 {
		if _, err := resumed.Step(); err != nil {
			t.Fatal(err)
		}
	}
	if !slices.Equal(straight.m.Params, resumed.m.Params) {
		t.Error("weights after save/restore differ from training straight through")
	}
	if !slices.Equal(straight.opt.V, resumed.opt.V) {
		t.Error("optimizer state after save/restore differs")
	}
	again := toySFT(t, 42)
	for range n {
		again.Step()
	}
	if !slices.Equal(straight.m.Params, again.m.Params) {
		t.Error("two runs with the same seed differ")
	}
}

// TestRestoreOptimizer continues a finished run's AdamW state in a new
// phase: the moments and update count come back, the weights, step and
// data order do not, and a torn optimizer file is refused.
func TestRestoreOptimizer(t *testing.T) {
	old := toySFT(t, 42)
	for range 6 {
		if _, err := old.Step(); err != nil {
			t.Fatal(err)
		}
	}
	dir := t.TempDir()
	if err := old.Save(dir); err != nil {
		t.Fatal(err)
	}
	next := toySFT(t, 7)
	before := slices.Clone(next.m.Params)
	if err := next.RestoreOptimizer(dir); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(next.opt.M, old.opt.M) || !slices.Equal(next.opt.V, old.opt.V) || next.opt.Steps != 6 {
		t.Errorf("moments or update count not continued (steps %d, want 6)", next.opt.Steps)
	}
	if next.Steps() != 0 || !slices.Equal(next.m.Params, before) {
		t.Error("RestoreOptimizer changed the step or the weights")
	}
	fresh := toySFT(t, 7)
	a, _ := next.Step()
	b, _ := fresh.Step()
	if a.Loss != b.Loss || slices.Equal(next.m.Params, fresh.m.Params) {
		t.Error("a continued optimizer should see the same batch but take another step than a fresh one")
	}
	if err := os.WriteFile(filepath.Join(dir, optimizerFile), []byte("torn"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := toySFT(t, 7).RestoreOptimizer(dir); err == nil {
		t.Error("a torn optimizer file was accepted")
	}
}

// TestByLength: batched by length in buckets of one position, no row of a
// batch holds padding (every example's length fits its row), the rows are
// shorter than Seq when the bucket is, a save and restore in the middle
// continues exactly, and the gradients are those of the same batch padded
// to Seq.
func TestByLength(t *testing.T) {
	const n = 10
	s := toySFTBy(t, 42, 1)
	short := false
	for range n {
		if _, err := s.Step(); err != nil {
			t.Fatal(err)
		}
		seq := s.ws.T
		short = short || seq < s.cfg.Seq
		for b := range s.cfg.Batch {
			row := s.inputs[b*seq : (b+1)*seq]
			if seq < s.cfg.Seq && slices.Contains(row, 0) {
				t.Fatalf("row %v of a batch of %d positions holds padding", row, seq)
			}
		}
	}
	if !short {
		t.Error("every batch was padded to Seq")
	}
	half := toySFTBy(t, 42, 1)
	for range n / 2 {
		half.Step()
	}
	dir := t.TempDir()
	if err := half.Save(dir); err != nil {
		t.Fatal(err)
	}
	resumed := toySFTBy(t, 5, 1)
	if err := resumed.Restore(dir); err != nil {
		t.Fatal(err)
	}
	for range n / 2 {
		resumed.Step()
	}
	if !slices.Equal(s.m.Params, resumed.m.Params) {
		t.Error("weights after save/restore differ from training straight through")
	}
	// The same batch at the bucket's length and padded to Seq has the same
	// loss: padding is neither attended to nor trained.
	a, b := toySFTBy(t, 3, 1), toySFTBy(t, 3, 1)
	targets, err := a.byLength()
	if err != nil {
		t.Fatal(err)
	}
	la, err := a.lossAndGrad(targets)
	if err != nil {
		t.Fatal(err)
	}
	seq := a.ws.T
	b.ws = b.wss[b.cfg.Seq]
	copyRows(b, a, seq)
	lb, err := b.lossAndGrad(targets)
	if err != nil {
		t.Fatal(err)
	}
	if math.Abs(la-lb) > 1e-5 {
		t.Errorf("loss %g at the bucket's %d positions, %g padded to %d", la, seq, lb, b.cfg.Seq)
	}
}

// copyRows writes a's packed rows of seq positions into b's rows of
// b.cfg.Seq, padding the rest.
func copyRows(b, a *SFT, seq int) {
	full := b.cfg.Seq
	for r := range a.cfg.Batch {
		for i := range full {
			b.inputs[r*full+i], b.targets[r*full+i] = 0, -1
			if i < seq {
				b.inputs[r*full+i], b.targets[r*full+i] = a.inputs[r*seq+i], a.targets[r*seq+i]
			}
		}
	}
}

func TestStepsDoNotAllocate(t *testing.T) {
	s := toySFT(t, 1)
	s.Step() // warm-up
	if a := testing.AllocsPerRun(5, func() { s.Step() }); a != 0 {
		t.Errorf("SFT step allocates %v times, most at %s", a, allocSite(func() { s.Step() }))
	}
	d := newToyDPO(t, 2)
	d.Step()
	if a := testing.AllocsPerRun(5, func() { d.Step() }); a != 0 {
		t.Errorf("DPO step allocates %v times, most at %s", a, allocSite(func() { d.Step() }))
	}
}

// allocSite runs f with every allocation profiled and names the function
// and line outside the runtime that allocated most often, so a failure says
// where to look.
func allocSite(f func()) string {
	defer func(rate int) { runtime.MemProfileRate = rate }(runtime.MemProfileRate)
	runtime.MemProfileRate = 1
	count := func() map[[32]uintptr]int64 {
		runtime.GC()
		runtime.GC() // a profile cycle completes one GC late
		n, _ := runtime.MemProfile(nil, true)
		recs := make([]runtime.MemProfileRecord, n+50)
		n, _ = runtime.MemProfile(recs, true)
		m := map[[32]uintptr]int64{}
		for _, r := range recs[:n] {
			m[r.Stack0] += r.AllocObjects
		}
		return m
	}
	before := count()
	f()
	best, bestN := "an unknown site", int64(0)
	for stack, v := range count() {
		d := v - before[stack]
		if d <= bestN {
			continue
		}
		// Name the first frame outside the runtime, and skip the
		// profiling's own allocations.
		site := ""
		frames := runtime.CallersFrames(stack[:])
		for {
			fr, more := frames.Next()
			if fr.Function != "" && !strings.HasPrefix(fr.Function, "runtime.") && !strings.HasPrefix(fr.Function, "internal/") {
				if !strings.Contains(fr.Function, "allocSite") {
					site = fmt.Sprintf("%s (%s:%d)", fr.Function, filepath.Base(fr.File), fr.Line)
				}
				break
			}
			if !more {
				break
			}
		}
		if site != "" {
			best, bestN = site, d
		}
	}
	return best
}

func TestRoundsMixture(t *testing.T) {
	round := func(v int32, n int) Dataset[int32] {
		return Dataset[int32]{Name: fmt.Sprint("round", v), Items: slices.Repeat([]int32{v}, n)}
	}
	mx, err := NewRoundsMixture(0.5, round(0, 300), round(1, 100), round(2, 50))
	if err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewPCG(1, 1))
	counts := make([]float64, 3)
	const n = 20000
	for range n {
		e, _ := mx.Sample(r)
		counts[*e]++
	}
	for i, want := range []float64{0.375, 0.125, 0.5} {
		if got := counts[i] / n; math.Abs(got-want) > 0.015 {
			t.Errorf("round %d drawn %.3f of the time, want %.3f", i, got, want)
		}
	}
	if _, err := NewRoundsMixture(0.5, round(0, 10)); err != nil {
		t.Errorf("single round: %v", err)
	}
}

// TestAccumulationMatchesLargeBatch checks that two micro-batches of 2 give
// the gradient of one batch of 4 with the same examples.
func TestAccumulationMatchesLargeBatch(t *testing.T) {
	big, small := toySFT(t, 5), toySFT(t, 5)
	var err error
	small.core, err = newCore(small.m, Config{Batch: 2, Accum: 2, Seq: 8, Seed: 5, AdamW: DefaultAdamW, Schedule: Constant(0)}, 2)
	if err != nil {
		t.Fatal(err)
	}
	sb, err := big.Step()
	if err != nil {
		t.Fatal(err)
	}
	ss, err := small.Step()
	if err != nil {
		t.Fatal(err)
	}
	if sb.Targets != ss.Targets || math.Abs(sb.Loss-ss.Loss) > 1e-6 || math.Abs(sb.GradNorm-ss.GradNorm) > 1e-5*sb.GradNorm {
		t.Errorf("batch 4: %+v; 2×2 accumulated: %+v", sb, ss)
	}
}

func TestRestoreDetectsMixedSaves(t *testing.T) {
	s := toySFT(t, 1)
	a, b := t.TempDir(), t.TempDir()
	s.Save(a)
	s.Step()
	s.Save(b)
	opt, err := os.ReadFile(filepath.Join(b, optimizerFile))
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(a, optimizerFile), opt, 0o644)
	if err := toySFT(t, 1).Restore(a); err == nil || !strings.Contains(err.Error(), "interrupted") {
		t.Errorf("Restore of a mixed checkpoint: %v", err)
	}
	if err := toySFT(t, 1).Restore(b); err != nil {
		t.Errorf("Restore of an intact checkpoint: %v", err)
	}
}

// TestSaveIsAtomicAsASet kills a save at each point between its file
// writes, as a crash would, and checks that Restore always finds a whole
// checkpoint: the previous one before the state file is committed, the new
// one after it (Restore finishing the renames).
func TestSaveIsAtomicAsASet(t *testing.T) {
	dir := t.TempDir()
	s := toySFT(t, 1)
	s.Step()
	if err := s.Save(dir); err != nil {
		t.Fatal(err)
	}
	oldStep := s.Steps()
	s.Step()
	staged := t.TempDir()
	if err := s.Save(staged); err != nil {
		t.Fatal(err)
	}
	newState, _ := os.ReadFile(filepath.Join(staged, stateFile))
	copyFile := func(from, to string) {
		b, err := os.ReadFile(from)
		if err != nil {
			t.Fatal(err)
		}
		os.WriteFile(to, b, 0o644)
	}
	restore := func(d string) int {
		t.Helper()
		r := toySFT(t, 7)
		if err := r.Restore(d); err != nil {
			t.Fatalf("Restore: %v", err)
		}
		return r.Steps()
	}
	for n := 0; n <= len(checkpointFiles); n++ {
		// Before the commit: n of the new files staged as .next.
		d := t.TempDir()
		for _, f := range append(slices.Clone(checkpointFiles), stateFile) {
			copyFile(filepath.Join(dir, f), filepath.Join(d, f))
		}
		for _, f := range checkpointFiles[:n] {
			copyFile(filepath.Join(staged, f), filepath.Join(d, f+nextSuffix))
		}
		if got := restore(d); got != oldStep {
			t.Errorf("killed before the commit with %d files staged: restored step %d, want the old %d", n, got, oldStep)
		}
		// After the commit: every file staged, the state new, n renamed.
		for _, f := range checkpointFiles {
			copyFile(filepath.Join(staged, f), filepath.Join(d, f+nextSuffix))
		}
		os.WriteFile(filepath.Join(d, stateFile), newState, 0o644)
		for _, f := range checkpointFiles[:n] {
			os.Rename(filepath.Join(d, f+nextSuffix), filepath.Join(d, f))
		}
		if got := restore(d); got != oldStep+1 {
			t.Errorf("killed after the commit with %d files renamed: restored step %d, want the new %d", n, got, oldStep+1)
		}
		if left, _ := filepath.Glob(filepath.Join(d, "*"+nextSuffix)); len(left) != 0 {
			t.Errorf("Restore left %v", left)
		}
	}
}

func TestNonFiniteStepIsRefused(t *testing.T) {
	s := toySFT(t, 1)
	_, norm, _ := s.m.Tensor("norm.weight")
	norm[0] = float32(math.NaN())
	before := slices.Clone(s.m.Params)
	if _, err := s.Step(); !errors.Is(err, ErrNonFinite) {
		t.Fatalf("Step with a NaN weight: %v, want ErrNonFinite", err)
	}
	if s.Steps() != 0 || !slices.EqualFunc(before, s.m.Params, func(x, y float32) bool { return x == y || x != x && y != y }) {
		t.Error("a non-finite step changed the trainer")
	}
}

func TestScore(t *testing.T) {
	m := tinyModel(t, 6)
	items := []Example{
		{Tokens: []int32{1, 2, 3, 4}, Mask: []bool{false, false, true, true}},
		{Tokens: []int32{5, 6}},
		{Tokens: []int32{7, 8, 9, 10, 11, 1, 2, 3, 4}},
	}
	lp, n, err := Score(m, items, 2, 8)
	if err != nil {
		t.Fatal(err)
	}
	for i, e := range items {
		// Reference: one example at a time, log-probs summed by hand.
		ws, _ := m.NewWorkspace(1, len(e.Tokens)-1)
		targets := slices.Clone(e.Tokens[1:])
		for j := range targets {
			if e.Mask != nil && !e.Mask[j+1] {
				targets[j] = -1
			}
		}
		ws.Forward(e.Tokens[:len(e.Tokens)-1], targets)
		var want float64
		k := 0
		for j, x := range ws.LogProbs {
			want += float64(x)
			if targets[j] >= 0 {
				k++
			}
		}
		if math.Abs(lp[i]-want) > 1e-4 || n[i] != k {
			t.Errorf("example %d: Score = %g over %d tokens, want %g over %d", i, lp[i], n[i], want, k)
		}
	}
	if _, _, err := Score(m, items, 2, 4); err == nil {
		t.Error("Score accepted an example longer than seq+1")
	}
}

func TestDPOResumeIsExact(t *testing.T) {
	const n = 6
	straight := newToyDPO(t, 2)
	for range n {
		if _, err := straight.Step(); err != nil {
			t.Fatal(err)
		}
	}
	half := newToyDPO(t, 2)
	for range n / 2 {
		half.Step()
	}
	dir := t.TempDir()
	if err := half.Save(dir); err != nil {
		t.Fatal(err)
	}
	resumed := newToyDPO(t, 2)
	if err := resumed.Restore(dir); err != nil {
		t.Fatal(err)
	}
	for range n / 2 {
		resumed.Step()
	}
	if !slices.Equal(straight.m.Params, resumed.m.Params) {
		t.Error("DPO weights after save/restore differ from training straight through")
	}
}

func TestMixtureNeverDrawsEmptyTrailingSet(t *testing.T) {
	mx, err := NewMixture(
		Dataset[int]{Name: "a", Weight: 0.1, Items: []int{0}},
		Dataset[int]{Name: "b", Weight: 0.2, Items: []int{1}},
		Dataset[int]{Name: "c", Weight: 0.3, Items: []int{2}},
		Dataset[int]{Name: "empty", Weight: 0})
	if err != nil {
		t.Fatal(err)
	}
	if mx.cum[2] != 1 {
		t.Errorf("cumulative weight of the last weighted set is %v, want exactly 1", mx.cum[2])
	}
	r := rand.New(rand.NewPCG(1, 1))
	for range 10000 {
		if _, k := mx.Sample(r); k == 3 {
			t.Fatal("drew from the empty zero-weight set")
		}
	}
}
