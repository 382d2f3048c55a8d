// Package grounding checks that generated answers are supported by their source: the quoted evidence must occur in the source text, and an LLM judge must confirm that the answer follows from it.
package grounding

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/synthloop/synthloop/internal/prompt"
	"github.com/synthloop/synthloop/internal/structured"
	"github.com/synthloop/synthloop/judge"
	"github.com/synthloop/synthloop/record"
)

// Decision filter names.
const (
	FilterEvidence  = "evidence"  // the quote occurs in the source
	FilterGrounding = "grounding" // the judge confirms the answer follows from it
)

// Config is the grounding part of a stage's `with:` block; its keys are
// prefixed so it can sit inline beside the stage's own.
//
//	grounding_model: critic     # default: the stage's model
//	grounding_threshold: 4      # lowest kept rating, 1..5
//	grounding_samples: 1        # ratings per answer, averaged
//	min_evidence_chars: 8       # shorter quotes support nothing
type Config struct {
	Model       string   `yaml:"grounding_model" doc:"Names the judge's backend; empty means the stage's own model"`
	Threshold   float64  `yaml:"grounding_threshold" doc:"Lowest mean rating kept: the answer follows from the evidence and adds no facts"`
	Samples     int      `yaml:"grounding_samples" doc:"How many ratings are averaged"`
	Temperature *float64 `yaml:"grounding_temperature" doc:"Temperature of the grounding judge (unset: 0)"`
	MaxTokens   int      `yaml:"grounding_max_tokens" doc:"Bounds each grounding judge reply"`
	Retries     int      `yaml:"grounding_retries" doc:"Follow-ups asking the judge to restate an unusable reply (-1: none)"`
	// MinEvidence is the fewest characters (after normalisation) a quote
	// must have (8): a quote like "yes" occurs everywhere and proves nothing.
	MinEvidence int `yaml:"min_evidence_chars" doc:"Fewest characters a quoted evidence must have"`
	// GroundingPrompts replaces the grounding judge's embedded templates with the
	// user's files: grounding, retry (docs/PROMPTS.md).
	GroundingPrompts prompt.Files `yaml:"grounding_prompts" doc:"Your own grounding judge templates by kind: grounding, retry (docs/PROMPTS.md)"`
	// Structured is the judge's structured setting, prefixed like the rest
	// so it does not meet the stage's own structured setting.
	Structured string `yaml:"grounding_structured" doc:"The grounding judge's rating as JSON that fits a built-in schema ({rationale, score} from 1 to 5): off (the Score: N line), auto (the schema sent with each request until the backend refuses it, then off), native, or prompt (the schema written into the prompt)"`
}

// DefaultConfig returns the defaults.
func DefaultConfig() Config {
	return Config{Threshold: 4, Samples: 1, MaxTokens: 400, Retries: 2, MinEvidence: 8}
}

// Validate checks the settings that need no backend.
func (c *Config) Validate() error {
	if c.Threshold < MinScore || c.Threshold > MaxScore {
		return fmt.Errorf("grounding: grounding_threshold %g is outside the scale %d..%d", c.Threshold, MinScore, MaxScore)
	}
	if c.Samples < 0 || c.MaxTokens < 0 || c.Retries < -1 || c.MinEvidence < 0 {
		return errors.New("grounding: grounding_samples, grounding_max_tokens and min_evidence_chars must not be negative; grounding_retries not below -1")
	}
	if _, err := structured.ParseSetting(c.Structured); err != nil {
		return fmt.Errorf("grounding: grounding_structured: %w", err)
	}
	if err := c.GroundingPrompts.Check(PromptSet.Kinds); err != nil {
		// Check names the setting "prompts"; this one is grounding_prompts.
		return fmt.Errorf("grounding: grounding_%w", err)
	}
	return nil
}

// NewChecker opens the judge backend (Model, or fallback when Model is
// empty) and returns the checker the config describes.
func (c *Config) NewChecker(open judge.Opener, fallback string) (*Checker, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	name := c.Model
	if name == "" {
		name = fallback
	}
	if name == "" {
		return nil, errors.New("grounding: grounding_model: required (name of a backend in the models section)")
	}
	b, err := open(name)
	if err != nil {
		return nil, fmt.Errorf("grounding: model %q: %w", name, err)
	}
	j, err := NewJudge(b, judge.Options{Samples: c.Samples, MaxRetries: c.Retries, Temperature: c.Temperature, MaxTokens: c.MaxTokens, Prompts: c.GroundingPrompts, Structured: c.Structured})
	if err != nil {
		return nil, err
	}
	return &Checker{Judge: j, Threshold: c.Threshold, MinEvidence: c.MinEvidence}, nil
}

