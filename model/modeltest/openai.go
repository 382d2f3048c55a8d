package modeltest

import (
	"encoding/json"
	"io"
	"net/http"

	"github.com/synthloop/synthloop/model"
)

// openAIRequest is the part of a chat completions body the server reads.
type openAIRequest struct {
	Model    string `json:"model"`
	Messages []struct {
		Role    string          `json:"role"`
		Content json.RawMessage `json:"content"`
	} `json:"messages"`
	N                   *int            `json:"n"`
	Temperature         *float64        `json:"temperature"`
	TopP                *float64        `json:"top_p"`
	PresencePenalty     *float64        `json:"presence_penalty"`
	MaxTokens           int             `json:"max_tokens"`
	MaxCompletionTokens int             `json:"max_completion_tokens"`
	Stop                json.RawMessage `json:"stop"`
	Seed                *int64          `json:"seed"`
	ResponseFormat      *struct {
		Type       string `json:"type"`
		JSONSchema struct {
			Schema json.RawMessage `json:"schema"`
		} `json:"json_schema"`
	} `json:"response_format"`
}

// contentText reads a message content that is a string or a list of text parts.
func contentText(raw json.RawMessage) string {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	var parts []struct {
		Type string `json:"type"`
		Text string `json:"text"`
	}
	json.Unmarshal(raw, &parts)
	out := ""
	for _, p := range parts {
		out += p.Text
	}
	return out
}

// stopList reads "stop" as a string or a list.
func stopList(raw json.RawMessage) []string {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return []string{s}
	}
	var l []string
	json.Unmarshal(raw, &l)
	return l
}

func openAIError(status int, msg string) any {
	typ := "server_error"
	switch {
	case status == 429:
		typ = "rate_limit_exceeded"
	case status == 401:
		typ = "invalid_api_key"
	case status < 500:
		typ = "invalid_request_error"
	}
	return map[string]any{"error": map[string]any{"message": msg, "type": typ, "code": typ, "param": nil}}
}

func (s *Server) handleOpenAI(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return
	}
	var in openAIRequest
	if err := json.Unmarshal(body, &in); err != nil {
		writeJSON(w, 400, openAIError(400, "could not parse the JSON body: "+err.Error()))
		return
	}
	req := &Request{
		Model: in.Model, N: 1, Temperature: in.Temperature, TopP: in.TopP, PresencePenalty: in.PresencePenalty,
		MaxTokens: in.MaxTokens, Seed: in.Seed, Header: r.Header.Clone(), Body: body,
	}
	if in.MaxCompletionTokens > 0 {
		req.MaxTokens = in.MaxCompletionTokens
	}
	if in.N != nil {
		req.N = *in.N
	}
	if len(in.Stop) > 0 {
		req.Stop = stopList(in.Stop)
	}
	if in.ResponseFormat != nil && in.ResponseFormat.Type == "json_schema" {
		req.JSONSchema = in.ResponseFormat.JSONSchema.Schema
	}
	for _, m := range in.Messages {
		req.Messages = append(req.Messages, model.Message{Role: m.Role, Content: contentText(m.Content)})
	}
	f, done := s.admit(req, body)
	defer done()
	var rep Reply
	good := func() []byte {
		type msg struct {
			Role    string `json:"role"`
			Content string `json:"content"`
		}
		type choice struct {
			Index        int    `json:"index"`
			Message      msg    `json:"message"`
			FinishReason string `json:"finish_reason"`
			Logprobs     any    `json:"logprobs"`
		}
		choices := []choice{}
		if f.Kind != EmptyChoices {
			for i, c := range rep.Choices {
				fr := c.FinishReason
				if fr == "" {
					fr = model.FinishStop
				}
				choices = append(choices, choice{Index: i, Message: msg{Role: "assistant", Content: c.Text}, FinishReason: fr})
			}
		}
		u := usageOf(req, rep)
		m := rep.Model
		if m == "" {
			m = req.Model
		}
		b, _ := json.Marshal(map[string]any{
			"id": "chatcmpl-modeltest", "object": "chat.completion", "created": 1700000000, "model": m,
			"choices": choices,
			"usage": map[string]int{"prompt_tokens": u.PromptTokens, "completion_tokens": u.CompletionTokens,
				"total_tokens": u.PromptTokens + u.CompletionTokens},
		})
		return b
	}
	if f.Kind == NoFault || f.Kind == Stall || f.Kind == Truncated {
		rep = s.responder(req)
	}
	s.serve(w, r, f, good, openAIError)
}
