// Package anthropic is the model backend for Anthropic's Messages API, through the official anthropic-sdk-go.
//
// Importing it registers the provider "anthropic" with package model. The
// Messages API has no n, so the provider declares MaxN 1 and the reliability
// layer sends n samples as n calls. System messages go to the system field;
// stop sequences to stop_sequences; max_tokens defaults to 1024 because the
// API requires it. Structured output uses a forced tool whose input_schema is
// the requested JSON schema: it works on every Claude model that has tools,
// and the tool's input comes back as the sample's text (compact JSON).
// temperature and top_p are no longer fields of the SDK's request type; they
// are added to the JSON body when set, and drop_params leaves them out for
// models that refuse them.
package anthropic

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"

	sdk "github.com/anthropics/anthropic-sdk-go/v2"
	"github.com/anthropics/anthropic-sdk-go/v2/option"

	"github.com/synthloop/synthloop/model"
)

// DefaultMaxTokens is sent when a request leaves max_tokens unset.
const DefaultMaxTokens = 1024

func init() {
	model.RegisterProvider("anthropic", model.ProviderSpec{
		New: New, DefaultBaseURL: "https://api.anthropic.com", APIKeyEnv: "ANTHROPIC_API_KEY",
		KeyRequired: true, MaxN: 1,
	})
}

// Backend is the raw (unretried) Anthropic backend.
type Backend struct {
	pc   model.ProviderConfig
	msgs sdk.MessageService
}

// New builds a raw backend for pc. NewMessageService, unlike NewClient, reads
// no ANTHROPIC_* environment: key and base URL come only from pc.
func New(_ context.Context, pc model.ProviderConfig) (model.Backend, error) {
	if pc.BaseURL == "" {
		return nil, errors.New("anthropic: no base URL")
	}
	// The SDK appends /v1/messages; accept a base_url written with /v1 too.
	base := strings.TrimSuffix(strings.TrimRight(pc.BaseURL, "/"), "/v1")
	opts := []option.RequestOption{
		option.WithBaseURL(base + "/"),
		option.WithHTTPClient(pc.Client()),
		option.WithMaxRetries(0),
		option.WithMiddleware(pc.StatusMiddleware()),
	}
	if pc.Timeout > 0 {
		// Without it the SDK refuses large max_tokens without streaming.
		opts = append(opts, option.WithRequestTimeout(pc.Timeout))
	}
	if pc.APIKey != "" {
		opts = append(opts, option.WithAPIKey(pc.APIKey))
	}
	return &Backend{pc: pc, msgs: sdk.NewMessageService(opts...)}, nil
}

// toolPrefix names the forced tool used for structured output.
const toolPrefix = "respond_"

// Generate sends one Messages request; req.N must be 0 or 1 (the layer splits
// larger n because the provider declares MaxN 1).
func (b *Backend) Generate(ctx context.Context, req model.Request) (*model.Response, error) {
	if req.N > 1 {
		return nil, fmt.Errorf("anthropic: n=%d: the Messages API returns one sample per call", req.N)
	}
	params, opts, tool, err := b.params(req)
	if err != nil {
		return nil, err
	}
	cacheBreakpoints(&params, req.Messages, req.CacheBreakpoints)
	var httpRes *http.Response
	opts = append(opts, option.WithResponseInto(&httpRes))
	msg, err := b.msgs.New(ctx, params, opts...)
	if err != nil {
		return nil, model.SDKError(ctx, "anthropic", err, httpRes)
	}
	return withCacheUsage(convert(msg, tool), msg.Usage), nil
}

