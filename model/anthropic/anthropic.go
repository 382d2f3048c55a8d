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
//
// Extended thinking: a request's ThinkingBudget turns it on. The API's
// rules are checked before sending, with a 400 error that says what to
// change: the budget must be at least 1024 tokens and below max_tokens (an
// unset max_tokens becomes budget + 1024 instead), and structured output
// (a forced tool) cannot be combined with it. A temperature other than 1
// and a top_p below 0.95, which thinking refuses, are left out rather than
// failing, since stages set a temperature by default. Thinking blocks come
// back as the choice's Reasoning, with the block's signature; a
// redacted_thinking block (encrypted, unreadable) as the marker
// "[redacted thinking]" with its data kept in ReasoningSignature, so that
// either can be sent back in a later turn, as the API requires during tool use.
package anthropic

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"slices"
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
		KeyRequired: true, MaxN: 1, Batch: NewBatchAPI,
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
	opts, err := requestOptions(pc)
	if err != nil {
		return nil, err
	}
	return &Backend{pc: pc, msgs: sdk.NewMessageService(opts...)}, nil
}

// requestOptions are the SDK options of every service built for pc.
func requestOptions(pc model.ProviderConfig) ([]option.RequestOption, error) {
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
	return opts, nil
}

// toolPrefix names the forced tool used for structured output.
const toolPrefix = "respond_"

// Generate sends one Messages request; req.N must be 0 or 1 (the layer splits
// larger n because the provider declares MaxN 1).
func (b *Backend) Generate(ctx context.Context, req model.Request) (*model.Response, error) {
	if req.N > 1 {
		return nil, fmt.Errorf("anthropic: n=%d: the Messages API returns one sample per call", req.N)
	}
	params, extra, tool, err := b.params(req)
	if err != nil {
		return nil, err
	}
	var opts []option.RequestOption
	for _, k := range slices.Sorted(maps.Keys(extra)) {
		opts = append(opts, option.WithJSONSet(k, extra[k]))
	}
	cacheBreakpoints(&params, req.Messages, req.CacheBreakpoints)
	var httpRes *http.Response
	opts = append(opts, option.WithResponseInto(&httpRes))
	if b.pc.Stream {
		// The SDK's own accumulator puts the events back into one Message.
		st := b.msgs.NewStreaming(ctx, params, opts...)
		defer st.Close()
		var msg sdk.Message
		for st.Next() {
			if err := msg.Accumulate(st.Current()); err != nil {
				return nil, fmt.Errorf("anthropic: stream: %v: %w", err, model.ErrMalformedResponse)
			}
		}
		if err := st.Err(); err != nil {
			return nil, model.SDKError(ctx, "anthropic", err, httpRes)
		}
		if msg.StopReason == "" && len(msg.Content) > 0 {
			// Cut off between events: no error, but no message_delta either.
			return nil, fmt.Errorf("anthropic: stream ended before the message finished: %w", model.ErrMalformedResponse)
		}
		return withCacheUsage(convert(&msg, tool), msg.Usage), nil
	}
	msg, err := b.msgs.New(ctx, params, opts...)
	if err != nil {
		return nil, model.SDKError(ctx, "anthropic", err, httpRes)
	}
	return withCacheUsage(convert(msg, tool), msg.Usage), nil
}

// redactedPrefix marks a ReasoningSignature that holds a redacted_thinking
// block's data rather than a thinking block's signature.
const redactedPrefix = "redacted_thinking:"

// RedactedMarker is the Reasoning of a choice whose thinking was redacted.
const RedactedMarker = "[redacted thinking]"

func badRequest(format string, args ...any) error {
	return &model.HTTPError{Status: 400, Code: "invalid_request_error", Message: fmt.Sprintf(format, args...)}
}

// messages turns req's messages into the system prompt and the Messages
// API's turns. Consecutive "tool" turns become one user turn of
// tool_result blocks, which a following user turn's text joins.
func messages(p *sdk.MessageNewParams, msgs []model.Message) error {
	lastTools := false // p's last message is a user turn of tool results
	for _, m := range msgs {
		switch m.Role {
		case "system", "developer":
			p.System = append(p.System, sdk.TextBlockParam{Text: m.Content})
		case "user":
			if lastTools {
				u := p.Messages[len(p.Messages)-1].OfUser
				u.Content = append(u.Content, sdk.NewTextBlock(m.Content))
			} else {
				p.Messages = append(p.Messages, sdk.NewUserMessage(sdk.NewTextBlock(m.Content)))
			}
		case "tool":
			if m.ToolCallID == "" {
				return errors.New("anthropic: a tool message needs the tool_call_id of the call it answers")
			}
			block := sdk.NewToolResultBlock(m.ToolCallID, m.Content, m.IsError)
			if lastTools {
				u := p.Messages[len(p.Messages)-1].OfUser
				u.Content = append(u.Content, block)
			} else {
				p.Messages = append(p.Messages, sdk.NewUserMessage(block))
			}
		case "assistant":
			blocks, err := assistantBlocks(m)
			if err != nil {
				return err
			}
			p.Messages = append(p.Messages, sdk.NewAssistantMessage(blocks...))
		default:
			return fmt.Errorf("anthropic: unknown message role %q (want system, user, assistant or tool)", m.Role)
		}
		lastTools = m.Role == "tool"
	}
	return nil
}

