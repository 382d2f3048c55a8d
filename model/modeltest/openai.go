package modeltest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"unicode/utf8"

	jsonv2 "github.com/go-json-experiment/json"
	jsonv1 "github.com/go-json-experiment/json/v1"

	"github.com/synthloop/synthloop/internal/openaiwire"
	"github.com/synthloop/synthloop/model"
)

// decodeRequest decodes a request body as encoding/json does, with the Go
// team's JSON v2 decoder at v1 semantics (about half the CPU of
// encoding/json: a benchmark's stand-in server decodes thousands of
// requests a second in the same process as the client it measures). A body
// it refuses is decoded again by encoding/json, whose error the 400 quotes.
func decodeRequest(body []byte, in *openaiwire.ChatRequest) error {
	if jsonv2.Unmarshal(body, in, v1Semantics) == nil {
		return nil
	}
	*in = openaiwire.ChatRequest{}
	return json.Unmarshal(body, in)
}

var v1Semantics = jsonv1.DefaultOptionsV1()

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
	if err := decodeRequest(body, &in); err != nil {
		writeJSON(w, 400, openAIError(400, "could not parse the JSON body: "+err.Error()))
		return
	}
	req := &Request{
		Model: in.Model, N: 1, Temperature: in.Temperature, TopP: in.TopP, PresencePenalty: in.PresencePenalty,
		Seed: in.Seed, Header: r.Header.Clone(), Body: body, ReasoningEffort: in.ReasoningEffort, Stream: in.Stream,
	}
	if in.MaxTokens != nil {
		req.MaxTokens = *in.MaxTokens
	}
	if in.MaxCompletionTokens != nil && *in.MaxCompletionTokens > 0 {
		req.MaxTokens = *in.MaxCompletionTokens
	}
	if in.N != nil {
		if *in.N < 1 || *in.N > 128 {
			writeJSON(w, 400, openAIError(400, "n must be between 1 and 128"))
			return
		}
		req.N = *in.N
	}
	if len(in.Stop) > 0 {
		req.Stop = in.Stop
	}
	if in.ResponseFormat != nil && in.ResponseFormat.Type == "json_schema" && in.ResponseFormat.JSONSchema != nil {
		req.JSONSchema = in.ResponseFormat.JSONSchema.Schema
	}
	if err := decodeOpenAITools(in, req); err != nil {
		writeJSON(w, 400, openAIError(400, err.Error()))
		return
	}
	for _, m := range in.Messages {
		msg := model.Message{Role: m.Role, Content: m.Content.Text(), ToolCallID: m.ToolCallID}
		for _, tc := range m.ToolCalls {
			msg.ToolCalls = append(msg.ToolCalls, model.ToolCall{ID: tc.ID, Name: tc.Function.Name, Arguments: tc.Function.Arguments})
		}
		req.Messages = append(req.Messages, msg)
	}
	f, done := s.admit(req, body)
	defer done()
	var rep Reply
	good, ctype := func() []byte { return s.openAICompletion(req, rep, f) }, ctypeJSON
	if in.Stream {
		includeUsage := in.StreamOptions != nil && in.StreamOptions.IncludeUsage
		good, ctype = func() []byte { return s.openAIStream(req, rep, f, includeUsage) }, ctypeEvents
	}
	if f.Kind == NoFault || f.Kind == Stall || f.Kind == Truncated {
		rep = s.responder(req)
	}
	s.serve(w, r, f, ctype, good, openAIError)
}

// decodeOpenAITools reads the request's tools and tool_choice into req, in
// the shapes the OpenAI SDKs send.
func decodeOpenAITools(in openaiwire.ChatRequest, req *Request) error {
	if len(in.Tools) > 0 && string(in.Tools) != "null" {
		var tools []openaiwire.Tool
		if err := json.Unmarshal(in.Tools, &tools); err != nil {
			return fmt.Errorf("tools: %v", err)
		}
		for i, t := range tools {
			if t.Type != "function" || t.Function.Name == "" {
				return fmt.Errorf("tools[%d]: want a function tool with a name", i)
			}
			req.Tools = append(req.Tools, model.Tool{Name: t.Function.Name, Description: t.Function.Description, Parameters: t.Function.Parameters})
		}
	}
	if len(in.ToolChoice) > 0 && string(in.ToolChoice) != "null" {
		var mode string
		if json.Unmarshal(in.ToolChoice, &mode) == nil {
			req.ToolChoice = mode
		} else {
			var named struct {
				Type     string `json:"type"`
				Function struct {
					Name string `json:"name"`
				} `json:"function"`
			}
			if err := json.Unmarshal(in.ToolChoice, &named); err != nil || named.Type != "function" || named.Function.Name == "" {
				return fmt.Errorf("tool_choice: want \"auto\", \"none\", \"required\" or {\"type\":\"function\",\"function\":{\"name\":...}}")
			}
			req.ToolChoice = named.Function.Name
		}
	}
	return nil
}

