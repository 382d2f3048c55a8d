package preference

import "github.com/synthloop/synthloop/pipeline"

func init() {
	pipeline.Register(pipeline.StageType{
		Name: "preference",
		Doc: "Preference pairs from a pool of models (UltraFeedback): every model of pool answers each prompt of the input " +
			"stage (with a system prompt drawn from principles, if given); a judge (judge_model) or panel rates every answer " +
			"on each aspect from 1 to 5 (default: instruction following, honesty, truthfulness, helpfulness); the answer with " +
			"the best mean rating is chosen and paired with a random answer at least min_margin below it (rejected: lowest " +
			"takes the worst); prompts without such an answer (ties) give no pair. Export with --format dpo. " +
			"`synthloop status` shows each model's wins, losses and mean rating.",
		Example: `- name: prefs
  type: preference
  with:
    pool: [teacher, student, other]   # models that answer
    panel: [critic, judge]            # or judge_model: critic
    # samples: 1          # ratings per answer and aspect, averaged
    # min_margin: 0.5     # on the 1-5 mean rating
    # rejected: random    # or lowest
    # principles: ["Be honest about what you do not know."]
`,
		Config: func() any { return DefaultConfig() },
		New:    pipeline.Typed("preference", func(c *Config) (*Stage, error) { return New(c) }),
	})
}
