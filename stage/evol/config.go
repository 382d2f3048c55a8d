package evol

import (
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/synthloop/synthloop/internal/prompt"
	"github.com/synthloop/synthloop/stage/internal/genkit"
	"github.com/synthloop/synthloop/text"
)

// Operations. The first five are in-depth evolving (the task gets harder),
// the last is in-breadth evolving (a new, rarer task of the same domain).
const (
	OpConstraints     = "constraints"      // add a constraint or requirement
	OpDeepen          = "deepen"           // ask for more depth and breadth on the issue
	OpConcretize      = "concretize"       // replace a general concept with a specific one
	OpReasoning       = "reasoning"        // require several explicit reasoning steps
	OpComplicateInput = "complicate_input" // add input data (table, code, JSON, formula) to work on
	OpBreadth         = "breadth"          // a brand-new task in the same domain, on a rarer topic
)

// Operations lists every operation in the order reports show them.
var Operations = []string{OpConstraints, OpDeepen, OpConcretize, OpReasoning, OpComplicateInput, OpBreadth}

// Direction says whether an operation deepens its task or branches out.
func Direction(op string) string {
	if op == OpBreadth {
		return "breadth"
	}
	return "depth"
}

// Config is the `with:` block of an evol stage. Defaults follow WizardLM
// (Xu et al., 2023) and its released code: 4 generations, the operations
// drawn with equal weight, temperature 1 and top_p 0.95 for evolving and
// answering, and the paper's four elimination rules.
type Config struct {
	// Model evolves the instructions and, unless answer_model says otherwise,
	// answers them. Required.
	Model       string `yaml:"model" doc:"Evolves the instructions and, unless answer_model says otherwise, answers them (required)"`
	AnswerModel string `yaml:"answer_model" doc:"Answers the evolved instructions (default: model)"`
	JudgeModel  string `yaml:"judge_model" doc:"Decides whether an evolution added anything (default: model)"`

	// Seeds, when set, is where the instructions come from instead of the
	// previous stage: a built-in Self-Instruct seed set ("en", "ja"), a JSONL
	// file (Self-Instruct seed tasks, or objects with "instruction" and
	// optionally "input" and "output"), or a text file with one instruction
	// per line. Relative paths are relative to the working directory.
	Seeds string `yaml:"seeds" doc:"Instructions instead of the previous stage: en, ja, a JSONL or text file"`
	Limit int    `yaml:"limit" doc:"Evolves only the first limit instructions (0: all)"`
	// Language is "en" or "ja": the wording of the prompts, the refusal
	// markers and the stop words. Default: "ja" when Seeds is "ja", else "en".
	Language string `yaml:"language" doc:"en or ja (default: ja when seeds is ja, else en)"`

	// Generations is how many times each instruction is evolved (4, the
	// paper's epochs). A failed evolution is put back: the next generation
	// evolves the last successful one again.
	Generations int `yaml:"generations" doc:"How many times each instruction is evolved (the paper's epochs)"`
	// Operations weighs the operations when one is drawn for a generation.
	// Listing operations replaces the default, so an operation left out is
	// never drawn. Default: all six with weight 1. (The paper's released code
	// leaves complicate_input out: set it to 0 to match it.)
	Operations map[string]float64 `yaml:"operations" doc:"Weights of the operations drawn (default: all six with weight 1)"`
	Seed       int64              `yaml:"seed" doc:"Drives the draws; 0 uses the run's seed"`
	// IncludeOriginal also emits each input instruction as generation 0, with
	// its output or, when it has none, the model's answer: the paper trains on
	// the original data mixed with every generation.
	IncludeOriginal bool `yaml:"include_original" doc:"Also emits each input instruction as generation 0"`

	// Decoding of the evolution and answer requests: temperature 1, top_p
	// 0.95, max_tokens 2048.
	Temperature *float64 `yaml:"temperature" doc:"Temperature of evolving and answering"`
	TopP        *float64 `yaml:"top_p" doc:"top_p of evolving and answering"`
	MaxTokens   int      `yaml:"max_tokens" doc:"Bounds each evolution and answer"`
	System      string   `yaml:"system" doc:"An optional system prompt for the answers"`
	// Prompts replaces embedded prompts with the user's template files, for
	// every language: one per operation, and equal (docs/PROMPTS.md).
	Prompts prompt.Files `yaml:"prompts" doc:"Your own template files by kind: the operations and equal (docs/PROMPTS.md)"`

	// Elimination of failed evolutions.
	//
	// JudgeEqual asks the judge model whether the evolved instruction asks
	// for anything the one it came from did not (true). The cheap lexical
	// check runs first either way.
	JudgeEqual bool `yaml:"judge_equal" doc:"Asks the judge whether an evolution asks for anything new"`
	// JudgeRetries bounds the follow-ups that ask a judge to restate a reply
	// without a verdict line (1); after them the generation is failed.
	JudgeRetries int `yaml:"judge_retries" doc:"Follow-ups asking a judge to restate a reply without a verdict"`
	// Structured asks the equality judge for its verdict as JSON of a
	// built-in schema; the evolutions and answers are free text, not parsed.
	Structured string `yaml:"structured" doc:"The equality judge's verdict as JSON that fits a built-in schema ({reason, verdict: SAME|DIFFERENT}): off (the Verdict: line), auto (the schema sent with each request until the backend refuses it, then off), native, or prompt (the schema written into the prompt)"`
	// MinNewWords is the lexical check: the evolved instruction must hold at
	// least this many words (CJK: characters) its parent does not (1; 0: off).
	MinNewWords int `yaml:"min_new_words" doc:"Words (CJK: characters) an evolution must add to its parent (0: off)"`
	// LeakPhrases marks an evolution that copies words of the evolving prompt
	// ("#Rewritten Prompt#", "the original task", ...). Default: the built-in
	// list, which covers our prompts and the paper's in both languages.
	LeakPhrases []string `yaml:"leak_phrases" doc:"Phrases marking an evolution that copies the prompt (default: built-in)"`
	// RefusalMarkers mark an answer that refuses or asks for clarification
	// ("sorry", "could you clarify", 申し訳...). Default: the built-in list
	// of the language (English markers are always included).
	RefusalMarkers []string `yaml:"refusal_markers" doc:"Phrases marking a refusal or a clarification question (default: built-in)"`
	// RefusalMaxWords: an answer with a refusal marker is a refusal only when
	// shorter than this (80 words, the paper's rule; Japanese counts morphemes).
	RefusalMaxWords int `yaml:"refusal_max_words" doc:"An answer with a refusal marker is a refusal only when shorter than this"`
	// MinAnswerWords drops answers with fewer words (1). The paper has no
	// floor, and "answer in one word" is a fair constraint to evolve.
	MinAnswerWords int `yaml:"min_answer_words" doc:"Drops answers with fewer words"`
}

