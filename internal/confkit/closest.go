package confkit

import (
	"fmt"
	"strings"
)

// Closest returns the candidate nearest to s by optimal-string-alignment
// distance, ignoring case, or "" when none is close enough to be a plausible
// typo. Ties go to the candidate of the closest length.
func Closest(s string, candidates []string) string {
	best, bestD, bestL := "", 1<<30, 1<<30
	ls := strings.ToLower(s)
	for _, c := range candidates {
		d := Distance(ls, strings.ToLower(c))
		l := len(c) - len(s)
		if l < 0 {
			l = -l
		}
		if d < bestD || (d == bestD && l < bestL) {
			best, bestD, bestL = c, d, l
		}
	}
	if bestD <= max(2, len(s)/3) {
		return best
	}
	return ""
}

// Suggest returns ` (did you mean "X"?)` for the closest candidate, or "".
func Suggest(s string, candidates []string) string {
	if c := Closest(s, candidates); c != "" {
		return fmt.Sprintf(" (did you mean %q?)", c)
	}
	return ""
}

// Distance is the optimal-string-alignment distance between a and b:
// insertions, deletions, substitutions and transpositions of adjacent runes
// (the commonest typo) each cost 1.
func Distance(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	// Three rows suffice: a transposition looks back two rows.
	pp, p, c := make([]int, len(rb)+1), make([]int, len(rb)+1), make([]int, len(rb)+1)
	for j := range p {
		p[j] = j
	}
	for i := 1; i <= len(ra); i++ {
		c[0] = i
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			c[j] = min(p[j]+1, c[j-1]+1, p[j-1]+cost)
			if i > 1 && j > 1 && ra[i-1] == rb[j-2] && ra[i-2] == rb[j-1] {
				c[j] = min(c[j], pp[j-2]+1)
			}
		}
		pp, p, c = p, c, pp
	}
	return p[len(rb)]
}
