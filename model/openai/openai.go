// Package openai is the model backend for OpenAI and every OpenAI-compatible server (vLLM, Ollama, llama.cpp, TGI, LM Studio), through the official openai-go SDK and, for plain chat requests, a leaner direct path.
//
// Importing it registers the providers openai, openai-compatible, ollama,
// vllm, llamacpp, lmstudio and tgi with package model. The backend sends one
// request per call with the SDK's own retries off: model's reliability layer
// retries, limits and caches for every provider the same way.
package openai

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sort"
	"strings"

	sdk "github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
	"github.com/openai/openai-go/v3/packages/respjson"
	"github.com/openai/openai-go/v3/shared"

	"github.com/synthloop/synthloop/model"
)

func init() {
	local := func(url string, maxN int) model.ProviderSpec {
		return model.ProviderSpec{New: New, DefaultBaseURL: url, Free: true, MaxN: maxN}
	}
	model.RegisterProvider("openai", model.ProviderSpec{
		New: New, DefaultBaseURL: "https://api.openai.com/v1", APIKeyEnv: "OPENAI_API_KEY", KeyRequired: true,
		Batch: NewBatchAPI,
	})
	// Hosted OpenAI-compatible services have prices we do not know; the
	// config's price_input/price_output say what they are.
	model.RegisterProvider("openai-compatible", model.ProviderSpec{New: New})
	model.RegisterProvider("vllm", local("http://localhost:8000/v1", 0))
	// These servers answer one choice whatever n says, so n samples go as n calls.
	model.RegisterProvider("ollama", local("http://localhost:11434/v1", 1))
	model.RegisterProvider("llamacpp", local("http://localhost:8080/v1", 1))
	model.RegisterProvider("lmstudio", local("http://localhost:1234/v1", 1))
	model.RegisterProvider("tgi", local("http://localhost:8080/v1", 1))
}

// Backend is the raw (unretried) OpenAI-compatible backend.
type Backend struct {
	pc   model.ProviderConfig
	chat sdk.ChatCompletionService
	// chatURL is where the direct path (direct.go) posts: the SDK's
	// chat/completions under the base URL.
	chatURL string
}

// New builds a raw backend for pc. It reads nothing from the environment (the
// SDK's OPENAI_* defaults are bypassed): the key and base URL come from pc.
func New(_ context.Context, pc model.ProviderConfig) (model.Backend, error) {
	opts, err := requestOptions(pc)
	if err != nil {
		return nil, err
	}
	// NewChatCompletionService, unlike NewClient, does not pull in the
	// OPENAI_* environment, which would override what the config says.
	return &Backend{pc: pc, chat: sdk.NewChatCompletionService(opts...), chatURL: pc.BaseURL + "/chat/completions"}, nil
}

// requestOptions are the SDK options of every service built for pc.
func requestOptions(pc model.ProviderConfig) ([]option.RequestOption, error) {
	if pc.BaseURL == "" {
		return nil, errors.New("openai: no base URL")
	}
	opts := []option.RequestOption{
		option.WithBaseURL(pc.BaseURL + "/"),
		option.WithHTTPClient(pc.Client()),
		option.WithMaxRetries(0),
		option.WithMiddleware(pc.StatusMiddleware()),
	}
	if pc.APIKey != "" {
		opts = append(opts, option.WithAPIKey(pc.APIKey))
	}
	return opts, nil
}

// Generate sends req as one chat completion request.
func (b *Backend) Generate(ctx context.Context, req model.Request) (*model.Response, error) {
	if b.directable(req) {
		return b.generateDirect(ctx, req)
	}
	return b.generateSDK(ctx, req)
}

// generateSDK sends req through the SDK: what the direct path does not
// take (tools, streaming).
func (b *Backend) generateSDK(ctx context.Context, req model.Request) (*model.Response, error) {
	params, err := b.params(req)
	if err != nil {
		return nil, err
	}
	var httpRes *http.Response
	if b.pc.Stream {
		return b.stream(ctx, params, &httpRes)
	}
	res, err := b.chat.New(ctx, params, option.WithResponseInto(&httpRes))
	if err != nil {
		return nil, model.SDKError(ctx, "openai", err, httpRes)
	}
	return convert(res, nil), nil
}

// stream asks for the answer as a stream and puts it together with the
// SDK's accumulator. The accumulator knows only OpenAI's own fields, so the
// reasoning deltas of other servers are gathered here, per choice.
func (b *Backend) stream(ctx context.Context, params sdk.ChatCompletionNewParams, httpRes **http.Response) (*model.Response, error) {
	params.StreamOptions = sdk.ChatCompletionStreamOptionsParam{IncludeUsage: sdk.Bool(true)}
	st := b.chat.NewStreaming(ctx, params, option.WithResponseInto(httpRes))
	defer st.Close()
	var acc sdk.ChatCompletionAccumulator
	reasoning := map[int64]*strings.Builder{}
	for st.Next() {
		chunk := st.Current()
		if !acc.AddChunk(chunk) {
			return nil, fmt.Errorf("openai: stream: a chunk does not fit the ones before it: %w", model.ErrMalformedResponse)
		}
		for _, c := range chunk.Choices {
			if r := extraString(c.Delta.JSON.ExtraFields); r != "" {
				if reasoning[c.Index] == nil {
					reasoning[c.Index] = &strings.Builder{}
				}
				reasoning[c.Index].WriteString(r)
			}
		}
	}
	if err := st.Err(); err != nil {
		return nil, model.SDKError(ctx, "openai", err, *httpRes)
	}
	for _, c := range acc.Choices {
		// A stream cut off between events ends without an error; only the
		// missing finish_reason tells that the answer is incomplete.
		if c.FinishReason == "" {
			return nil, fmt.Errorf("openai: stream ended before choice %d finished: %w", c.Index, model.ErrMalformedResponse)
		}
	}
	texts := map[int64]string{}
	for i, sb := range reasoning {
		texts[i] = sb.String()
	}
	return convert(&acc.ChatCompletion, texts), nil
}

