package sample

import (
	"embed"
	"errors"
	"fmt"
	"os"
	"strings"
)

// The built-in personas are short descriptions of who asks, written for
// this package, one per line; # starts a comment line.
//
//go:embed personas/*.txt
var personaFS embed.FS

// personas returns the persona list of a column: the file's lines, the
// built-in list of language, or both.
func personas(language, file string, builtin bool) (*dist, error) {
	if language == "" {
		language = "en"
	}
	if language != "en" && language != "ja" {
		return nil, fmt.Errorf("language: en or ja, not %q", language)
	}
	var lines []string
	if file != "" {
		b, err := os.ReadFile(file)
		if err != nil {
			return nil, fmt.Errorf("file: %w", err)
		}
		lines = personaLines(string(b))
		if len(lines) == 0 {
			return nil, fmt.Errorf("file %s: no personas (one per line)", file)
		}
	}
	if file == "" || builtin {
		b, err := personaFS.ReadFile("personas/" + language + ".txt")
		if err != nil {
			return nil, errors.New("no built-in personas") // a build defect
		}
		lines = append(lines, personaLines(string(b))...)
	}
	d := &dist{}
	seen := map[string]bool{}
	for _, l := range lines {
		if !seen[l] {
			seen[l] = true
			d.values = append(d.values, l)
		}
	}
	return d, nil
}

func personaLines(s string) []string {
	var out []string
	for l := range strings.Lines(s) {
		l = strings.TrimSpace(l)
		if l != "" && !strings.HasPrefix(l, "#") {
			out = append(out, l)
		}
	}
	return out
}
