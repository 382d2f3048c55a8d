package selfinstruct

import (
	"errors"
	"fmt"
	"slices"

	"github.com/synthloop/synthloop/internal/prompt"
	"github.com/synthloop/synthloop/pipeline"
	"github.com/synthloop/synthloop/seeds"
	"github.com/synthloop/synthloop/stage/internal/genkit"
	"github.com/synthloop/synthloop/text"
)

// Modes of the selfinstruct stage.
const (
	ModeSelfInstruct = "selfinstruct" // Wang et al., 2022: instructions only
	ModeAlpaca       = "alpaca"       // Taori et al., 2023: instruction, input and output in one reply
)

// Config is the `with:` block of a selfinstruct stage. Fields left at their
// zero value (or null) take the default of the mode, listed per field as
// "selfinstruct / alpaca"; the defaults are the papers' (Self-Instruct's
// bootstrap_instructions.py, Alpaca's generate_instruction.py).
type Config struct {
	Model string `yaml:"model" doc:"The model writing the instructions (required)"`
	Mode  string `yaml:"mode" doc:"selfinstruct (the paper's prompts) or alpaca"`
	// Seeds is a built-in seed set ("en", "ja") or a path to a JSONL seed file
	// in the paper's format, relative to the working directory.
	// Default: the built-in set of Language.
	Seeds string `yaml:"seeds" doc:"Built-in seed set (en, ja) or a JSONL seed file (default: that of language)"`
	// Language is "en" or "ja". It picks the prompt wording, the tokenizer of
	// the length and novelty filters, and whether the ASCII-only rule applies.
	// Default: "ja" when Seeds is "ja", else "en".
	Language string `yaml:"language" doc:"en or ja: prompts, tokenizer, ASCII rule (default: ja with seeds ja, else en)"`
	// ClassificationOnly prompts with classification seed tasks only, under a
	// header asking for classification tasks (the paper's
	// --use_clf_seed_tasks_only), to make more of them. Mode selfinstruct only.
	ClassificationOnly bool `yaml:"classification_only" doc:"Prompts with classification seed tasks only, to make more of them"`
	// Target is the number of kept instructions to reach. The batch that
	// reaches it is committed whole, so a run may keep a few more.
	Target int `yaml:"target" doc:"The number of kept instructions to reach"`
	// MaxBatches stops the stage after this many prompts even short of Target.
	// Default 0: Target+10, which allows for a model that keeps little.
	MaxBatches int `yaml:"max_batches" doc:"Stops after this many prompts even short of target (0: target+10)"`
	// Concurrency is the number of prompts per wave. Default 0: the run's
	// concurrency. Keep it fixed across a resume for identical results.
	Concurrency int `yaml:"concurrency" doc:"Prompts per wave (0: the run's concurrency)"`

	// SeedTasks is the number of human seed tasks in each prompt: 6 / 3.
	// When the machine pool has fewer than MachineTasks, seeds fill the gap.
	SeedTasks       int      `yaml:"seed_tasks" doc:"Human seed tasks in each prompt (selfinstruct 6, alpaca 3)"`
	MachineTasks    *int     `yaml:"machine_tasks" doc:"Kept machine instructions in each prompt (selfinstruct 2, alpaca 0)"`
	StopAtItem      int      `yaml:"stop_at_item" doc:"Stops generation at this item number (selfinstruct 16, alpaca 20)"`
	Temperature     *float64 `yaml:"temperature" doc:"Temperature (selfinstruct 0.7, alpaca 1)"`
	TopP            *float64 `yaml:"top_p" doc:"top_p (selfinstruct 0.5, alpaca 1)"`
	PresencePenalty *float64 `yaml:"presence_penalty" doc:"presence_penalty (selfinstruct 2, alpaca unset)"`
	MaxTokens       int      `yaml:"max_tokens" doc:"Bounds each reply (selfinstruct 1024, alpaca 3072)"`

	MinWords int `yaml:"min_words" doc:"Drops instructions of fewer words than this (4 drops the paper's 3 or fewer)"`
	MaxWords int `yaml:"max_words" doc:"Drops instructions of more words"`
	// Blacklist is a preset ("paper" / "alpaca", or "none") or a list of
	// words, matched as whole words, case-insensitively; words in scripts
	// without spaces (Japanese) match as substrings. Japanese runs add
	// Japanese words for the same things to the presets.
	Blacklist         Blacklist `yaml:"blacklist" doc:"Preset (paper, alpaca, none) or words that drop an instruction (empty: the mode's)"`
	RejectPrefixes    []string  `yaml:"reject_prefixes" doc:"Drops instructions that start with one of these: 'Write a program', plus 'プログラムを書' in Japanese runs"`
	FilterPunctuation bool      `yaml:"filter_punctuation" doc:"Drops instructions whose first character is punctuation"`
	// FilterNonASCII drops instructions whose first character is not ASCII.
	// Default: on for English, off for every other language.
	FilterNonASCII *bool `yaml:"filter_non_ascii" doc:"Drops instructions whose first character is not ASCII"`
	// NoveltyThreshold drops an instruction whose highest ROUGE-L F against the
	// seeds and every kept instruction is above it.
	NoveltyThreshold float64 `yaml:"novelty_threshold" doc:"Drops an instruction whose highest ROUGE-L F to a kept one is above this"`
	TopSimilar       int     `yaml:"top_similar" doc:"Most similar instructions stored on a record"`
	// RejectedSimilar chooses what a rejected record's most_similar holds:
	// "top" (default) the top_similar list, as on a kept record; "max" only
	// the instruction of highest score, which lets the novelty search stop
	// proving a list once the instruction is known to be rejected; "first"
	// only the first instruction the search finds above the threshold, its
	// score recorded as max_similarity though it may not be the highest:
	// the search stops there. Decisions are the same in all three.
	RejectedSimilar string `yaml:"rejected_similar" doc:"most_similar on a rejected record: top (the top_similar list), max (only the closest one; a faster filter at scale) or first (only the first found above the threshold, whose score is then stored as max_similarity though it may not be the highest; the fastest, with top_similar: 1)"`
	// MeanSimilarity chooses the mean ROUGE-L stored on a record: "sampled"
	// (default; a deterministic sample of 100, which keeps the filter fast at
	// scale), "exact" (the paper's, a full scan per candidate) or "none".
	MeanSimilarity string `yaml:"mean_similarity" doc:"Mean ROUGE-L stored on a record: sampled, exact or none"`
	// Tokenizer overrides the novelty tokenizer: "rouge", "cjk" or "kagome".
	// Default: rouge_score's for English, kagome for Japanese.
	Tokenizer string `yaml:"tokenizer" doc:"Novelty tokenizer: rouge, cjk or kagome (default: by language)"`
	// Prompts replaces embedded prompts with the user's template files, for
	// every language: bootstrap, bootstrap_clf, alpaca (docs/PROMPTS.md).
	Prompts prompt.Files `yaml:"prompts" doc:"Your own template files by kind: bootstrap, bootstrap_clf, alpaca (docs/PROMPTS.md)"`

	// Structured asks for the new tasks as JSON of a built-in schema
	// instead of the numbered (or ###-separated) list.
	Structured string `yaml:"structured" doc:"The new tasks as JSON that fits a built-in schema ({instructions: [...]}, alpaca: {tasks: [{instruction, input, output}]}): off (the numbered list), auto (the schema sent with each request until the backend refuses it, then off), native, or prompt (the schema written into the prompt); with a schema, stop sequences are not sent"`
}

