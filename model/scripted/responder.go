package scripted

import (
	"context"
	"fmt"
	"hash/fnv"
	"strings"

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

// HashJudgeResponder is Responder, except that as a pointwise judge (a
// prompt opening "You are grading an answer") it scores 1 to 5 by a hash of
// the prompt, so that judge and reject stages keep some records and drop
// others: tests of sharding and merging need both.
func (b *Backend) HashJudgeResponder() modeltest.Responder {
	teacher := b.Responder()
	return func(req *modeltest.Request) modeltest.Reply {
		first := FirstUser(req.Messages)
		if !strings.HasPrefix(first, "You are grading an answer") {
			return teacher(req)
		}
		var rep modeltest.Reply
		h := fnv.New32a()
		h.Write([]byte(first))
		for i := range max(req.N, 1) {
			rep.Choices = append(rep.Choices, modeltest.Choice{Text: fmt.Sprintf("Score: %d", 1+(h.Sum32()+uint32(i))%5)})
		}
		return rep
	}
}
