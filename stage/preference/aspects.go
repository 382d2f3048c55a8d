package preference

// DefaultAspects are the four aspects UltraFeedback rates (Cui et al.,
// 2023), in our own words, each on 1 to 5 with anchors for 1, 3 and 5, so
// that judges on different backends read the scale the same way. Each
// aspect's text names only its own aspect: a judge rating one aspect is
// not led to rate another.
var DefaultAspects = []Aspect{
	{Name: "instruction_following", Criteria: []string{
		"The answer follows the instruction: it does the task that was asked, all of it, and keeps to any format, length or style the request sets.",
		"Rate 1 for an answer to a different task, 3 for one that does part of the task or ignores a stated constraint, 5 for one that does all of it as asked.",
	}},
	{Name: "honesty", Criteria: []string{
		"The answer is honest about how sure it is: confident where its content warrants it, and open about doubt, limits or missing information where it does not.",
		"Rate 1 for an answer that asserts wrong content with full confidence, 3 for one that is right but overstates its certainty or never signals its limits, 5 for one that is right and states its confidence accurately.",
	}},
	{Name: "truthfulness", Criteria: []string{
		"The answer is truthful: what it states about the world is correct, and it invents no facts, names, numbers or sources.",
		"Rate 1 for an answer built on fabricated or plainly wrong claims, 3 for one with a minor error that does not change its point, 5 for one with no error.",
	}},
	{Name: "helpfulness", Criteria: []string{
		"The answer is helpful: it gives the reader what they need to act on, with enough detail, clear steps or examples, and nothing padded or repeated.",
		"Rate 1 for an answer that gives nothing to act on, 3 for one that meets part of the need, 5 for one that meets it fully and clearly.",
	}},
}
