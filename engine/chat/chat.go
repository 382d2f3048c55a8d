// Package chat runs a built-in model as a chat model: it renders messages with
// the chat template, samples replies with engine/sample and decodes them. The
// OpenAI-compatible server and the in-process "local" backend both use it, so
// a model answers the same either way.
package chat

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/synthloop/synthloop/engine/checkpoint"
	"github.com/synthloop/synthloop/engine/grammar"
	"github.com/synthloop/synthloop/engine/llama"
	"github.com/synthloop/synthloop/engine/sample"
	"github.com/synthloop/synthloop/engine/tokenizer"
)

// Model is a loaded model with its tokenizer. Complete is safe for
// concurrent use. Calls run one at a time, unless Batch makes concurrent
// calls decode together.
type Model struct {
	name    string
	mu      sync.Mutex
	batcher *sample.Batcher // nil: one call at a time
	m       *llama.Model
	tok     tokenizer.Tokenizer
	stop    []int32 // <|end|> and <|eos|>: a reply ends at either

	vocabOnce sync.Once
	vocab     *grammar.Vocab // token bytes for grammar masks, built on first use
}

// Load reads a model directory written by checkpoint.SaveModel and
// checkpoint.SaveTokenizer. Its name is the directory's base name.
func Load(dir string) (*Model, error) {
	m, err := checkpoint.LoadModel(dir)
	if err != nil {
		return nil, fmt.Errorf("chat: load %s: %w", dir, err)
	}
	tok, err := checkpoint.LoadTokenizer(dir)
	if err != nil {
		return nil, fmt.Errorf("chat: load %s: %w", dir, err)
	}
	return New(filepath.Base(filepath.Clean(dir)), m, tok)
}

// New wraps a model and its tokenizer. The tokenizer must have the chat
// template's special tokens and fit the model's vocabulary.
func New(name string, m *llama.Model, tok tokenizer.Tokenizer) (*Model, error) {
	if tok.VocabSize() > m.Config.Vocab {
		return nil, fmt.Errorf("chat: tokenizer has %d tokens, the model only %d", tok.VocabSize(), m.Config.Vocab)
	}
	var stop []int32
	for _, s := range []string{tokenizer.End, tokenizer.EOS} {
		if id, ok := tok.SpecialID(s); ok {
			stop = append(stop, int32(id))
		}
	}
	if len(stop) == 0 {
		return nil, errors.New("chat: the tokenizer has neither <|end|> nor <|eos|>, so replies could not end")
	}
	return &Model{name: name, m: m, tok: tok, stop: stop}, nil
}

// Batch makes concurrent calls of Complete decode together (continuous
// batching): up to slots sequences at a time share each step through the
// model, a call joining between steps and leaving when its replies end.
// Each call still gets the replies it gets alone. The KV cache of slots
// full-length sequences is allocated now. Call it before the model serves,
// and Close when done.
func (c *Model) Batch(slots int) error {
	b, err := sample.NewBatcher(c.m, slots)
	if err != nil {
		return fmt.Errorf("chat: %w", err)
	}
	c.batcher = b
	return nil
}

// Close stops the batching Batch started; the model then answers one call
// at a time again.
func (c *Model) Close() {
	if c.batcher != nil {
		c.batcher.Close()
		c.batcher = nil
	}
}

// Name is the model's name as the server lists it.
func (c *Model) Name() string { return c.name }

// ContextLength is the most tokens prompt and reply may hold together.
func (c *Model) ContextLength() int { return c.m.Config.MaxSeq }

// Params are the decoding parameters of one request.
type Params struct {
	N           int     // samples; 0 means 1
	Temperature float64 // 0 is greedy
	TopP        float64 // 0 or 1 keeps all
	TopK        int
	MaxTokens   int // 0 means up to the context length
	Stop        []string
	Seed        uint64
	// LogProbs fills each Choice's Tokens' texts (Choice.TokenTexts), and
	// TopLogProbs above 0 their most likely alternatives (Choice.Top).
	LogProbs    bool
	TopLogProbs int
	// OnText, when set, receives each reply's text as it is generated, in
	// pieces that add up to the final Choice.Text. Text that could still turn
	// out to be the start of a stop string, or half of a multi-byte
	// character, is held back until it is settled. It runs on the
	// generating goroutine and must not block for long.
	OnText func(choice int, delta string)
	// Grammar, when set, constrains each reply to JSON the grammar accepts
	// (structured output): a reply that ends with finish reason "stop" is a
	// complete value; one cut by MaxTokens or the context ends "length" and
	// is not.
	Grammar *grammar.Grammar
}

// Choice is one sampled reply.
//
// The JSON names are snake_case: `synthloop sample --json` prints it.
type Choice struct {
	Text   string `json:"text"`
	Finish string `json:"finish_reason"` // "stop" or "length"
	Tokens int    `json:"tokens"`
	// LogProbs are the log-probabilities of the reply's tokens under the model.
	LogProbs []float32 `json:"logprobs,omitempty"`
	// TokenTexts are the reply's tokens decoded one by one, when
	// Params.LogProbs asks; a token that is part of a multi-byte character
	// holds those bytes alone, not valid UTF-8.
	TokenTexts []string `json:"token_texts,omitempty"`
	// Top[i] are the Params.TopLogProbs most likely tokens at position i.
	Top [][]TokenLogProb `json:"top_logprobs,omitempty"`
}

// TokenLogProb is a token's text and its log-probability.
type TokenLogProb struct {
	Text    string  `json:"text"`
	LogProb float32 `json:"logprob"`
}

// Reply is the answer to one request.
type Reply struct {
	Choices          []Choice `json:"choices"`
	PromptTokens     int      `json:"prompt_tokens"`
	CompletionTokens int      `json:"completion_tokens"`
}

