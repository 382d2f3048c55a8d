package judge

import "github.com/synthloop/synthloop/pipeline"

func init() {
	pipeline.Register(pipeline.StageType{
		Name: "judge",
		Doc: "LLM-as-a-judge over the previous stage's records. mode: pointwise scores each record's output with a rubric " +
			"(default the self-rewarding additive 5-point rubric, 3 samples averaged; custom additive or scale rubrics; " +
			"a panel of judges aggregated by mean or majority with their agreement). mode: pairwise compares each record's " +
			"chosen and rejected answers in both orders, a win only when both agree. Scores and the judge's reasons go on " +
			"the record; with filter: true, records that fail are rejected.",
		Example: `- name: judged
  type: judge
  with:
    judge_model: critic     # or panel: [critic, other] with aggregate: mean|majority
    # mode: pointwise       # or pairwise (checks chosen vs rejected)
    # samples: 3
    # rubric: {kind: scale, min: 1, max: 10, criteria: ["Every fact is correct."]}
    # filter: false         # true: reject records below threshold
    # threshold: 4          # default 80% of the rubric's range
`,
		Config: func() any { return DefaultConfig() },
		New:    pipeline.Typed("judge", func(c *Config) (*Stage, error) { return New(c) }),
	})
}