func (b *Backend) params(req model.Request) (sdk.ChatCompletionNewParams, error) {
	drop := b.pc.Drops
	p := sdk.ChatCompletionNewParams{Model: shared.ChatModel(b.pc.Model)}
	for _, m := range req.Messages {
		switch m.Role {
		case "system":
			p.Messages = append(p.Messages, sdk.SystemMessage(m.Content))
		case "developer":
			p.Messages = append(p.Messages, sdk.DeveloperMessage(m.Content))
		case "user":
			p.Messages = append(p.Messages, sdk.UserMessage(m.Content))
		case "assistant":
			// m.Reasoning is not sent back: the chat completions API has no
			// field for it, DeepSeek's API refuses a history that carries
			// reasoning_content, and the chat templates of open reasoning
			// models (R1, Qwen3) drop earlier turns' thinking anyway.
			if len(m.ToolCalls) == 0 {
				p.Messages = append(p.Messages, sdk.AssistantMessage(m.Content))
				break
			}
			am := sdk.ChatCompletionAssistantMessageParam{}
			if m.Content != "" {
				am.Content.OfString = sdk.String(m.Content)
			}
			for _, tc := range m.ToolCalls {
				am.ToolCalls = append(am.ToolCalls, sdk.ChatCompletionMessageToolCallUnionParam{
					OfFunction: &sdk.ChatCompletionMessageFunctionToolCallParam{
						ID:       tc.ID,
						Function: sdk.ChatCompletionMessageFunctionToolCallFunctionParam{Name: tc.Name, Arguments: tc.Arguments},
					},
				})
			}
			p.Messages = append(p.Messages, sdk.ChatCompletionMessageParamUnion{OfAssistant: &am})
		case "tool":
			if m.ToolCallID == "" {
				return p, errors.New("openai: a tool message needs the tool_call_id of the call it answers")
			}
			// The API has no error flag on a tool result; the content says it.
			p.Messages = append(p.Messages, sdk.ToolMessage(m.Content, m.ToolCallID))
		default:
			return p, fmt.Errorf("openai: unknown message role %q (want system, user, assistant or tool)", m.Role)
		}
	}
	if err := tools(&p, req); err != nil {
		return p, err
	}
	if req.ReasoningEffort != "" && !drop("reasoning_effort") {
		p.ReasoningEffort = shared.ReasoningEffort(req.ReasoningEffort)
	}
	if req.N > 1 {
		p.N = sdk.Int(int64(req.N))
	}
	if req.Temperature != nil && !drop("temperature") {
		p.Temperature = sdk.Float(*req.Temperature)
	}
	if req.TopP != nil && !drop("top_p") {
		p.TopP = sdk.Float(*req.TopP)
	}
	if req.PresencePenalty != nil && !drop("presence_penalty") {
		p.PresencePenalty = sdk.Float(*req.PresencePenalty)
	}
	if req.Seed != nil && !drop("seed") {
		p.Seed = sdk.Int(*req.Seed)
	}
	if req.MaxTokens > 0 && !drop("max_tokens") {
		// OpenAI's reasoning models reject max_tokens; most other servers
		// only know max_tokens.
		if b.pc.Provider == "openai" {
			p.MaxCompletionTokens = sdk.Int(int64(req.MaxTokens))
		} else {
			p.MaxTokens = sdk.Int(int64(req.MaxTokens))
		}
	}
	if len(req.Stop) > 0 && !drop("stop") {
		p.Stop = sdk.ChatCompletionNewParamsStopUnion{OfStringArray: req.Stop}
	}
	if len(req.JSONSchema) > 0 {
		strict, err := strictSchema(req.JSONSchema)
		if err != nil {
			return p, err
		}
		// Sent as written, not re-encoded from the map: a map would sort the
		// properties, and servers write them in the schema's order.
		js := shared.ResponseFormatJSONSchemaJSONSchemaParam{Name: schemaName(req.SchemaName), Schema: json.RawMessage(req.JSONSchema)}
		if strict {
			js.Strict = sdk.Bool(true)
		}
		p.ResponseFormat = sdk.ChatCompletionNewParamsResponseFormatUnion{
			OfJSONSchema: &shared.ResponseFormatJSONSchemaParam{JSONSchema: js},
		}
	}
	return p, nil
}