// finishOf is the OpenAI finish_reason of a scripted choice.
func finishOf(c Choice) string {
	switch {
	case c.FinishReason != "":
		return c.FinishReason
	case len(c.ToolCalls) > 0:
		return model.FinishTools
	}
	return model.FinishStop
}

func wireToolCalls(calls []model.ToolCall) []openaiwire.ToolCall {
	var out []openaiwire.ToolCall
	for _, tc := range calls {
		out = append(out, openaiwire.ToolCall{ID: tc.ID, Type: "function", Function: openaiwire.FunctionCall{Name: tc.Name, Arguments: tc.Arguments}})
	}
	return out
}

func (s *Server) openAIUsage(req *Request, rep Reply) openaiwire.Usage {
	u := usageOf(req, rep)
	out := openaiwire.NewUsage(u.PromptTokens, u.CompletionTokens)
	if u.ReasoningTokens > 0 {
		out.CompletionTokensDetails = &openaiwire.CompletionTokensDetails{ReasoningTokens: u.ReasoningTokens}
	}
	s.openAICacheUsage(req, &out)
	return out
}

func (s *Server) openAICompletion(req *Request, rep Reply, f Fault) []byte {
	out := openaiwire.ChatCompletion{
		ID: "chatcmpl-modeltest", Object: openaiwire.ObjectChatCompletion, Created: created, Model: rep.Model,
		Choices: []openaiwire.Choice{}, // an empty list, never null, for EmptyChoices
	}
	if out.Model == "" {
		out.Model = req.Model
	}
	if f.Kind != EmptyChoices {
		for i, c := range rep.Choices {
			msg := openaiwire.ReplyMessage{Role: "assistant", Content: c.Text, ToolCalls: wireToolCalls(c.ToolCalls)}
			if s.reasoningField == "reasoning" {
				msg.Reasoning = c.Reasoning
			} else {
				msg.ReasoningContent = c.Reasoning
			}
			out.Choices = append(out.Choices, openaiwire.Choice{Index: i, Message: msg, FinishReason: finishOf(c)})
		}
	}
	out.Usage = s.openAIUsage(req, rep)
	b, _ := json.Marshal(out)
	return b
}

// openAIStream is the answer as OpenAI streams it: per choice a role chunk,
// the reasoning, the text and each tool call in pieces, and a finish chunk;
// then the usage chunk when asked for, and [DONE].
func (s *Server) openAIStream(req *Request, rep Reply, f Fault, includeUsage bool) []byte {
	m := rep.Model
	if m == "" {
		m = req.Model
	}
	var buf bytes.Buffer
	send := func(choices []openaiwire.ChunkChoice, u *openaiwire.Usage) {
		b, _ := json.Marshal(openaiwire.ChatCompletionChunk{
			ID: "chatcmpl-modeltest", Object: openaiwire.ObjectChatCompletionChunk, Created: created, Model: m,
			Choices: choices, Usage: u,
		})
		fmt.Fprintf(&buf, "data: %s\n\n", b)
	}
	one := func(i int, d openaiwire.Delta) { send([]openaiwire.ChunkChoice{{Index: i, Delta: d}}, nil) }
	if f.Kind != EmptyChoices {
		for i, c := range rep.Choices {
			one(i, openaiwire.Delta{Role: "assistant"})
			for _, piece := range pieces(c.Reasoning) {
				if s.reasoningField == "reasoning" {
					one(i, openaiwire.Delta{Reasoning: piece})
				} else {
					one(i, openaiwire.Delta{ReasoningContent: piece})
				}
			}
			for _, piece := range pieces(c.Text) {
				one(i, openaiwire.Delta{Content: piece})
			}
			for j, tc := range c.ToolCalls {
				args := pieces(tc.Arguments)
				if len(args) == 0 {
					args = []string{""}
				}
				for k, a := range args {
					d := openaiwire.DeltaToolCall{Index: j}
					if k == 0 {
						d.ID, d.Type, d.Function.Name = tc.ID, "function", tc.Name
					}
					d.Function.Arguments = a
					one(i, openaiwire.Delta{ToolCalls: []openaiwire.DeltaToolCall{d}})
				}
			}
			fr := finishOf(c)
			send([]openaiwire.ChunkChoice{{Index: i, Delta: openaiwire.Delta{}, FinishReason: &fr}}, nil)
		}
	}
	if includeUsage {
		u := s.openAIUsage(req, rep)
		send([]openaiwire.ChunkChoice{}, &u)
	}
	buf.WriteString("data: [DONE]\n\n")
	return buf.Bytes()
}

// pieces cuts s into pieces of about 8 bytes, on character boundaries (a
// JSON string cannot hold half a character), so that tests see text arrive
// in more than one delta.
func pieces(s string) []string {
	var out []string
	for len(s) > 0 {
		n := min(8, len(s))
		for n < len(s) && !utf8.RuneStart(s[n]) {
			n++
		}
		out = append(out, s[:n])
		s = s[n:]
	}
	return out
}
