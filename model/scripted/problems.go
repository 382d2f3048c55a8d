package scripted

import (
	"cmp"
	"fmt"
	"math/rand/v2"
	"regexp"
	"strconv"
	"strings"

	"github.com/synthloop/synthloop/model"
)

// The problem inventor answers the prompts of stage/problems: a list of
// seed problems "Problem 1: …", ending with "Problem N:" for the model to
// continue. For math it writes arithmetic word problems that the reasoning
// stand-in (reasoning.go) can read and solve, 2 to 4 steps each, so that
// their answers can be established by vote and their pass rates differ.
// For code it picks function-writing tasks from codeTasks (code.go). Like
// a real model it is imperfect: a fifth of its problems are near-copies of
// a shown seed with one number changed (the novelty filter's catch), some
// are too short to be a problem, and some are followed by an answer it was
// told not to give (the parser cuts it). A prompt that asks for problems
// of a difficulty ("- difficulty: easy", medium or hard, as the problems
// stage lists a sample's attributes) gets 1, 2–3 or 4–5 steps, so the
// reasoning stand-in's pass rate falls with the difficulty asked for.

var (
	problemNextRe  = regexp.MustCompile(`^Problem (\d+):$`)
	problemSeedRe  = regexp.MustCompile(`(?m)^Problem \d+: (.+)$`)
	problemCountRe = regexp.MustCompile(`(?:Write|を) ?(\d+) ?(?:new problems|問)`)
	difficultyRe   = regexp.MustCompile(`(?m)^- difficulty: (\w+)\s*$`)
	functionCallRe = regexp.MustCompile("`?([a-z_][a-z0-9_]*)\\(([^()]*)\\)`?")
)

// problemsReply answers a problem-invention prompt; ok is false for others.
func problemsReply(r *rand.Rand, prompt string) (string, bool) {
	p := strings.TrimRight(prompt, " \n")
	lines := strings.Split(p, "\n")
	m := problemNextRe.FindStringSubmatch(strings.TrimSpace(lines[len(lines)-1]))
	if m == nil || !strings.Contains(p, "\nProblem 1: ") {
		return "", false
	}
	next, _ := strconv.Atoi(m[1])
	count := 5
	if c := problemCountRe.FindStringSubmatch(p); c != nil {
		count, _ = strconv.Atoi(c[1])
	}
	lo, hi := 1, 3 // steps after the start
	if d := difficultyRe.FindStringSubmatch(p); d != nil {
		switch strings.ToLower(d[1]) {
		case "easy":
			lo, hi = 1, 1
		case "medium":
			lo, hi = 2, 3
		case "hard":
			lo, hi = 4, 5
		}
	}
	var seeds []string
	for _, s := range problemSeedRe.FindAllStringSubmatch(p, -1) {
		seeds = append(seeds, s[1])
	}
	code := false
	for _, s := range seeds {
		if functionCallRe.MatchString(s) {
			code = true
		}
	}
	var b strings.Builder
	for i := range count {
		if i > 0 {
			fmt.Fprintf(&b, "\n\nProblem %d: ", next+i)
		} else {
			b.WriteString(" ")
		}
		switch x := r.Float64(); {
		case x < 0.2 && len(seeds) > 0:
			b.WriteString(nearCopy(r, pick(r, seeds)))
		case x < 0.25:
			b.WriteString(pick(r, []string{"Find the total.", "Solve it.", "What is left?"}))
		case code:
			b.WriteString(pick(r, codeTasks).problem())
		default:
			prob, ans := arithmeticInvention(r, lo, hi)
			b.WriteString(prob)
			if r.IntN(10) == 0 {
				fmt.Fprintf(&b, "\nAnswer: %d", ans)
			}
		}
	}
	return b.String(), true
}

var firstNumRe = regexp.MustCompile(`\d+`)

