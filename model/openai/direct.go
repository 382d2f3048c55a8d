package openai

// The direct path: a plain chat request (text and structured output, no
// tools, not streamed) sent with net/http (through internal/h1's leaner
// transport for plain-http endpoints, see ProviderConfig.PlainClient) and
// internal/openaiwire's shapes instead of the SDK. At thousands of requests a second against a local
// server the SDK's request path was a fifth of the process's CPU (building
// the request through its option layers, encoding through reflection and
// decoding the reply twice, 21 KB of garbage a request); this path encodes
// once and decodes once into the few fields synthloop reads. Everything
// else (tools, streaming, batches) still goes through the SDK, and both
// paths report failures alike: an error status as *model.HTTPError, a 2xx
// body that cannot be read or decoded as model.ErrMalformedResponse, a
// transport error as the HTTP client returned it.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net/http"
	"sort"
	"strings"

	jsonv2 "github.com/go-json-experiment/json"
	jsonv1 "github.com/go-json-experiment/json/v1"

	"github.com/synthloop/synthloop/internal/openaiwire"
	"github.com/synthloop/synthloop/model"
)

// directable reports whether req can go the direct path: not streamed, no
// tools, and only roles whose message is plain text.
func (b *Backend) directable(req model.Request) bool {
	if b.pc.Stream || len(req.Tools) > 0 || req.ToolChoice != "" {
		return false
	}
	for _, m := range req.Messages {
		switch m.Role {
		case "system", "developer", "user":
		case "assistant":
			if len(m.ToolCalls) > 0 {
				return false
			}
		default:
			return false // the SDK path says what is wrong with it
		}
	}
	return true
}

// wireRequest is req as the chat completions body, with the same fields and
// drops as params builds for the SDK.
func (b *Backend) wireRequest(req model.Request) (*openaiwire.ChatRequest, error) {
	drop := b.pc.Drops
	w := &openaiwire.ChatRequest{Model: b.pc.Model, Messages: make([]openaiwire.Message, len(req.Messages))}
	for i, m := range req.Messages {
		// m.Reasoning is not sent back: see params.
		w.Messages[i] = openaiwire.Message{Role: m.Role, Content: openaiwire.Content{{Type: "text", Text: m.Content}}}
	}
	if req.ReasoningEffort != "" && !drop("reasoning_effort") {
		w.ReasoningEffort = req.ReasoningEffort
	}
	if req.N > 1 {
		w.N = &req.N
	}
	if req.Temperature != nil && !drop("temperature") {
		w.Temperature = req.Temperature
	}
	if req.TopP != nil && !drop("top_p") {
		w.TopP = req.TopP
	}
	if req.PresencePenalty != nil && !drop("presence_penalty") {
		w.PresencePenalty = req.PresencePenalty
	}
	if req.Seed != nil && !drop("seed") {
		w.Seed = req.Seed
	}
	if req.MaxTokens > 0 && !drop("max_tokens") {
		if b.pc.Provider == "openai" {
			w.MaxCompletionTokens = &req.MaxTokens
		} else {
			w.MaxTokens = &req.MaxTokens
		}
	}
	if len(req.Stop) > 0 && !drop("stop") {
		w.Stop = req.Stop
	}
	if len(req.JSONSchema) > 0 {
		strict, err := strictSchema(req.JSONSchema)
		if err != nil {
			return nil, err
		}
		js := &openaiwire.JSONSchema{Name: schemaName(req.SchemaName), Schema: req.JSONSchema}
		if strict {
			js.Strict = &strict
		}
		w.ResponseFormat = &openaiwire.ResponseFormat{Type: "json_schema", JSONSchema: js}
	}
	return w, nil
}

