// Package lab is the engine side of the lab's experiments on verifiable tasks: small NoPE models, batched answering, the length filter and majority vote, evaluation by difficulty (lab/loopplug runs them as loop rounds).
package lab

import (
	"fmt"

	"github.com/synthloop/synthloop/engine/checkpoint"
	"github.com/synthloop/synthloop/engine/llama"
	"github.com/synthloop/synthloop/engine/tokenizer"
	"github.com/synthloop/synthloop/engine/train"
	"github.com/synthloop/synthloop/lab/task"
)

// Arch sizes a model. The zero RoPE is NoPE, as in Lee et al. (2025): with no
// position embedding the causal mask alone tells positions apart, which is
// what lets a model trained on short problems answer longer ones.
type Arch struct {
	Dim     int  `json:"dim"`
	Layers  int  `json:"layers"`
	Heads   int  `json:"heads"`
	KVHeads int  `json:"kv_heads,omitempty"` // 0 means Heads
	Hidden  int  `json:"hidden"`             // SwiGLU width
	MaxSeq  int  `json:"max_seq"`            // context; costs nothing with NoPE, so size it for the hardest problem
	RoPE    bool `json:"rope,omitempty"`
}

func (a Arch) config(vocab int) llama.Config {
	c := llama.Config{Vocab: vocab, Dim: a.Dim, Layers: a.Layers, Heads: a.Heads, KVHeads: a.KVHeads,
		Hidden: a.Hidden, MaxSeq: a.MaxSeq, NormEps: 1e-5, TiedEmbeddings: true, RoPE: a.RoPE}
	if c.KVHeads == 0 {
		c.KVHeads = c.Heads
	}
	if c.RoPE {
		c.RopeTheta = 10000
	}
	return c
}

// Model is a language model for one task with its character tokenizer. The
// problem is the user turn of the engine's chat template and the answer the
// assistant turn, closed by <|end|>:
//
//	<|bos|><|user|>321+654=<|end|><|assistant|>975<|end|>
//
// which is what engine/chat renders, so a saved model answers the same prompt
// through `synthloop serve DIR` or `local/DIR`.
type Model struct {
	LM      *llama.Model
	Tok     tokenizer.Tokenizer
	end     int32
	special map[int32]bool // every special token, <|end|> included
}

// NewModel returns an untrained model for t's alphabet.
func NewModel(t task.Task, a Arch, seed uint64) (*Model, error) {
	sh, ok := t.(task.Shape)
	if !ok {
		return nil, fmt.Errorf("lab: task %s has no alphabet", t.Name())
	}
	tok, err := tokenizer.NewChar(sh.Alphabet(), tokenizer.DefaultSpecials)
	if err != nil {
		return nil, fmt.Errorf("lab: %w", err)
	}
	lm, err := llama.New(a.config(tok.VocabSize()), seed)
	if err != nil {
		return nil, fmt.Errorf("lab: %w", err)
	}
	return wrap(lm, tok)
}

// Wrap makes a lab model of an engine model and its tokenizer, such as one
// being trained; the model is shared, not copied.
func Wrap(lm *llama.Model, tok tokenizer.Tokenizer) (*Model, error) { return wrap(lm, tok) }

func wrap(lm *llama.Model, tok tokenizer.Tokenizer) (*Model, error) {
	end, ok := tok.SpecialID(tokenizer.End)
	if !ok {
		return nil, fmt.Errorf("lab: tokenizer lacks %s", tokenizer.End)
	}
	m := &Model{LM: lm, Tok: tok, end: int32(end), special: map[int32]bool{}}
	for _, name := range tokenizer.DefaultSpecials {
		if id, ok := tok.SpecialID(name); ok {
			m.special[int32(id)] = true
		}
	}
	return m, nil
}

// LoadModel reads a model directory written by Save.
func LoadModel(dir string) (*Model, error) {
	lm, err := checkpoint.LoadModel(dir)
	if err != nil {
		return nil, fmt.Errorf("lab: %w", err)
	}
	tok, err := checkpoint.LoadTokenizer(dir)
	if err != nil {
		return nil, fmt.Errorf("lab: %w", err)
	}
	return wrap(lm, tok)
}

// Save writes m as an engine/checkpoint model directory (config.json,
// model.safetensors, tokenizer.json).
func (m *Model) Save(dir string) error {
	if err := checkpoint.SaveModel(dir, m.LM); err != nil {
		return fmt.Errorf("lab: %w", err)
	}
	if err := checkpoint.SaveTokenizer(dir, m.Tok); err != nil {
		return fmt.Errorf("lab: %w", err)
	}
	return nil
}

// Messages is p as a chat: the prompt as the user turn, the answer (if any)
// as the assistant turn. It is the shape of the SFT lines in data.jsonl.
func Messages(p task.Problem) []tokenizer.Message {
	msgs := []tokenizer.Message{{Role: "user", Content: p.Prompt}}
	if p.Answer != "" {
		msgs = append(msgs, tokenizer.Message{Role: "assistant", Content: p.Answer})
	}
	return msgs
}

// prompt encodes p's prompt up to the open assistant turn.
func (m *Model) prompt(p task.Problem) ([]int32, error) {
	ids, _, err := tokenizer.EncodeChat(m.Tok, Messages(task.Problem{Prompt: p.Prompt}), true)
	if err != nil {
		return nil, fmt.Errorf("lab: %q: %w", p.Prompt, err)
	}
	out := make([]int32, len(ids))
	for i, id := range ids {
		out[i] = int32(id)
	}
	return out, nil
}

// example encodes a labelled conversation for SFT.
func (m *Model) example(msgs []tokenizer.Message) (train.Example, error) {
	e, err := train.ChatExample(m.Tok, msgs)
	if err != nil {
		return train.Example{}, fmt.Errorf("lab: %w", err)
	}
	if len(e.Tokens) > m.LM.Config.MaxSeq {
		return train.Example{}, fmt.Errorf("lab: example of %d tokens exceeds the context of %d", len(e.Tokens), m.LM.Config.MaxSeq)
	}
	return e, nil
}
