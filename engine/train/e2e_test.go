package train_test

import (
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/synthloop/synthloop/engine/llama"
	"github.com/synthloop/synthloop/engine/sample"
	"github.com/synthloop/synthloop/engine/tokenizer"
	"github.com/synthloop/synthloop/engine/train"
)

// reverseTask makes "<|bos|>digits=reversed<|eos|>" examples with the loss
// masked to the reversed digits and the end token.
type reverseTask struct {
	tok            *tokenizer.Char
	bos, eos, eq   int32
	minLen, maxLen int
}

func newReverseTask(t testing.TB) *reverseTask {
	tok, err := tokenizer.NewChar("0123456789=", tokenizer.DefaultSpecials)
	if err != nil {
		t.Fatal(err)
	}
	id := func(s string) int32 {
		if i, ok := tok.SpecialID(s); ok {
			return int32(i)
		}
		ids, _ := tok.Encode(s)
		return int32(ids[0])
	}
	return &reverseTask{tok: tok, bos: id(tokenizer.BOS), eos: id(tokenizer.EOS), eq: id("="), minLen: 1, maxLen: 5}
}

// problem returns the prompt and answer tokens of one random instance.
func (r *reverseTask) problem(rng *rand.Rand) (prompt, answer []int32) {
	n := r.minLen + rng.IntN(r.maxLen-r.minLen+1)
	prompt = []int32{r.bos}
	for range n {
		d, _ := r.tok.Encode(string(rune('0' + rng.IntN(10))))
		prompt = append(prompt, int32(d[0]))
	}
	answer = slices.Clone(prompt[1:])
	slices.Reverse(answer)
	return append(prompt, r.eq), answer
}

func (r *reverseTask) example(rng *rand.Rand) train.Example {
	p, a := r.problem(rng)
	toks := append(append(p, a...), r.eos)
	mask := make([]bool, len(toks))
	for i := len(p); i < len(toks); i++ {
		mask[i] = true
	}
	return train.Example{Tokens: toks, Mask: mask}
}

// exactMatch greedily decodes held-out prompts and counts answers that are
// exactly right and end with <|eos|>.
func (r *reverseTask) exactMatch(t *testing.T, m *llama.Model, n int) float64 {
	rng := rand.New(rand.NewPCG(1234, 1))
	var prompts, answers [][]int32
	for range n {
		p, a := r.problem(rng)
		prompts, answers = append(prompts, p), append(answers, a)
	}
	cs, err := sample.Generate(m, prompts, sample.Options{MaxTokens: r.maxLen + 1, StopTokens: []int32{r.eos}})
	if err != nil {
		t.Fatal(err)
	}
	right := 0
	for i, c := range cs {
		if c.Finish == "stop" && slices.Equal(c.Tokens, answers[i]) {
			right++
		}
	}
	return float64(right) / float64(n)
}

// TestEndToEndReverse trains a small NoPE model (the lab's architecture) to
// reverse digit strings in a few seconds: the seed of the offline
// self-improvement lab.
func TestEndToEndReverse(t *testing.T) {
	task := newReverseTask(t)
	cfg := llama.Config{Vocab: task.tok.VocabSize(), Dim: 64, Layers: 2, Heads: 4, KVHeads: 2, Hidden: 128,
		MaxSeq: 2*task.maxLen + 3, NormEps: 1e-5}
	m, err := llama.New(cfg, 1)
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(7, 7))
	items := make([]train.Example, 4000)
	for i := range items {
		items[i] = task.example(rng)
	}
	data, err := train.NewMixture(train.Dataset[train.Example]{Name: "reverse", Weight: 1, Items: items})
	if err != nil {
		t.Fatal(err)
	}
	const steps = 400
	pad, _ := task.tok.SpecialID(tokenizer.PAD)
	tr, err := train.NewSFT(m, data, train.Config{Batch: 32, Seq: cfg.MaxSeq, Seed: 1, AdamW: train.DefaultAdamW,
		Schedule: train.WSD{Peak: 1e-3, Min: 1e-4, Warmup: 20, Decay: 100, Total: steps}, ClipNorm: 1, Pad: int32(pad)})
	if err != nil {
		t.Fatal(err)
	}
	before := task.exactMatch(t, m, 200)
	start := time.Now()
	var first, last float64
	for i := range steps {
		s, err := tr.Step()
		if err != nil {
			t.Fatal(err)
		}
		if i == 0 {
			first = s.Loss
		}
		last = s.Loss
		if i%100 == 0 {
			t.Logf("step %d loss %.4f lr %.2g grad norm %.3f", i, s.Loss, s.LR, s.GradNorm)
		}
	}
	after := task.exactMatch(t, m, 200)
	t.Logf("%d steps in %v: loss %.3f → %.3f, exact match %.2f → %.2f", steps, time.Since(start).Round(time.Millisecond), first, last, before, after)
	if last > first/4 {
		t.Errorf("loss fell only from %.3f to %.3f", first, last)
	}
	if after < 0.7 || after <= before {
		t.Errorf("exact match went from %.2f to %.2f, want ≥ 0.7", before, after)
	}
}
