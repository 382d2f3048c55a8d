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
	Role    string `json:"role"` // "system", "user", "assistant" or "tool"
	Content string `json:"content"`
	// Reasoning is an assistant turn's reasoning (thinking), kept apart from
	// Content so that it never leaks into an answer.
	Reasoning string `json:"reasoning,omitempty"`
	// ReasoningSignature is the provider's opaque proof of Reasoning
	// (Anthropic's thinking-block signature), needed to send the turn back.
	ReasoningSignature string `json:"reasoning_signature,omitempty"`
	// ToolCalls are the calls an assistant turn made.
	ToolCalls []ToolCall `json:"tool_calls,omitempty"`
	// ToolCallID names the call a "tool" turn answers.
	ToolCallID string `json:"tool_call_id,omitempty"`
	// IsError marks a "tool" turn whose call failed.
	IsError bool `json:"is_error,omitempty"`
}

// ToolCall is one call of a tool by the model.
type ToolCall struct {
	ID   string `json:"id"`
	Name string `json:"name"`
	// Arguments is the JSON object the model wrote, verbatim: it may be
	// invalid, and checking it is the caller's business.
	Arguments string `json:"arguments"`
}

// Tool is a function the model may call.
type Tool struct {
	Name        string `json:"name"`
	Description string `json:"description,omitempty"`
	// Parameters is the JSON Schema of the arguments object.
	Parameters json.RawMessage `json:"parameters,omitempty"`
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
	// Tools the model may call, and ToolChoice: "" or "auto" (the model
	// decides), "none", "required" (some tool), or a tool's name.
	Tools      []Tool `json:"tools,omitempty"`
	ToolChoice string `json:"tool_choice,omitempty"`
	// ReasoningEffort asks a reasoning model for more or less thinking:
	// "low", "medium" or "high" (OpenAI's reasoning_effort).
	ReasoningEffort string `json:"reasoning_effort,omitempty"`
	// ThinkingBudget > 0 turns on extended thinking with at most this many
	// reasoning tokens (Anthropic's thinking.budget_tokens).
	ThinkingBudget int `json:"thinking_budget,omitempty"`
	// CacheBreakpoints marks shared prefixes for the provider's prompt
	// cache: for each index i, the messages up to and including i are
	// cached (Anthropic: cache_control on message i; at most 4). Providers
	// that cache on their own (OpenAI) ignore it. Not part of the cache
	// key: it changes the bill, not the answer.
	CacheBreakpoints []int `json:"cache_breakpoints,omitempty"`
}

// Finish reasons, normalised across providers.
const (
	FinishStop   = "stop"   // natural end or a stop sequence
	FinishLength = "length" // hit max_tokens: the text is truncated
	FinishFilter = "content_filter"
	FinishTools  = "tool_calls" // the turn ended to call tools
	FinishOther  = "other"
)

// Choice is one sample.
type Choice struct {
	Text string `json:"text"`
	// Reasoning is the sample's reasoning, never part of Text: a provider's
	// separate field (reasoning_content, reasoning, thinking blocks) or a
	// leading <think>...</think> split off the text.
	Reasoning          string     `json:"reasoning,omitempty"`
	ReasoningSignature string     `json:"reasoning_signature,omitempty"`
	ToolCalls          []ToolCall `json:"tool_calls,omitempty"`
	FinishReason       string     `json:"finish_reason"`
}

// Usage counts tokens as the provider reported them.
type Usage struct {
	PromptTokens     int `json:"prompt_tokens"`
	CompletionTokens int `json:"completion_tokens"` // reasoning tokens included
	// ReasoningTokens is the part of CompletionTokens spent on reasoning,
	// where the provider says.
	ReasoningTokens int `json:"reasoning_tokens,omitempty"`
	// CachedPromptTokens is the part of PromptTokens the provider read from
	// its prompt cache (billed at the cached rate); CacheWriteTokens the part
	// it wrote to the cache (Anthropic bills writes above the input rate).
	CachedPromptTokens int `json:"cached_prompt_tokens,omitempty"`
	CacheWriteTokens   int `json:"cache_write_tokens,omitempty"`
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
	// CacheKeys are the choices' keys in the response cache (CacheKeys of
	// the request), when the layer computed them: a stage that records
	// them need not hash the request again.
	CacheKeys []string `json:"-"`
}

// Backend generates chat completions. Implementations must be safe for
// concurrent use; Generate blocks until the response arrives, ctx ends, or
// the request fails for good.
type Backend interface {
	Generate(ctx context.Context, req Request) (*Response, error)
}

// Cache stores responses by key. The run store implements it so that a rerun or
// a resume never pays twice for the same request. Safe for concurrent use.
// Put may return before the entry is durable, but the entry must then be
// durable no later than any write the implementation commits after Put
// returned (so a unit built from an answer never outlives the answer's
// entry), and soon in any case: the run store's writer commits it in its
// next transaction, begun within 2 ms when nothing else is written.
type Cache interface {
	Get(ctx context.Context, key string) (val []byte, ok bool, err error)
	Put(ctx context.Context, key string, val []byte) error
}

// ErrBudgetExceeded is returned (wrapped) once the run's max_cost_usd is spent.
// The runner treats it as a clean stop, not as a record failure.
var ErrBudgetExceeded = errors.New("model: budget exceeded")