// DefaultConfig returns a Config with the mode-independent defaults set.
func DefaultConfig() *Config {
	return &Config{
		Mode:              ModeSelfInstruct,
		Target:            100,
		MinWords:          4,
		MaxWords:          150,
		RejectPrefixes:    []string{"Write a program"},
		FilterPunctuation: true,
		NoveltyThreshold:  0.7,
		TopSimilar:        10,
		MeanSimilarity:    "sampled",
	}
}

// Blacklist is either a preset name or an explicit list of words. In YAML:
// `blacklist: alpaca` or `blacklist: [image, graph]`.
type Blacklist struct {
	Preset string
	Words  []string // non-nil overrides Preset
}

// UnmarshalYAML accepts a string (preset) or a list of words. It uses the
// callback form, which both YAML libraries of the module understand.
func (b *Blacklist) UnmarshalYAML(unmarshal func(any) error) error {
	var s string
	if err := unmarshal(&s); err == nil {
		switch s {
		case "paper", "alpaca", "none":
			*b = Blacklist{Preset: s}
			return nil
		}
		return fmt.Errorf("selfinstruct: blacklist: unknown preset %q (want paper, alpaca, none or a list of words)", s)
	}
	var ws []string
	if err := unmarshal(&ws); err != nil {
		return errors.New("selfinstruct: blacklist: want a preset (paper, alpaca, none) or a list of words")
	}
	if ws == nil {
		ws = []string{}
	}
	*b = Blacklist{Words: ws}
	return nil
}

