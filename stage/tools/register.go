package tools

import "github.com/synthloop/synthloop/pipeline"

func init() {
	pipeline.Register(pipeline.StageType{
		Name: "tools",
		Doc: "Tool-use trajectories: the assistant (model) gets the tools through its provider's native tool calling " +
			"and a task (inline tasks, the previous stage's records, or tasks a task_model poses for the toolset from " +
			"topics); every call is checked (the tool exists, the arguments are a JSON object valid against its schema) " +
			"and executed for real (a sandboxed command with the arguments on stdin, an MCP server over stdio or " +
			"streamable HTTP) or played by a simulator model; an invalid call gets an error result the model sees. " +
			"The loop ends when the assistant answers without calling a tool, or at max_steps. Records hold the " +
			"trajectory turn by turn in Messages, the tools in meta.tools and the counts in meta; trajectories with " +
			"invented tools or invalid arguments (unless keep_invalid_calls), that reach max_steps, or whose final " +
			"answer fails check (a verifier against a reference field) or whose final_state fails are rejected with the " +
			"reason. A sample stage's records as the task model's inputs give it their topic, persona and other columns, " +
			"which the trajectories carry; `synthloop status` shows how evenly the kept ones cover them. " +
			"Export them with --format openai, trl or sharegpt.",
		Example: `- name: trajectories
  type: tools
  with:
    model: assistant
    system: You are a careful assistant. Use the tools when they help.
    tools:
      - name: get_weather
        description: Current weather for a city
        parameters:
          type: object
          properties:
            city: {type: string}
          required: [city]
        # command: [python3, tools/weather.py]   # run for real, arguments JSON on stdin
    simulator: simulator      # plays the tools without a command
    # mcp:
    #   - {name: files, command: [npx, -y, "@modelcontextprotocol/server-filesystem", /tmp/sandbox]}
    #   - {name: search, url: "http://localhost:8000/mcp"}
    tasks:
      - {instruction: "Do I need an umbrella in Oslo today?"}
    # task_model: user        # or: a model poses tasks_per_input tasks per topic
    # topics: [travel, cooking]
    max_steps: 6
    # check: {kind: numeric, reference: output}
`,
		Config: func() any { return DefaultConfig() },
		New:    pipeline.Typed("tools", func(c *Config) (*Stage, error) { return New(c) }),
	})
}
