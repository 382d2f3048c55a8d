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
