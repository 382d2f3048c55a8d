// Package tools is the tools stage: tool-use trajectories, where an assistant calls declared, simulated or MCP tools turn by turn until it answers, every call checked and every trajectory verified.
package tools

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/synthloop/synthloop/internal/structured"
	"github.com/synthloop/synthloop/mcpclient"
	"github.com/synthloop/synthloop/model"
	"github.com/synthloop/synthloop/pipeline"
	"github.com/synthloop/synthloop/record"
	"github.com/synthloop/synthloop/stage/internal/attrs"
	"github.com/synthloop/synthloop/stage/internal/bestofn"
	"github.com/synthloop/synthloop/stage/internal/genkit"
	"github.com/synthloop/synthloop/verify"
)

// Ways a trajectory ends, in Meta["finish"].
const (
	FinishAnswer    = "answer"    // the assistant answered without calling a tool
	FinishMaxSteps  = "max_steps" // the assistant was still calling tools at max_steps
	FinishTruncated = "truncated" // the final answer was cut at max_tokens
)

// Filters, in the order their decisions appear on a record.
const (
	FilterInventedTool     = InventedTool     // a call of a tool that does not exist
	FilterInvalidArguments = InvalidArguments // arguments that are not an object or fail the schema
	FilterMaxSteps         = "max_steps"
	FilterAnswer           = "answer"      // the trajectory ends in a complete, non-empty answer
	FilterCheck            = "check"       // the final answer passes check
	FilterFinalState       = "final_state" // the final state passes final_state
)

// Stage is the tools stage.
type Stage struct {
	cfg      Config
	declared []ToolConfig
	sandbox  map[string]*verify.Sandbox // the command of each declared tool that has one
	check    verify.Verifier
	checkRef func(*record.Record) string
	expect   verify.Verifier
	expRef   func(*record.Record) string
	finalCmd verify.Verifier
	hash     string
	// tasksShape asks the task model for replies of tasksSchema (the
	// structured setting); nil: off.
	tasksShape *structured.Shaper

	// Connect reaches an MCP server; nil means mcpclient.Connect. Tests
	// set it to serve tools in-process.
	Connect func(ctx context.Context, s mcpclient.Server) (MCPSession, error)
}

// New checks cfg and returns the stage.
func New(cfg *Config) (*Stage, error) {
	c := *cfg
	if err := c.check(); err != nil {
		return nil, err
	}
	s := &Stage{cfg: c, declared: c.Tools, sandbox: map[string]*verify.Sandbox{}, hash: templateHash(c.System)}
	for _, t := range c.Tools {
		// Compile the schema now, so a bad one is reported when the config loads.
		schema, err := schemaJSON(t.Parameters)
		if err != nil {
			return nil, fmt.Errorf("tools: tool %s: parameters: %w", t.Name, err)
		}
		if _, err := newTool(t.Name, t.Description, schema, nil, ""); err != nil {
			return nil, err
		}
		if len(t.Command) > 0 {
			sb, err := verify.NewSandbox(verify.SandboxConfig{Command: t.Command, Timeout: t.Timeout, MemoryMB: t.MemoryMB, AllowNetwork: t.AllowNetwork, MaxOutput: maxResult})
			if err != nil {
				return nil, fmt.Errorf("tools: tool %s: %w", t.Name, err)
			}
			s.sandbox[t.Name] = sb
		}
	}
	var err error
	if c.TaskModel != "" {
		if s.tasksShape, err = structured.NewShaper(c.Structured, tasksSchema(c.TasksPerInput)); err != nil {
			return nil, fmt.Errorf("tools: %w", err)
		}
	} else if _, err := structured.ParseSetting(c.Structured); err != nil {
		return nil, fmt.Errorf("tools: structured: %w", err)
	}
	if c.Check != nil {
		if s.check, err = verify.New(c.Check); err != nil {
			return nil, fmt.Errorf("tools: check: %w", err)
		}
		s.checkRef, _ = bestofn.Reference(c.Check.Reference)
	}
	if f := c.FinalState; f != nil {
		if f.Expect != nil {
			if s.expect, err = verify.New(f.Expect); err != nil {
				return nil, fmt.Errorf("tools: final_state: expect: %w", err)
			}
			s.expRef, _ = bestofn.Reference(f.Expect.Reference)
		}
		if len(f.Command) > 0 {
			if s.finalCmd, err = verify.New(&verify.Config{Kind: verify.Command, Command: f.Command, Timeout: f.Timeout, AllowNetwork: f.AllowNetwork}); err != nil {
				return nil, fmt.Errorf("tools: final_state: %w", err)
			}
		}
	}
	return s, nil
}

// run is what one Run shares across its units: the tools, the models and
// the open MCP sessions.
type run struct {
	st        *Stage
	env       *pipeline.Env
	ts        *toolset
	toolsMeta []any // the toolset as records carry it (Meta["tools"])
	asst      genkit.Backend
	tasks     *genkit.Backend
	finalTool *tool
	finalArgs json.RawMessage
	closers   []io.Closer
}