// assistantBlocks is an assistant turn as content blocks: its thinking
// first (only with a signature: the API refuses unsigned thinking, so
// reasoning from elsewhere, such as <think> tags, stays out), then text,
// then tool calls.
func assistantBlocks(m model.Message) ([]sdk.ContentBlockParamUnion, error) {
	var blocks []sdk.ContentBlockParamUnion
	if data, ok := strings.CutPrefix(m.ReasoningSignature, redactedPrefix); ok {
		blocks = append(blocks, sdk.NewRedactedThinkingBlock(data))
	} else if m.ReasoningSignature != "" && m.Reasoning != "" {
		blocks = append(blocks, sdk.NewThinkingBlock(m.ReasoningSignature, m.Reasoning))
	}
	if m.Content != "" {
		blocks = append(blocks, sdk.NewTextBlock(m.Content))
	} else if len(m.ToolCalls) == 0 {
		// The API refuses an empty text block with a message that does
		// not say which turn; say it here.
		return nil, badRequest("anthropic: an assistant turn with no text and no tool calls cannot be sent (the Messages API refuses empty text blocks)")
	}
	for _, tc := range m.ToolCalls {
		args := strings.TrimSpace(tc.Arguments)
		if args == "" {
			args = "{}"
		}
		var obj map[string]json.RawMessage
		if json.Unmarshal([]byte(args), &obj) != nil || obj == nil {
			return nil, fmt.Errorf("anthropic: tool call %s (%s): arguments %q are not a JSON object, which tool_use input must be", tc.ID, tc.Name, tc.Arguments)
		}
		blocks = append(blocks, sdk.NewToolUseBlock(tc.ID, json.RawMessage(args), tc.Name))
	}
	return blocks, nil
}

// inputSchema is a JSON Schema object as a tool's input_schema.
func inputSchema(schema map[string]any) sdk.ToolInputSchemaParam {
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
	return in
}

// tools puts req's tools and tool choice into p.
func tools(p *sdk.MessageNewParams, req model.Request) error {
	names := map[string]bool{}
	for _, t := range req.Tools {
		if t.Name == "" {
			return errors.New("anthropic: a tool needs a name")
		}
		schema := map[string]any{}
		if len(t.Parameters) > 0 {
			if err := json.Unmarshal(t.Parameters, &schema); err != nil {
				return fmt.Errorf("anthropic: tool %q: parameters is not a JSON Schema object: %w", t.Name, err)
			}
		}
		tp := &sdk.ToolParam{Name: t.Name, InputSchema: inputSchema(schema)}
		if t.Description != "" {
			tp.Description = sdk.String(t.Description)
		}
		p.Tools = append(p.Tools, sdk.ToolUnionParam{OfTool: tp})
		names[t.Name] = true
	}
	switch c := req.ToolChoice; c {
	case "":
	case "auto":
		p.ToolChoice = sdk.ToolChoiceUnionParam{OfAuto: &sdk.ToolChoiceAutoParam{}}
	case "required":
		p.ToolChoice = sdk.ToolChoiceUnionParam{OfAny: &sdk.ToolChoiceAnyParam{}}
	case "none":
		p.ToolChoice = sdk.ToolChoiceUnionParam{OfNone: &sdk.ToolChoiceNoneParam{}}
	default:
		if !names[c] {
			return fmt.Errorf("anthropic: tool_choice %q names no tool of the request", c)
		}
		p.ToolChoice = sdk.ToolChoiceParamOfTool(c)
	}
	return nil
}

