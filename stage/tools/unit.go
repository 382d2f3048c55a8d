package tools

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/synthloop/synthloop/internal/prompt"
	"github.com/synthloop/synthloop/internal/structured"
	"github.com/synthloop/synthloop/model"
	"github.com/synthloop/synthloop/pipeline"
	"github.com/synthloop/synthloop/record"
	"github.com/synthloop/synthloop/stage/internal/attrs"
	"github.com/synthloop/synthloop/stage/internal/bestofn"
	"github.com/synthloop/synthloop/stage/internal/genkit"
	"github.com/synthloop/synthloop/verify"
)

// unit is the work of one input record: its tasks and their trajectories.
type unit struct {
	*run
	in    *record.Record
	usage pipeline.UnitUsage
	posed structured.Mode // how the tasks were asked for

	// The trajectory under way.
	task    string
	keys    *[]string // its record's request keys
	history []string  // its calls and results, for the simulator
}

func (u *unit) do(ctx context.Context) ([]*record.Record, error) {
	if u.tasks == nil {
		r, err := u.trajectory(ctx, u.env.Name+":"+u.in.ID, genkit.TaskText(u.in))
		if err != nil {
			return nil, err
		}
		return []*record.Record{r}, nil
	}
	tasks, keys, fail, err := u.pose(ctx)
	if err != nil || fail != nil {
		return []*record.Record{fail}, err
	}
	var out []*record.Record
	for i, t := range tasks {
		r, err := u.trajectory(ctx, fmt.Sprintf("%s:%s:%02d", u.env.Name, u.in.ID, i), t)
		if err != nil {
			return nil, err
		}
		r.Prov.RequestKeys = append(append([]string(nil), keys...), r.Prov.RequestKeys...)
		r.Meta["task_index"] = i
		out = append(out, r)
	}
	return out, nil
}

// pose asks the task model for tasks about the input's topic. A permanent
// failure comes back as the unit's one failed record.
func (u *unit) pose(ctx context.Context) (tasks, keys []string, fail *record.Record, err error) {
	s := u.st.cfg
	persona := s.Persona
	if p, ok := u.in.Meta["persona"].(string); ok && strings.TrimSpace(p) != "" {
		persona = p
	}
	data := taskData{Tools: u.ts.defs(), Topic: genkit.TaskText(u.in), Persona: persona, N: s.TasksPerInput}
	if spec, ok := attrs.Of(u.in); ok {
		// A sample record's topic column is the topic when the record has
		// no task text; persona is shown as the person asking; the other
		// columns are listed for the tasks to fit.
		for _, a := range attrs.Pairs(u.in, spec) {
			switch {
			case a.Name == "persona" || a.Name == "instruction" || a.Name == "input":
			case a.Name == "topic" && data.Topic == "":
				data.Topic = a.Value
			default:
				data.Attributes = append(data.Attributes, a)
			}
		}
	}
	p, err := taskPrompt.Render(data)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("tools: task prompt: %w", err)
	}
	ask := genkit.Ask[[]string]{
		Request: model.Request{Messages: []model.Message{{Role: "user", Content: p}}, MaxTokens: s.TaskMaxTokens},
		Parse:   func(reply string) ([]string, error) { return ParseTasks(reply, s.TasksPerInput) },
		Retries: 1,
		Restate: func(problem string) string {
			return fmt.Sprintf(`That reply could not be used (%s). Reply with only the JSON object {"tasks": [...]} holding %d requests.`, problem, s.TasksPerInput)
		},
		What: "task list",
	}
	got, how, err := genkit.Shaped(ctx, *u.tasks, &u.usage, u.st.tasksShape, ask, func(v taskList) ([]string, error) {
		return cleanTasks(v.Tasks, s.TasksPerInput)
	})
	u.posed = how
	if err == nil {
		return got.Value, got.Keys, nil, nil
	}
	r := u.newRecord(u.env.Name+":"+u.in.ID, "")
	r.Prov.RequestKeys = got.Keys
	if got.Failed(ctx, err, r.Meta, &u.usage) {
		return nil, nil, nil, err
	}
	r.Status, r.Error = record.Failed, fmt.Sprintf("tools: task model: %v", err)
	return nil, nil, r, nil
}

