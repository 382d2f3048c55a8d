package sample

import "github.com/synthloop/synthloop/pipeline"

func init() {
	pipeline.Register(pipeline.StageType{
		Name: "sample",
		Doc: "Draws records from declared columns, as the attributes a later generate stage prompts with ({{.topic}}): " +
			"category (values with weights), subcategory (values picked by a parent column's value), int, uniform and normal " +
			"numbers (clamped by min/max, rounded by round), persona (a built-in en or ja list, or your file) and topic (a " +
			"tree written as nested YAML, or grown once by the model from a root and kept in the run; a value is the path " +
			"root > child > leaf). count records are drawn independently; or cross lists columns whose every combination " +
			"makes repeat records, the other columns drawn per record. Record i depends only on the seed, the stage, the " +
			"column and i, so a resumed run draws the same records. `synthloop status` shows how each column was covered.",
		Example: `- name: attributes
  type: sample
  with:
    count: 100
    columns:
      - name: topic
        kind: category
        values: {cooking: 2, travel: 1, money: 1}   # value: weight
      - name: subtopic
        kind: subcategory
        parent: topic
        values:
          cooking: [baking, knife skills]
          travel: [packing, trains]
          money: [budgets, taxes]
      - name: difficulty
        kind: int
        min: 1
        max: 5
      - name: persona
        kind: persona
        language: en                # or file: personas.txt
    # cross: [topic, subtopic]      # every combination instead of count,
    # repeat: 3                     # each 3 times
`,
		Config: func() any { return DefaultConfig() },
		New:    pipeline.Typed("sample", func(c *Config) (*Stage, error) { return New(c) }),
	})
}