// params builds the Messages request of req. It returns apart the fields
// sent as raw JSON (temperature, top_p: written as given rather than
// through the SDK's optional floats) and the name of the forced tool of
// structured output, "" for none.
func (b *Backend) params(req model.Request) (sdk.MessageNewParams, map[string]float64, string, error) {
	drop := b.pc.Drops
	p := sdk.MessageNewParams{Model: sdk.Model(b.pc.Model), MaxTokens: DefaultMaxTokens}
	opts := map[string]float64{}
	if req.MaxTokens > 0 && !drop("max_tokens") {
		p.MaxTokens = int64(req.MaxTokens)
	}
	if err := messages(&p, req.Messages); err != nil {
		return p, nil, "", err
	}
	if len(p.Messages) == 0 {
		return p, nil, "", errors.New("anthropic: a request needs at least one user message besides the system prompt")
	}
	if len(req.Stop) > 0 && !drop("stop") {
		p.StopSequences = req.Stop
	}
	thinking := req.ThinkingBudget > 0 && !drop("thinking_budget")
	if thinking {
		budget := int64(req.ThinkingBudget)
		switch {
		case budget < 1024:
			return p, nil, "", badRequest("thinking_budget %d: Anthropic needs at least 1024 thinking tokens", budget)
		case req.MaxTokens == 0 || drop("max_tokens"):
			p.MaxTokens = max(p.MaxTokens, budget+DefaultMaxTokens)
		case p.MaxTokens <= budget:
			return p, nil, "", badRequest("max_tokens %d must be greater than thinking_budget %d (thinking counts against max_tokens)", p.MaxTokens, budget)
		}
		if c := req.ToolChoice; len(req.Tools) > 0 && c != "" && c != "auto" && c != "none" {
			return p, nil, "", badRequest("tool_choice %q cannot be combined with thinking_budget: with thinking the API allows only tool_choice auto or none", c)
		}
		if len(req.JSONSchema) > 0 {
			return p, nil, "", badRequest("json_schema cannot be combined with thinking_budget: structured output forces a tool, which thinking does not allow")
		}
		p.Thinking = sdk.ThinkingConfigParamOfEnabled(budget)
	}
	if req.Temperature != nil && !drop("temperature") && (!thinking || *req.Temperature == 1) {
		opts["temperature"] = *req.Temperature
	}
	if req.TopP != nil && !drop("top_p") && (!thinking || *req.TopP >= 0.95) {
		opts["top_p"] = *req.TopP
	}
	if err := tools(&p, req); err != nil {
		return p, nil, "", err
	}
	// seed and presence_penalty do not exist in the Messages API; they are
	// part of the cache key but not sent.
	tool := ""
	if len(req.JSONSchema) > 0 {
		if len(req.Tools) > 0 {
			return p, nil, "", errors.New("anthropic: json_schema cannot be combined with tools: structured output is itself a forced tool")
		}
		var schema map[string]any
		if err := json.Unmarshal(req.JSONSchema, &schema); err != nil {
			return p, nil, "", fmt.Errorf("anthropic: json_schema is not a JSON object: %w", err)
		}
		if t, _ := schema["type"].(string); t != "" && t != "object" {
			return p, nil, "", fmt.Errorf("anthropic: json_schema must describe an object (tool input), not %q", t)
		}
		tool = toolPrefix + toolName(req.SchemaName)
		p.Tools = []sdk.ToolUnionParam{{OfTool: &sdk.ToolParam{
			Name: tool, InputSchema: inputSchema(schema),
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

// convert reads msg. tool is the forced tool of structured output, whose
// input is the answer's text; other tool_use blocks are tool calls, their
// input verbatim as the arguments.
func convert(msg *sdk.Message, tool string) *model.Response {
	var text, reasoning strings.Builder
	var ch model.Choice
	for _, c := range msg.Content {
		switch c.Type {
		case "text":
			if tool == "" {
				text.WriteString(c.Text)
			}
		case "thinking":
			if reasoning.Len() > 0 {
				reasoning.WriteString("\n\n")
			}
			reasoning.WriteString(c.Thinking)
			ch.ReasoningSignature = c.Signature
		case "redacted_thinking":
			if reasoning.Len() == 0 {
				reasoning.WriteString(RedactedMarker)
				ch.ReasoningSignature = redactedPrefix + c.Data
			}
		case "tool_use":
			if tool != "" && c.Name == tool {
				text.Write(c.Input)
			} else {
				ch.ToolCalls = append(ch.ToolCalls, model.ToolCall{ID: c.ID, Name: c.Name, Arguments: string(c.Input)})
			}
		}
	}
	out := &model.Response{
		Model: string(msg.Model),
		Usage: model.Usage{
			PromptTokens: int(msg.Usage.InputTokens), CompletionTokens: int(msg.Usage.OutputTokens),
			ReasoningTokens: int(msg.Usage.OutputTokensDetails.ThinkingTokens),
		},
	}
	if len(msg.Content) > 0 {
		ch.FinishReason = Finish(string(msg.StopReason))
		if tool != "" && msg.StopReason == sdk.StopReasonToolUse {
			ch.FinishReason = model.FinishStop // calling the forced tool is how the answer ends
		}
		ch.Text, ch.Reasoning = text.String(), reasoning.String()
		out.Choices = []model.Choice{ch}
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
	case "tool_use":
		return model.FinishTools
	}
	return model.FinishOther
}
