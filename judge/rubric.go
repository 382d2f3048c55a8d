package judge

import (
	"errors"
	"fmt"
	"strings"
)

// Rubric kinds.
const (
	Additive = "additive" // one point per criterion met; the score is the count
	Scale    = "scale"    // one rating from Min to Max against all criteria
)

// Rubric is what a pointwise judge grades by. In YAML:
//
//	rubric:
//	  kind: scale
//	  min: 1
//	  max: 10
//	  criteria: ["Every fact is correct.", "The steps are easy to follow."]
type Rubric struct {
	Kind string `yaml:"kind" doc:"additive or scale (empty: additive)"`
	// Criteria are the rubric's lines. Default: the self-rewarding rubric
	// (SelfRewardingCriteria). For an additive rubric each earns one point.
	Criteria []string `yaml:"criteria" doc:"The rubric's lines (default: the self-rewarding rubric)"`
	// Min and Max bound a scale rubric's rating: default 1 and 5. An additive
	// rubric's range is 0 to the number of criteria.
	Min float64 `yaml:"min" doc:"Lowest rating of a scale rubric (min and max both 0: 1 to 5)"`
	Max float64 `yaml:"max" doc:"Highest rating of a scale rubric"`
}

// SelfRewardingCriteria is our wording of the additive 5-point rubric of
// Yuan et al., 2024 ("Self-Rewarding Language Models"), one point each.
var SelfRewardingCriteria = []string{
	"The answer is relevant to the request and gives at least some information that bears on it, even if it is incomplete or partly off the point.",
	"The answer covers a substantial part of what the user asked, though it may not settle the question completely.",
	"The answer deals with the basic elements of the request in a useful way, as a helpful and knowledgeable reply would.",
	"The answer is written from an AI assistant's point of view, addresses the request directly, and is comprehensive and well organised, even if it could be tighter.",
	"The answer is tailored to this request with no extraneous content, shows expert knowledge, and is insightful and of high quality.",
}

// pairwiseCriteria are used by pairwise comparison when no rubric is given.
var pairwiseCriteria = []string{
	"Which answer follows the user's request more faithfully and helpfully.",
	"Which answer is more accurate and shows better knowledge.",
	"Which answer is clearer and better organised, with no extraneous content.",
}

// resolve fills the defaults and checks the rubric.
func (r Rubric) resolve() (Rubric, error) {
	if r.Kind == "" {
		r.Kind = Additive
	}
	if len(r.Criteria) == 0 {
		r.Criteria = SelfRewardingCriteria
	}
	for i, c := range r.Criteria {
		if strings.TrimSpace(c) == "" {
			return r, fmt.Errorf("judge: rubric: criterion %d is empty", i+1)
		}
	}
	switch r.Kind {
	case Additive:
		if r.Min != 0 || (r.Max != 0 && r.Max != float64(len(r.Criteria))) {
			return r, errors.New("judge: rubric: an additive rubric's range is 0 to the number of criteria; leave min and max unset")
		}
		r.Min, r.Max = 0, float64(len(r.Criteria))
	case Scale:
		if r.Min == 0 && r.Max == 0 {
			r.Min, r.Max = 1, 5
		}
		if r.Min >= r.Max {
			return r, fmt.Errorf("judge: rubric: min %g must be below max %g", r.Min, r.Max)
		}
	default:
		return r, fmt.Errorf("judge: rubric: kind %q (want additive or scale)", r.Kind)
	}
	return r, nil
}
