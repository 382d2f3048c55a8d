package sample

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/synthloop/synthloop/engine/llama"
)

func testModel(t testing.TB) *llama.Model {
	m, err := llama.New(llama.Config{Vocab: 10, Dim: 16, Layers: 2, Heads: 4, KVHeads: 2, Hidden: 24, MaxSeq: 24, RoPE: true, RopeTheta: 10000, NormEps: 1e-5}, 8)
	if err != nil {
		t.Fatal(err)
	}
	for i := range m.Params {
		m.Params[i] *= 20 // a random model with peaked, varied distributions
	}
	return m
}

var prompts = [][]int32{{1, 2, 3}, {4}, {5, 6, 7, 8, 9}}

func TestBatchedEqualsSeparate(t *testing.T) {
	m := testModel(t)
	opt := Options{MaxTokens: 8, Temperature: 0.9, TopK: 6, TopP: 0.95, Seed: 3, N: 2}
	all, err := Generate(m, prompts, opt)
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != len(prompts)*2 {
		t.Fatalf("got %d completions, want %d", len(all), len(prompts)*2)
	}
	for p := range prompts {
		one, err := Generate(m, prompts[p:p+1], opt)
		if err != nil {
			t.Fatal(err)
		}
		for i, c := range one {
			b := all[p*2+i]
			if b.Prompt != p || b.Index != i || !slices.Equal(b.Tokens, c.Tokens) {
				t.Errorf("prompt %d sample %d: batched %v, alone %v", p, i, b.Tokens, c.Tokens)
			}
		}
	}
	opt.MaxBatch = 3 // one prompt (two samples) per batch
	chunked, err := Generate(m, prompts, opt)
	if err != nil {
		t.Fatal(err)
	}
	for i := range all {
		if c := chunked[i]; c.Prompt != all[i].Prompt || !slices.Equal(c.Tokens, all[i].Tokens) {
			t.Errorf("completion %d in small batches: %+v, want %+v", i, c, all[i])
		}
	}
	opt.MaxBatch = 0
	again, _ := Generate(m, prompts, opt)
	for i := range all {
		if !slices.Equal(all[i].Tokens, again[i].Tokens) || !slices.Equal(all[i].LogProbs, again[i].LogProbs) {
			t.Fatal("same seed gave different samples")
		}
	}
}

// TestFirstIndexDrawsInParts draws each prompt's samples in two calls, 2
// from index 0 and 3 from index 2, and gets those of one call of 5.
func TestFirstIndexDrawsInParts(t *testing.T) {
	m := testModel(t)
	opt := Options{MaxTokens: 8, Temperature: 0.9, Seed: 5, N: 5}
	all, err := Generate(m, prompts, opt)
	if err != nil {
		t.Fatal(err)
	}
	opt.N = 2
	head, err := Generate(m, prompts, opt)
	if err != nil {
		t.Fatal(err)
	}
	opt.N, opt.FirstIndex = 3, 2
	tail, err := Generate(m, prompts, opt)
	if err != nil {
		t.Fatal(err)
	}
	for p := range prompts {
		for i := range 5 {
			var c Completion
			if i < 2 {
				c = head[p*2+i]
			} else {
				c = tail[p*3+i-2]
			}
			if c.Prompt != p || !slices.Equal(c.Tokens, all[p*5+i].Tokens) {
				t.Errorf("prompt %d sample %d drawn in parts: prompt %d %v, in one call %v", p, i, c.Prompt, c.Tokens, all[p*5+i].Tokens)
			}
		}
	}
	if _, err := Generate(m, prompts, Options{FirstIndex: -1}); err == nil {
		t.Error("FirstIndex -1: no error")
	}
}

// TestLogProbsMatchTrainingForward scores greedy completions with the
// training forward pass.
func TestLogProbsMatchTrainingForward(t *testing.T) {
	m := testModel(t)
	cs, err := Generate(m, prompts, Options{MaxTokens: 6})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range cs {
		seq := append(slices.Clone(prompts[c.Prompt]), c.Tokens...)
		ws, _ := m.NewWorkspace(1, len(seq)-1)
		targets := slices.Clone(seq[1:])
		if err := ws.Forward(seq[:len(seq)-1], targets); err != nil {
			t.Fatal(err)
		}
		off := len(prompts[c.Prompt]) - 1
		for i, lp := range c.LogProbs {
			if want := ws.LogProbs[off+i]; math.Abs(float64(lp-want)) > 1e-4 || lp > 0 {
				t.Errorf("prompt %d token %d: logprob %g, training forward %g", c.Prompt, i, lp, want)
			}
			// Greedy picks the argmax of the training forward's distribution.
			probs := ws.Probs(off + i)
			if best := slices.Index(probs, slices.Max(probs)); int32(best) != c.Tokens[i] {
				t.Errorf("greedy token %d is not the argmax %d", c.Tokens[i], best)
			}
		}
		if c.Finish != "length" || len(c.Tokens) != 6 {
			t.Errorf("completion %+v, want 6 tokens ending by length", c)
		}
	}
}

