package selfinstruct

import (
	"embed"
	"fmt"
	"regexp"
	"strings"
	"text/template"

	"github.com/synthloop/synthloop/internal/prompt"
	"github.com/synthloop/synthloop/seeds"
)

// The prompts are files so that they can be read and reviewed as prompts, and
// so that their hash, recorded on every record, changes exactly when they do.
// The structural labels (numbered items, "###", "Instruction:", "Task:",
// "Class label:", "Example N", "Classification:") are English in every
// language: the reply parsers key on them, and model/scripted recognises the
// prompts by them.
//
//go:embed templates/*.tmpl
var templateFS embed.FS

var funcs = template.FuncMap{"add": func(a, b int) int { return a + b }}

func loadPrompt(kind, lang string) (*prompt.Template, error) {
	p, err := prompt.ForLanguage(templateFS, kind, lang, funcs)
	if err != nil {
		return nil, fmt.Errorf("selfinstruct: %w", err)
	}
	return p, nil
}

var spaces = regexp.MustCompile(`\s+`)

// oneLine normalises an instruction for a numbered list as the paper does:
// whitespace collapsed, trailing colons removed.
func oneLine(s string) string {
	return strings.TrimRight(strings.TrimSpace(spaces.ReplaceAllString(s, " ")), ":")
}

type bootstrapData struct {
	Tasks []string
	Next  int
}

type alpacaTask struct{ Instruction, Input, Output string }

type alpacaData struct {
	Count int
	Tasks []alpacaTask
	Next  int
}

type classifyData struct {
	Examples []seeds.Task
	Task     string
}

type instanceExample struct {
	seeds.Task
	NoInput bool
}

type instancesData struct {
	Examples []instanceExample
	Task     string
}

// spread picks up to k items from xs at evenly spaced positions: a fixed,
// varied few-shot set that does not depend on the run seed, so identical
// prompts (and so cache hits) across runs of the same seed file.
func spread[T any](xs []T, k int) []T {
	if k >= len(xs) {
		return xs
	}
	out := make([]T, 0, k)
	for i := range k {
		out = append(out, xs[i*len(xs)/k])
	}
	return out
}

// classifyExamples picks k seed tasks, alternating classification and other
// tasks so the few-shot answers are balanced between Yes and No.
func classifyExamples(tasks []seeds.Task, k int) []seeds.Task {
	var yes, no []seeds.Task
	for _, t := range tasks {
		if t.IsClassification {
			yes = append(yes, t)
		} else {
			no = append(no, t)
		}
	}
	ny := min(len(yes), (k+1)/2)
	nn := min(len(no), k-ny)
	ny = min(len(yes), k-nn)
	yes, no = spread(yes, ny), spread(no, nn)
	out := make([]seeds.Task, 0, k)
	for i := 0; i < len(yes) || i < len(no); i++ {
		if i < len(no) {
			out = append(out, no[i])
		}
		if i < len(yes) {
			out = append(out, yes[i])
		}
	}
	for i := range out {
		out[i].Instruction = oneLine(out[i].Instruction)
	}
	return out
}

// instanceExamples picks k seed tasks of the wanted kind for the instance
// prompts, capping each at maxPer instances.
func instanceExamples(tasks []seeds.Task, clf bool, k, maxPer int) []instanceExample {
	var pick []seeds.Task
	for _, t := range tasks {
		if t.IsClassification == clf {
			pick = append(pick, t)
		}
	}
	var out []instanceExample
	for _, t := range spread(pick, k) {
		t.Instruction = oneLine(t.Instruction)
		if len(t.Instances) > maxPer {
			t.Instances = t.Instances[:maxPer]
		}
		noInput := true
		for _, in := range t.Instances {
			if strings.TrimSpace(in.Input) != "" {
				noInput = false
			}
		}
		out = append(out, instanceExample{Task: t, NoInput: noInput})
	}
	return out
}
