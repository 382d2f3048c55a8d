package export

import (
	"encoding/json"
	"strings"

	"github.com/synthloop/synthloop/record"
)

// The tool-call shapes. A record from the tools stage holds its trajectory
// in Messages (assistant turns with ToolCalls, "tool" turns with
// ToolCallID) and the tools it was offered in Meta["tools"]; the chat
// formats carry both, each in the shape its readers expect.

// toolDef is a tool as the tools stage records it.
type toolDef struct {
	Name        string          `json:"name"`
	Description string          `json:"description,omitempty"`
	Parameters  json.RawMessage `json:"parameters,omitempty"`
}

// toolsOf returns the tools a record was offered, none when it has none
// or they do not read.
func toolsOf(r *record.Record) []toolDef {
	v, ok := r.Meta["tools"]
	if !ok {
		return nil
	}
	b, err := json.Marshal(v)
	if err != nil {
		return nil
	}
	var out []toolDef
	if json.Unmarshal(b, &out) != nil {
		return nil
	}
	return out
}

// chatTool is a tool in the OpenAI chat shape, which Hugging Face chat
// templates read too.
type chatTool struct {
	Type     string  `json:"type"` // "function"
	Function toolDef `json:"function"`
}

func chatTools(r *record.Record) []chatTool {
	defs := toolsOf(r)
	if len(defs) == 0 {
		return nil
	}
	out := make([]chatTool, len(defs))
	for i, d := range defs {
		out[i] = chatTool{"function", d}
	}
	return out
}

// chatMessage is a message in the OpenAI chat shape.
type chatMessage struct {
	Role      string `json:"role"`
	Content   string `json:"content"`
	Reasoning string `json:"reasoning,omitempty"`
	// Name is the tool a "tool" message answers, for chat templates that
	// want it (the trl format); OpenAI's format has no such field.
	Name       string         `json:"name,omitempty"`
	ToolCalls  []chatToolCall `json:"tool_calls,omitempty"`
	ToolCallID string         `json:"tool_call_id,omitempty"`
}

type chatToolCall struct {
	ID       string       `json:"id"`
	Type     string       `json:"type"` // "function"
	Function chatFunction `json:"function"`
}

type chatFunction struct {
	Name string `json:"name"`
	// Arguments is the JSON text for OpenAI, the object itself for chat
	// templates, which iterate over it.
	Arguments any `json:"arguments"`
}

// chatMessages converts turns; objectArgs writes arguments as objects (an
// argument string that is no JSON object stays a string) and names tool
// turns after their call.
func chatMessages(ts []record.Turn, objectArgs bool) []chatMessage {
	out := make([]chatMessage, len(ts))
	names := map[string]string{}
	for i, t := range ts {
		m := chatMessage{Role: t.Role, Content: t.Content, Reasoning: t.Reasoning, ToolCallID: t.ToolCallID}
		for _, c := range t.ToolCalls {
			names[c.ID] = c.Name
			var args any = c.Arguments
			if objectArgs {
				args = argsObject(c.Arguments)
			}
			m.ToolCalls = append(m.ToolCalls, chatToolCall{ID: c.ID, Type: "function", Function: chatFunction{Name: c.Name, Arguments: args}})
		}
		if objectArgs && t.Role == "tool" {
			m.Name = names[t.ToolCallID]
		}
		out[i] = m
	}
	return out
}

// argsObject is arguments as a JSON object when they are one.
func argsObject(s string) any {
	var obj map[string]json.RawMessage
	if strings.TrimSpace(s) == "" {
		return map[string]json.RawMessage{}
	}
	if json.Unmarshal([]byte(s), &obj) != nil || obj == nil {
		return s
	}
	return json.RawMessage(s)
}

// trlLine is the openai row with tool-call arguments as objects and tool
// turns named, as TRL reads them.
func trlLine(r *record.Record, withAudit bool) any { return chatLine(r, withAudit, true) }

// shareGPTCall is one call in a function_call turn, the way LLaMA-Factory
// and axolotl read ShareGPT tool data.
type shareGPTCall struct {
	Name      string `json:"name"`
	Arguments any    `json:"arguments"`
}

// shareGPTToolTurns converts a trajectory: an assistant turn that calls
// tools becomes one function_call turn (its text, if any, is dropped: the
// format alternates strictly between the user side and the model side),
// and consecutive tool turns one observation turn.
func shareGPTToolTurns(ts []record.Turn) []shareGPTTurn {
	var out []shareGPTTurn
	var results []string
	flush := func() {
		switch len(results) {
		case 0:
			return
		case 1:
			out = append(out, shareGPTTurn{"observation", results[0]})
		default:
			b, _ := json.Marshal(results)
			out = append(out, shareGPTTurn{"observation", string(b)})
		}
		results = nil
	}
	for _, t := range ts {
		if t.Role == "tool" {
			results = append(results, t.Content)
			continue
		}
		flush()
		if t.Role == "assistant" && len(t.ToolCalls) > 0 {
			calls := make([]shareGPTCall, len(t.ToolCalls))
			for i, c := range t.ToolCalls {
				calls[i] = shareGPTCall{c.Name, argsObject(c.Arguments)}
			}
			var b []byte
			if len(calls) == 1 {
				b, _ = json.Marshal(calls[0])
			} else {
				b, _ = json.Marshal(calls)
			}
			out = append(out, shareGPTTurn{"function_call", string(b)})
			continue
		}
		from, ok := shareGPTRoles[t.Role]
		if !ok {
			from = t.Role
		}
		out = append(out, shareGPTTurn{from, t.Content})
	}
	flush()
	return out
}

// hasToolCalls reports whether a record's turns call tools.
func hasToolCalls(ts []record.Turn) bool {
	for _, t := range ts {
		if len(t.ToolCalls) > 0 || t.Role == "tool" {
			return true
		}
	}
	return false
}

// shareGPTToolsText is the tools list as ShareGPT tool data holds it: a
// JSON string of the function definitions.
func shareGPTToolsText(r *record.Record) string {
	defs := toolsOf(r)
	if len(defs) == 0 {
		return ""
	}
	b, _ := json.Marshal(defs)
	return string(b)
}