// ParseTasks reads the task model's reply: {"tasks": [...]}, the non-empty
// tasks of it, at most n.
func ParseTasks(reply string, n int) ([]string, error) {
	var v taskList
	if err := prompt.DecodeJSON(reply, &v); err != nil {
		return nil, err
	}
	return cleanTasks(v.Tasks, n)
}

// taskList is the task model's reply.
type taskList struct {
	Tasks []string `json:"tasks"`
}

// tasksSchema is taskList's schema for a stage that poses n tasks per input.
func tasksSchema(n int) *structured.Schema {
	return structured.MustCompile(fmt.Sprintf(`{"type":"object","properties":{"tasks":{"type":"array","items":{"type":"string","minLength":1,"maxLength":1000},"minItems":1,"maxItems":%d}},"required":["tasks"],"additionalProperties":false}`, n), "tasks")
}

// cleanTasks keeps the non-empty tasks, at most n.
func cleanTasks(tasks []string, n int) ([]string, error) {
	var out []string
	for _, t := range tasks {
		if t = strings.TrimSpace(t); t != "" && len(out) < n {
			out = append(out, t)
		}
	}
	if len(out) == 0 {
		return nil, errors.New("the reply holds no task")
	}
	return out, nil
}

// newRecord starts the record of a trajectory for task.
func (u *unit) newRecord(id, task string) *record.Record {
	r := &record.Record{
		ID: id, Status: record.Kept, Instruction: task,
		Meta: bestofn.CopyMeta(u.in.Meta),
		Prov: u.env.Provenance("tools", u.asst.Info, u.in.ID),
	}
	r.Prov.TemplateHash = u.st.hash
	r.Prov.Params = u.params()
	if spec, ok := attrs.Of(u.in); ok {
		attrs.Carry(r, u.in, spec)
	}
	r.Meta["tools"] = u.toolsMeta
	return r
}

func (u *unit) params() map[string]any {
	s := u.st.cfg
	p := map[string]any{"model": s.Model, "max_steps": s.MaxSteps, "max_tokens": s.MaxTokens}
	if s.Temperature != nil {
		p["temperature"] = *s.Temperature
	}
	if s.ToolChoice != "" {
		p["tool_choice"] = s.ToolChoice
	}
	if s.Simulator != "" {
		p["simulator"], p["simulator_max_tokens"] = s.Simulator, s.SimulatorMaxTokens
	}
	if s.TaskModel != "" {
		p["task_model"], p["tasks_per_input"] = s.TaskModel, s.TasksPerInput
		u.st.tasksShape.Note(p, u.posed)
	}
	return p
}

// tally counts a trajectory's calls.
type tally struct {
	calls, invented, invalid int
	inventedNames            []string
	invalidWhy               []string
}

