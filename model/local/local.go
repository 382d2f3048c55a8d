// Package local is the "local" model provider: a built-in engine model loaded
// in-process from its directory (ref local/PATH), with no server and no cost.
// It answers exactly as `synthloop serve` does for the same model, because
// both go through engine/chat.
package local

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/synthloop/synthloop/engine/chat"
	"github.com/synthloop/synthloop/engine/grammar"
	"github.com/synthloop/synthloop/engine/tokenizer"
	"github.com/synthloop/synthloop/model"
)

func init() {
	model.RegisterProvider("local", model.ProviderSpec{New: New, Free: true})
}

// loaded caches models by path so that several configured names for one
// directory share its weights.
var (
	mu     sync.Mutex
	loaded = map[string]*chat.Model{}
)

// New loads the model directory named by pc.Model.
func New(_ context.Context, pc model.ProviderConfig) (model.Backend, error) {
	mu.Lock()
	defer mu.Unlock()
	m, ok := loaded[pc.Model]
	if !ok {
		var err error
		if m, err = chat.Load(pc.Model); err != nil {
			return nil, fmt.Errorf("local: %w", err)
		}
		loaded[pc.Model] = m
	}
	return &Backend{m: m, pc: pc}, nil
}

// Backend answers with a built-in model.
type Backend struct {
	m  *chat.Model
	pc model.ProviderConfig
}

// Generate implements model.Backend. Decoding defaults follow OpenAI's
// (temperature 1, top_p 1); a request without a seed uses seed 0, so the
// built-in model is reproducible by default.
func (b *Backend) Generate(ctx context.Context, req model.Request) (*model.Response, error) {
	p := chat.Params{N: max(req.N, 1), Temperature: 1, TopP: 1, MaxTokens: req.MaxTokens, Stop: req.Stop}
	if req.Temperature != nil && !b.pc.Drops("temperature") {
		p.Temperature = *req.Temperature
	}
	if req.TopP != nil && !b.pc.Drops("top_p") {
		p.TopP = *req.TopP
	}
	if req.Seed != nil && !b.pc.Drops("seed") {
		p.Seed = uint64(*req.Seed)
	}
	if b.pc.Drops("stop") {
		p.Stop = nil
	}
	if b.pc.Drops("max_tokens") {
		p.MaxTokens = 0
	}
	if req.PresencePenalty != nil && *req.PresencePenalty != 0 && !b.pc.Drops("presence_penalty") {
		return nil, &model.HTTPError{Status: 400, Code: "invalid_request_error", Message: "presence_penalty is not supported by the built-in engine; list it in the model's drop_params"}
	}
	if len(req.JSONSchema) > 0 {
		g, err := grammar.Compile(req.JSONSchema)
		if err != nil {
			return nil, &model.HTTPError{Status: 400, Code: "invalid_request_error", Message: err.Error()}
		}
		p.Grammar = g
	}
	if len(req.Tools) > 0 {
		return nil, &model.HTTPError{Status: 400, Code: "invalid_request_error", Message: "tools are not supported by the built-in engine"}
	}
	// ReasoningEffort and ThinkingBudget are hints the engine has no use
	// for; a model that reasons in <think> tags has them split off by the
	// reliability layer, like every provider's.
	msgs := make([]tokenizer.Message, len(req.Messages))
	for i, m := range req.Messages {
		if m.Role == "tool" || len(m.ToolCalls) > 0 {
			return nil, &model.HTTPError{Status: 400, Code: "invalid_request_error", Message: "tool calls and tool results are not supported by the built-in engine"}
		}
		msgs[i] = tokenizer.Message{Role: m.Role, Content: m.Content}
	}
	r, err := b.m.Complete(ctx, msgs, p)
	if err != nil {
		if errors.Is(err, chat.ErrBadRequest) {
			return nil, &model.HTTPError{Status: 400, Code: "invalid_request_error", Message: err.Error()}
		}
		return nil, fmt.Errorf("local: %w", err)
	}
	resp := &model.Response{Model: b.m.Name(), Usage: model.Usage{PromptTokens: r.PromptTokens, CompletionTokens: r.CompletionTokens}}
	for _, c := range r.Choices {
		resp.Choices = append(resp.Choices, model.Choice{Text: c.Text, FinishReason: c.Finish})
	}
	return resp, nil
}
