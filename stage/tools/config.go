package tools

import (
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strings"

	"github.com/synthloop/synthloop/stage/internal/bestofn"
	"github.com/synthloop/synthloop/verify"
)

// Config is the `with:` block of a tools stage.
type Config struct {
	Model  string `yaml:"model" doc:"The assistant that calls the tools (required)"`
	System string `yaml:"system" doc:"The assistant's system prompt"`
	// IncludeSystem keeps the system prompt as the record's first message,
	// so a trainer sees what the assistant saw.
	IncludeSystem bool `yaml:"include_system" doc:"Keeps the system prompt as the record's first message"`

	Tools []ToolConfig `yaml:"tools" doc:"Tools declared here: name, description, parameters (JSON Schema as YAML) and command, or none to simulate"`
	MCP   []MCPConfig  `yaml:"mcp" doc:"MCP servers whose tools are offered and called for real: command (stdio) or url (streamable HTTP)"`
	// Simulator answers the calls of declared tools that have no command.
	Simulator          string `yaml:"simulator" doc:"The model that plays the tools without a command (required when there is one)"`
	SimulatorMaxTokens int    `yaml:"simulator_max_tokens" doc:"Bounds each simulated tool result"`

	Tasks         []TaskConfig `yaml:"tasks" doc:"Tasks inline (instruction and an optional reference), instead of the previous stage's records"`
	TaskModel     string       `yaml:"task_model" doc:"A model that poses tasks for the toolset, per input record or topic, instead of taking them as given"`
	TasksPerInput int          `yaml:"tasks_per_input" doc:"Tasks the task model poses per input record or topic"`
	Topics        []string     `yaml:"topics" doc:"Topics for the task model, instead of the previous stage's records"`
	Persona       string       `yaml:"persona" doc:"Who poses the tasks, for the task model (an input's meta.persona wins)"`
	TaskMaxTokens int          `yaml:"task_max_tokens" doc:"Bounds the task model's reply"`
	Structured    string       `yaml:"structured" doc:"The task model's reply as JSON that fits a built-in schema ({tasks: [...]}): off (the JSON the prompt asks for, read as is), auto (the schema sent with each request until the backend refuses it, then off), native, or prompt (the schema written into the prompt)"`
	Limit         int          `yaml:"limit" doc:"Uses the first limit inputs only (0: all)"`

	MaxSteps    int      `yaml:"max_steps" doc:"Assistant turns per trajectory at most; a trajectory that reaches it is rejected"`
	ToolChoice  string   `yaml:"tool_choice" doc:"auto (default), required, none, or a tool's name: for the first turn only"`
	Temperature *float64 `yaml:"temperature" doc:"Temperature of the assistant (unset: the model's default)"`
	MaxTokens   int      `yaml:"max_tokens" doc:"Bounds each assistant turn"`

	// KeepInvalidCalls keeps trajectories with invented tools or arguments
	// that do not validate: the model saw an error and may have recovered,
	// which is worth training on for some. Default: rejected.
	KeepInvalidCalls bool           `yaml:"keep_invalid_calls" doc:"Keeps trajectories with an invented tool or invalid arguments (default: rejected)"`
	Check            *verify.Config `yaml:"check" doc:"Verifies the final answer: a verifier (exact, normalized, regex, numeric, json_schema, command) with its reference field"`
	FinalState       *FinalState    `yaml:"final_state" doc:"Verifies the state the trajectory left: a tool called at the end, or a command given the trajectory"`
}

// ToolConfig declares one tool.
type ToolConfig struct {
	Name        string `yaml:"name" doc:"The tool's name: letters, digits, _ and -, at most 64"`
	Description string `yaml:"description" doc:"What the tool does, for the model"`
	// Parameters is the JSON Schema of the arguments object, written as
	// YAML; none means an object with any properties.
	Parameters map[string]any `yaml:"parameters" doc:"The JSON Schema of the arguments object, as YAML"`
	// Command runs each call in the verifier's sandbox with the arguments
	// JSON on stdin: stdout is the result, a non-zero exit an error result.
	Command      []string `yaml:"command" doc:"Runs each call sandboxed, arguments JSON on stdin; none: the simulator plays the tool"`
	Timeout      string   `yaml:"timeout" doc:"Bounds a command's run (default 10s)"`
	MemoryMB     int      `yaml:"memory_mb" doc:"Caps a command's address space in MB (0: 1024)"`
	AllowNetwork bool     `yaml:"allow_network" doc:"Lets a command use the network"`
}

// MCPConfig is an MCP server whose tools the assistant may call.
type MCPConfig struct {
	Name    string            `yaml:"name" doc:"Names the server in errors and on records"`
	Command []string          `yaml:"command" doc:"Starts the server, speaking MCP on stdio"`
	Env     map[string]string `yaml:"env" doc:"Added to the server command's environment"`
	URL     string            `yaml:"url" doc:"The server's streamable HTTP endpoint"`
	Headers map[string]string `yaml:"headers" doc:"Sent with every HTTP request, e.g. Authorization"`
	Tools   []string          `yaml:"tools" doc:"Offers only these of the server's tools (default: all)"`
}

// TaskConfig is one task given inline.
type TaskConfig struct {
	Instruction string `yaml:"instruction" doc:"The task the user gives the assistant"`
	Reference   string `yaml:"reference" doc:"The expected final answer, for check (stored as the input's output)"`
}

