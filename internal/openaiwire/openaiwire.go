// Package openaiwire holds the JSON shapes of OpenAI's chat completions and models endpoints that synthloop's own servers speak.
package openaiwire

// One set of types serves the engine's server (serve), the test stand-in
// (model/modeltest) and the OpenAI backend's direct path (model/openai), so
// they cannot drift apart in what they accept or send. It imports only the standard library so that either can
// use it without pulling the other in; the engine itself never speaks HTTP
// and must not import it.

import (
	"encoding/json"
	"errors"
	"strings"
)

// Object values of the responses.
const (
	ObjectChatCompletion      = "chat.completion"
	ObjectChatCompletionChunk = "chat.completion.chunk"
	ObjectList                = "list"
	ObjectModel               = "model"
)

// ChatRequest is a chat completions request body: the fields either server
// reads. Optional numbers are pointers so a server can tell "not sent" from
// zero. Fields not listed are ignored, as OpenAI-compatible servers do.
type ChatRequest struct {
	Model               string          `json:"model"`
	Messages            []Message       `json:"messages"`
	N                   *int            `json:"n,omitempty"`
	Temperature         *float64        `json:"temperature,omitempty"`
	TopP                *float64        `json:"top_p,omitempty"`
	TopK                *int            `json:"top_k,omitempty"`
	MaxTokens           *int            `json:"max_tokens,omitempty"`
	MaxCompletionTokens *int            `json:"max_completion_tokens,omitempty"`
	Stop                Stop            `json:"stop,omitempty"`
	Seed                *int64          `json:"seed,omitempty"`
	Stream              bool            `json:"stream,omitempty"`
	StreamOptions       *StreamOptions  `json:"stream_options,omitempty"`
	PresencePenalty     *float64        `json:"presence_penalty,omitempty"`
	FrequencyPenalty    *float64        `json:"frequency_penalty,omitempty"`
	ResponseFormat      *ResponseFormat `json:"response_format,omitempty"`
	Tools               json.RawMessage `json:"tools,omitempty"`
	// ToolChoice is "auto", "none", "required" or {"type":"function","function":{"name":...}}.
	ToolChoice      json.RawMessage `json:"tool_choice,omitempty"`
	ReasoningEffort string          `json:"reasoning_effort,omitempty"`
	Logprobs        bool            `json:"logprobs,omitempty"`
	TopLogprobs     *int            `json:"top_logprobs,omitempty"`
}

// StreamOptions are the request's stream_options.
type StreamOptions struct {
	IncludeUsage bool `json:"include_usage"`
}

// ResponseFormat is the request's response_format: "text", "json_object",
// or "json_schema" with the schema.
type ResponseFormat struct {
	Type       string      `json:"type"`
	JSONSchema *JSONSchema `json:"json_schema,omitempty"`
}

// JSONSchema is the json_schema of a "json_schema" response format.
type JSONSchema struct {
	Name   string          `json:"name,omitempty"`
	Schema json.RawMessage `json:"schema,omitempty"`
	Strict *bool           `json:"strict,omitempty"`
}

// Message is one message of a request. An assistant message may carry the
// tool calls it made (and no content); a "tool" message answers the call
// named by ToolCallID.
type Message struct {
	Role       string     `json:"role"`
	Content    Content    `json:"content"`
	ToolCalls  []ToolCall `json:"tool_calls,omitempty"`
	ToolCallID string     `json:"tool_call_id,omitempty"`
}

// Tool is one entry of a request's tools: a function with the JSON Schema
// of its arguments.
type Tool struct {
	Type     string `json:"type"` // "function"
	Function struct {
		Name        string          `json:"name"`
		Description string          `json:"description,omitempty"`
		Parameters  json.RawMessage `json:"parameters,omitempty"`
		Strict      *bool           `json:"strict,omitempty"`
	} `json:"function"`
}

// ToolCall is a call of a function tool, in a reply or in a request's
// assistant message. Arguments is the JSON text the model wrote.
type ToolCall struct {
	ID       string       `json:"id"`
	Type     string       `json:"type"` // "function"
	Function FunctionCall `json:"function"`
}

// FunctionCall names the function called and its arguments.
type FunctionCall struct {
	Name      string `json:"name"`
	Arguments string `json:"arguments"`
}

