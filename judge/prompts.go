package judge

import (
	"embed"
	"fmt"
	"strings"

	"github.com/synthloop/synthloop/internal/prompt"
)

// The prompts are files so they can be reviewed as prompts, and so their
// hash, recorded on every judged record, changes exactly when they do.
//
//go:embed templates/*.tmpl
var templateFS embed.FS

func mustPrompt(kind string) *prompt.Template { return prompt.Must(templateFS, kind) }

var (
	additivePrompt = mustPrompt("pointwise_additive")
	scalePrompt    = mustPrompt("pointwise_scale")
	pairwisePrompt = mustPrompt("pairwise")
	retryPrompt    = mustPrompt("retry")
)

type pointwiseData struct {
	Criteria []string `doc:"the rubric's criteria, in order"`
	Min      string   `doc:"the lowest score"`
	Max      string   `doc:"the highest score"`
	Prompt   string   `doc:"the task the answer responds to"`
	Answer   string   `doc:"the answer to score"`
}

type pairwiseData struct {
	Criteria []string `doc:"the criteria of the comparison"`
	Prompt   string   `doc:"the task both answers respond to"`
	A        string   `doc:"the answer shown first (each pair is asked in both orders)"`
	B        string   `doc:"the answer shown second"`
}

type retryData struct {
	Problem string `doc:"why the last reply could not be used"`
	Form    string `doc:"the line the reply must end with, e.g. Score: N or Winner: A"`
}

// The prompts a user may replace under `judge_prompts:`.
var (
	pointwiseSample = pointwiseData{Criteria: []string{"The answer is relevant.", "The answer is correct."}, Min: "0", Max: "5",
		Prompt: "Name three primary colours.", Answer: "Red, yellow and blue."}
	kindAdditive = prompt.Kind{Name: "pointwise_additive",
		Doc:     "Pointwise, additive rubric (the default): one point per criterion met; the reply must end with `Score: N`.",
		Samples: []any{pointwiseSample}}
	kindScale = prompt.Kind{Name: "pointwise_scale",
		Doc:     "Pointwise, a scale from .Min to .Max; the reply must end with `Score: N`.",
		Samples: []any{pointwiseSample}}
	kindPairwise = prompt.Kind{Name: "pairwise",
		Doc:     "Pairwise: which of two answers is better; the reply must end with `Winner: A`, `Winner: B` or `Winner: tie`.",
		Samples: []any{pairwiseData{Criteria: pairwiseCriteria, Prompt: "Name three primary colours.", A: "Red, yellow and blue.", B: "Green."}}}
	kindRetry = prompt.Kind{Name: "retry",
		Doc:     "The follow-up after a reply without a usable verdict, asking for it again in .Form.",
		Samples: []any{retryData{Problem: "no valid score in the reply", Form: "Score: N"}}}
)

// PromptSet is the judge's replaceable prompts, set under `judge_prompts:`
// of every stage that embeds Config; those stages declare it.
var PromptSet = prompt.Set{Name: "judge", Key: "judge_prompts", Kinds: []prompt.Kind{kindAdditive, kindScale, kindPairwise, kindRetry}}

// templates are a judge's prompts: the embedded ones or the user's.
type templates struct{ additive, scale, pairwise, retry *prompt.Template }

var embedded = &templates{additivePrompt, scalePrompt, pairwisePrompt, retryPrompt}

func loadTemplates(files prompt.Files) (*templates, error) {
	if len(files) == 0 {
		return embedded, nil
	}
	ts := &templates{}
	if err := files.PickAll(templateFS, "", prompt.Slot{Dst: &ts.additive, Kind: kindAdditive}, prompt.Slot{Dst: &ts.scale, Kind: kindScale},
		prompt.Slot{Dst: &ts.pairwise, Kind: kindPairwise}, prompt.Slot{Dst: &ts.retry, Kind: kindRetry}); err != nil {
		return nil, fmt.Errorf("judge: %w", err)
	}
	return ts, nil
}

// retryText renders the follow-up, which must be sent.
func (ts *templates) retryText(problem, form string) string {
	return ts.retry.RenderOr(retryPrompt, retryData{Problem: problem, Form: form})
}

// TemplateHashes returns the hash of every judge prompt template by name.
func TemplateHashes() map[string]string {
	out := map[string]string{}
	for _, p := range []*prompt.Template{additivePrompt, scalePrompt, pairwisePrompt, retryPrompt} {
		out[strings.TrimSuffix(strings.TrimPrefix(p.Name, "templates/"), ".tmpl")] = p.Hash
	}
	return out
}
