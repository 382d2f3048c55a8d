package load

import "github.com/synthloop/synthloop/pipeline"

func init() {
	pipeline.Register(pipeline.StageType{
		Name: "load",
		Doc: "Reads existing data into records: JSONL (instruction|prompt|question, input|context, output|answer|response, " +
			"or OpenAI \"messages\" / ShareGPT \"conversations\"), CSV or TSV with a header row, or text with one prompt per line. " +
			"Files, directories and globs; a line that cannot be read becomes a failed record naming the file and line. " +
			"Use it to answer, judge, filter or dedup prompts you already have.",
		Example: `- name: prompts
  type: load
  with:
    path: data/questions.jsonl   # or paths: [a.jsonl, dir/, "more/*.csv"]
    # fields: {instruction: question, output: answer}
    # limit: 1000
`,
		Config: func() any { return DefaultConfig() },
		New:    pipeline.Typed("load", func(c *Config) (*Stage, error) { return New(c) }),
	})
}
