package codet

import "github.com/synthloop/synthloop/pipeline"

func init() {
	pipeline.Register(pipeline.StageType{
		Name: "codet",
		Doc: "Tests for programming problems established without a person, as in CodeT (Chen et al., 2022): for each " +
			"problem of the input stage (one Python function each, e.g. from a problems stage with domain: code) the model " +
			"writes n solutions and test_samples × tests assert lines; every solution runs against every test in the sandbox " +
			"(time and memory limits, no network); solutions passing exactly the same tests form a consensus set scored " +
			"(solutions in it) × (tests they pass); the best set's tests become the reference and its shortest solution the " +
			"output. The pass rate (solutions passing every established test) is the difficulty; min_pass and max_pass filter " +
			"by it. Records export to verl, trl-grpo and openrlhf with the harness as a command verifier.",
		Example: `- name: established
  type: codet
  with:
    model: teacher
    n: 8                 # solutions per problem
    tests: 5             # asserts per test request
    test_samples: 2
    # command: [/usr/bin/env, python3]
    # min_pass: 0.01     # with max_pass: 0.99, keeps 0 < pass < 1 for RL
`,
		Config: func() any { return DefaultConfig() },
		New:    pipeline.Typed("codet", func(c *Config) (*Stage, error) { return New(c) }),
	})
}
