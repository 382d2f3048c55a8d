// Package methods holds the pure parts of classic self-training methods on the lab's tasks, which the loop plugins of lab/loopplug run: majority votes, self-consistency preference pairs (Prasad et al., 2024) and pass@k.
package methods

import "github.com/synthloop/synthloop/lab"

// Vote is one distinct answer and how many samples gave it.
type Vote struct {
	Text  string `json:"text"`
	Count int    `json:"count"`
}

// Votes counts the distinct answers that pass ok (every answer when ok is
// nil), most common first; equal counts keep the order in which the
// answers first appeared, so the result never depends on map order.
func Votes(answers []lab.Answer, ok func(lab.Answer) bool) []Vote {
	var out []Vote
	at := map[string]int{}
	for _, a := range answers {
		if ok != nil && !ok(a) {
			continue
		}
		i, seen := at[a.Text]
		if !seen {
			i = len(out)
			at[a.Text] = i
			out = append(out, Vote{Text: a.Text})
		}
		out[i].Count++
	}
	// A stable insertion sort: the lists are a handful of votes long.
	for i := 1; i < len(out); i++ {
		for j := i; j > 0 && out[j].Count > out[j-1].Count; j-- {
			out[j], out[j-1] = out[j-1], out[j]
		}
	}
	return out
}

// Drop says why no pair was made from a problem's samples.
type Drop string

const (
	Kept       Drop = ""
	NoAnswer   Drop = "no-answer"   // no sample passed the answer check
	Unanimous  Drop = "unanimous"   // one distinct answer: nothing to reject
	Tie        Drop = "tie"         // the top two answers have the same count
	NoMajority Drop = "no-majority" // the top answer's share is below the threshold
)

// PreferencePair builds the self-consistency pair of Prasad et al. (2024)
// from k samples of one problem: the most common answer is chosen and the
// least common rejected (the one seen first among equals). Only answers that
// pass ok vote (a sample cut off by the token limit is no answer); the
// majority's share is of all samples, failed ones included, and must reach
// minShare, and the majority must be strict. It never looks at a true
// answer: there is none to look at.
func PreferencePair(samples []lab.Answer, ok func(lab.Answer) bool, minShare float64) (chosen, rejected Vote, why Drop) {
	v := Votes(samples, ok)
	switch {
	case len(v) == 0:
		return Vote{}, Vote{}, NoAnswer
	case len(v) == 1:
		return v[0], Vote{}, Unanimous
	case v[0].Count == v[1].Count:
		return v[0], Vote{}, Tie
	case float64(v[0].Count) < minShare*float64(len(samples)):
		return v[0], Vote{}, NoMajority
	}
	low := len(v) - 1
	for low > 1 && v[low-1].Count == v[low].Count {
		low--
	}
	return v[0], v[low], Kept
}
