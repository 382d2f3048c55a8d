package evol

import "github.com/synthloop/synthloop/pipeline"

func init() {
	pipeline.Register(pipeline.StageType{
		Name: "evol",
		Doc: "Evol-Instruct (Xu et al., 2023, WizardLM): each instruction of the previous stage (or of a seed file) is " +
			"evolved for a number of generations; each generation draws one operation, in-depth (add a constraint, deepen, " +
			"concretize, require more reasoning steps, complicate the input) or in-breadth (a new, rarer task of the same " +
			"domain), and the model answers the result. Failed evolutions are eliminated as in the paper and put back to " +
			"evolve again: nothing new (a lexical check, then a judge), a copied prompt phrase, an answer that refuses or " +
			"asks for clarification in under 80 words, a degenerate answer. Every record carries its lineage (parent, " +
			"root, operation, generation) and its decisions; status reports survival per operation.",
		Example: `- name: evolved
  type: evol
  with:
    model: teacher          # evolves, answers and judges unless told otherwise
    # seeds: en             # instead of the previous stage: en, ja, a JSONL or text file
    generations: 4          # the paper's epochs
    # operations: {constraints: 1, deepen: 1, concretize: 1, reasoning: 1, complicate_input: 1, breadth: 1}
    # answer_model: teacher
    # judge_model: teacher  # the "nothing new" check; judge_equal: false turns it off
    # include_original: true
    # language: en          # en or ja
`,
		Config: func() any { return DefaultConfig() },
		New:    pipeline.Typed("evol", func(c *Config) (*Stage, error) { return New(c) }),
	})
}