// FinalState checks what a trajectory left behind, after its final answer.
type FinalState struct {
	// Tool is called (for real, or simulated) with Arguments; the check
	// passes when it returns no error and, with Expect, its result passes.
	Tool      string         `yaml:"tool" doc:"A tool called after the final answer; an error result fails"`
	Arguments map[string]any `yaml:"arguments" doc:"The arguments of that call"`
	Expect    *verify.Config `yaml:"expect" doc:"A verifier of the call's result (its reference field is read from the input)"`
	// Command reads the trajectory (the record's messages as JSON) on stdin
	// in the sandbox, with the task and reference in files.
	Command      []string `yaml:"command" doc:"A sandboxed command given the trajectory JSON on stdin; exit 0 passes"`
	Timeout      string   `yaml:"timeout" doc:"Bounds the command (default 10s)"`
	AllowNetwork bool     `yaml:"allow_network" doc:"Lets the command use the network"`
}

// DefaultConfig returns the defaults.
func DefaultConfig() *Config {
	return &Config{
		IncludeSystem: true, MaxSteps: 8, MaxTokens: 1024,
		SimulatorMaxTokens: 512, TasksPerInput: 3, TaskMaxTokens: 1024,
	}
}

// Validate checks the settings: the declared tools' schemas compile and
// their commands are found. MCP servers are reached only when the stage runs.
func (c *Config) Validate() error {
	_, err := New(c)
	return err
}

var toolName = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

func (c *Config) check() error {
	switch {
	case c.Model == "":
		return errors.New("tools: model: required (the assistant: a name from the models section)")
	case len(c.Tools) == 0 && len(c.MCP) == 0:
		return errors.New("tools: no tools: declare tools, or name mcp servers")
	case c.MaxSteps < 1:
		return fmt.Errorf("tools: max_steps: %d, want at least 1", c.MaxSteps)
	case c.MaxTokens < 0 || c.SimulatorMaxTokens < 0 || c.TaskMaxTokens < 0 || c.Limit < 0:
		return errors.New("tools: max_tokens, simulator_max_tokens, task_max_tokens and limit must not be negative")
	case len(c.Tasks) > 0 && len(c.Topics) > 0:
		return errors.New("tools: tasks and topics: set one, not both (topics are for task_model)")
	case len(c.Topics) > 0 && c.TaskModel == "":
		return errors.New("tools: topics: need task_model, the model that poses tasks about them")
	case len(c.Tasks) > 0 && c.TaskModel != "":
		return errors.New("tools: tasks and task_model: set one, not both")
	case c.TaskModel != "" && c.TasksPerInput < 1:
		return fmt.Errorf("tools: tasks_per_input: %d, want at least 1", c.TasksPerInput)
	}
	switch c.ToolChoice {
	case "", "auto", "none", "required":
	default:
		if !c.declares(c.ToolChoice) && len(c.MCP) == 0 {
			return fmt.Errorf("tools: tool_choice: %q is neither auto, none, required nor a declared tool", c.ToolChoice)
		}
	}
	for i, t := range c.Tasks {
		if strings.TrimSpace(t.Instruction) == "" {
			return fmt.Errorf("tools: tasks[%d]: instruction is empty", i)
		}
	}
	seen := map[string]bool{}
	for i, t := range c.Tools {
		if !toolName.MatchString(t.Name) {
			return fmt.Errorf("tools: tools[%d]: name %q: want 1 to 64 letters, digits, _ or -", i, t.Name)
		}
		if seen[t.Name] {
			return fmt.Errorf("tools: tools[%d]: %s is declared twice", i, t.Name)
		}
		seen[t.Name] = true
		if len(t.Command) == 0 && c.Simulator == "" {
			return fmt.Errorf("tools: tools[%d] (%s): no command: set one, or name a simulator model to play the tool", i, t.Name)
		}
	}
	names := map[string]bool{}
	for i, m := range c.MCP {
		switch {
		case m.Name == "":
			return fmt.Errorf("tools: mcp[%d]: name is required", i)
		case names[m.Name]:
			return fmt.Errorf("tools: mcp[%d]: %s is named twice", i, m.Name)
		case (len(m.Command) == 0) == (m.URL == ""):
			return fmt.Errorf("tools: mcp[%d] (%s): set command (stdio) or url (streamable HTTP), one of them", i, m.Name)
		}
		names[m.Name] = true
	}
	if c.Check != nil {
		if _, err := bestofn.Reference(c.Check.Reference); err != nil {
			return fmt.Errorf("tools: check: %w", err)
		}
	}
	if f := c.FinalState; f != nil {
		switch {
		case (f.Tool == "") == (len(f.Command) == 0):
			return errors.New("tools: final_state: set tool or command, one of them")
		case f.Tool != "" && !c.declares(f.Tool) && len(c.MCP) == 0:
			return fmt.Errorf("tools: final_state: tool %q is not declared", f.Tool)
		case f.Expect != nil && f.Tool == "":
			return errors.New("tools: final_state: expect checks a tool's result; it needs tool")
		}
		if f.Expect != nil {
			if _, err := bestofn.Reference(f.Expect.Reference); err != nil {
				return fmt.Errorf("tools: final_state: expect: %w", err)
			}
		}
	}
	return nil
}

func (c *Config) declares(name string) bool {
	for _, t := range c.Tools {
		if t.Name == name {
			return true
		}
	}
	return false
}

// schemaJSON is a tool's parameters as JSON; none is any object.
func schemaJSON(p map[string]any) (json.RawMessage, error) {
	if len(p) == 0 {
		return json.RawMessage(`{"type":"object","properties":{}}`), nil
	}
	b, err := json.Marshal(p)
	if err != nil {
		return nil, err
	}
	return b, nil
}