// UnmarshalText accepts a preset name. Its presence also tells the config
// validator that a blacklist is a value, not a mapping of fields.
func (b *Blacklist) UnmarshalText(t []byte) error {
	switch s := string(t); s {
	case "paper", "alpaca", "none":
		*b = Blacklist{Preset: s}
		return nil
	default:
		return fmt.Errorf("selfinstruct: blacklist: unknown preset %q (want paper, alpaca, none or a list of words)", s)
	}
}

// settings is a Config with every default resolved.
type settings struct {
	Config
	lang         text.Lang
	mean         text.MeanMode
	maxOnReject  bool
	stopOnReject bool
	machineTasks int
	temperature  float64
	topP         *float64
	presence     *float64
	nonASCII     bool
	blacklist    []string
}

func f64(v float64) *float64 { return &v }

func (c *Config) resolve() (*settings, error) {
	s := &settings{Config: *c}
	if s.Model == "" {
		return nil, errors.New("selfinstruct: model: required (name of a backend in the models section)")
	}
	if s.Mode == "" {
		s.Mode = ModeSelfInstruct
	}
	if s.Mode != ModeSelfInstruct && s.Mode != ModeAlpaca {
		return nil, fmt.Errorf("selfinstruct: mode: unknown %q (want selfinstruct or alpaca)", s.Mode)
	}
	if s.ClassificationOnly && s.Mode != ModeSelfInstruct {
		return nil, errors.New("selfinstruct: classification_only: only for mode selfinstruct")
	}
	lang, err := genkit.Language("selfinstruct", s.Language, s.Seeds)
	if err != nil {
		return nil, err
	}
	s.lang, s.Language = lang, string(lang)
	if s.Seeds == "" {
		s.Seeds = string(lang)
	}
	alpaca := s.Mode == ModeAlpaca
	pick := func(self, alp int) int {
		if alpaca {
			return alp
		}
		return self
	}
	if s.SeedTasks == 0 {
		s.SeedTasks = pick(6, 3)
	}
	s.machineTasks = pick(2, 0)
	if s.MachineTasks != nil {
		s.machineTasks = *s.MachineTasks
	}
	if s.StopAtItem == 0 {
		s.StopAtItem = pick(16, 20)
	}
	if s.MaxTokens == 0 {
		s.MaxTokens = pick(1024, 3072)
	}
	s.temperature = 0.7
	s.topP = f64(0.5)
	s.presence = f64(2)
	if alpaca {
		s.temperature, s.topP, s.presence = 1, f64(1), nil
	}
	if s.Temperature != nil {
		s.temperature = *s.Temperature
	}
	if s.TopP != nil {
		s.topP = s.TopP
	}
	if s.PresencePenalty != nil {
		s.presence = s.PresencePenalty
	}
	if lang == text.Japanese && slices.Equal(s.RejectPrefixes, DefaultConfig().RejectPrefixes) {
		// The same rule said in Japanese ("write a program and ...").
		s.RejectPrefixes = append(slices.Clone(s.RejectPrefixes), "プログラムを書")
	}
	s.nonASCII = lang == text.English
	if s.FilterNonASCII != nil {
		s.nonASCII = *s.FilterNonASCII
	}
	if s.blacklist, err = blacklistWords(s.Blacklist, s.Mode, string(lang)); err != nil {
		return nil, err
	}
	switch s.RejectedSimilar {
	case "", "top":
	case "max":
		s.maxOnReject = true
	case "first":
		s.stopOnReject = true
	default:
		return nil, fmt.Errorf("selfinstruct: rejected_similar: unknown %q (want top, max or first)", s.RejectedSimilar)
	}
	switch s.MeanSimilarity {
	case "", "sampled":
		s.mean = text.MeanSampled
	case "exact":
		s.mean = text.MeanExact
	case "none":
		s.mean = text.MeanNone
	default:
		return nil, fmt.Errorf("selfinstruct: mean_similarity: unknown %q (want sampled, exact or none)", s.MeanSimilarity)
	}
	if s.MaxBatches == 0 {
		s.MaxBatches = s.Target + 10
	}
	switch {
	case s.Target <= 0:
		return nil, fmt.Errorf("selfinstruct: target: must be positive, got %d", s.Target)
	case s.SeedTasks < 0 || s.machineTasks < 0 || s.SeedTasks+s.machineTasks == 0:
		return nil, errors.New("selfinstruct: seed_tasks, machine_tasks: the prompt needs at least one in-context task")
	case s.StopAtItem <= s.SeedTasks+s.machineTasks+1:
		return nil, fmt.Errorf("selfinstruct: stop_at_item: %d leaves no room after %d in-context tasks", s.StopAtItem, s.SeedTasks+s.machineTasks)
	case s.MinWords > s.MaxWords:
		return nil, fmt.Errorf("selfinstruct: min_words %d > max_words %d", s.MinWords, s.MaxWords)
	case s.NoveltyThreshold <= 0 || s.NoveltyThreshold > 1:
		return nil, fmt.Errorf("selfinstruct: novelty_threshold: %v outside (0, 1]", s.NoveltyThreshold)
	case s.Concurrency < 0 || s.MaxBatches < 0 || s.TopSimilar < 0:
		return nil, errors.New("selfinstruct: concurrency, max_batches and top_similar must not be negative")
	}
	return s, nil
}

