package generate

import "github.com/synthloop/synthloop/pipeline"

func init() {
	pipeline.Register(pipeline.StageType{
		Name: "generate",
		Doc: "Your own prompt over each input record (from the previous stage or a load): prompt (and an optional system) " +
			"is a Go text/template or a Jinja template (template: auto tells them apart by Go's leading dot) over the record's fields ({{.instruction}} or {{ instruction }}, {{.input}}, {{.output}}, {{.chosen}}, " +
			"{{.rejected}}, {{.id}} and its meta fields); the model's n replies are stored in the field named by output, " +
			"one record per reply. A template that does not parse, or that uses a field the previous stage does not declare " +
			"(load, generate), is reported when the config loads; otherwise a field the first input record does not have stops " +
			"the stage with a did-you-mean; a record without a value for a field it " +
			"uses is recorded as failed. With schema (a JSON Schema written in YAML, or a file), the reply must be JSON that " +
			"validates against it: the schema goes with the request where the backend takes it (OpenAI response_format, " +
			"Anthropic's forced tool) and into the prompt where it refuses it (schema_mode auto); a reply that does not " +
			"validate is asked again with the error (retries), then its record fails with the error; the reply's top-level " +
			"fields become the record's fields, which later templates may use.",
		Example: `- name: answers
  type: generate
  with:
    model: teacher
    system: You are a careful, concise assistant.
    prompt: |
      {{.instruction}}
    output: output          # or any other name: stored as a meta field (default output)
    # n: 1                  # replies per record, one record each
    # temperature: 0.7
    # max_tokens: 1024
    # schema:               # a structured reply; its fields become record fields
    #   type: object
    #   properties:
    #     answer: {type: string}
    #     difficulty: {type: integer, minimum: 1, maximum: 5}
    #   required: [answer, difficulty]
    # retries: 2            # follow-ups for a reply that does not validate
`,
		Config: func() any { return DefaultConfig() },
		New:    pipeline.Typed("generate", func(c *Config) (*Stage, error) { return New(c) }),
	})
}
