package problems

import (
	"regexp"
	"strconv"
	"strings"
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
	add := func(n int, s string) {
		it := item{N: n}
		if loc := solutionRe.FindStringIndex(s); loc != nil {
			s, it.Cut = s[:loc[0]], true
		}
		it.Text = strings.TrimSpace(s)
		if it.Text != "" {
			out = append(out, it)
		}
	}
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
