package modeltest

import (
	"encoding/json"
	"io"
	"net/http"

	"github.com/synthloop/synthloop/internal/openaiwire"
	"github.com/synthloop/synthloop/model"
)

// created is the timestamp of every response and model entry: fixed, so a
// response is the same bytes every run.
const created = 1700000000

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
	return openaiwire.NewError(typ, "", typ, msg)
}

func (s *Server) handleOpenAI(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return
	}
	var in openaiwire.ChatRequest
	if err := json.Unmarshal(body, &in); err != nil {
		writeJSON(w, 400, openAIError(400, "could not parse the JSON body: "+err.Error()))
		return
	}
	req := &Request{
		Model: in.Model, N: 1, Temperature: in.Temperature, TopP: in.TopP, PresencePenalty: in.PresencePenalty,
		Seed: in.Seed, Header: r.Header.Clone(), Body: body,
	}
	if in.MaxTokens != nil {
		req.MaxTokens = *in.MaxTokens
	}
	if in.MaxCompletionTokens != nil && *in.MaxCompletionTokens > 0 {
		req.MaxTokens = *in.MaxCompletionTokens
	}
	if in.N != nil {
		req.N = *in.N
	}
	if len(in.Stop) > 0 {
		req.Stop = in.Stop
	}
	if in.ResponseFormat != nil && in.ResponseFormat.Type == "json_schema" && in.ResponseFormat.JSONSchema != nil {
		req.JSONSchema = in.ResponseFormat.JSONSchema.Schema
	}
	for _, m := range in.Messages {
		req.Messages = append(req.Messages, model.Message{Role: m.Role, Content: m.Content.Text()})
	}
	f, done := s.admit(req, body)
	defer done()
	var rep Reply
	good := func() []byte {
		out := openaiwire.ChatCompletion{
			ID: "chatcmpl-modeltest", Object: openaiwire.ObjectChatCompletion, Created: created, Model: rep.Model,
			Choices: []openaiwire.Choice{}, // an empty list, never null, for EmptyChoices
		}
		if out.Model == "" {
			out.Model = req.Model
		}
		if f.Kind != EmptyChoices {
			for i, c := range rep.Choices {
				fr := c.FinishReason
				if fr == "" {
					fr = model.FinishStop
				}
				out.Choices = append(out.Choices, openaiwire.Choice{Index: i, Message: openaiwire.ReplyMessage{Role: "assistant", Content: c.Text}, FinishReason: fr})
			}
		}
		u := usageOf(req, rep)
		out.Usage = openaiwire.NewUsage(u.PromptTokens, u.CompletionTokens)
		s.openAICacheUsage(req, &out.Usage)
		b, _ := json.Marshal(out)
		return b
	}
	if f.Kind == NoFault || f.Kind == Stall || f.Kind == Truncated {
		rep = s.responder(req)
	}
	s.serve(w, r, f, good, openAIError)
}