// strictSchema checks that schema is a JSON object and reports whether to
// ask for strict mode: strict mode refuses schemas that allow extra
// properties, so it is asked for only when the schema is already written
// that way.
func strictSchema(schema json.RawMessage) (bool, error) {
	var m map[string]any
	if err := json.Unmarshal(schema, &m); err != nil {
		return false, fmt.Errorf("openai: json_schema is not a JSON object: %w", err)
	}
	ap, ok := m["additionalProperties"].(bool)
	return ok && !ap, nil
}

// tools puts req's tools and tool choice into p as function tools.
func tools(p *sdk.ChatCompletionNewParams, req model.Request) error {
	names := map[string]bool{}
	for _, t := range req.Tools {
		if t.Name == "" {
			return errors.New("openai: a tool needs a name")
		}
		fd := shared.FunctionDefinitionParam{Name: t.Name}
		if t.Description != "" {
			fd.Description = sdk.String(t.Description)
		}
		if len(t.Parameters) > 0 {
			if err := json.Unmarshal(t.Parameters, &fd.Parameters); err != nil {
				return fmt.Errorf("openai: tool %q: parameters is not a JSON Schema object: %w", t.Name, err)
			}
		}
		p.Tools = append(p.Tools, sdk.ChatCompletionFunctionTool(fd))
		names[t.Name] = true
	}
	switch c := req.ToolChoice; c {
	case "":
	case "auto", "none", "required":
		p.ToolChoice.OfAuto = sdk.String(c)
	default:
		if !names[c] {
			return fmt.Errorf("openai: tool_choice %q names no tool of the request", c)
		}
		p.ToolChoice.OfFunctionToolChoice = &sdk.ChatCompletionNamedToolChoiceParam{
			Function: sdk.ChatCompletionNamedToolChoiceFunctionParam{Name: c},
		}
	}
	return nil
}

// schemaName keeps what the API allows in a schema name (a-z, A-Z, 0-9, _
// and -, at most 64), so any label a stage picks is accepted.
func schemaName(s string) string {
	b := make([]byte, 0, len(s))
	for i := 0; i < len(s) && len(b) < 64; i++ {
		c := s[i]
		if c == '_' || c == '-' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' {
			b = append(b, c)
		}
	}
	if len(b) == 0 {
		return "output"
	}
	return string(b)
}

// convert reads res; streamed holds, by choice index, the reasoning a
// stream sent (the accumulated message keeps no unknown fields).
func convert(res *sdk.ChatCompletion, streamed map[int64]string) *model.Response {
	out := &model.Response{
		Model: res.Model,
		Usage: model.Usage{
			PromptTokens: int(res.Usage.PromptTokens), CompletionTokens: int(res.Usage.CompletionTokens),
			ReasoningTokens: int(res.Usage.CompletionTokensDetails.ReasoningTokens),
		},
	}
	// prompt_tokens counts the cached tokens too; the layer prices them apart.
	out.Usage.CachedPromptTokens = int(res.Usage.PromptTokensDetails.CachedTokens)
	choices := append([]sdk.ChatCompletionChoice(nil), res.Choices...)
	sort.SliceStable(choices, func(i, j int) bool { return choices[i].Index < choices[j].Index })
	for _, c := range choices {
		fr := Finish(c.FinishReason)
		if c.Message.Content == "" && c.Message.Refusal != "" {
			fr = model.FinishFilter
		}
		ch := model.Choice{Text: c.Message.Content, FinishReason: fr, Reasoning: extraString(c.Message.JSON.ExtraFields)}
		if r, ok := streamed[c.Index]; ok {
			ch.Reasoning = r
		}
		for _, tc := range c.Message.ToolCalls {
			if tc.Type != "function" && tc.Type != "" {
				continue // custom (free-text) tools are never offered
			}
			ch.ToolCalls = append(ch.ToolCalls, model.ToolCall{ID: tc.ID, Name: tc.Function.Name, Arguments: tc.Function.Arguments})
		}
		out.Choices = append(out.Choices, ch)
	}
	return out
}

// reasoningFields are where OpenAI-compatible servers put reasoning, which
// OpenAI's own API does not return: reasoning_content (DeepSeek, vLLM's
// reasoning parsers) and reasoning (OpenRouter, Ollama, newer vLLM). The
// SDK keeps such unknown fields as raw JSON.
var reasoningFields = []string{"reasoning_content", "reasoning"}

func extraString(fields map[string]respjson.Field) string {
	for _, name := range reasoningFields {
		f, ok := fields[name]
		if !ok {
			continue
		}
		var s string
		if json.Unmarshal([]byte(f.Raw()), &s) == nil && s != "" {
			return s
		}
	}
	return ""
}

// Finish normalises an OpenAI-style finish_reason to a model.Finish* value.
func Finish(reason string) string {
	switch reason {
	case "stop", "", "eos", "eos_token", "stop_sequence":
		return model.FinishStop
	case "length", "max_tokens":
		return model.FinishLength
	case "content_filter":
		return model.FinishFilter
	case "tool_calls", "function_call":
		return model.FinishTools
	}
	return model.FinishOther
}