// Validate reports a bad setting or an unreadable seed file when the config is
// loaded, so a run does not fail after its first stages.
func (c *Config) Validate() error {
	s, err := c.resolve()
	if err != nil {
		return err
	}
	if err := c.Prompts.Check(bootstrapKinds); err != nil {
		return fmt.Errorf("selfinstruct: %w", err)
	}
	if _, err := seeds.Load(s.Seeds); err != nil {
		return fmt.Errorf("selfinstruct: %w", err)
	}
	return nil
}

func newTokenizer(name string, lang text.Lang) (text.Tokenizer, error) {
	var tok text.Tokenizer
	var err error
	if name != "" {
		tok, err = text.NewTokenizer(name)
	} else {
		tok, err = text.TokenizerFor(lang)
	}
	if err != nil {
		return nil, fmt.Errorf("selfinstruct: tokenizer: %w", err)
	}
	return tok, nil
}

func init() {
	pipeline.Register(pipeline.StageType{
		Name: "selfinstruct",
		Doc: "Self-Instruct instruction generation (Wang et al., 2022): bootstraps new instructions from seed tasks " +
			"with 6 human and 2 machine in-context tasks, T=0.7, top_p=0.5, presence_penalty=2, and the paper's filters " +
			"(length, blacklist, \"Write a program\", punctuation, non-ASCII, ROUGE-L novelty > 0.7). " +
			"mode: alpaca generates instruction, input and output together from 3 seeds, 20 per call. " +
			"Every candidate is stored, kept or rejected with its reasons.",
		Example: `- name: instructions
  type: selfinstruct
  with:
    model: teacher          # a name from the models section
    seeds: en               # en, ja or a path to a JSONL seed file
    target: 1000            # kept instructions to reach
    # mode: alpaca          # instruction, input and output in one reply
    # language: en          # en or ja; ja turns the ASCII-only rule off
    # temperature: 0.7      # top_p 0.5, presence_penalty 2, max_tokens 1024
    # blacklist: paper      # paper, alpaca, none, or a list of words
    # novelty_threshold: 0.7
    # classification_only: false  # prompt with classification seeds only
    # prompts: {bootstrap: my-bootstrap.tmpl}  # your own template (docs/PROMPTS.md)
`,
		Config: func() any { return DefaultConfig() },
		New:    pipeline.Typed("selfinstruct", func(c *Config) (*Stage, error) { return New(c) }),
	})
	pipeline.Register(pipeline.StageType{
		Name: "selfinstruct-instances",
		Doc: "Self-Instruct instance generation: for each kept instruction, asks whether it is a classification task, " +
			"then generates instances output-first (classification) or input-first (others), and applies the paper's " +
			"instance filters (truncated last, input equal to output, empty output, trailing colon, conflicting outputs, " +
			"duplicates, at most 5 per task). One record per instance.",
		Example: `- name: instances
  type: selfinstruct-instances
  with:
    model: teacher
    # classify_model: judge # answers "is it a classification task?"
    # max_instances: 5
`,
		Config: func() any { return DefaultInstancesConfig() },
		New:    pipeline.Typed("selfinstruct", func(c *InstancesConfig) (*Instances, error) { return NewInstances(c) }),
	})
}
