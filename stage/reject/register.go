package reject

import "github.com/synthloop/synthloop/pipeline"

func init() {
	pipeline.Register(pipeline.StageType{
		Name: "reject",
		Doc: "Reject sampling / best-of-N: for each input record (its instruction and input as the prompt) samples n " +
			"candidates, scores each with an LLM judge (the self-rewarding additive 5-point " +
			"rubric, 3 samples averaged, or a custom rubric or a panel) or a programmatic verifier, and keeps the best " +
			"candidate if it reaches the threshold (keep: best) or every distinct candidate that does (keep: all). Every " +
			"candidate is stored with its scores and the judge's reasons.",
		Example: `- name: best
  type: reject
  with:
    model: teacher          # generates the candidates
    judge_model: critic     # scores them (default: model)
    # n: 8                  # candidates per prompt
    # samples: 3            # judge scores per candidate, averaged
    # threshold: 4          # default 80% of the rubric's range
    # keep: best            # or all (RFT: every distinct accepted candidate)
    # verifier: {kind: numeric, reference: output}   # instead of a judge
`,
		Config: func() any { return DefaultConfig() },
		New:    pipeline.Typed("reject", func(c *Config) (*Stage, error) { return New(c) }),
	})
}
