package modeltest

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"

	"github.com/synthloop/synthloop/model"
)

type anthropicRequest struct {
	Model     string          `json:"model"`
	MaxTokens int             `json:"max_tokens"`
	System    json.RawMessage `json:"system"`
	Messages  []struct {
		Role    string          `json:"role"`
		Content json.RawMessage `json:"content"`
	} `json:"messages"`
	StopSequences []string `json:"stop_sequences"`
	Temperature   *float64 `json:"temperature"`
	TopP          *float64 `json:"top_p"`
	Stream        bool     `json:"stream"`
	Thinking      *struct {
		Type         string `json:"type"`
		BudgetTokens int    `json:"budget_tokens"`
	} `json:"thinking"`
	Tools []struct {
		Name        string          `json:"name"`
		Description string          `json:"description"`
		InputSchema json.RawMessage `json:"input_schema"`
	} `json:"tools"`
	ToolChoice *struct {
		Type string `json:"type"`
		Name string `json:"name"`
	} `json:"tool_choice"`
}

// anthropicBlock is a content block of a request message, any type.
type anthropicBlock struct {
	Type      string          `json:"type"`
	Text      string          `json:"text"`
	Thinking  string          `json:"thinking"`
	Signature string          `json:"signature"`
	ID        string          `json:"id"`
	Name      string          `json:"name"`
	Input     json.RawMessage `json:"input"`
	ToolUseID string          `json:"tool_use_id"`
	Content   json.RawMessage `json:"content"`
	IsError   bool            `json:"is_error"`
}

func anthropicError(status int, msg string) any {
	typ := "api_error"
	switch status {
	case 400:
		typ = "invalid_request_error"
	case 401:
		typ = "authentication_error"
	case 403:
		typ = "permission_error"
	case 404:
		typ = "not_found_error"
	case 429:
		typ = "rate_limit_error"
	case 529:
		typ = "overloaded_error"
	}
	return map[string]any{"type": "error", "error": map[string]any{"type": typ, "message": msg}}
}

var stopReasons = map[string]string{
	model.FinishStop:   "end_turn",
	model.FinishLength: "max_tokens",
	model.FinishFilter: "refusal",
	model.FinishTools:  "tool_use",
}

// Signature is the signature the Anthropic stand-in gives a thinking block
// and demands back with it, as the real API checks that thinking sent back
// in a conversation is unaltered.
func Signature(thinking string) string {
	sum := sha256.Sum256([]byte(thinking))
	return "sig-" + hex.EncodeToString(sum[:8])
}

func (s *Server) handleAnthropic(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return
	}
	var in anthropicRequest
	if err := json.Unmarshal(body, &in); err != nil {
		writeJSON(w, 400, anthropicError(400, "could not parse the JSON body: "+err.Error()))
		return
	}
	req, tool, err := decodeAnthropic(in)
	if err != nil {
		writeJSON(w, 400, anthropicError(400, err.Error()))
		return
	}
	req.Header, req.Body = r.Header.Clone(), body
	f, done := s.admit(req, body)
	defer done()
	var rep Reply
	good, ctype := func() []byte {
		b, _ := json.Marshal(s.withPromptCache(req, anthropicMessage(req, rep, f, tool)))
		return b
	}, ctypeJSON
	if in.Stream {
		good, ctype = func() []byte { return anthropicStream(s.withPromptCache(req, anthropicMessage(req, rep, f, tool))) }, ctypeEvents
	}
	if f.Kind == NoFault || f.Kind == Stall || f.Kind == Truncated {
		rep = s.responder(req)
		if len(rep.Choices) > 1 {
			rep.Choices = rep.Choices[:1]
		}
	}
	s.serve(w, r, f, ctype, good, anthropicError)
}