// DeltaToolCall is a piece of a tool call in a streamed chunk: the first
// piece of call Index has its ID, type and name, later pieces add to the
// arguments.
type DeltaToolCall struct {
	Index    int    `json:"index"`
	ID       string `json:"id,omitempty"`
	Type     string `json:"type,omitempty"`
	Function struct {
		Name      string `json:"name,omitempty"`
		Arguments string `json:"arguments"`
	} `json:"function"`
}

// Content is a request message's content. OpenAI sends either a string or a
// list of typed parts; a string reads as one text part.
type Content []Part

// Part is one part of a message content. Text is set for type "text";
// other types (image_url, input_audio, ...) are kept by type only, for the
// server to refuse or skip.
type Part struct {
	Type string `json:"type"`
	Text string `json:"text,omitempty"`
}

// UnmarshalJSON reads a string or a list of parts.
func (c *Content) UnmarshalJSON(b []byte) error {
	return oneOrList(b, (*[]Part)(c), func(s string) Part { return Part{Type: "text", Text: s} },
		"content must be a string or a list of text parts")
}

// MarshalJSON writes one text part as a plain string, the form every
// OpenAI-compatible server accepts, and anything else as the list.
func (c Content) MarshalJSON() ([]byte, error) {
	if len(c) == 1 && c[0].Type == "text" {
		return json.Marshal(c[0].Text)
	}
	return json.Marshal([]Part(c))
}

// oneOrList reads b, a string or a list, into *list: a string as the one
// item one makes of it. OpenAI accepts either in several fields.
func oneOrList[T any](b []byte, list *[]T, one func(string) T, msg string) error {
	var s string
	if err := json.Unmarshal(b, &s); err == nil {
		*list = []T{one(s)}
		return nil
	}
	var many []T
	if err := json.Unmarshal(b, &many); err != nil {
		return errors.New(msg)
	}
	*list = many
	return nil
}

// Text joins the text parts, ignoring the others.
func (c Content) Text() string {
	if len(c) == 1 {
		return c[0].Text
	}
	var sb strings.Builder
	for _, p := range c {
		if p.Type == "text" {
			sb.WriteString(p.Text)
		}
	}
	return sb.String()
}

// Stop is the request's stop: OpenAI accepts one string or a list.
type Stop []string

// UnmarshalJSON reads a string, a list of strings, or null (no stop).
func (s *Stop) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		*s = nil
		return nil
	}
	return oneOrList(b, (*[]string)(s), func(one string) string { return one }, "stop must be a string or a list of strings")
}

// ChatCompletion is a non-streamed chat completions response.
type ChatCompletion struct {
	ID      string   `json:"id"`
	Object  string   `json:"object"` // ObjectChatCompletion
	Created int64    `json:"created"`
	Model   string   `json:"model"`
	Choices []Choice `json:"choices"`
	Usage   Usage    `json:"usage"`
}

// Choice is one choice of a ChatCompletion.
type Choice struct {
	Index        int          `json:"index"`
	Message      ReplyMessage `json:"message"`
	FinishReason string       `json:"finish_reason"`
	// Logprobs is null unless the request asked for them.
	Logprobs *Logprobs `json:"logprobs"`
}

// ReplyMessage is the message of a choice. ReasoningContent is the
// reasoning that DeepSeek's API and vLLM's reasoning parsers send beside the
// content (OpenRouter, Ollama and newer vLLM name the same field
// "reasoning": Reasoning); OpenAI itself sends neither.
type ReplyMessage struct {
	Role             string     `json:"role"`
	Content          string     `json:"content"`
	ReasoningContent string     `json:"reasoning_content,omitempty"`
	Reasoning        string     `json:"reasoning,omitempty"`
	ToolCalls        []ToolCall `json:"tool_calls,omitempty"`
}

// MarshalJSON sends a message that only calls tools with "content": null,
// as OpenAI does.
func (m ReplyMessage) MarshalJSON() ([]byte, error) {
	type plain ReplyMessage
	if m.Content != "" || len(m.ToolCalls) == 0 {
		return json.Marshal(plain(m))
	}
	return json.Marshal(struct {
		plain
		Content *string `json:"content"`
	}{plain: plain(m)})
}

