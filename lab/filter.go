package lab

import (
	"github.com/synthloop/synthloop/lab/task"
)

// LengthOK is the length filter of Lee et al. (2025): the answer was closed
// with the end token and has a length a true answer at p's difficulty can
// have. It needs no true answer.
func LengthOK(sh task.Shape, p task.Problem, a Answer) bool {
	lo, hi := sh.AnswerLen(p.Difficulty)
	return a.Stopped && len(a.Text) >= lo && len(a.Text) <= hi
}

// Majority returns the most common text among the answers that pass ok (all
// of them when ok is nil), and its share of all answers, failed ones
// included: five voters of which three agree and two fail give 0.6. Ties go
// to the answer that reached the top count first, so the result does not
// depend on map order. With
// no passing answer it returns "", 0.
func Majority(answers []Answer, ok func(Answer) bool) (text string, share float64) {
	if len(answers) == 0 {
		return "", 0
	}
	counts := make(map[string]int, len(answers))
	best := 0
	for _, a := range answers {
		if ok != nil && !ok(a) {
			continue
		}
		counts[a.Text]++
		if c := counts[a.Text]; c > best {
			best, text = c, a.Text
		}
	}
	return text, float64(best) / float64(len(answers))
}

// Filter selects self-made labels without looking at the true answer. The
// zero Filter is the unfiltered baseline: every problem is kept with model
// 0's greedy answer.
type Filter struct {
	// Length keeps an answer only when it ends with <|end|> and has a length
	// a true answer can have (task.Shape.AnswerLen).
	Length bool `json:"length,omitempty"`
	// Samples is the number of answers each model gives; with several
	// models voting there are models × Samples voters. 1 decodes greedily.
	Samples     int     `json:"samples,omitempty"`
	Temperature float64 `json:"temperature,omitempty"` // for Samples > 1
	// Agree is the share of all voters that must give the majority answer,
	// e.g. 0.7; 0 keeps the majority answer whatever its share.
	Agree float64 `json:"agree,omitempty"`
}

// On reports whether f filters at all.
func (f Filter) On() bool { return f.Length || f.Agree > 0 || f.Samples > 1 }

// Pick chooses the label of p from its voters' answers and reports whether
// it is kept. Unfiltered, the first answer is kept whatever it is.
// Filtered, the label is the majority among the answers that pass the
// length filter (if on), kept when its share of all answers is at least
// Agree.
func (f Filter) Pick(sh task.Shape, p task.Problem, answers []Answer) (label string, agree float64, kept bool) {
	if len(answers) == 0 {
		return "", 0, false
	}
	if !f.On() {
		return answers[0].Text, 1, true
	}
	var ok func(Answer) bool
	if f.Length {
		ok = func(a Answer) bool { return LengthOK(sh, p, a) }
	}
	label, agree = Majority(answers, ok)
	return label, agree, agree > 0 && agree >= f.Agree
}
