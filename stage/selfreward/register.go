package selfreward

import "github.com/synthloop/synthloop/pipeline"

func init() {
	pipeline.Register(pipeline.StageType{
		Name: "selfreward",
		Doc: "Self-rewarding preference data (Yuan et al., 2024): for each input record the model samples n candidates " +
			"and judges them itself with the additive 5-point rubric, several scores each, averaged; " +
			"the highest becomes chosen and the lowest rejected, ties are dropped. Records carry Chosen, Rejected, every " +
			"candidate with its score and reasons, and answer lengths; prefer_shorter picks the shortest of the near-best " +
			"answers to counter length hacking. Train on the pairs with DPO (beta 0.1).",
		Example: `- name: pairs
  type: selfreward
  with:
    model: student          # generates and judges its own answers
    # judge_model: critic   # judge with another model instead
    # n: 8                  # candidates per prompt
    # samples: 3            # scores per candidate, averaged
    # prefer_shorter: false # length control among near-ties
`,
		Config: func() any { return DefaultConfig() },
		New:    pipeline.Typed("selfreward", func(c *Config) (*Stage, error) { return New(c) }),
	})
}