// trajectory runs the assistant on task until it answers without calling
// a tool or reaches max_steps, then checks what it did. The error is for
// what must not be recorded (pipeline.MustReturn) and for failures of the
// toolset itself (a command that cannot run, an MCP server that fails),
// which stop the stage with the unit undone.
func (u *unit) trajectory(ctx context.Context, id, task string) (*record.Record, error) {
	s := u.st.cfg
	r := u.newRecord(id, task)
	u.task, u.keys, u.history = task, &r.Prov.RequestKeys, nil
	if strings.TrimSpace(task) == "" {
		r.Status, r.Error = record.Failed, "tools: the input has no task"
		return r, nil
	}
	if ref := u.reference(); ref != "" {
		r.Meta["reference"] = ref
	}
	var msgs []model.Message
	var turns []record.Turn
	if s.System != "" {
		msgs = append(msgs, model.Message{Role: "system", Content: s.System})
		if s.IncludeSystem {
			turns = append(turns, record.Turn{Role: "system", Content: s.System})
		}
	}
	msgs = append(msgs, model.Message{Role: "user", Content: task})
	turns = append(turns, record.Turn{Role: "user", Content: task})
	var t tally
	finish, steps := "", 0
	var last model.Choice
	fail := func(err error) (*record.Record, error) {
		r.Messages = turns
		u.describe(r, t, steps, finish)
		r.Status, r.Error = record.Failed, fmt.Sprintf("tools: step %d: %v", steps, err)
		return r, nil
	}
	for finish == "" {
		steps++
		req := model.Request{Messages: msgs, Tools: u.ts.defs(), Temperature: s.Temperature, MaxTokens: s.MaxTokens,
			CacheBreakpoints: model.ConversationBreakpoints(msgs)}
		if steps == 1 {
			req.ToolChoice = s.ToolChoice
		}
		choice, served, err := u.asst.Call(ctx, req, u.keys, &u.usage)
		if err != nil {
			if pipeline.MustReturn(ctx, err) {
				return nil, err
			}
			u.usage.Errors++
			return fail(fmt.Errorf("assistant: %w", err))
		}
		r.Meta["served_by"] = served
		last = choice
		calls := make([]model.ToolCall, len(choice.ToolCalls))
		for i, c := range choice.ToolCalls {
			if c.ID == "" {
				c.ID = callID(steps, i)
			}
			calls[i] = c
		}
		msgs = append(msgs, model.Message{Role: "assistant", Content: choice.Text, Reasoning: choice.Reasoning, ReasoningSignature: choice.ReasoningSignature, ToolCalls: calls})
		turns = append(turns, record.Turn{Role: "assistant", Content: choice.Text, Reasoning: choice.Reasoning, ToolCalls: recordCalls(calls)})
		if len(calls) == 0 {
			finish = FinishAnswer
			if choice.FinishReason == model.FinishLength {
				finish = FinishTruncated
			}
			break
		}
		for _, c := range calls {
			res, err := u.call(ctx, c, &t)
			if err != nil {
				var re recordError
				if errors.As(err, &re) {
					return fail(err)
				}
				return nil, err
			}
			msgs = append(msgs, model.Message{Role: "tool", Content: res.Text, ToolCallID: c.ID, IsError: res.IsError})
			turns = append(turns, record.Turn{Role: "tool", Content: res.Text, ToolCallID: c.ID, IsError: res.IsError})
		}
		if steps >= s.MaxSteps {
			finish = FinishMaxSteps
		}
	}
	r.Messages = turns
	if finish != FinishMaxSteps {
		r.Output, r.Reasoning = last.Text, last.Reasoning
	}
	u.describe(r, t, steps, finish)
	return r, u.decide(ctx, r, t, finish)
}

// call checks one call and, when it is valid, executes it.
func (u *unit) call(ctx context.Context, c model.ToolCall, t *tally) (result, error) {
	t.calls++
	args, kind, problem, err := u.ts.checkCall(ctx, c)
	if err != nil {
		return result{}, fmt.Errorf("tools: checking a call of %s: %w", c.Name, err)
	}
	var res result
	switch kind {
	case InventedTool:
		t.invented++
		t.inventedNames = append(t.inventedNames, c.Name)
		res = result{Text: problem, IsError: true}
	case InvalidArguments:
		t.invalid++
		t.invalidWhy = append(t.invalidWhy, problem)
		res = result{Text: problem, IsError: true}
	default:
		tl := u.ts.byName[c.Name]
		if res, err = tl.exec.call(ctx, u, tl, args); err != nil {
			return result{}, err
		}
	}
	u.history = append(u.history, fmt.Sprintf("%s(%s) -> %s", c.Name, c.Arguments, clip(res.Text, 500)))
	return res, nil
}

func recordCalls(calls []model.ToolCall) []record.ToolCall {
	if len(calls) == 0 {
		return nil
	}
	out := make([]record.ToolCall, len(calls))
	for i, c := range calls {
		out[i] = record.ToolCall{ID: c.ID, Name: c.Name, Arguments: c.Arguments}
	}
	return out
}

// describe puts the trajectory's counts on the record.
func (u *unit) describe(r *record.Record, t tally, steps int, finish string) {
	r.Meta["steps"] = steps
	r.Meta["tool_calls"] = t.calls
	r.Meta["invalid_calls"] = t.invalid + t.invented
	r.Meta["invented_tools"] = t.invented
	if finish != "" {
		r.Meta["finish"] = finish
	}
}