// generateDirect sends req on the direct path.
func (b *Backend) generateDirect(ctx context.Context, req model.Request) (*model.Response, error) {
	w, err := b.wireRequest(req)
	if err != nil {
		return nil, err
	}
	body, err := json.Marshal(w)
	if err != nil {
		return nil, fmt.Errorf("openai: encode request: %w", err)
	}
	hr, err := http.NewRequestWithContext(ctx, http.MethodPost, b.chatURL, bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("openai: %w", err)
	}
	hr.Header.Set("Content-Type", "application/json")
	hr.Header.Set("Accept", "application/json")
	if b.pc.APIKey != "" {
		hr.Header.Set("Authorization", "Bearer "+b.pc.APIKey)
	}
	hc := b.pc.PlainClient // the reply is read whole
	if hc == nil {
		hc = b.pc.Client()
	}
	res, err := hc.Do(hr)
	if res, err = model.StatusError(res, err, b.pc.APIKey); err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err() // as the SDK returns it: the layer tells a timeout from Ctrl-C
		}
		return nil, err
	}
	defer res.Body.Close()
	data, err := io.ReadAll(res.Body)
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, fmt.Errorf("openai: read reply: %w: %w", model.ErrMalformedResponse, err)
	}
	// Like the SDK: a 2xx that is not JSON (a proxy's page) is no answer.
	mt, _, _ := mime.ParseMediaType(res.Header.Get("Content-Type"))
	if !strings.Contains(mt, "application/json") && !strings.HasSuffix(mt, "+json") {
		return nil, fmt.Errorf("openai: reply of content type %q: %w", res.Header.Get("Content-Type"), model.ErrMalformedResponse)
	}
	return decodeReply(data)
}

// unmarshalV1 decodes as encoding/json does (FuzzDecodeReply compares
// them), with the Go team's JSON v2 decoder at v1 semantics: about half the
// CPU and allocations on a reply, thousands of which a second arrive from a
// local server.
func unmarshalV1(data []byte, v any) error { return jsonv2.Unmarshal(data, v, v1Semantics) }

var v1Semantics = jsonv1.DefaultOptionsV1()

// reply is the part of a chat completion that synthloop reads. Unknown
// fields (id, created, logprobs, ...) are skipped, so servers that send
// them in other types than OpenAI's do not fail here.
type reply struct {
	Model   string           `json:"model"`
	Choices []replyChoice    `json:"choices"`
	Usage   openaiwire.Usage `json:"usage"`
}

type replyChoice struct {
	Index   int `json:"index"`
	Message struct {
		Content string `json:"content"`
		Refusal string `json:"refusal"`
		// Where OpenAI-compatible servers put reasoning: see reasoningFields.
		ReasoningContent string                `json:"reasoning_content"`
		Reasoning        string                `json:"reasoning"`
		ToolCalls        []openaiwire.ToolCall `json:"tool_calls"`
	} `json:"message"`
	FinishReason string `json:"finish_reason"`
}

// decodeReply reads a chat completion body into a model.Response, as
// convert reads the SDK's: choices in index order, refusals as filtered,
// reasoning from either field, function tool calls only.
func decodeReply(data []byte) (*model.Response, error) {
	var r reply
	if err := unmarshalV1(data, &r); err != nil {
		return nil, fmt.Errorf("openai: decode reply: %w: %w", model.ErrMalformedResponse, err)
	}
	out := &model.Response{
		Model: r.Model,
		Usage: model.Usage{PromptTokens: r.Usage.PromptTokens, CompletionTokens: r.Usage.CompletionTokens},
	}
	if d := r.Usage.CompletionTokensDetails; d != nil {
		out.Usage.ReasoningTokens = d.ReasoningTokens
	}
	if d := r.Usage.PromptTokensDetails; d != nil {
		out.Usage.CachedPromptTokens = d.CachedTokens
	}
	if len(r.Choices) > 0 {
		out.Choices = make([]model.Choice, 0, len(r.Choices))
	}
	sort.SliceStable(r.Choices, func(i, j int) bool { return r.Choices[i].Index < r.Choices[j].Index })
	for i := range r.Choices {
		c := &r.Choices[i]
		m := &c.Message
		fr := Finish(c.FinishReason)
		if m.Content == "" && m.Refusal != "" {
			fr = model.FinishFilter
		}
		ch := model.Choice{Text: m.Content, FinishReason: fr, Reasoning: m.ReasoningContent}
		if ch.Reasoning == "" {
			ch.Reasoning = m.Reasoning
		}
		for _, tc := range m.ToolCalls {
			if tc.Type != "function" && tc.Type != "" {
				continue // custom (free-text) tools are never offered
			}
			ch.ToolCalls = append(ch.ToolCalls, model.ToolCall{ID: tc.ID, Name: tc.Function.Name, Arguments: tc.Function.Arguments})
		}
		out.Choices = append(out.Choices, ch)
	}
	return out, nil
}
