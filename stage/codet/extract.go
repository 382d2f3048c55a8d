package codet

import (
	"regexp"
	"strings"
)

// fenceRe is a fenced code block; the harness's check mode reads the
// first one with the same pattern, so a reply is judged the same way when
// the stage establishes tests and when a trainer's reward runs them.
var fenceRe = regexp.MustCompile("(?s)```[A-Za-z0-9_+-]*[ \t]*\n(.*?)```")

// extractSolution returns the code of a solution reply: its first fenced
// block, or the whole reply when it has none and defines a function. ok is
// false for a reply with no code.
func extractSolution(reply string) (string, bool) {
	if m := fenceRe.FindStringSubmatch(reply); m != nil {
		code := strings.TrimSpace(m[1])
		return code, code != ""
	}
	if strings.Contains(reply, "def ") {
		return strings.TrimSpace(reply), true
	}
	return "", false
}

// extractTests returns the assert lines of a test reply, in order and
// without repeats: the lines of its fenced blocks, or of the whole reply
// when it has none, that start with "assert" and call fn when fn is set.
// A test is one line; asserts continued over several lines are not read.
func extractTests(reply, fn string) []string {
	src := reply
	if blocks := fenceRe.FindAllStringSubmatch(reply, -1); blocks != nil {
		var b strings.Builder
		for _, m := range blocks {
			b.WriteString(m[1])
			b.WriteString("\n")
		}
		src = b.String()
	}
	var out []string
	seen := map[string]bool{}
	for _, line := range strings.Split(src, "\n") {
		t := strings.TrimSpace(line)
		if !strings.HasPrefix(t, "assert ") && !strings.HasPrefix(t, "assert(") {
			continue
		}
		if fn != "" && !strings.Contains(t, fn+"(") {
			continue
		}
		if !seen[t] {
			seen[t] = true
			out = append(out, t)
		}
	}
	return out
}

// functionRe finds the function a problem names: the first name(…).
var functionRe = regexp.MustCompile("`?([A-Za-z_][A-Za-z0-9_]*)\\([^()]*\\)")

// functionName is the function a problem asks for, "" when it names none.
func functionName(problem string) string {
	if m := functionRe.FindStringSubmatch(problem); m != nil {
		return m[1]
	}
	return ""
}
