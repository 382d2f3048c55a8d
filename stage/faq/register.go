package faq

import "github.com/synthloop/synthloop/pipeline"

func init() {
	pipeline.Register(pipeline.StageType{
		Name: "faq",
		Doc: "FAQ expansion for customer-support data: each FAQ entry (question and approved answer, from JSONL, JSON, " +
			"YAML, CSV or TSV files, or the records of the stage before) becomes K paraphrased customer questions and " +
			"follow-ups; the model answers each customer message with the entry as delimited reference data, a grounding " +
			"judge checks every answer against the entry, and the result is a multi-turn support dialogue (record messages, " +
			"exportable as sharegpt or openai). A dialogue is kept only when every answer is grounded; rejections carry " +
			"the turn and the reason.",
		Example: `- name: support
  type: faq
  with:
    model: teacher
    path: faq.jsonl           # {"id", "question", "answer"} per line; .yaml, .csv too
    # paraphrases: 3          # customer wordings per entry, each opens a dialogue
    # include_original: true  # one dialogue also opens with the FAQ's question
    # turns: 2                # customer messages per dialogue
    # system: "You are the support assistant of ACME."
    # grounding_model: critic # checks each answer against the entry (default: model)
    # grounding_threshold: 4
`,
		Config: func() any { return DefaultConfig() },
		New:    pipeline.Typed("faq", func(c *Config) (*Stage, error) { return New(c) }),
	})
}
