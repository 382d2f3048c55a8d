package lab

import (
	"context"
	"math/rand/v2"

	"github.com/synthloop/synthloop/lab/task"
)

// Point is the exact-match accuracy at one difficulty, with the mean
// length of the answers and, for tasks that show their working
// (task.Worked), the share of answers whose working is right.
type Point struct {
	Difficulty int     `json:"difficulty"`
	Accuracy   float64 `json:"accuracy"`
	Length     float64 `json:"length"`
	Working    float64 `json:"working,omitempty"`
}

// HeldOut returns n problems of each difficulty drawn from seed, the same
// for every call with the same arguments. Their answers are the true ones.
func HeldOut(t task.Task, difficulties []int, n int, seed uint64) [][]task.Problem {
	out := make([][]task.Problem, len(difficulties))
	for i, d := range difficulties {
		rng := rand.New(rand.NewPCG(seed, uint64(d)))
		for range n {
			out[i] = append(out[i], t.Generate(rng, d))
		}
	}
	return out
}

// Evaluate answers each set greedily and returns the share of answers the
// verifier accepts, per set, by the difficulty of its first problem.
func Evaluate(ctx context.Context, m *Model, t task.Task, sets [][]task.Problem) ([]Point, error) {
	var all []task.Problem
	for _, s := range sets {
		all = append(all, s...)
	}
	answers, err := Answers(ctx, m, all, Decode{MaxTokens: maxTokens(t, all)})
	if err != nil {
		return nil, err
	}
	var out []Point
	worked, _ := t.(task.Worked)
	i := 0
	for _, s := range sets {
		right, working, length := 0, 0, 0
		for _, p := range s {
			a := answers[i][0]
			if a.Stopped && t.Verify(p, a.Text) {
				right++
			}
			if worked != nil && a.Stopped && worked.WorkingRight(p, a.Text) {
				working++
			}
			length += len(a.Text)
			i++
		}
		n := float64(max(len(s), 1))
		pt := Point{Accuracy: float64(right) / n, Length: float64(length) / n, Working: float64(working) / n}
		if len(s) > 0 {
			pt.Difficulty = s[0].Difficulty
		}
		out = append(out, pt)
	}
	return out, nil
}

// maxTokens bounds an answer to problems of t: the longest true answer at
// their difficulties, from the task's shape where it has one, and one
// token for <|end|>.
func maxTokens(t task.Task, ps []task.Problem) int {
	n := 1
	sh, _ := t.(task.Shape)
	for _, p := range ps {
		l := len(p.Answer)
		if sh != nil {
			_, l = sh.AnswerLen(p.Difficulty)
		}
		n = max(n, l+1)
	}
	return n
}