// Run makes the trajectories: one unit per input record (inline task,
// topic, or kept record of the previous stage).
func (s *Stage) Run(ctx context.Context, env *pipeline.Env) error {
	each := func(ctx context.Context, fn pipeline.MapFunc) error {
		return pipeline.ForEachKeptChecked(ctx, env, checkAttributes, fn)
	}
	if !s.Streams() || env.Input == "" {
		ins, err := s.inputs(ctx, env)
		if err != nil {
			return err
		}
		if len(ins) > 0 {
			if err := checkAttributes(ins[0]); err != nil {
				return err
			}
		}
		each = func(ctx context.Context, fn pipeline.MapFunc) error { return pipeline.ForEachRecord(ctx, env, ins, fn) }
	}
	rn := &run{st: s, env: env}
	defer rn.close()
	if err := rn.open(ctx); err != nil {
		return err
	}
	err := each(ctx, func(ctx context.Context, in *record.Record) ([]*record.Record, pipeline.UnitUsage, error) {
		u := &unit{run: rn, in: in}
		out, err := u.do(ctx)
		return out, u.usage, err
	})
	if err != nil {
		return err
	}
	if env.Log != nil {
		if cov, err := Coverage(ctx, env.Store, env.Name); err == nil && cov.Records > 0 {
			env.Log.Info("tools: coverage of the kept trajectories", "stage", env.Name, "report", cov.String())
		}
	}
	return nil
}

// Streams implements pipeline.Streaming when the tasks are the previous
// stage's kept records (no tasks, topics or limit): a trajectory depends on
// its task alone.
func (s *Stage) Streams() bool {
	return len(s.cfg.Tasks) == 0 && len(s.cfg.Topics) == 0 && s.cfg.Limit == 0
}

// checkAttributes refuses inputs whose attributes (carried from a sample
// stage) are named like the stage's own meta fields; the first input
// record stands for the rest.
func checkAttributes(first *record.Record) error {
	if spec, ok := attrs.Of(first); ok {
		if c := attrs.Clash(spec, ownMeta...); c != "" {
			return fmt.Errorf("tools: the inputs' attribute %q is also a meta field of the stage's records: rename the column", c)
		}
	}
	return nil
}

// ownMeta are the meta fields the stage sets, which no attribute carried
// from an input may be named.
var ownMeta = []string{"tools", "task_index", "reference", "served_by", "steps", "tool_calls", "invalid_calls", "invented_tools",
	"finish", "final_state", "reply"}

// Coverage is how evenly a tools stage's kept trajectories cover the
// attributes of the records they were posed from; no records when those
// carried none.
func Coverage(ctx context.Context, st pipeline.Store, stage string) (attrs.Coverage, error) {
	return attrs.Summarize(ctx, st, stage, nil)
}

// inputs are the records the units start from.
func (s *Stage) inputs(ctx context.Context, env *pipeline.Env) ([]*record.Record, error) {
	var ins []*record.Record
	switch {
	case len(s.cfg.Tasks) > 0:
		for i, t := range s.cfg.Tasks {
			ins = append(ins, &record.Record{ID: fmt.Sprintf("task-%d", i+1), Seq: int64(i + 1), Status: record.Kept, Instruction: t.Instruction, Output: t.Reference})
		}
	case len(s.cfg.Topics) > 0:
		for i, t := range s.cfg.Topics {
			ins = append(ins, &record.Record{ID: fmt.Sprintf("topic-%d", i+1), Seq: int64(i + 1), Status: record.Kept, Instruction: t})
		}
	case env.Input == "" && s.cfg.TaskModel != "":
		// The task model poses tasks about the toolset alone.
		ins = []*record.Record{{ID: "tasks", Seq: 1, Status: record.Kept}}
	case env.Input == "":
		return nil, errors.New("tools: no tasks: set tasks, or task_model, or put the stage after one that makes records")
	default:
		return pipeline.KeptInput(ctx, env, s.cfg.Limit)
	}
	if s.cfg.Limit > 0 && len(ins) > s.cfg.Limit {
		ins = ins[:s.cfg.Limit]
	}
	return ins, nil
}