func TestFilters(t *testing.T) {
	m := testModel(t)
	greedy, _ := Generate(m, prompts, Options{MaxTokens: 5})
	for _, opt := range []Options{
		{MaxTokens: 5, Temperature: 1.5, TopK: 1, Seed: 9},
		{MaxTokens: 5, Temperature: 1.5, TopP: 1e-9, Seed: 9},
	} {
		cs, _ := Generate(m, prompts, opt)
		for i := range cs {
			if !slices.Equal(cs[i].Tokens, greedy[i].Tokens) {
				t.Errorf("%+v: got %v, greedy %v", opt, cs[i].Tokens, greedy[i].Tokens)
			}
		}
	}
}

func TestStop(t *testing.T) {
	m := testModel(t)
	full, _ := Generate(m, prompts[:1], Options{MaxTokens: 8})
	toks := full[0].Tokens
	cs, _ := Generate(m, prompts[:1], Options{MaxTokens: 8, StopTokens: []int32{toks[2]}})
	k := slices.Index(toks, toks[2])
	if c := cs[0]; c.Finish != "stop" || !slices.Equal(c.Tokens, toks[:k]) {
		t.Errorf("stop token %d: got %+v, want %v", toks[2], c, toks[:k])
	}
	cs, _ = Generate(m, prompts[:1], Options{MaxTokens: 8, Stop: [][]int32{{99, 98}, toks[3:5]}})
	if c := cs[0]; c.Finish != "stop" || len(c.Tokens) > 3 || len(c.Tokens) != len(c.LogProbs) {
		t.Errorf("stop sequence %v: got %+v", toks[3:5], c)
	}
	if _, err := Generate(m, [][]int32{{}}, Options{}); err == nil {
		t.Error("empty prompt accepted")
	}
	cs, err := Generate(m, [][]int32{make([]int32, 20)}, Options{})
	if err != nil || len(cs[0].Tokens) != 4 || cs[0].Finish != "length" {
		t.Errorf("generation to the context limit: %+v, %v", cs, err)
	}
}

// TestDrawDistribution checks sampling frequencies against the filtered,
// temperature-scaled softmax.
func TestDrawDistribution(t *testing.T) {
	logits := []float32{2, 1, 0, -1, 0.5}
	s := newSampler(len(logits), Options{})
	r := rand.New(rand.NewPCG(1, 2))
	for _, tc := range []struct {
		opt  Options
		want []float64
	}{
		{Options{Temperature: 1}, softmax(logits, 1, 5)},
		{Options{Temperature: 0.5}, softmax(logits, 0.5, 5)},
		{Options{Temperature: 1, TopK: 2}, softmax(logits, 1, 2)},
		// Probabilities in order 2, 1, 0.5, 0, -1 are .48 .18 .11 .07 .02 (of .86); top-p .7 keeps
		// the first two.
		{Options{Temperature: 1, TopP: 0.7}, softmax(logits, 1, 2)},
	} {
		counts := make([]float64, len(logits))
		const n = 40000
		for range n {
			counts[s.draw(logits, r, tc.opt)]++
		}
		for i := range counts {
			if math.Abs(counts[i]/n-tc.want[i]) > 0.01 {
				t.Errorf("%+v: token %d frequency %.3f, want %.3f", tc.opt, i, counts[i]/n, tc.want[i])
			}
		}
	}
}

// softmax at temperature temp over the k largest logits (ids in logit
// order), zero elsewhere.
func softmax(logits []float32, temp float64, k int) []float64 {
	order := []int{0, 1, 4, 2, 3}[:k]
	out := make([]float64, len(logits))
	var sum float64
	for _, i := range order {
		out[i] = math.Exp(float64(logits[i]) / temp)
		sum += out[i]
	}
	for i := range out {
		out[i] /= sum
	}
	return out
}

