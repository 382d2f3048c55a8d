package problems

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"github.com/synthloop/synthloop/internal/structured"
)

// item is one problem read from a reply.
type item struct {
	N    int    // its number in the reply
	Text string // the problem, trimmed
	Cut  bool   // a solution or answer followed the problem and was cut off
}

var (
	// headerRe is an item's header line: "Problem 4:", "**Problem 4.**",
	// "## Problem 4:", "問題 4：". Models decorate headers in Markdown often
	// enough that a parser keyed on the bare form loses whole replies.
	headerRe = regexp.MustCompile(`(?m)^[ \t]*(?:\*\*|#{1,4}[ \t]*)?(?:Problem|問題)[ \t]*(\d{1,6})[ \t]*(?:\*\*)?[ \t]*[:：.](?:\*\*)?[ \t]*`)
	// solutionRe starts what a model adds after a problem despite being
	// asked not to; it would leak the answer into the prompt.
	solutionRe = regexp.MustCompile(`(?mi)^[ \t]*(?:\*\*|#{1,4}[ \t]*)?(?:answer|solution|hint|解答|答え|解説)[ \t]*(?:\*\*)?[ \t]*[:：]`)
)

// parseProblems reads the problems of a reply to a prompt that ended with
// "Problem next:": the text before the first header is problem next (the
// model continued the prompt), and each header starts another. Blank items
// are dropped; an item that a solution follows keeps only the problem.
func parseProblems(reply string, next int) []item {
	var out []item
	add := func(n int, s string) { out = appendItem(out, n, s) }
	heads := headerRe.FindAllStringSubmatchIndex(reply, -1)
	if len(heads) == 0 {
		add(next, reply)
		return out
	}
	add(next, reply[:heads[0][0]])
	for i, h := range heads {
		end := len(reply)
		if i+1 < len(heads) {
			end = heads[i+1][0]
		}
		n, err := strconv.Atoi(reply[h[2]:h[3]])
		if err != nil || n <= 0 {
			n = next + i
		}
		add(n, reply[h[1]:end])
	}
	return out
}

// appendItem appends problem n, text s, to out unless it is blank; a
// solution that follows the problem is cut off.
func appendItem(out []item, n int, s string) []item {
	it := item{N: n}
	if loc := solutionRe.FindStringIndex(s); loc != nil {
		s, it.Cut = s[:loc[0]], true
	}
	if it.Text = strings.TrimSpace(s); it.Text != "" {
		out = append(out, it)
	}
	return out
}

// problemList is a reply under the structured setting.
type problemList struct {
	Problems []string `json:"problems"`
}

// problemsSchema is problemList's schema for a stage asking n problems per
// prompt.
func problemsSchema(n int) *structured.Schema {
	return structured.MustCompile(fmt.Sprintf(`{"type":"object","properties":{"problems":{"type":"array","items":{"type":"string","minLength":1,"maxLength":4000},"minItems":1,"maxItems":%d}},"required":["problems"],"additionalProperties":false}`, max(n, 1)), "problems")
}

// parseShaped reads a reply asked for with schema s: its problems numbered
// from next, each cut at a solution as in the list format. A reply that
// does not validate is an error: a cut-off reply is not valid JSON, so it
// keeps no problem.
func parseShaped(s *structured.Schema, reply string, next int) ([]item, error) {
	v, err := structured.Decode[problemList](s, reply)
	if err != nil {
		return nil, err
	}
	var out []item
	for i, p := range v.Problems {
		out = appendItem(out, next+i, p)
	}
	return out, nil
}