// Usage counts the tokens of a request. CompletionTokensDetails, sent only
// when there were reasoning tokens, says how many of the completion tokens
// were reasoning.
type Usage struct {
	PromptTokens            int                      `json:"prompt_tokens"`
	CompletionTokens        int                      `json:"completion_tokens"`
	TotalTokens             int                      `json:"total_tokens"`
	CompletionTokensDetails *CompletionTokensDetails `json:"completion_tokens_details,omitempty"`
	// PromptTokensDetails, sent only when known, says how many prompt
	// tokens the server's prompt cache served.
	PromptTokensDetails *PromptTokensDetails `json:"prompt_tokens_details,omitempty"`
}

// PromptTokensDetails is the breakdown of a Usage's prompt tokens.
type PromptTokensDetails struct {
	CachedTokens int `json:"cached_tokens"`
}

// CompletionTokensDetails is the breakdown of a Usage's completion tokens.
type CompletionTokensDetails struct {
	ReasoningTokens int `json:"reasoning_tokens"`
}

// NewUsage returns the usage of prompt and completion tokens, with their total.
func NewUsage(prompt, completion int) Usage {
	return Usage{PromptTokens: prompt, CompletionTokens: completion, TotalTokens: prompt + completion}
}

// Logprobs are the log-probabilities of a choice's tokens.
type Logprobs struct {
	Content []TokenLogprob `json:"content"`
}

// TokenLogprob is one token's log-probability. TopLogprobs is always sent,
// empty when not asked for, as OpenAI does. Bytes are the token's UTF-8
// bytes: a token holding part of a character has no exact string form.
type TokenLogprob struct {
	Token       string       `json:"token"`
	Logprob     float32      `json:"logprob"`
	Bytes       []int        `json:"bytes"`
	TopLogprobs []TopLogprob `json:"top_logprobs"`
}

// TopLogprob is one of the most likely tokens at a position.
type TopLogprob struct {
	Token   string  `json:"token"`
	Logprob float32 `json:"logprob"`
	Bytes   []int   `json:"bytes"`
}

// ChatCompletionChunk is one server-sent event of a streamed response.
type ChatCompletionChunk struct {
	ID      string        `json:"id"`
	Object  string        `json:"object"` // ObjectChatCompletionChunk
	Created int64         `json:"created"`
	Model   string        `json:"model"`
	Choices []ChunkChoice `json:"choices"`
	// Usage is sent in a last chunk with no choices when the request set
	// stream_options.include_usage.
	Usage *Usage `json:"usage,omitempty"`
}

// ChunkChoice is one choice's piece of a chunk. FinishReason is null until
// the choice's last chunk.
type ChunkChoice struct {
	Index        int     `json:"index"`
	Delta        Delta   `json:"delta"`
	FinishReason *string `json:"finish_reason"`
	// Logprobs, when asked for, are those of the tokens the chunk adds.
	Logprobs *Logprobs `json:"logprobs,omitempty"`
}

// Delta is what a chunk adds to a choice: the role first, then reasoning,
// text and tool calls.
type Delta struct {
	Role             string          `json:"role,omitempty"`
	Content          string          `json:"content,omitempty"`
	ReasoningContent string          `json:"reasoning_content,omitempty"`
	Reasoning        string          `json:"reasoning,omitempty"`
	ToolCalls        []DeltaToolCall `json:"tool_calls,omitempty"`
}

// ModelList is the models endpoint's response.
type ModelList struct {
	Object string  `json:"object"` // ObjectList
	Data   []Model `json:"data"`
}

// Model is one entry of a ModelList.
type Model struct {
	ID      string `json:"id"`
	Object  string `json:"object"` // ObjectModel
	Created int64  `json:"created"`
	OwnedBy string `json:"owned_by"`
}

// ErrorBody is an error response, in the shape the OpenAI SDKs parse.
type ErrorBody struct {
	Error Error `json:"error"`
}

// Error is the error of an ErrorBody. Param names the request field at
// fault, null when none is.
type Error struct {
	Message string  `json:"message"`
	Type    string  `json:"type"`
	Param   *string `json:"param"`
	Code    string  `json:"code"`
}

// NewError returns an error body; an empty param is sent as null.
func NewError(typ, param, code, msg string) ErrorBody {
	e := ErrorBody{Error{Message: msg, Type: typ, Code: code}}
	if param != "" {
		e.Error.Param = &param
	}
	return e
}
