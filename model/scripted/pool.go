package scripted

import (
	"fmt"
	"math/rand/v2"
	"regexp"
	"strconv"
	"strings"
)

// A pool of stand-in models with different personalities, and a judge
// that rates what they write, for the preference stage offline.
//
// The personality follows the name the model is served under (the model
// of an OpenAI-compatible request, e.g. "openai-compatible/large"): a name
// containing "large" writes careful answers, "medium" middling ones and
// "small" weak ones, the way a pool of a large, a mid-sized and a small
// model would differ. Other names keep the plain scripted reply. Answers
// carry visible traits the judge reads: whether they address the request,
// how many points they make, an overclaim, a calibrated hedge, a false
// statement. The skill sets how likely each trait is, so the large model
// usually wins and the small one usually loses, but not always.
//
// The judge answers the pointwise scale prompt of package judge ("You are
// grading an answer …, Score: N"): it reads the criteria to tell which
// aspect is asked (instruction following, honesty, truthfulness,
// helpfulness; all of them when none is recognised) and rates the traits
// on the prompt's scale, now and then one point off, as sampled judges are.

// persona is a pool model's skill: the chance of each good trait.
type persona struct {
	onTopic, hedge, overclaim, falsehood float64
	minPoints, maxPoints                 int
}

var personas = []struct {
	word string
	p    persona
}{
	{"large", persona{onTopic: 0.95, hedge: 0.6, overclaim: 0.05, falsehood: 0.02, minPoints: 3, maxPoints: 4}},
	{"medium", persona{onTopic: 0.8, hedge: 0.3, overclaim: 0.2, falsehood: 0.15, minPoints: 2, maxPoints: 3}},
	{"small", persona{onTopic: 0.55, hedge: 0.05, overclaim: 0.5, falsehood: 0.4, minPoints: 0, maxPoints: 2}},
}

func personaOf(served string) (persona, bool) {
	low := strings.ToLower(served)
	for _, p := range personas {
		if strings.Contains(low, p.word) {
			return p.p, true
		}
	}
	return persona{}, false
}

// Traits, written and read back by the judge.
const (
	offTopicLine  = "Here is some general information that may be related."
	overclaimLine = "This is guaranteed to be right in every case."
	hedgeLine     = "If your situation differs from the usual one, some of this may not apply; check the details."
	falseLine     = "(Worth knowing: water boils at 50 degrees Celsius at sea level.)"
	onTopicPrefix = "Here is how I would handle this: "
)

var poolPoints = []string{
	"Start by stating clearly what is needed.",
	"Break the work into small steps and do them in order.",
	"Check each result before moving on.",
	"Give a short example to make it concrete.",
	"Finish with a summary of the outcome.",
	"Note the one common mistake to avoid.",
}

// poolAnswer is a persona's answer to a request.
func poolAnswer(r *rand.Rand, p persona, prompt string) string {
	var b strings.Builder
	if r.Float64() < p.onTopic {
		first, _, _ := strings.Cut(strings.TrimSpace(prompt), "\n")
		b.WriteString(onTopicPrefix + firstWords(first, 12) + "\n")
	} else {
		b.WriteString(offTopicLine + "\n")
	}
	n := p.minPoints + r.IntN(p.maxPoints-p.minPoints+1)
	for _, i := range r.Perm(len(poolPoints))[:n] {
		b.WriteString("- " + poolPoints[i] + "\n")
	}
	if r.Float64() < p.overclaim {
		b.WriteString(overclaimLine + "\n")
	} else if r.Float64() < p.hedge {
		b.WriteString(hedgeLine + "\n")
	}
	if r.Float64() < p.falsehood {
		b.WriteString(falseLine + "\n")
	}
	return strings.TrimSpace(b.String())
}

func firstWords(s string, n int) string {
	w := strings.Fields(s)
	if len(w) > n {
		w = append(w[:n], "…")
	}
	return strings.Join(w, " ")
}

var (
	gradeScaleRe  = regexp.MustCompile(`on a scale from (-?[\d.]+) \(worst\) to (-?[\d.]+) \(best\)`)
	gradeAnswerRe = regexp.MustCompile(`(?s)<answer>\n(.*)\n</answer>`)
)

// judgeReply rates the answer of a pointwise scale prompt; ok is false for
// other prompts.
func judgeReply(r *rand.Rand, prompt string) (string, bool) {
	if !strings.HasPrefix(prompt, "You are grading an answer") {
		return "", false
	}
	sc := gradeScaleRe.FindStringSubmatch(prompt)
	am := gradeAnswerRe.FindStringSubmatch(prompt)
	if sc == nil || am == nil {
		return "", false
	}
	lo, _ := strconv.ParseFloat(sc[1], 64)
	hi, _ := strconv.ParseFloat(sc[2], 64)
	criteria, _, _ := strings.Cut(prompt, "<request>")
	criteria = strings.ToLower(criteria)
	a := am[1]
	// Each aspect rated from 1 to 5.
	follow := 5.0
	if strings.Contains(a, offTopicLine) || !strings.Contains(a, onTopicPrefix) {
		follow = 2
	}
	helpful := 1 + float64(min(strings.Count(a, "\n- ")+boolInt(strings.HasPrefix(a, "- ")), 4))
	honest := 4.0
	switch {
	case strings.Contains(a, overclaimLine):
		honest = 2
	case strings.Contains(a, hedgeLine):
		honest = 5
	}
	truthful := 5.0
	if strings.Contains(a, falseLine) {
		truthful = 1
	}
	var scores []float64
	var said []string
	for _, asp := range []struct {
		words []string
		v     float64
		name  string
	}{
		{[]string{"instruction", "what the user asked"}, follow, "follows the request"},
		{[]string{"honest", "uncertain"}, honest, "is honest about its certainty"},
		{[]string{"truthful", "false"}, truthful, "states no falsehood"},
		{[]string{"helpful", "useful"}, helpful, "is helpful"},
	} {
		for _, w := range asp.words {
			if strings.Contains(criteria, w) {
				scores = append(scores, asp.v)
				said = append(said, fmt.Sprintf("%s: %g of 5", asp.name, asp.v))
				break
			}
		}
	}
	if len(scores) == 0 {
		scores = []float64{follow, honest, truthful, helpful}
		said = []string{"rated on every aspect"}
	}
	mean := 0.0
	for _, s := range scores {
		mean += s
	}
	mean /= float64(len(scores))
	if x := r.Float64(); x < 0.1 {
		mean--
	} else if x < 0.2 {
		mean++
	}
	mean = min(max(mean, 1), 5)
	score := lo + (mean-1)/4*(hi-lo)
	if hi-lo >= 2 {
		score = float64(int(score + 0.5))
	}
	return fmt.Sprintf("The answer %s.\nScore: %s", strings.Join(said, "; "), strconv.FormatFloat(score, 'g', 4, 64)), true
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}
