package reasoning

import "github.com/synthloop/synthloop/pipeline"

func init() {
	pipeline.Register(pipeline.StageType{
		Name: "reasoning",
		Doc: "Verified reasoning traces (rejection sampling): for each problem of the input stage (a load of JSONL, CSV " +
			"or text with problems and reference answers) samples n solutions, takes each one's reasoning (the provider's " +
			"reasoning channel, <think> tags, or the reply before its final answer), extracts the final answer (\\boxed{}, " +
			"an Answer: line, the last number, a JSON field) and verifies it against the reference (math by value by default; " +
			"exact, normalized, numeric, regex or a sandboxed command). Makes one problem record per problem (prompt, " +
			"reference, verifier, pass rate as its difficulty, every sample) and one trace record per kept verified trace " +
			"(up to keep, shortest first), paired with a wrong sample for DPO when there is one. reference: vote establishes " +
			"the answer by majority of the samples instead. Attributes the problems carry (from a sample stage) pass to the " +
			"records. `synthloop status` shows pass rates (per attribute value too), trace lengths and the kept traces' coverage of the attributes.",
		Example: `- name: traces
  type: reasoning
  with:
    model: teacher
    # problem: instruction  # where the problem is (or input, output, meta.KEY)
    # answer: output        # where the reference answer is
    # n: 4                  # samples per problem
    # extract: auto         # boxed, answer_line, last_number, json:PATH, none
    # verifier: {kind: math, tolerance: 1e-6}
    # keep: 1               # verified traces kept per problem
    # min_pass: 0.01        # with max_pass: 0.99, keeps 0 < pass < 1 for RL
    # reference: vote       # the majority answer becomes the reference
`,
		Config: func() any { return DefaultConfig() },
		New:    pipeline.Typed("reasoning", func(c *Config) (*Stage, error) { return New(c) }),
	})
}
