package judge

import (
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"
	"unicode/utf8"
)

// A score line: "Score: 4", "**Score:** 4", "Final score = 4/5", "Score: 4 points".
// Only the label the prompt asks for (in English) is read: a reply that
// scores in other words or another language is an error to retry, because
// guessing which number in free text is the score would invent scores.
var scoreLine = regexp.MustCompile(`(?i)^(?:final\s+|total\s+)?score\s*[:=]\s*([+-]?\d+(?:\.\d+)?)\s*(?:/\s*(\d+(?:\.\d+)?))?\s*(?:points?|pts)?\s*\.?$`)

var winnerLine = regexp.MustCompile(`(?i)^(?:final\s+)?winner\s*[:=]\s*(?:answer[\s_]*)?(a|b|tie)\s*\.?$`)

// fullWidth maps full-width digits and punctuation, which CJK-writing models
// emit, to ASCII so "Score：４" reads as "Score: 4".
var fullWidth = strings.NewReplacer("：", ":", "＝", "=", "／", "/", "．", ".",
	"０", "0", "１", "1", "２", "2", "３", "3", "４", "4", "５", "5", "６", "6", "７", "7", "８", "8", "９", "9")

// cleanLine strips the markdown emphasis and heading marks models put around
// a verdict line.
func cleanLine(l string) string {
	l = fullWidth.Replace(strings.TrimSpace(l))
	l = strings.NewReplacer("*", "", "_", "", "`", "").Replace(l)
	return strings.TrimSpace(strings.TrimLeft(l, "#> "))
}

// ParseScore reads the last "Score: N" line of a judge reply. It returns the
// score and the text before that line (the justification). It fails, never
// guesses, when no line has that form, when the score is outside [lo, hi],
// when integral is set and the score is not a whole number, or when the line
// states its own scale ("8/10") and that scale is not hi.
func ParseScore(reply string, lo, hi float64, integral bool) (score float64, reason string, err error) {
	m, reason := lastLine(reply, scoreLine)
	if m == nil {
		return 0, "", fmt.Errorf("%w: no line of the form \"Score: N\" (reply begins %q)", ErrNoScore, head(reply, 80))
	}
	s, perr := strconv.ParseFloat(m[1], 64)
	if perr != nil || math.IsInf(s, 0) || math.IsNaN(s) {
		return 0, reason, fmt.Errorf("%w: unreadable number %q", ErrNoScore, m[1])
	}
	if m[2] != "" {
		if d, _ := strconv.ParseFloat(m[2], 64); d != hi {
			return 0, reason, fmt.Errorf("%w: score %s/%s is on another scale than %g", ErrNoScore, m[1], m[2], hi)
		}
	}
	if s < lo || s > hi {
		return 0, reason, fmt.Errorf("%w: score %g outside %g..%g", ErrNoScore, s, lo, hi)
	}
	if integral && s != math.Trunc(s) {
		return 0, reason, fmt.Errorf("%w: score %g is not a whole number of points", ErrNoScore, s)
	}
	return s, reason, nil
}

// ParseWinner reads the last "Winner: A|B|tie" line of a pairwise reply.
func ParseWinner(reply string) (w Winner, reason string, err error) {
	m, reason := lastLine(reply, winnerLine)
	if m == nil {
		return "", "", fmt.Errorf("%w: no line of the form \"Winner: A\", \"Winner: B\" or \"Winner: tie\" (reply begins %q)", ErrNoScore, head(reply, 80))
	}
	switch strings.ToLower(m[1]) {
	case "a":
		return WinnerA, reason, nil
	case "b":
		return WinnerB, reason, nil
	}
	return WinnerTie, reason, nil
}

// lastLine returns the submatches of the last line of reply that re
// matches once cleaned (nil for none) and the text before that line, the
// verdict's justification.
func lastLine(reply string, re *regexp.Regexp) (m []string, before string) {
	lines := strings.Split(reply, "\n")
	for i := len(lines) - 1; i >= 0; i-- {
		if m := re.FindStringSubmatch(cleanLine(lines[i])); m != nil {
			return m, strings.TrimSpace(strings.Join(lines[:i], "\n"))
		}
	}
	return nil, ""
}

// head returns at most n bytes of s, cut at a rune boundary.
func head(s string, n int) string {
	s = strings.TrimSpace(s)
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "..."
}
