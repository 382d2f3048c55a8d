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

// The prompts a user may replace under `prompts:`, with sample data of the
// shapes the stage renders, for the load-time check and the documentation.
var (
	kindBootstrap = prompt.Kind{Name: "bootstrap", Funcs: funcs,
		Doc: "Mode selfinstruct: the numbered list of in-context tasks the model continues with new ones.",
		Samples: []any{
			bootstrapData{Tasks: []string{"Explain why the sky is blue.", "Sort the numbers in ascending order."}, Next: 3},
		}}
	kindBootstrapClf = prompt.Kind{Name: "bootstrap_clf", Funcs: funcs,
		Doc: "Mode selfinstruct with classification_only: the same list, asking for classification tasks.",
		Samples: []any{
			bootstrapData{Tasks: []string{"Is the review positive or negative?", "Tell me if the number is prime."}, Next: 3},
		}}
	kindAlpaca = prompt.Kind{Name: "alpaca", Funcs: funcs,
		Doc: "Mode alpaca: the requirements and the ###-separated tasks, ending with the open next instruction.",
		Samples: []any{
			alpacaData{Count: 20, Next: 3, Tasks: []alpacaTask{
				{Instruction: "Translate the sentence to French.", Input: "Good morning.", Output: "Bonjour."},
				{Instruction: "Name the tallest mountain.", Input: "<noinput>", Output: "Mount Everest."}}},
		}}
	kindClassify = prompt.Kind{Name: "classify", Funcs: funcs,
		Doc: "selfinstruct-instances: asks whether a task is a classification task; the reply is read from its first word (Yes/No).",
		Samples: []any{
			classifyData{Task: "Tell me if the email is spam.", Examples: []seeds.Task{
				{ID: "seed_1", Instruction: "Write a haiku about rain.", Instances: []seeds.Instance{{Output: "..."}}},
				{ID: "seed_2", Instruction: "Is the review positive or negative?", IsClassification: true, Instances: []seeds.Instance{{Input: "Great!", Output: "Positive"}}}}},
		}}
	kindInstancesClf = prompt.Kind{Name: "instances_clf", Funcs: funcs,
		Doc: "selfinstruct-instances, classification tasks: output first, each `Class label:` line followed by an input.",
		Samples: []any{instancesData{Task: "Tell me if the email is spam.", Examples: []instanceExample{
			{Task: seeds.Task{ID: "seed_2", Instruction: "Is the review positive or negative?", IsClassification: true,
				Instances: []seeds.Instance{{Input: "Great!", Output: "Positive"}, {Input: "Awful.", Output: "Negative"}}}},
			{Task: seeds.Task{ID: "seed_3", Instruction: "Name a prime number.", IsClassification: true,
				Instances: []seeds.Instance{{Output: "7"}}}, NoInput: true}}}},
	}
	kindInstancesGen = prompt.Kind{Name: "instances_gen", Funcs: funcs,
		Doc: "selfinstruct-instances, other tasks: input first, `Example N` blocks of `Input:` and `Output:`, or one `Output:` for tasks without input.",
		Samples: []any{instancesData{Task: "Summarise the paragraph.", Examples: []instanceExample{
			{Task: seeds.Task{ID: "seed_4", Instruction: "Sort the list.", Instances: []seeds.Instance{{Input: "3, 1, 2", Output: "1, 2, 3"}}}},
			{Task: seeds.Task{ID: "seed_5", Instruction: "Give advice on sleep.", Instances: []seeds.Instance{{Output: "Keep a schedule."}}}, NoInput: true}}}},
	}
	bootstrapKinds = []prompt.Kind{kindBootstrap, kindBootstrapClf, kindAlpaca}
	instanceKinds  = []prompt.Kind{kindClassify, kindInstancesClf, kindInstancesGen}
)

func init() {
	prompt.Declare("selfinstruct", bootstrapKinds...)
	prompt.Declare("selfinstruct-instances", instanceKinds...)
}

// loadPrompt returns the user's template for k when files names one, else
// the embedded one of lang.
func loadPrompt(files prompt.Files, k prompt.Kind, lang string) (*prompt.Template, error) {
	p, err := files.Pick(templateFS, k, lang)
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
	Tasks []string `doc:"the in-context instructions, one line each, in prompt order"`
	Next  int      `doc:"the number of the first item the model is to write (len(Tasks)+1)"`
}

type alpacaTask struct {
	Instruction string `doc:"the task's instruction, on one line"`
	Input       string `doc:"its input, or <noinput>"`
	Output      string `doc:"its output"`
}

type alpacaData struct {
	Count int          `doc:"the number of tasks the list is to reach (stop_at_item)"`
	Tasks []alpacaTask `doc:"the in-context tasks, in prompt order"`
	Next  int          `doc:"the number of the first task the model is to write"`
}

type classifyData struct {
	Examples []seeds.Task `doc:"the few-shot seed tasks, with their answers in IsClassification"`
	Task     string       `doc:"the instruction to classify, on one line"`
}

type instanceExample struct {
	seeds.Task
	NoInput bool `doc:"none of the task's instances has an input"`
}

type instancesData struct {
	Examples []instanceExample `doc:"the few-shot seed tasks of the same kind, each with at most max_instances instances"`
	Task     string            `doc:"the instruction to write instances for, on one line"`
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
