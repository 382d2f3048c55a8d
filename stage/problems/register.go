package problems

import "github.com/synthloop/synthloop/pipeline"

func init() {
	pipeline.Register(pipeline.StageType{
		Name: "problems",
		Doc: "Self-Instruct for problems: shows the teacher k seed problems (from a seeds file or the input stage) and asks " +
			"for new ones of the same kind, math word problems (domain: math) or function-writing tasks (domain: code); " +
			"keeps a new problem when it passes the length filter (and, for code, names a function) and its ROUGE-L " +
			"against the seeds and every kept problem is at most novelty_threshold. The problems have no answers yet: " +
			"a reasoning stage with reference: vote establishes a math answer by agreement of k solutions, a codet stage " +
			"establishes code tests by the agreement of generated solutions and tests. With a seeds file, the input stage's " +
			"records (a sample stage's: topic, difficulty, persona, ...) give each prompt its attributes, one record per prompt " +
			"in turn; the problems carry them, and `synthloop status` shows how evenly the kept problems cover them.",
		Example: `- name: invented
  type: problems
  with:
    model: teacher
    domain: math           # or code
    # seeds: seeds.jsonl   # default: the input stage's records; with seeds, the input's attributes condition each prompt
    # attributes: [level]  # meta fields of non-sample input records to condition on
    target: 100
    # shown: 3             # seed problems per prompt
    # per_prompt: 5
    # novelty_threshold: 0.7
`,
		Config: func() any { return DefaultConfig() },
		New:    pipeline.Typed("problems", func(c *Config) (*Stage, error) { return New(c) }),
	})
}
