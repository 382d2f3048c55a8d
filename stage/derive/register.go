package derive

import "github.com/synthloop/synthloop/pipeline"

func init() {
	pipeline.Register(pipeline.StageType{
		Name: "derive",
		Doc: "Computes fields from each input record's fields and keeps or rejects records by a condition, with " +
			"expressions in the expr language (https://expr-lang.org): arithmetic, comparisons, and/or/not, ?:, " +
			"len, upper, lower, trim, split, contains, matches, ... over {{.field}}-style names: instruction, input, " +
			"output, chosen, rejected, id and meta fields (a sample stage's columns, a structured reply's fields). " +
			"An expression that does not parse, or reads a field the previous stage does not declare, is reported " +
			"when the config loads; a record without a value for a field an expression reads, or on which it fails, " +
			"is recorded as failed naming the field; one for which keep is false is rejected with keep as the reason.",
		Example: `- name: checked
  type: derive
  with:
    fields:
      words: len(split(output, " "))
      length: 'len(instruction) > 200 ? "long" : "short"'   # quoted: ": " inside
    keep: words >= 20 && not (output contains "As an AI")
`,
		Config: func() any { return DefaultConfig() },
		New:    pipeline.Typed("derive", func(c *Config) (*Stage, error) { return New(c) }),
	})
}