// nearCopy is a seed with its first number changed: a new problem only in
// name.
func nearCopy(r *rand.Rand, s string) string {
	done := false
	return firstNumRe.ReplaceAllStringFunc(s, func(n string) string {
		if done {
			return n
		}
		done = true
		v, _ := strconv.Atoi(n)
		return strconv.Itoa(v + 1 + r.IntN(5))
	})
}

var (
	inventNames = []string{"Ana", "Ben", "Chloe", "Dev", "Elif", "Farid", "Grace", "Hiro", "Ines", "Jonas", "Kemi", "Lars"}
	inventItems = []string{"stickers", "marbles", "pencils", "seashells", "coins", "stamps", "postcards", "beads", "cards", "ribbons"}
	// Each phrasing holds the word the reasoning stand-in reads as the
	// operation (verbs in reasoning.go) and one number.
	addPhrases = []string{"%s buys %d more %s.", "Then %s finds %d more %s.", "A friend arrives and %s receives %d %s as a gift.", "At the fair %s earns %d %s."}
	subPhrases = []string{"%s gives away %d %s.", "Later %s sells %d %s.", "On the way home %s loses %d %s.", "%s uses %d %s for a school project."}
)

// arithmeticInvention writes a word problem of a start and lo to hi steps
// after it, and its answer.
func arithmeticInvention(r *rand.Rand, lo, hi int) (string, int) {
	name, item := pick(r, inventNames), pick(r, inventItems)
	var b strings.Builder
	cur := 0
	if r.IntN(3) == 0 {
		boxes, per := 3+r.IntN(7), 4+r.IntN(9)
		fmt.Fprintf(&b, "%s has %d boxes with %d %s in each box.", name, boxes, per, item)
		cur = boxes * per
	} else {
		cur = 10 + r.IntN(40)
		fmt.Fprintf(&b, "%s has %d %s.", name, cur, item)
	}
	steps := lo + r.IntN(hi-lo+1)
	shared := false
	for i := range steps {
		b.WriteString(" ")
		switch {
		case i == steps-1 && steps > 1 && r.IntN(3) == 0:
			// Share equally among a divisor of the count, so the answer is whole.
			var ds []int
			for d := 2; d <= 9; d++ {
				if cur%d == 0 && cur > 0 {
					ds = append(ds, d)
				}
			}
			if len(ds) > 0 {
				d := pick(r, ds)
				fmt.Fprintf(&b, "%s shares them equally among %d friends.", name, d)
				cur /= d
				shared = true
				continue
			}
			fallthrough
		case r.IntN(2) == 0 || cur < 4:
			n := 2 + r.IntN(15)
			fmt.Fprintf(&b, pick(r, addPhrases), name, n, item)
			cur += n
		default:
			n := 1 + r.IntN(cur-2)
			fmt.Fprintf(&b, pick(r, subPhrases), name, n, item)
			cur -= n
		}
	}
	if shared {
		fmt.Fprintf(&b, " How many %s does each friend get?", item)
	} else {
		fmt.Fprintf(&b, " How many %s does %s have now?", item, name)
	}
	return b.String(), cur
}

// inventedReply answers the prompts of the problems, codet and reasoning
// stages, a pointwise judge's scale prompt, and any prompt without a
// schema to a pool persona, in that order; ok is false for every other prompt.
func (b *Backend) inventedReply(r *rand.Rand, req model.Request, prompt string) (txt, reasoning string, ok bool) {
	if txt, ok := problemsReply(r, prompt); ok {
		return txt, "", true
	}
	if txt, ok := codeReply(r, prompt); ok {
		return txt, "", true
	}
	if txt, ok := judgeReply(r, prompt); ok {
		return txt, "", true
	}
	if txt, reasoning, ok := reasoningReply(r, req, prompt); ok {
		return txt, reasoning, true
	}
	if p, ok := personaOf(cmp.Or(b.served, b.Model)); ok && Kind(req.Messages) == KindOther && len(req.JSONSchema) == 0 {
		return poolAnswer(r, p, prompt), "", true
	}
	return "", "", false
}