// open builds the toolset: the declared tools, and the tools of every MCP
// server, which it connects to.
func (rn *run) open(ctx context.Context) error {
	s, env := rn.st, rn.env
	var err error
	if rn.asst, err = genkit.Open(env, "tools", s.cfg.Model); err != nil {
		return err
	}
	if s.cfg.TaskModel != "" {
		b, err := genkit.Open(env, "tools", s.cfg.TaskModel)
		if err != nil {
			return err
		}
		rn.tasks = &b
	}
	var sim executor
	if s.cfg.Simulator != "" {
		b, err := genkit.Open(env, "tools", s.cfg.Simulator)
		if err != nil {
			return err
		}
		sim = simExec{b: b, maxTokens: s.cfg.SimulatorMaxTokens}
	}
	rn.ts = &toolset{}
	for _, t := range s.declared {
		schema, _ := schemaJSON(t.Parameters)
		var ex executor = sim
		source := "simulated"
		if sb := s.sandbox[t.Name]; sb != nil {
			ex, source = commandExec{sb}, "command"
		}
		tl, err := newTool(t.Name, t.Description, schema, ex, source)
		if err != nil {
			return err
		}
		if err := rn.ts.add(tl); err != nil {
			return err
		}
	}
	connect := s.Connect
	if connect == nil {
		connect = func(ctx context.Context, srv mcpclient.Server) (MCPSession, error) {
			return mcpclient.Connect(ctx, srv)
		}
	}
	for _, m := range s.cfg.MCP {
		sess, err := connect(ctx, mcpclient.Server{Name: m.Name, Command: m.Command, Env: m.Env, URL: m.URL, Headers: m.Headers})
		if err != nil {
			return fmt.Errorf("tools: mcp %s: %w", m.Name, err)
		}
		if c, ok := sess.(io.Closer); ok {
			rn.closers = append(rn.closers, c)
		}
		list, err := sess.ListTools(ctx)
		if err != nil {
			return fmt.Errorf("tools: mcp %s: %w", m.Name, err)
		}
		offered := map[string]bool{}
		for _, t := range list {
			offered[t.Name] = true
			if len(m.Tools) > 0 && !contains(m.Tools, t.Name) {
				continue
			}
			tl, err := newTool(t.Name, t.Description, t.InputSchema, mcpExec{server: m.Name, sess: sess}, "mcp:"+m.Name)
			if err != nil {
				return fmt.Errorf("tools: mcp %s: %w", m.Name, err)
			}
			if err := rn.ts.add(tl); err != nil {
				return err
			}
		}
		for _, name := range m.Tools {
			if !offered[name] {
				return fmt.Errorf("tools: mcp %s: tools: the server offers no tool %q", m.Name, name)
			}
		}
	}
	if len(rn.ts.list) == 0 {
		return errors.New("tools: the MCP servers offer no tools")
	}
	if c := s.cfg.ToolChoice; c != "" && c != "auto" && c != "none" && c != "required" && rn.ts.byName[c] == nil {
		return fmt.Errorf("tools: tool_choice: no tool is named %q", c)
	}
	if f := s.cfg.FinalState; f != nil && f.Tool != "" {
		if rn.finalTool = rn.ts.byName[f.Tool]; rn.finalTool == nil {
			return fmt.Errorf("tools: final_state: no tool is named %q", f.Tool)
		}
		rn.finalArgs = json.RawMessage(`{}`)
		if f.Arguments != nil {
			if rn.finalArgs, err = json.Marshal(f.Arguments); err != nil {
				return fmt.Errorf("tools: final_state: arguments: %w", err)
			}
		}
	}
	b, err := json.Marshal(rn.ts.defs())
	if err != nil {
		return fmt.Errorf("tools: %w", err)
	}
	return json.Unmarshal(b, &rn.toolsMeta)
}

func (rn *run) close() {
	for _, c := range rn.closers {
		c.Close()
	}
}

func contains(xs []string, x string) bool {
	for _, y := range xs {
		if y == x {
			return true
		}
	}
	return false
}

// recordError is a failure of one trajectory, recorded on its record: a
// permanent failure of the simulator model.
type recordError struct{ err error }

func (e recordError) Error() string { return e.err.Error() }
func (e recordError) Unwrap() error { return e.err }

// simExec has a model play the tool.
type simExec struct {
	b         genkit.Backend
	maxTokens int
}

func (e simExec) call(ctx context.Context, u *unit, t *tool, args json.RawMessage) (result, error) {
	task := u.task
	if len(u.history) > 0 {
		task += "\n\nCalls made so far, with their results:\n" + strings.Join(u.history, "\n")
	}
	p, err := simulatePrompt.Render(simulateData{Name: t.def.Name, Description: t.def.Description, Parameters: string(t.def.Parameters), Task: task, Arguments: string(args)})
	if err != nil {
		return result{}, fmt.Errorf("tools: simulator prompt: %w", err)
	}
	req := model.Request{Messages: []model.Message{{Role: "user", Content: p}}, MaxTokens: e.maxTokens}
	choice, _, err := e.b.Call(ctx, req, u.keys, &u.usage)
	if err != nil {
		if pipeline.MustReturn(ctx, err) {
			return result{}, err
		}
		u.usage.Errors++
		return result{}, recordError{fmt.Errorf("simulator: %w", err)}
	}
	text := strings.TrimSpace(choice.Text)
	if rest, ok := strings.CutPrefix(text, "ERROR:"); ok {
		return result{Text: "error: " + strings.TrimSpace(rest), IsError: true}, nil
	}
	if text == "" {
		u.usage.Errors++
		return result{}, recordError{errors.New("simulator: the reply is empty")}
	}
	return result{Text: text}, nil
}

// callID names a call the model left without an ID, the same way on every
// run, so that the tool turn can answer it.
func callID(step, i int) string { return fmt.Sprintf("call_%d_%d", step, i) }

var _ pipeline.Stage = (*Stage)(nil)
