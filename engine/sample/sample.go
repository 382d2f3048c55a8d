// Package sample generates text from an engine/llama model with a KV cache:
// batched prompts, n samples each, temperature, top-k, top-p, seeds, stop
// sequences and per-token log-probabilities.
package sample

import (
	"cmp"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"

	"github.com/synthloop/synthloop/engine/llama"
)

// Options control generation. The zero value samples greedily until the
// model's context is full.
type Options struct {
	MaxTokens   int     // per sample; 0 means up to the context length
	Temperature float64 // 0 picks the most likely token
	TopK        int     // keep the k most likely tokens; 0 keeps all
	TopP        float64 // keep the smallest set with this much probability; 0 or 1 keeps all
	Seed        uint64
	N           int       // samples per prompt; 0 means 1
	MaxBatch    int       // sequences decoded together; 0 means 256
	StopTokens  []int32   // tokens that end a sample (e.g. <|end|>, <|eos|>); not returned
	Stop        [][]int32 // token sequences that end a sample; not returned
	// StopText ends a sample when its decoded text contains one of these
	// strings, as OpenAI's stop does, whatever tokens spell them. It needs
	// Decode.
	StopText []string
	// Decode turns tokens into text; when set, completions carry Text.
	Decode func(tokens []int32) string
	// OnToken, if set, is called with each completion as it grows by a
	// token, for streaming; c.Tokens ends with the new token. A token that
	// is itself a StopToken is not reported, but the tokens of a Stop or
	// StopText match are reported before the match is complete, so a
	// streaming caller holds back as much text as its longest stop string.
	// It runs on Generate's goroutine and must not keep c.
	OnToken func(c *Completion)
	// TopLogProbs, when above 0, records for each generated token this
	// many most likely tokens at its position (Completion.Top), for
	// OpenAI's top_logprobs.
	TopLogProbs int
	// Entropy records, for each generated token, the entropy of the
	// model's distribution at its position (Completion.Entropy), so a
	// trainer can watch a policy collapse or stall; off, it costs nothing.
	Entropy bool
	// Constraint, when set, limits each sample to the tokens its Guide
	// allows (structured output). Sampling is otherwise unchanged: the
	// disallowed tokens' logits become -Inf before temperature, top-k and
	// top-p, so the same seed gives the same draws. LogProbs and Top stay
	// those of the model itself.
	Constraint Constraint
	// FirstIndex numbers the samples of each prompt from it: sample i
	// draws from the stream of (Seed, FirstIndex+i), so samples drawn in
	// parts (8 from index 0, then 8 from index 8) are those one call of 16
	// would draw. Completion.Index still counts from 0 within the call.
	FirstIndex int
}

// Constraint limits what samples may say. Generate calls it from its own
// goroutine only.
type Constraint interface {
	// Start returns the guide of a new sample.
	Start() Guide
}

// Guide follows one sample.
type Guide interface {
	// Allowed returns, indexed by token id, which tokens may come next; it
	// may be shorter than the vocabulary (the rest are not allowed), and
	// is read before the next Advance only.
	Allowed() []bool
	// Advance records the token drawn.
	Advance(tok int32)
}

// ErrNoToken reports a constrained sample that no token can continue: the
// vocabulary lacks what the constraint needs next.
var ErrNoToken = errors.New("sample: no token satisfies the constraint")

// TokenLogProb is a token and its log-probability under the model.
type TokenLogProb struct {
	Token   int32
	LogProb float32
}

// Completion is one sample.
type Completion struct {
	Prompt, Index int     // which prompt, and which of its N samples
	Tokens        []int32 // generated tokens, without the stop token or sequence
	// LogProbs[i] is log p(Tokens[i]) under the model itself (temperature
	// 1, no top-k/top-p), the quantity likelihood-based filters and DPO use.
	LogProbs []float32
	// Top[i] are the Options.TopLogProbs most likely tokens at position i,
	// most likely first, with their log-probabilities as in LogProbs; nil
	// unless asked for.
	Top [][]TokenLogProb
	// Entropy[i] is the entropy in nats of the model's distribution at
	// position i (temperature 1, nothing cut, as LogProbs); nil unless
	// Options.Entropy.
	Entropy []float32
	Finish  string // "stop" or "length"
	// EndLogProb is log p of the StopTokens entry that ended the sample
	// (Finish "stop"), which Tokens and LogProbs leave out; a trainer that
	// scores the end token as the policy's choice needs it. 0 otherwise.
	EndLogProb float32
	// Text is the decoded completion when Options.Decode is set, cut before
	// a StopText match; Tokens then keeps only the tokens wholly before it.
	Text string

	textCut bool // Text was set by a StopText match
}