func (b *Backend) params(req model.Request) (sdk.MessageNewParams, []option.RequestOption, string, error) {
	drop := b.pc.Drops
	p := sdk.MessageNewParams{Model: sdk.Model(b.pc.Model), MaxTokens: DefaultMaxTokens}
	var opts []option.RequestOption
	if req.MaxTokens > 0 && !drop("max_tokens") {
		p.MaxTokens = int64(req.MaxTokens)
	}
	for _, m := range req.Messages {
		switch m.Role {
		case "system", "developer":
			p.System = append(p.System, sdk.TextBlockParam{Text: m.Content})
		case "user":
			p.Messages = append(p.Messages, sdk.NewUserMessage(sdk.NewTextBlock(m.Content)))
		case "assistant":
			p.Messages = append(p.Messages, sdk.NewAssistantMessage(sdk.NewTextBlock(m.Content)))
		default:
			return p, nil, "", fmt.Errorf("anthropic: unknown message role %q (want system, user or assistant)", m.Role)
		}
	}
	if len(p.Messages) == 0 {
		return p, nil, "", errors.New("anthropic: a request needs at least one user message besides the system prompt")
	}
	if len(req.Stop) > 0 && !drop("stop") {
		p.StopSequences = req.Stop
	}
	if req.Temperature != nil && !drop("temperature") {
		opts = append(opts, option.WithJSONSet("temperature", *req.Temperature))
	}
	if req.TopP != nil && !drop("top_p") {
		opts = append(opts, option.WithJSONSet("top_p", *req.TopP))
	}
	// seed and presence_penalty do not exist in the Messages API; they are
	// part of the cache key but not sent.
	tool := ""
	if len(req.JSONSchema) > 0 {
		var schema map[string]any
		if err := json.Unmarshal(req.JSONSchema, &schema); err != nil {
			return p, nil, "", fmt.Errorf("anthropic: json_schema is not a JSON object: %w", err)
		}
		if t, _ := schema["type"].(string); t != "" && t != "object" {
			return p, nil, "", fmt.Errorf("anthropic: json_schema must describe an object (tool input), not %q", t)
		}
		tool = toolPrefix + toolName(req.SchemaName)
		in := sdk.ToolInputSchemaParam{ExtraFields: map[string]any{}}
		for k, v := range schema {
			switch k {
			case "type":
			case "properties":
				in.Properties = v
			case "required":
				if l, ok := v.([]any); ok {
					for _, r := range l {
						if s, ok := r.(string); ok {
							in.Required = append(in.Required, s)
						}
					}
				}
			default:
				in.ExtraFields[k] = v
			}
		}
		p.Tools = []sdk.ToolUnionParam{{OfTool: &sdk.ToolParam{
			Name: tool, InputSchema: in,
			Description: sdk.String("Give the answer by calling this tool with arguments that follow its schema."),
		}}}
		p.ToolChoice = sdk.ToolChoiceParamOfTool(tool)
	}
	return p, opts, tool, nil
}

// toolName keeps the characters tool names allow (a-z, A-Z, 0-9, _ and -).
func toolName(s string) string {
	var b strings.Builder
	for _, r := range s {
		if r == '_' || r == '-' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' {
			b.WriteRune(r)
		}
	}
	if b.Len() == 0 {
		return "output"
	}
	return b.String()[:min(b.Len(), 50)]
}

func convert(msg *sdk.Message, tool string) *model.Response {
	var text strings.Builder
	for _, c := range msg.Content {
		switch c.Type {
		case "text":
			if tool == "" {
				text.WriteString(c.Text)
			}
		case "tool_use":
			if tool != "" && c.Name == tool {
				text.Write(c.Input)
			}
		}
	}
	out := &model.Response{
		Model: string(msg.Model),
		Usage: model.Usage{PromptTokens: int(msg.Usage.InputTokens), CompletionTokens: int(msg.Usage.OutputTokens)},
	}
	if len(msg.Content) > 0 {
		fr := Finish(string(msg.StopReason))
		if tool != "" && msg.StopReason == sdk.StopReasonToolUse {
			fr = model.FinishStop // calling the forced tool is how the answer ends
		}
		out.Choices = []model.Choice{{Text: text.String(), FinishReason: fr}}
	}
	return out
}

// Finish normalises an Anthropic stop_reason to a model.Finish* value.
func Finish(reason string) string {
	switch reason {
	case "end_turn", "stop_sequence", "":
		return model.FinishStop
	case "max_tokens", "model_context_window_exceeded":
		return model.FinishLength
	case "refusal":
		return model.FinishFilter
	}
	return model.FinishOther
}
