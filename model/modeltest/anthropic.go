package modeltest

import (
	"encoding/json"
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
	Tools         []struct {
		Name        string          `json:"name"`
		InputSchema json.RawMessage `json:"input_schema"`
	} `json:"tools"`
	ToolChoice *struct {
		Type string `json:"type"`
		Name string `json:"name"`
	} `json:"tool_choice"`
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
	if in.MaxTokens <= 0 {
		writeJSON(w, 400, anthropicError(400, "max_tokens: field required"))
		return
	}
	req := &Request{
		Model: in.Model, N: 1, Temperature: in.Temperature, TopP: in.TopP, MaxTokens: in.MaxTokens,
		Stop: in.StopSequences, Header: r.Header.Clone(), Body: body,
	}
	if len(in.System) > 0 {
		if sys := contentText(in.System); sys != "" {
			req.Messages = append(req.Messages, model.Message{Role: "system", Content: sys})
		}
	}
	for _, m := range in.Messages {
		req.Messages = append(req.Messages, model.Message{Role: m.Role, Content: contentText(m.Content)})
	}
	tool := ""
	if in.ToolChoice != nil && in.ToolChoice.Type == "tool" {
		tool = in.ToolChoice.Name
		for _, t := range in.Tools {
			if t.Name == tool {
				req.JSONSchema = t.InputSchema
			}
		}
	}
	f, done := s.admit(req, body)
	defer done()
	var rep Reply
	good := func() []byte {
		content := []map[string]any{}
		stop := "end_turn"
		if f.Kind != EmptyChoices && len(rep.Choices) > 0 {
			c := rep.Choices[0]
			if c.FinishReason != "" {
				stop = c.FinishReason
				if v, ok := stopReasons[c.FinishReason]; ok {
					stop = v
				}
			}
			if tool != "" {
				var input any
				if json.Unmarshal([]byte(c.Text), &input) != nil {
					input = map[string]any{"value": c.Text}
				}
				content = append(content, map[string]any{"type": "tool_use", "id": "toolu_modeltest", "name": tool, "input": input})
				if stop == "end_turn" {
					stop = "tool_use"
				}
			} else {
				content = append(content, map[string]any{"type": "text", "text": c.Text})
			}
		}
		u := usageOf(req, rep)
		m := rep.Model
		if m == "" {
			m = req.Model
		}
		b, _ := json.Marshal(map[string]any{
			"id": "msg_modeltest", "type": "message", "role": "assistant", "model": m,
			"content": content, "stop_reason": stop, "stop_sequence": nil,
			"usage": s.anthropicUsage(body, u),
		})
		return b
	}
	if f.Kind == NoFault || f.Kind == Stall || f.Kind == Truncated {
		rep = s.responder(req)
		if len(rep.Choices) > 1 {
			rep.Choices = rep.Choices[:1]
		}
	}
	s.serve(w, r, f, good, anthropicError)
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
