// Package model defines the chat-model interface every backend implements and the
// reliability layer (retries, rate limits, adaptive concurrency, caching, cost) shared by all of them.
package model

import (
	"context"
	"encoding/json"
	"errors"
)

// Message is one chat turn.
type Message struct {
	Role    string `json:"role"` // "system", "user" or "assistant"
	Content string `json:"content"`
}

// Request is a backend-neutral chat completion request. Pointer fields are
// optional: nil means "the backend's default" and is left out of the wire request.
type Request struct {
	Messages        []Message `json:"messages"`
	N               int       `json:"n,omitempty"` // samples; 0 means 1
	Temperature     *float64  `json:"temperature,omitempty"`
	TopP            *float64  `json:"top_p,omitempty"`
	MaxTokens       int       `json:"max_tokens,omitempty"`
	Stop            []string  `json:"stop,omitempty"`
	Seed            *int64    `json:"seed,omitempty"`
	PresencePenalty *float64  `json:"presence_penalty,omitempty"`
	// JSONSchema, when set, asks for structured output that validates against it.
	JSONSchema json.RawMessage `json:"json_schema,omitempty"`
	SchemaName string          `json:"schema_name,omitempty"`
}

// Finish reasons, normalised across providers.
const (
	FinishStop   = "stop"   // natural end or a stop sequence
	FinishLength = "length" // hit max_tokens: the text is truncated
	FinishFilter = "content_filter"
	FinishOther  = "other"
)

// Choice is one sample.
type Choice struct {
	Text         string `json:"text"`
	FinishReason string `json:"finish_reason"`
}

// Usage counts tokens as the provider reported them.
type Usage struct {
	PromptTokens     int `json:"prompt_tokens"`
	CompletionTokens int `json:"completion_tokens"`
}

// Response holds the samples of one request, in sample-index order.
type Response struct {
	Choices []Choice `json:"choices"`
	Usage   Usage    `json:"usage"`
	Model   string   `json:"model,omitempty"`
	// CostUSD is the price of this call by the price table; 0 for cache hits.
	CostUSD float64 `json:"cost_usd,omitempty"`
	// Cached reports that every choice came from the response cache, so nothing was paid.
	Cached bool `json:"cached,omitempty"`
}

// Backend generates chat completions. Implementations must be safe for
// concurrent use; Generate blocks until the response arrives, ctx ends, or
// the request fails for good.
type Backend interface {
	Generate(ctx context.Context, req Request) (*Response, error)
}

// Cache stores responses by key. The run store implements it so that a rerun or
// a resume never pays twice for the same request. Safe for concurrent use.
type Cache interface {
	Get(ctx context.Context, key string) (val []byte, ok bool, err error)
	Put(ctx context.Context, key string, val []byte) error
}

// ErrBudgetExceeded is returned (wrapped) once the run's max_cost_usd is spent.
// The runner treats it as a clean stop, not as a record failure.
var ErrBudgetExceeded = errors.New("model: budget exceeded")
