package codet

import (
	"regexp"
	"strings"

	"github.com/synthloop/synthloop/internal/structured"
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

// The replies asked for with the structured setting on: the code of one
// solution, and test lines that are read like a test reply's lines.
var (
	solutionSchema = structured.MustCompile(`{"type":"object","properties":{"code":{"type":"string","minLength":1}},"required":["code"],"additionalProperties":false}`, "solution")
	testsSchema    = structured.MustCompile(`{"type":"object","properties":{"tests":{"type":"array","items":{"type":"string","minLength":1,"maxLength":2000},"minItems":1}},"required":["tests"],"additionalProperties":false}`, "tests")
)

// readSolution returns the code of a solution reply asked for as how, or why
// there is none ("" when the text format simply holds no code, as before).
func (s *Stage) readSolution(reply string, how structured.Mode) (code, why string) {
	if s.solveShape == nil || how == structured.Off {
		code, _ = extractSolution(reply)
		return code, ""
	}
	v, err := structured.Decode[struct {
		Code string `json:"code"`
	}](solutionSchema, reply)
	if err != nil {
		return "", "the reply does not fit the schema: " + err.Error()
	}
	return strings.TrimSpace(v.Code), ""
}

// readTests returns the tests of a test reply asked for as how: under the
// schema, its tests read as the lines of a reply (assert lines calling fn,
// without repeats); a reply that does not validate has none.
func (s *Stage) readTests(reply, fn string, how structured.Mode) []string {
	if s.testsShape == nil || how == structured.Off {
		return extractTests(reply, fn)
	}
	v, err := structured.Decode[struct {
		Tests []string `json:"tests"`
	}](testsSchema, reply)
	if err != nil {
		return nil
	}
	return extractTests(strings.Join(v.Tests, "\n"), fn)
}
