package scripted

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"regexp"
	"strconv"
	"strings"

	"github.com/synthloop/synthloop/model"
)

// Requests that offer tools get a tool user's turn: the stand-in calls a
// calculator-like tool (a name holding "calc") for a task with an arithmetic
// expression, and a converter (a name holding "convert") for "N UNIT to
// UNIT", filling the tool's required parameters from the task by their
// types; once a result is back it answers with it. About one first call in
// three is deliberately wrong, for the checks to catch: a tool that does not
// exist, or arguments missing a required parameter. After an error result
// it makes the right call. A task it has no tool for is answered directly.

var (
	exprRe    = regexp.MustCompile(`[\d(][\d\s+\-*/().]*[\d)]`)
	convertRe = regexp.MustCompile(`(\d+(?:\.\d+)?)\s*([A-Za-z]+)\s+(?:to|in|into)\s+([A-Za-z]+)\b`)
)

// toolTurn is the choice for a request with tools.
func toolTurn(r *rand.Rand, req model.Request) model.Choice {
	task, calls := FirstUser(req.Messages), 0
	for _, m := range req.Messages {
		calls += len(m.ToolCalls)
	}
	last := req.Messages[len(req.Messages)-1]
	if last.Role == "tool" && !last.IsError {
		return model.Choice{Text: "The result is " + strings.TrimSpace(last.Content) + ".", FinishReason: model.FinishStop}
	}
	name, args, ok := rightCall(req.Tools, task)
	if !ok {
		return model.Choice{Text: "I can answer this without a tool: " + clipWords(task, 12), FinishReason: model.FinishStop}
	}
	if last.Role == "user" && r.IntN(3) == 0 {
		// A deliberate mistake on the first call.
		if r.IntN(2) == 0 {
			name, args = "web_search", map[string]any{"query": task}
		} else {
			args = map[string]any{}
		}
	}
	b, _ := json.Marshal(args)
	return model.Choice{
		ToolCalls:    []model.ToolCall{{ID: fmt.Sprintf("call_%d", calls+1), Name: name, Arguments: string(b)}},
		FinishReason: model.FinishTools,
	}
}

// rightCall picks the tool for task and its arguments.
func rightCall(tools []model.Tool, task string) (string, map[string]any, bool) {
	find := func(part string) *model.Tool {
		for i, t := range tools {
			if strings.Contains(strings.ToLower(t.Name), part) {
				return &tools[i]
			}
		}
		return nil
	}
	if m := convertRe.FindStringSubmatch(task); m != nil {
		if t := find("convert"); t != nil {
			v, _ := strconv.ParseFloat(m[1], 64)
			return t.Name, fill(t.Parameters, []any{v}, []string{m[2], m[3]}), true
		}
	}
	for _, e := range exprRe.FindAllString(task, -1) {
		if strings.ContainsAny(e, "+-*/") {
			if t := find("calc"); t != nil {
				return t.Name, fill(t.Parameters, nil, []string{strings.TrimSpace(e)}), true
			}
		}
	}
	return "", nil, false
}

// fill gives the schema's required parameters values in order: numbers to
// the number-typed ones, strings to the string-typed ones.
func fill(schema json.RawMessage, nums []any, strs []string) map[string]any {
	var s struct {
		Properties map[string]struct {
			Type string `json:"type"`
		} `json:"properties"`
		Required []string `json:"required"`
	}
	json.Unmarshal(schema, &s)
	args := map[string]any{}
	for _, p := range s.Required {
		switch s.Properties[p].Type {
		case "number", "integer":
			if len(nums) > 0 {
				args[p], nums = nums[0], nums[1:]
			}
		case "string":
			if len(strs) > 0 {
				args[p], strs = strs[0], strs[1:]
			}
		}
	}
	return args
}