// ErrBadRequest classifies requests the model cannot serve (bad roles,
// text outside the vocabulary, a prompt longer than the context).
var ErrBadRequest = errors.New("chat: bad request")

// Complete samples p.N replies to msgs.
func (c *Model) Complete(ctx context.Context, msgs []tokenizer.Message, p Params) (*Reply, error) {
	if len(msgs) == 0 {
		return nil, fmt.Errorf("%w: no messages", ErrBadRequest)
	}
	ids, _, err := tokenizer.EncodeChat(c.tok, msgs, true)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadRequest, err)
	}
	if len(ids) >= c.m.Config.MaxSeq {
		return nil, fmt.Errorf("%w: the prompt has %d tokens, the model's context is %d", ErrBadRequest, len(ids), c.m.Config.MaxSeq)
	}
	prompt := make([]int32, len(ids))
	for i, id := range ids {
		prompt[i] = int32(id)
	}
	opt := sample.Options{
		MaxTokens: p.MaxTokens, Temperature: p.Temperature, TopK: p.TopK, TopP: p.TopP,
		Seed: p.Seed, N: max(p.N, 1), StopTokens: c.stop, StopText: p.Stop, Decode: c.decode,
	}
	if p.LogProbs {
		opt.TopLogProbs = p.TopLogProbs
	}
	if p.Grammar != nil {
		opt.Constraint = constraint{grammar.NewConstraint(p.Grammar, c.grammarVocab())}
	}
	var sent []int // bytes of each reply already passed to OnText
	if p.OnText != nil {
		sent = make([]int, opt.N)
		opt.OnToken = func(comp *sample.Completion) {
			text := settled(c.decode(comp.Tokens), p.Stop)
			if len(text) > sent[comp.Index] {
				p.OnText(comp.Index, text[sent[comp.Index]:])
				sent[comp.Index] = len(text)
			}
		}
	}
	comps, err := c.generate(ctx, prompt, opt)
	if errors.Is(err, sample.ErrNoToken) {
		return nil, fmt.Errorf("%w: the model's vocabulary cannot spell the JSON the schema needs: %w", ErrBadRequest, err)
	}
	if err != nil {
		return nil, fmt.Errorf("chat: %w", err)
	}
	r := &Reply{PromptTokens: len(prompt)}
	for _, comp := range comps {
		if p.OnText != nil && len(comp.Text) > sent[comp.Index] {
			p.OnText(comp.Index, comp.Text[sent[comp.Index]:])
		}
		ch := Choice{Text: comp.Text, Finish: comp.Finish, Tokens: len(comp.Tokens), LogProbs: comp.LogProbs}
		if p.LogProbs {
			ch.TokenTexts, ch.Top = c.tokenTexts(comp)
		}
		r.Choices = append(r.Choices, ch)
		r.CompletionTokens += len(comp.Tokens)
	}
	return r, nil
}

// generate samples through the batcher, or alone while holding the model.
func (c *Model) generate(ctx context.Context, prompt []int32, opt sample.Options) ([]sample.Completion, error) {
	if c.batcher != nil {
		return c.batcher.Generate(ctx, prompt, opt)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return sample.Generate(c.m, [][]int32{prompt}, opt)
}

// settled returns the part of a growing text that can no longer change: it
// holds back a tail that is the start of a stop string (the reply may yet be
// cut there) and an unfinished UTF-8 character or replacement character.
func settled(text string, stops []string) string {
	hold := 0
	for _, s := range stops {
		for n := min(len(s), len(text)); n > hold; n-- {
			if strings.HasSuffix(text, s[:n]) {
				hold = n
				break
			}
		}
	}
	text = text[:len(text)-hold]
	for len(text) > 0 {
		r, size := utf8.DecodeLastRuneInString(text)
		if r != utf8.RuneError {
			break
		}
		text = text[:len(text)-size]
	}
	return text
}

// tokenTexts decodes comp's tokens, and its top alternatives, one by one.
func (c *Model) tokenTexts(comp sample.Completion) ([]string, [][]TokenLogProb) {
	texts := make([]string, len(comp.Tokens))
	for i, t := range comp.Tokens {
		texts[i] = c.decode([]int32{t})
	}
	var top [][]TokenLogProb
	for _, alts := range comp.Top {
		row := make([]TokenLogProb, len(alts))
		for j, a := range alts {
			row[j] = TokenLogProb{Text: c.decode([]int32{a.Token}), LogProb: a.LogProb}
		}
		top = append(top, row)
	}
	return texts, top
}

func (c *Model) decode(toks []int32) string {
	ids := make([]int, len(toks))
	for i, t := range toks {
		ids[i] = int(t)
	}
	s, err := c.tok.Decode(ids)
	if err != nil {
		return ""
	}
	return s
}

// constraint adapts a grammar constraint to the sampler's interface.
type constraint struct{ c *grammar.Constraint }

func (k constraint) Start() sample.Guide { return k.c.Start() }

// grammarVocab returns the bytes of each token for grammar masks. Special
// tokens have none, so a grammar never lets them through except the stop
// tokens, which end a reply once its JSON is complete.
func (c *Model) grammarVocab() *grammar.Vocab {
	c.vocabOnce.Do(func() {
		tokens := make([][]byte, c.tok.VocabSize())
		for id := range tokens {
			s, err := c.tok.Decode([]int{id})
			if err != nil || s == "" {
				continue
			}
			if sid, ok := c.tok.SpecialID(s); ok && sid == id {
				continue
			}
			tokens[id] = []byte(s)
		}
		c.vocab = grammar.NewVocab(tokens, c.stop, c.m.Config.Vocab)
	})
	return c.vocab
}
