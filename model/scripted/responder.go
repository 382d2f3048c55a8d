package scripted

import (
	"context"

	"github.com/synthloop/synthloop/model"
	"github.com/synthloop/synthloop/model/modeltest"
)

// Responder serves the Backend behind modeltest's OpenAI- and
// Anthropic-compatible test server, so the offline demo and the end-to-end
// tests go through the real HTTP clients and the reliability layer.
func (b *Backend) Responder() modeltest.Responder {
	return func(r *modeltest.Request) modeltest.Reply {
		req := model.Request{
			Messages:        r.Messages,
			N:               r.N,
			Temperature:     r.Temperature,
			TopP:            r.TopP,
			PresencePenalty: r.PresencePenalty,
			MaxTokens:       r.MaxTokens,
			Stop:            r.Stop,
			Seed:            r.Seed,
			JSONSchema:      r.JSONSchema,
			Tools:           r.Tools,
			ToolChoice:      r.ToolChoice,
			ReasoningEffort: r.ReasoningEffort,
			ThinkingBudget:  r.ThinkingBudget,
		}
		served := *b
		served.served = r.Model
		resp, err := served.Generate(context.Background(), req)
		if err != nil { // only a cancelled context fails, and this one never is
			return modeltest.Reply{}
		}
		rep := modeltest.Reply{Model: resp.Model, Usage: &resp.Usage}
		for _, c := range resp.Choices {
			rep.Choices = append(rep.Choices, modeltest.Choice{Text: c.Text, Reasoning: c.Reasoning, ToolCalls: c.ToolCalls, FinishReason: c.FinishReason})
		}
		return rep
	}
}