// decodeAnthropic reads a Messages request as the Responder sees it, and
// refuses what the real API refuses about thinking. tool is the forced
// tool of structured output: a tool_choice naming the only tool is read as
// a request for JSON following its input_schema (Request.JSONSchema), the
// way synthloop's Anthropic backend asks for it; any other tools go to
// Request.Tools.
func decodeAnthropic(in anthropicRequest) (req *Request, tool string, err error) {
	if in.MaxTokens <= 0 {
		return nil, "", fmt.Errorf("max_tokens: field required")
	}
	req = &Request{
		Model: in.Model, N: 1, Temperature: in.Temperature, TopP: in.TopP, MaxTokens: in.MaxTokens,
		Stop: in.StopSequences, Stream: in.Stream,
	}
	if th := in.Thinking; th != nil && th.Type == "enabled" {
		switch {
		case th.BudgetTokens < 1024:
			return nil, "", fmt.Errorf("thinking.enabled.budget_tokens: Input should be greater than or equal to 1024")
		case th.BudgetTokens >= in.MaxTokens:
			return nil, "", fmt.Errorf("`max_tokens` must be greater than `thinking.budget_tokens`")
		case in.Temperature != nil && *in.Temperature != 1:
			return nil, "", fmt.Errorf("`temperature` may only be set to 1 when thinking is enabled")
		case in.ToolChoice != nil && (in.ToolChoice.Type == "any" || in.ToolChoice.Type == "tool"):
			return nil, "", fmt.Errorf("Thinking may not be enabled when tool_choice forces tool use.")
		}
		req.ThinkingBudget = th.BudgetTokens
	}
	if len(in.System) > 0 {
		if sys := contentText(in.System); sys != "" {
			req.Messages = append(req.Messages, model.Message{Role: "system", Content: sys})
		}
	}
	for i, m := range in.Messages {
		msgs, err := anthropicMessages(m.Role, m.Content)
		if err != nil {
			return nil, "", fmt.Errorf("messages.%d: %v", i, err)
		}
		req.Messages = append(req.Messages, msgs...)
	}
	if tc := in.ToolChoice; tc != nil && tc.Type == "tool" && len(in.Tools) == 1 && in.Tools[0].Name == tc.Name {
		req.JSONSchema = in.Tools[0].InputSchema
		return req, tc.Name, nil
	}
	for _, t := range in.Tools {
		req.Tools = append(req.Tools, model.Tool{Name: t.Name, Description: t.Description, Parameters: t.InputSchema})
	}
	if tc := in.ToolChoice; tc != nil {
		switch tc.Type {
		case "any":
			req.ToolChoice = "required"
		case "tool":
			req.ToolChoice = tc.Name
		default:
			req.ToolChoice = tc.Type
		}
	}
	return req, "", nil
}

// anthropicMessages turns one request message into model messages: an
// assistant message keeps its thinking (checked against its signature) and
// tool calls; each tool_result block of a user message becomes a "tool"
// message, followed by the user's text if there is any.
func anthropicMessages(role string, raw json.RawMessage) ([]model.Message, error) {
	var text string
	if json.Unmarshal(raw, &text) == nil {
		return []model.Message{{Role: role, Content: text}}, nil
	}
	var blocks []anthropicBlock
	if err := json.Unmarshal(raw, &blocks); err != nil {
		return nil, fmt.Errorf("content: want a string or a list of blocks")
	}
	msg := model.Message{Role: role}
	var out []model.Message
	for j, b := range blocks {
		switch b.Type {
		case "text":
			msg.Content += b.Text
		case "thinking":
			if role != "assistant" || b.Signature != Signature(b.Thinking) {
				return nil, fmt.Errorf("content.%d: Invalid `signature` in `thinking` block", j)
			}
			msg.Reasoning, msg.ReasoningSignature = b.Thinking, b.Signature
		case "redacted_thinking":
		case "tool_use":
			var buf bytes.Buffer
			if err := json.Compact(&buf, b.Input); err != nil || role != "assistant" {
				return nil, fmt.Errorf("content.%d: tool_use needs an assistant turn and an input object", j)
			}
			msg.ToolCalls = append(msg.ToolCalls, model.ToolCall{ID: b.ID, Name: b.Name, Arguments: buf.String()})
		case "tool_result":
			if role != "user" {
				return nil, fmt.Errorf("content.%d: tool_result belongs in a user turn", j)
			}
			out = append(out, model.Message{Role: "tool", ToolCallID: b.ToolUseID, Content: contentText(b.Content), IsError: b.IsError})
		default:
			return nil, fmt.Errorf("content.%d: unknown block type %q", j, b.Type)
		}
	}
	if len(out) == 0 || msg.Content != "" || len(msg.ToolCalls) > 0 {
		out = append(out, msg)
	}
	return out, nil
}