func TestStopText(t *testing.T) {
	m := testModel(t)
	// Each token decodes to a letter, so text positions are token positions.
	decode := func(toks []int32) string {
		b := make([]byte, len(toks))
		for i, x := range toks {
			b[i] = 'a' + byte(x)
		}
		return string(b)
	}
	full, _ := Generate(m, prompts[:1], Options{MaxTokens: 8, Decode: decode})
	if full[0].Text != decode(full[0].Tokens) {
		t.Fatalf("Text %q, want %q", full[0].Text, decode(full[0].Tokens))
	}
	stop := full[0].Text[3:5]
	cs, err := Generate(m, prompts[:1], Options{MaxTokens: 8, Decode: decode, StopText: []string{"zz", stop}})
	if err != nil {
		t.Fatal(err)
	}
	at := strings.Index(full[0].Text, stop)
	if c := cs[0]; c.Finish != "stop" || c.Text != full[0].Text[:at] || decode(c.Tokens) != c.Text {
		t.Errorf("stop text %q in %q: got %+v", stop, full[0].Text, c)
	}
	// A completion ended by a stop token still gets its Text when StopText
	// is set.
	j := 1 // the first token that did not occur before it
	for j < len(full[0].Tokens) && slices.Contains(full[0].Tokens[:j], full[0].Tokens[j]) {
		j++
	}
	if j == len(full[0].Tokens) {
		t.Fatalf("no new token in %v", full[0].Tokens)
	}
	cs, _ = Generate(m, prompts[:1], Options{MaxTokens: 8, Decode: decode, StopText: []string{"zz"}, StopTokens: []int32{full[0].Tokens[j]}})
	if c := cs[0]; c.Finish != "stop" || len(c.Tokens) != j || c.Text != decode(c.Tokens) {
		t.Errorf("stop token with StopText set: %+v", c)
	}
	if _, err := Generate(m, prompts, Options{StopText: []string{"x"}}); err == nil {
		t.Error("StopText without Decode accepted")
	}
}