// check returns an error for options out of range or a prompt that is
// empty or fills m's context.
func check(m *llama.Model, prompts [][]int32, opt Options) error {
	if opt.Temperature < 0 || opt.TopK < 0 || opt.TopP < 0 || opt.TopP > 1 || opt.MaxTokens < 0 || opt.MaxBatch < 0 || opt.FirstIndex < 0 {
		return fmt.Errorf("sample: invalid options: temperature %g, top-k %d, top-p %g, max tokens %d, max batch %d, first index %d",
			opt.Temperature, opt.TopK, opt.TopP, opt.MaxTokens, opt.MaxBatch, opt.FirstIndex)
	}
	if len(opt.StopText) > 0 && opt.Decode == nil {
		return errors.New("sample: StopText needs Decode")
	}
	for i, p := range prompts {
		if len(p) == 0 {
			return fmt.Errorf("sample: prompt %d is empty", i)
		}
		if len(p) >= m.Config.MaxSeq {
			return fmt.Errorf("sample: prompt %d has %d tokens, context is %d", i, len(p), m.Config.MaxSeq)
		}
	}
	return nil
}

// Generate samples opt.N completions for each prompt. Prompts are decoded
// together in batches of up to opt.MaxBatch sequences, their prompts
// prefilled several at a time. Sample i of a prompt draws from a random
// stream seeded by (opt.Seed, opt.FirstIndex+i), so a prompt's completions
// do not depend on which other prompts share its batch. Generate only reads m and allocates
// its own KV cache, so calls on one model may run concurrently.
func Generate(m *llama.Model, prompts [][]int32, opt Options) ([]Completion, error) {
	n := max(opt.N, 1)
	if err := check(m, prompts, opt); err != nil {
		return nil, err
	}
	per := max(1, cmp.Or(opt.MaxBatch, defaultMaxBatch)/n)
	var out []Completion
	for lo := 0; lo < len(prompts); lo += per {
		cs, err := generate(m, prompts[lo:min(lo+per, len(prompts))], lo, n, opt)
		if err != nil {
			return nil, err
		}
		out = append(out, cs...)
	}
	return out, nil
}

const (
	// defaultMaxBatch bounds the sequences decoded together, and so the KV
	// cache: callers labelling tens of thousands of problems get batches,
	// not one cache of gigabytes.
	defaultMaxBatch = 256
	// prefillRows is how many prompt tokens one prefill call takes at most.
	prefillRows = 1024
)

// generate decodes one batch of prompts, numbered from base.
func generate(m *llama.Model, prompts [][]int32, base, n int, opt Options) ([]Completion, error) {
	maxSeq := m.Config.MaxSeq
	longest, total := 0, 0
	for _, p := range prompts {
		longest = max(longest, len(p))
		total += len(p)
	}
	limit := seqLimit(maxSeq, longest, opt.MaxTokens)
	seqs := len(prompts) * n
	cache, err := m.NewCache(seqs, limit, max(longest, min(total, prefillRows), seqs))
	if err != nil {
		return nil, fmt.Errorf("sample: %w", err)
	}
	vocab := m.Config.Vocab
	out := make([]Completion, seqs)
	rngs := make([]*rand.Rand, seqs)
	var guides []Guide
	if opt.Constraint != nil {
		guides = make([]Guide, seqs)
	}
	s := newSampler(vocab, opt)
	var active []int
	last := make([]int32, seqs)
	// Prefill consecutive prompts together, each into the cache of its
	// first sample, then copy that cache to the prompt's other samples.
	for p0 := 0; p0 < len(prompts); {
		var ids []int
		var toks []int32
		p1 := p0
		for p1 < len(prompts) && (p1 == p0 || len(toks)+len(prompts[p1]) <= prefillRows) {
			for range prompts[p1] {
				ids = append(ids, p1*n)
			}
			toks = append(toks, prompts[p1]...)
			p1++
		}
		logits, err := cache.ForwardLast(ids, toks)
		if err != nil {
			return nil, fmt.Errorf("sample: prompt %d: %w", p0, err)
		}
		for p := p0; p < p1; p++ {
			row := slices.Clone(logits[(p-p0)*vocab : (p-p0+1)*vocab])
			first := p * n
			for i := range n {
				q := first + i
				if i > 0 {
					cache.Copy(q, first)
				}
				out[q] = Completion{Prompt: base + p, Index: i}
				rngs[q] = rand.New(rand.NewPCG(opt.Seed, uint64(opt.FirstIndex+i)))
				if guides != nil {
					guides[q] = opt.Constraint.Start()
				}
				more, err := s.take(&out[q], row, rngs[q], guideOf(guides, q), opt, len(prompts[p]), limit)
				if err != nil {
					return nil, err
				}
				if more {
					active = append(active, q)
					last[q] = out[q].Tokens[len(out[q].Tokens)-1]
				}
			}
		}
		p0 = p1
	}
	toks := make([]int32, 0, seqs)
	for len(active) > 0 {
		toks = toks[:0]
		for _, q := range active {
			toks = append(toks, last[q])
		}
		logits, err := cache.Forward(active, toks)
		if err != nil {
			return nil, fmt.Errorf("sample: %w", err)
		}
		next := active[:0:0]
		for j, q := range active {
			more, err := s.take(&out[q], logits[j*vocab:(j+1)*vocab], rngs[q], guideOf(guides, q), opt, len(prompts[out[q].Prompt-base]), limit)
			if err != nil {
				return nil, err
			}
			if more {
				next = append(next, q)
				last[q] = out[q].Tokens[len(out[q].Tokens)-1]
			}
		}
		active = next
	}
	decodeTexts(out, opt.Decode)
	return out, nil
}