// Checker runs the grounding check. Safe for concurrent use.
type Checker struct {
	Judge       *Judge
	Threshold   float64 // lowest mean rating that passes
	MinEvidence int     // fewest characters a quote must have
}

// Verdict is the outcome of a check.
type Verdict struct {
	// Passed is true when every check passed.
	Passed bool
	// Decisions are the checks made, in order, each with its reason when it
	// failed: the evidence check (quotes only), then the judge's.
	Decisions []record.Decision
	// Start and End locate the quote in the source (byte offsets) when Found.
	Start, End int
	Found      bool
	// Judgment is the judge's result; nil when the judge was not asked
	// (the quote was not found: no need to pay for a rating).
	Judgment *judge.Result
	// NoScore, when set, says why the judge gave no valid rating after its
	// retries: the answer is neither confirmed nor refuted, and the record
	// fails with this error.
	NoScore string
}

// CheckQuote checks an answer whose evidence was quoted from source: the
// quote must have MinEvidence characters and occur in source (Find), and then
// the judge must rate the answer against the quote at Threshold or above.
// The error is a model failure or cancellation, for the caller to classify.
func (c *Checker) CheckQuote(ctx context.Context, source string, it Item) (Verdict, error) {
	var v Verdict
	q := strings.TrimSpace(it.Evidence)
	n := utf8.RuneCountInString(Normalize(q))
	switch {
	case q == "":
		v.Decisions = append(v.Decisions, record.Decision{Filter: FilterEvidence, Reason: "no evidence quoted"})
		return v, nil
	case n < c.MinEvidence:
		v.Decisions = append(v.Decisions, record.Decision{Filter: FilterEvidence, Value: float64(n),
			Reason: fmt.Sprintf("the quoted evidence has %d characters; at least %d are needed to support an answer", n, c.MinEvidence)})
		return v, nil
	}
	v.Start, v.End, v.Found = Find(source, q)
	if !v.Found {
		reason := fmt.Sprintf("the quoted evidence does not occur in the source: %q", clip(q, 120))
		if strings.Contains(q, "...") || strings.Contains(q, "…") {
			reason += " (it has an ellipsis; a quote must be one contiguous span)"
		}
		v.Decisions = append(v.Decisions, record.Decision{Filter: FilterEvidence, Reason: reason})
		return v, nil
	}
	v.Decisions = append(v.Decisions, record.Decision{Filter: FilterEvidence, Passed: true})
	// The judge sees the text as it stands in the source, not the model's copy.
	it.Evidence = source[v.Start:v.End]
	return c.judge(ctx, v, it)
}

// CheckAnswer asks the judge whether the answer follows from it.Evidence,
// which is a trusted reference (an FAQ entry) rather than a model's quote.
func (c *Checker) CheckAnswer(ctx context.Context, it Item) (Verdict, error) {
	return c.judge(ctx, Verdict{}, it)
}

func (c *Checker) judge(ctx context.Context, v Verdict, it Item) (Verdict, error) {
	res, err := c.Judge.Score(ctx, it)
	v.Judgment = &res
	if err != nil {
		return v, err
	}
	if !res.OK() {
		v.NoScore = "the grounding judge gave no valid score: " + res.Err
		v.Decisions = append(v.Decisions, record.Decision{Filter: FilterGrounding, Reason: v.NoScore})
		return v, nil
	}
	d := record.Decision{Filter: FilterGrounding, Passed: res.Score >= c.Threshold, Value: res.Score}
	if !d.Passed {
		d.Reason = fmt.Sprintf("rated %.3g of %d, below %g", res.Score, MaxScore, c.Threshold)
		if rs := res.Reasons(); len(rs) > 0 && strings.TrimSpace(rs[0]) != "" {
			d.Reason += ": " + clip(strings.Join(strings.Fields(rs[0]), " "), 200)
		}
	}
	v.Decisions = append(v.Decisions, d)
	v.Passed = d.Passed
	return v, nil
}

// clip shortens s to at most n runes, marking the cut.
func clip(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n-1]) + "…"
}