// anthropicMessage is the reply as a Messages API message: thinking first,
// then text, then tool_use blocks.
func anthropicMessage(req *Request, rep Reply, f Fault, tool string) map[string]any {
	content := []map[string]any{}
	stop := "end_turn"
	if f.Kind != EmptyChoices && len(rep.Choices) > 0 {
		c := rep.Choices[0]
		if len(c.ToolCalls) > 0 {
			stop = "tool_use"
		}
		if c.FinishReason != "" {
			stop = c.FinishReason
			if v, ok := stopReasons[c.FinishReason]; ok {
				stop = v
			}
		}
		if c.Reasoning != "" {
			content = append(content, map[string]any{"type": "thinking", "thinking": c.Reasoning, "signature": Signature(c.Reasoning)})
		}
		switch {
		case tool != "" && len(c.ToolCalls) == 0:
			var input any
			if json.Unmarshal([]byte(c.Text), &input) != nil {
				input = map[string]any{"value": c.Text}
			}
			content = append(content, map[string]any{"type": "tool_use", "id": "toolu_modeltest", "name": tool, "input": input})
			if stop == "end_turn" {
				stop = "tool_use"
			}
		case c.Text != "" || len(c.ToolCalls) == 0:
			content = append(content, map[string]any{"type": "text", "text": c.Text})
		}
		for _, tc := range c.ToolCalls {
			var input any = map[string]any{}
			if json.Unmarshal([]byte(tc.Arguments), &input) != nil {
				input = map[string]any{"value": tc.Arguments}
			}
			content = append(content, map[string]any{"type": "tool_use", "id": tc.ID, "name": tc.Name, "input": input})
		}
	}
	u := usageOf(req, rep)
	m := rep.Model
	if m == "" {
		m = req.Model
	}
	usage := map[string]any{"input_tokens": u.PromptTokens, "output_tokens": u.CompletionTokens}
	if u.ReasoningTokens > 0 {
		usage["output_tokens_details"] = map[string]int{"thinking_tokens": u.ReasoningTokens}
	}
	return map[string]any{
		"id": "msg_modeltest", "type": "message", "role": "assistant", "model": m,
		"content": content, "stop_reason": stop, "stop_sequence": nil, "usage": usage,
	}
}

// anthropicStream is msg as the Messages API streams it: message_start,
// each block's start, deltas (thinking_delta and signature_delta,
// text_delta, input_json_delta) and stop, message_delta with the stop
// reason and usage, and message_stop.
func anthropicStream(msg map[string]any) []byte {
	var buf bytes.Buffer
	event := func(typ string, data map[string]any) {
		data["type"] = typ
		b, _ := json.Marshal(data)
		fmt.Fprintf(&buf, "event: %s\ndata: %s\n\n", typ, b)
	}
	usage := msg["usage"].(map[string]any)
	start := map[string]any{}
	for k, v := range msg {
		start[k] = v
	}
	start["content"], start["stop_reason"] = []any{}, nil
	start["usage"] = map[string]any{"input_tokens": usage["input_tokens"], "output_tokens": 1}
	event("message_start", map[string]any{"message": start})
	for i, block := range msg["content"].([]map[string]any) {
		delta := func(d map[string]any) { event("content_block_delta", map[string]any{"index": i, "delta": d}) }
		switch block["type"] {
		case "thinking":
			event("content_block_start", map[string]any{"index": i, "content_block": map[string]any{"type": "thinking", "thinking": "", "signature": ""}})
			for _, p := range pieces(block["thinking"].(string)) {
				delta(map[string]any{"type": "thinking_delta", "thinking": p})
			}
			delta(map[string]any{"type": "signature_delta", "signature": block["signature"]})
		case "text":
			event("content_block_start", map[string]any{"index": i, "content_block": map[string]any{"type": "text", "text": ""}})
			for _, p := range pieces(block["text"].(string)) {
				delta(map[string]any{"type": "text_delta", "text": p})
			}
		case "tool_use":
			event("content_block_start", map[string]any{"index": i, "content_block": map[string]any{"type": "tool_use", "id": block["id"], "name": block["name"], "input": map[string]any{}}})
			in, _ := json.Marshal(block["input"])
			for _, p := range pieces(string(in)) {
				delta(map[string]any{"type": "input_json_delta", "partial_json": p})
			}
		}
		event("content_block_stop", map[string]any{"index": i})
	}
	event("message_delta", map[string]any{
		"delta": map[string]any{"stop_reason": msg["stop_reason"], "stop_sequence": nil},
		"usage": usage,
	})
	event("message_stop", map[string]any{})
	return buf.Bytes()
}

// contentText reads an Anthropic content (or system) that is a string or a
// list of blocks, joining the blocks' text. The server is lenient: what it
// cannot read is empty text, for the client under test to be judged on.
func contentText(raw json.RawMessage) string {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	var blocks []struct {
		Type string `json:"type"`
		Text string `json:"text"`
	}
	json.Unmarshal(raw, &blocks)
	out := ""
	for _, b := range blocks {
		out += b.Text
	}
	return out
}