// decodeTexts sets each completion's text from its tokens, unless a stop
// string already cut it.
func decodeTexts(out []Completion, decode func([]int32) string) {
	if decode == nil {
		return
	}
	for i := range out {
		if !out[i].textCut {
			out[i].Text = decode(out[i].Tokens)
		}
	}
}

// seqLimit is the cache length a batch needs: the longest prompt and
// maxTokens more, within maxSeq. Compared before adding: a huge maxTokens (an
// API client's MaxInt64) must not overflow into a negative cache length.
func seqLimit(maxSeq, longest, maxTokens int) int {
	if maxTokens > 0 && maxTokens < maxSeq-longest {
		return longest + maxTokens
	}
	return maxSeq
}

func guideOf(guides []Guide, q int) Guide {
	if guides == nil {
		return nil
	}
	return guides[q]
}

// sampler holds scratch reused across draws.
type sampler struct {
	idx    []int
	probs  []float64
	masked []float32
}

func newSampler(vocab int, opt Options) *sampler {
	s := &sampler{idx: make([]int, vocab), probs: make([]float64, vocab)}
	if opt.Constraint != nil {
		s.masked = make([]float32, vocab)
	}
	return s
}

// take draws the next token of c from logits, records it, and reports
// whether c continues.
func (s *sampler) take(c *Completion, logits []float32, r *rand.Rand, g Guide, opt Options, promptLen, limit int) (bool, error) {
	from := logits
	if g != nil {
		allow := g.Allowed()
		from = s.masked[:len(logits)]
		any := false
		for i := range from {
			if i < len(allow) && allow[i] {
				from[i], any = logits[i], true
			} else {
				from[i] = float32(math.Inf(-1))
			}
		}
		if !any {
			return false, fmt.Errorf("%w after %d tokens of sample %d", ErrNoToken, len(c.Tokens), c.Index)
		}
	}
	tok := s.draw(from, r, opt)
	if g != nil {
		g.Advance(tok)
	}
	c.Tokens = append(c.Tokens, tok)
	c.LogProbs = append(c.LogProbs, logProb(logits, tok))
	if opt.TopLogProbs > 0 {
		c.Top = append(c.Top, topLogProbs(logits, opt.TopLogProbs))
	}
	if opt.Entropy {
		c.Entropy = append(c.Entropy, entropy(logits))
	}
	if slices.Contains(opt.StopTokens, tok) {
		c.EndLogProb = c.LogProbs[len(c.LogProbs)-1]
		c.truncate(len(c.Tokens) - 1)
		c.Finish = "stop"
		return false, nil
	}
	for _, st := range opt.Stop {
		if len(st) > 0 && len(c.Tokens) >= len(st) && slices.Equal(c.Tokens[len(c.Tokens)-len(st):], st) {
			c.truncate(len(c.Tokens) - len(st))
			c.Finish = "stop"
			return false, nil
		}
	}
	if len(opt.StopText) > 0 {
		text := opt.Decode(c.Tokens)
		for _, st := range opt.StopText {
			at := strings.Index(text, st)
			if st == "" || at < 0 {
				continue
			}
			// The last token completed the match; drop it and any earlier
			// tokens whose text reaches into the stop string.
			k := len(c.Tokens) - 1
			for k > 0 && len(opt.Decode(c.Tokens[:k])) > at {
				k--
			}
			c.truncate(k)
			c.Text, c.Finish, c.textCut = text[:at], "stop", true
			return false, nil
		}
	}
	if opt.OnToken != nil {
		opt.OnToken(c)
	}
	// The cache holds the prompt and every generated token but the last, which
	// is fed on the next step; it must fit.
	if (opt.MaxTokens > 0 && len(c.Tokens) >= opt.MaxTokens) || promptLen+len(c.Tokens) >= limit {
		c.Finish = "length"
		return false, nil
	}
	return true, nil
}