// DefaultConfig returns the paper's defaults.
func DefaultConfig() *Config {
	t, p := 1.0, 0.95
	return &Config{
		Generations:     4,
		IncludeOriginal: true,
		Temperature:     &t,
		TopP:            &p,
		MaxTokens:       2048,
		JudgeEqual:      true,
		JudgeRetries:    1,
		MinNewWords:     1,
		RefusalMaxWords: 80,
		MinAnswerWords:  1,
	}
}

// Validate checks the settings and that the seed file can be read, so a
// run does not fail after its first stages.
func (c *Config) Validate() error {
	s, err := c.resolve()
	if err != nil {
		return err
	}
	if err := c.Prompts.Check(kinds); err != nil {
		return fmt.Errorf("evol: %w", err)
	}
	if s.Seeds != "" {
		_, err = loadSeeds(s.Seeds)
	}
	return err
}

// settings is a Config with every default resolved.
type settings struct {
	Config
	lang        text.Lang
	ops         []string  // operations with a positive weight, in Operations order
	weights     []float64 // their weights
	total       float64
	temperature float64
	leaks       []string
	refusals    []string
}

func (c *Config) resolve() (*settings, error) {
	s := &settings{Config: *c}
	if s.Model == "" {
		return nil, errors.New("evol: model: required (name of a backend in the models section)")
	}
	if s.AnswerModel == "" {
		s.AnswerModel = s.Model
	}
	if s.JudgeModel == "" {
		s.JudgeModel = s.Model
	}
	var err error
	if s.lang, err = genkit.Language("evol", s.Language, s.Seeds); err != nil {
		return nil, err
	}
	s.Language = string(s.lang)
	switch {
	case s.Generations <= 0:
		return nil, fmt.Errorf("evol: generations: must be positive, got %d", s.Generations)
	case s.Limit < 0 || s.MaxTokens < 0 || s.JudgeRetries < 0 || s.MinNewWords < 0 || s.RefusalMaxWords < 0 || s.MinAnswerWords < 0:
		return nil, errors.New("evol: limit, max_tokens, judge_retries, min_new_words, refusal_max_words and min_answer_words must not be negative")
	}
	weights := s.Operations
	if weights == nil {
		weights = map[string]float64{}
		for _, op := range Operations {
			weights[op] = 1
		}
	}
	var unknown []string
	for op, w := range weights {
		if !slices.Contains(Operations, op) {
			unknown = append(unknown, op)
			continue
		}
		if w < 0 {
			return nil, fmt.Errorf("evol: operations: %s has a negative weight %g", op, w)
		}
	}
	if len(unknown) > 0 {
		sort.Strings(unknown)
		return nil, fmt.Errorf("evol: operations: unknown %s (want %s)", strings.Join(unknown, ", "), strings.Join(Operations, ", "))
	}
	for _, op := range Operations {
		if w := weights[op]; w > 0 {
			s.ops = append(s.ops, op)
			s.weights = append(s.weights, w)
			s.total += w
		}
	}
	if len(s.ops) == 0 {
		return nil, errors.New("evol: operations: every weight is 0; give at least one operation a positive weight")
	}
	s.temperature = 1
	if s.Temperature != nil {
		s.temperature = *s.Temperature
	}
	s.leaks = s.LeakPhrases
	if s.leaks == nil {
		s.leaks = defaultLeaks
	}
	s.refusals = s.RefusalMarkers
	if s.refusals == nil {
		s.refusals = refusalMarkers(s.lang)
	}
	return s, nil
}
