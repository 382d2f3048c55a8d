package estimate

import (
	"encoding/json"
	"strings"

	"github.com/tiktoken-go/tokenizer"

	"github.com/synthloop/synthloop/model"
)

// counter counts tokens for one model: with OpenAI's tokenizer for OpenAI
// models, else by estimate.
type counter struct {
	codec tokenizer.Codec // nil: estimate
	name  string          // the encoding, or estimateName
}

const estimateName = "≈ 4 bytes/token"

func newCounter(provider, m string) *counter {
	name := strings.ToLower(m)
	if i := strings.LastIndex(name, "/"); i >= 0 {
		name = name[i+1:] // "openai/gpt-4o" behind a gateway
	}
	c, err := tokenizer.ForModel(tokenizer.Model(name))
	if err != nil && provider == "openai" {
		// A model newer than the tokenizer's table: OpenAI's current models use o200k.
		c, err = tokenizer.Get(tokenizer.O200kBase)
	}
	if err != nil {
		return &counter{name: estimateName}
	}
	enc := string(tokenizer.O200kBase)
	if c.GetName() != "" {
		enc = c.GetName()
	}
	return &counter{codec: c, name: enc}
}

// Chat-format overhead, as OpenAI documents it for its chat models: each
// message costs about 3 tokens beyond its content, and the reply's priming 3.
const (
	perMessage = 3
	perRequest = 3
)

// request counts the input tokens of req.
func (c *counter) request(req model.Request) int {
	n := perRequest
	for _, m := range req.Messages {
		n += perMessage + c.text(m.Content) + c.text(m.Reasoning)
		for _, tc := range m.ToolCalls {
			n += c.text(tc.Name + tc.Arguments)
		}
	}
	if len(req.Tools) > 0 {
		b, _ := json.Marshal(req.Tools)
		n += c.text(string(b))
	}
	if len(req.JSONSchema) > 0 {
		n += c.text(string(req.JSONSchema))
	}
	return n
}

func (c *counter) text(s string) int {
	if s == "" {
		return 0
	}
	if c.codec != nil {
		if n, err := c.codec.Count(s); err == nil {
			return n
		}
	}
	return model.EstimateTokens(s)
}