// truncate keeps the first k tokens and what is recorded of them.
func (c *Completion) truncate(k int) {
	c.Tokens, c.LogProbs = c.Tokens[:k], c.LogProbs[:k]
	if c.Top != nil {
		c.Top = c.Top[:k]
	}
	if c.Entropy != nil {
		c.Entropy = c.Entropy[:k]
	}
}

// topLogProbs returns the k most likely tokens of logits, most likely first
// (ties by id), with their log-probabilities. It is only run when a client
// asks, so it favours simplicity over speed: one pass for the normaliser and
// a small insertion-sorted list.
func topLogProbs(logits []float32, k int) []TokenLogProb {
	k = min(k, len(logits))
	mx, logSum := normaliser(logits)
	top := make([]TokenLogProb, 0, k+1)
	for i, v := range logits {
		if len(top) == k && v <= top[k-1].LogProb {
			continue
		}
		at, _ := slices.BinarySearchFunc(top, v, func(e TokenLogProb, v float32) int {
			// Descending; an equal logit goes after the earlier id.
			if e.LogProb >= v {
				return -1
			}
			return 1
		})
		top = slices.Insert(top, at, TokenLogProb{Token: int32(i), LogProb: v})
		if len(top) > k {
			top = top[:k]
		}
	}
	for i := range top {
		// As logProb computes it, so a sampled token's entry equals its LogProbs value.
		top[i].LogProb = float32(float64(top[i].LogProb-mx) - logSum)
	}
	return top
}

func logProb(logits []float32, tok int32) float32 {
	mx, logSum := normaliser(logits)
	return float32(float64(logits[tok]-mx) - logSum)
}

// entropy returns −Σ p log p of softmax(logits) in nats: with z = logit −
// max and Z = Σ e^z, it is log Z − Σ e^z·z / Z.
func entropy(logits []float32) float32 {
	mx := slices.Max(logits)
	var sum, zsum float64
	for _, v := range logits {
		z := float64(v - mx)
		e := math.Exp(z)
		sum += e
		zsum += e * z
	}
	return float32(math.Log(sum) - zsum/sum)
}

// normaliser returns the largest logit and log Σ exp(logit - max): the
// terms of a log-softmax, shared by logProb and topLogProbs so that a
// sampled token's top_logprobs entry equals its LogProbs value exactly.
func normaliser(logits []float32) (mx float32, logSum float64) {
	mx = slices.Max(logits)
	var sum float64
	for _, v := range logits {
		sum += math.Exp(float64(v - mx))
	}
	return mx, math.Log(sum)
}

// draw picks a token: the argmax at temperature 0 or top-k 1; otherwise it
// sorts candidates by logit (ties by id, for determinism), cuts to top-k and
// then to the top-p nucleus, and samples from the renormalised
// temperature-scaled distribution.
func (s *sampler) draw(logits []float32, r *rand.Rand, opt Options) int32 {
	if opt.Temperature == 0 || opt.TopK == 1 {
		best := 0
		for i, v := range logits {
			if v > logits[best] {
				best = i
			}
		}
		return int32(best)
	}
	idx := s.idx[:len(logits)]
	for i := range idx {
		idx[i] = i
	}
	slices.SortFunc(idx, func(a, b int) int {
		if c := cmp.Compare(logits[b], logits[a]); c != 0 {
			return c
		}
		return a - b
	})
	keep := len(idx)
	if opt.TopK > 0 {
		keep = min(keep, opt.TopK)
	}
	mx := float64(logits[idx[0]])
	var total float64
	for j := range keep {
		p := math.Exp((float64(logits[idx[j]]) - mx) / opt.Temperature)
		s.probs[j] = p
		total += p
	}
	if opt.TopP > 0 && opt.TopP < 1 {
		var acc float64
		for j := range keep {
			acc += s.probs[j]
			if acc >= opt.TopP*total {
				keep = j + 1
				break
			}
		}
		total = acc
	}
	u := r.Float64() * total
	for j := range keep {
		if u -= s.probs[j]; u < 0 {
			return int32(idx[j])
		}
	}
	// Rounding left u unspent: the last token with any probability (never
	// one a constraint masked).
	for keep > 1 && s.probs[keep-1] == 0 {
		keep--
	}
	return int32(idx[keep-1])
}