// reference is the expected answer of the unit's input, for check.
func (u *unit) reference() string {
	if u.st.checkRef == nil {
		return ""
	}
	return strings.TrimSpace(u.st.checkRef(u.in))
}

// decide records every filter's decision on r and rejects it when one
// fails. The checks that look at the answer run only when there is one.
func (u *unit) decide(ctx context.Context, r *record.Record, t tally, finish string) error {
	keep := u.st.cfg.KeepInvalidCalls
	add := func(filter string, pass bool, reason string, value float64) {
		r.Decisions = append(r.Decisions, record.Decision{Filter: filter, Passed: pass, Reason: reason, Value: value})
		if !pass {
			r.Status = record.Rejected
		}
	}
	why := ""
	if t.invented > 0 {
		why = fmt.Sprintf("%d call(s) of tools that do not exist: %s", t.invented, strings.Join(t.inventedNames, ", "))
	}
	add(FilterInventedTool, t.invented == 0 || keep, why, float64(t.invented))
	why = ""
	if t.invalid > 0 {
		why = fmt.Sprintf("%d call(s) with invalid arguments: %s", t.invalid, clip(strings.Join(t.invalidWhy, "; "), 500))
	}
	add(FilterInvalidArguments, t.invalid == 0 || keep, why, float64(t.invalid))
	why = ""
	if finish == FinishMaxSteps {
		why = fmt.Sprintf("still calling tools after max_steps %d", u.st.cfg.MaxSteps)
	}
	add(FilterMaxSteps, finish != FinishMaxSteps, why, float64(r.Meta["steps"].(int)))
	if finish == FinishMaxSteps {
		return nil
	}
	switch {
	case finish == FinishTruncated:
		add(FilterAnswer, false, fmt.Sprintf("the final answer was cut at max_tokens %d", u.st.cfg.MaxTokens), 0)
		return nil
	case strings.TrimSpace(r.Output) == "":
		add(FilterAnswer, false, "the final answer is empty", 0)
		return nil
	}
	add(FilterAnswer, true, "", 0)
	if v := u.st.check; v != nil {
		verdict, err := v.Verify(ctx, verify.Check{Prompt: r.Instruction, Candidate: r.Output, Reference: u.reference()})
		if err != nil {
			return fmt.Errorf("tools: check: %w", err)
		}
		add(FilterCheck, verdict.Pass, verdict.Reason, 0)
	}
	if u.st.cfg.FinalState != nil {
		pass, reason, err := u.finalState(ctx, r)
		if err != nil {
			return err
		}
		add(FilterFinalState, pass, reason, 0)
	}
	return nil
}

// finalState runs the final_state check on a finished trajectory.
func (u *unit) finalState(ctx context.Context, r *record.Record) (pass bool, reason string, err error) {
	if u.st.finalCmd != nil {
		traj, err := json.Marshal(r.Messages)
		if err != nil {
			return false, "", fmt.Errorf("tools: final_state: %w", err)
		}
		v, err := u.st.finalCmd.Verify(ctx, verify.Check{Prompt: r.Instruction, Candidate: string(traj), Reference: u.reference()})
		if err != nil {
			return false, "", fmt.Errorf("tools: final_state: %w", err)
		}
		return v.Pass, v.Reason, nil
	}
	tl := u.finalTool
	res, err := tl.exec.call(ctx, u, tl, u.finalArgs)
	if err != nil {
		var re recordError
		if errors.As(err, &re) {
			return false, "final_state: " + err.Error(), nil
		}
		return false, "", err
	}
	r.Meta["final_state"] = res.Text
	if res.IsError {
		return false, fmt.Sprintf("%s returned an error: %s", tl.def.Name, clip(res.Text, 300)), nil
	}
	if u.st.expect == nil {
		return true, tl.def.Name + " returned no error", nil
	}
	v, err := u.st.expect.Verify(ctx, verify.Check{Prompt: r.Instruction, Candidate: res.Text, Reference: strings.TrimSpace(u.st.expRef(u.in))})
	if err != nil {
		return false, "", fmt.Errorf("tools: final_state: expect: %w", err)
	}
	return v.Pass, v.Reason, nil
}

func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && s[n]&0xC0 == 0x80 {
		n--
	}
	return s[:n] + "..."
}