func TestConcurrentGenerate(t *testing.T) {
	m := testModel(t)
	opt := Options{MaxTokens: 6, Temperature: 1, Seed: 5, N: 2}
	want, _ := Generate(m, prompts, opt)
	errs := make(chan error, 4)
	for range 4 {
		go func() {
			got, err := Generate(m, prompts, opt)
			for i := range got {
				if !slices.Equal(got[i].Tokens, want[i].Tokens) {
					err = fmt.Errorf("completion %d differs under concurrency", i)
				}
			}
			errs <- err
		}()
	}
	for range 4 {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
}

func TestOnTokenStreams(t *testing.T) {
	m := testModel(t)
	streamed := map[[2]int][]int32{}
	opt := Options{MaxTokens: 6, Temperature: 1, Seed: 2, N: 2, MaxBatch: 2, StopTokens: []int32{3},
		OnToken: func(c *Completion) {
			k := [2]int{c.Prompt, c.Index}
			streamed[k] = append(streamed[k], c.Tokens[len(c.Tokens)-1])
		}}
	cs, err := Generate(m, prompts, opt)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range cs {
		if got := streamed[[2]int{c.Prompt, c.Index}]; !slices.Equal(got, c.Tokens) {
			t.Errorf("prompt %d sample %d: streamed %v, returned %v", c.Prompt, c.Index, got, c.Tokens)
		}
	}
}

// TestHugeMaxTokens: MaxTokens past the context (an API client's MaxInt64)
// generates up to the context, as 0 does, instead of overflowing into a
// negative cache length.
func TestHugeMaxTokens(t *testing.T) {
	m := testModel(t)
	want, err := Generate(m, prompts, Options{Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	for _, mt := range []int{m.Config.MaxSeq, math.MaxInt - 3, math.MaxInt} {
		got, err := Generate(m, prompts, Options{Seed: 1, MaxTokens: mt})
		if err != nil {
			t.Fatalf("MaxTokens %d: %v", mt, err)
		}
		for i := range want {
			if !slices.Equal(got[i].Tokens, want[i].Tokens) || got[i].Finish != want[i].Finish {
				t.Errorf("MaxTokens %d, completion %d: %v %s, want %v %s", mt, i, got[i].Tokens, got[i].Finish, want[i].Tokens, want[i].Finish)
			}
		}
	}
}

// TestTopLogProbs: each position lists the k most likely tokens in order,
// with log-probabilities matching a softmax, and the sampled token's entry
// (when among them) equals its LogProbs value; stops trim Top with Tokens.
func TestTopLogProbs(t *testing.T) {
	m := testModel(t)
	tests := []struct {
		name string
		opt  Options
	}{
		{"greedy", Options{MaxTokens: 6, TopLogProbs: 3}},
		{"sampled", Options{MaxTokens: 6, Temperature: 1, Seed: 5, N: 2, TopLogProbs: 2}},
		{"all the vocabulary", Options{MaxTokens: 3, TopLogProbs: 50}},
		{"stop token", Options{MaxTokens: 8, TopLogProbs: 2, StopTokens: []int32{1, 2, 3}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cs, err := Generate(m, prompts, tt.opt)
			if err != nil {
				t.Fatal(err)
			}
			k := min(tt.opt.TopLogProbs, m.Config.Vocab)
			for _, c := range cs {
				if len(c.Top) != len(c.Tokens) {
					t.Fatalf("%d positions of top log-probs for %d tokens", len(c.Top), len(c.Tokens))
				}
				for i, top := range c.Top {
					if len(top) != k {
						t.Fatalf("position %d: %d alternatives, want %d", i, len(top), k)
					}
					var mass float64
					for j, e := range top {
						mass += math.Exp(float64(e.LogProb))
						if j > 0 && e.LogProb > top[j-1].LogProb {
							t.Errorf("position %d not in descending order: %v", i, top)
						}
						if e.Token == c.Tokens[i] && e.LogProb != c.LogProbs[i] {
							t.Errorf("position %d: sampled token %d has %g in Top, %g in LogProbs", i, e.Token, e.LogProb, c.LogProbs[i])
						}
					}
					if mass > 1+1e-4 || (k == m.Config.Vocab && math.Abs(mass-1) > 1e-4) {
						t.Errorf("position %d: probabilities sum to %g", i, mass)
					}
					if tt.opt.Temperature == 0 && top[0].Token != c.Tokens[i] {
						t.Errorf("greedy position %d: token %d, most likely %d", i, c.Tokens[i], top[0].Token)
					}
				}
			}
		})
	}
	if cs, _ := Generate(m, prompts, Options{MaxTokens: 4}); cs[0].Top != nil {
		t.Error("Top recorded without TopLogProbs")
	}
}

func TestEntropyOfLogits(t *testing.T) {
	inf := float32(math.Inf(-1))
	tests := []struct {
		name   string
		logits []float32
		want   float64
	}{
		{"uniform", []float32{3, 3, 3, 3}, math.Log(4)},
		{"certain", []float32{0, 200, 0}, 0},
		{"two of three", []float32{1, 1, inf}, math.Log(2)},
		{"p = 1/4, 3/4", []float32{0, float32(math.Log(3))}, -(0.25*math.Log(0.25) + 0.75*math.Log(0.75))},
	}
	for _, tt := range tests {
		if got := entropy(tt.logits); math.Abs(float64(got)-tt.want) > 1e-6 {
			t.Errorf("entropy(%s %v) = %g, want %g", tt.name, tt.logits, got, tt.want)
		}
	}
}

// TestEntropy: each generated position's entropy is −Σ p log p over the
// whole vocabulary's log-probabilities at that position, stops trim it
// with Tokens, the Batcher records the same (to rounding: its logits come
// from another batch shape), and it costs nothing when off.
func TestEntropy(t *testing.T) {
	m := testModel(t)
	opt := Options{MaxTokens: 8, Temperature: 1, Seed: 5, N: 2, StopTokens: []int32{1, 2}, Entropy: true, TopLogProbs: m.Config.Vocab}
	cs, err := Generate(m, prompts, opt)
	if err != nil {
		t.Fatal(err)
	}
	b, err := NewBatcher(m, 2)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	stopped := false
	for _, c := range cs {
		stopped = stopped || c.Finish == "stop"
		if len(c.Entropy) != len(c.Tokens) {
			t.Fatalf("%d entropies for %d tokens", len(c.Entropy), len(c.Tokens))
		}
		for i, top := range c.Top {
			var h float64
			for _, e := range top {
				h -= math.Exp(float64(e.LogProb)) * float64(e.LogProb)
			}
			if math.Abs(h-float64(c.Entropy[i])) > 1e-5 {
				t.Errorf("prompt %d sample %d position %d: entropy %g, want %g", c.Prompt, c.Index, i, c.Entropy[i], h)
			}
		}
	}
	if !stopped {
		t.Error("no sample stopped: the test misses the trim")
	}
	for p := range prompts {
		bs, err := b.Generate(t.Context(), prompts[p], opt)
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range bs {
			want := cs[p*opt.N+c.Index]
			if !slices.Equal(c.Tokens, want.Tokens) || len(c.Entropy) != len(want.Entropy) {
				t.Fatalf("batcher prompt %d sample %d: tokens %v and %d entropies, want %v and %d", p, c.Index, c.Tokens, len(c.Entropy), want.Tokens, len(want.Entropy))
			}
			for i, h := range c.Entropy {
				if math.Abs(float64(h-want.Entropy[i])) > 1e-5 {
					t.Errorf("batcher prompt %d sample %d position %d: entropy %g, want %g", p, c.Index, i, h, want.Entropy[i])
				}
			}
		}
	}
	if cs, _ := Generate(m, prompts, Options{MaxTokens: 4}); cs[0].Entropy != nil {
		t.Error("Entropy recorded without Options.Entropy")
	}
}
