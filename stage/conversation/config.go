package conversation

import (
	"errors"
	"fmt"
	"strings"

	"github.com/synthloop/synthloop/internal/prompt"
	"github.com/synthloop/synthloop/stage/internal/genkit"
	"github.com/synthloop/synthloop/text"
)

// Modes: what a conversation is about.
const (
	ModeTopic    = "topic"    // a topic or instruction the user brings
	ModeDocument = "document" // a document (a chunk) the user asks about and the assistant answers from
)

// Config is the `with:` block of a conversation stage.
type Config struct {
	Model string `yaml:"model" doc:"The assistant (required)"`
	// UserModel plays the user. Required: name it explicitly, even when it
	// is the same model, so that no run simulates its users by accident.
	UserModel string `yaml:"user_model" doc:"Plays the user (required, even when it is model)"`

	// Seeds, when set, is where the topics come from instead of the previous
	// stage: a built-in Self-Instruct seed set ("en", "ja"), a text file with
	// one topic per line, or JSONL with "topic" (or "instruction", "prompt"),
	// optionally "input", and "document" (or "text") for document mode.
	Seeds  string   `yaml:"seeds" doc:"Topics instead of the previous stage: en, ja, a text or JSONL file"`
	Topics []string `yaml:"topics" doc:"Topics inline, instead of seeds or a previous stage"`
	Limit  int      `yaml:"limit" doc:"Makes conversations from the first limit inputs only (0: all)"`

	Mode string `yaml:"mode" doc:"topic (a conversation about each topic) or document (about each document)"`
	// DocumentField picks the document of an input record in document mode:
	// "auto" (default: meta.text, meta.chunk or meta.document when it is a
	// string, else input, else instruction), "instruction", "input",
	// "output" or "meta.KEY".
	DocumentField string `yaml:"document_field" doc:"Document of an input in document mode: auto, instruction, input, output or meta.KEY"`
	// Language is "en" or "ja": the wording of the user simulator's prompt.
	// Default: "ja" when Seeds is "ja", else "en".
	Language string `yaml:"language" doc:"'en' or 'ja': the wording of the user simulator's prompt"`

	// MinTurns and MaxTurns bound the exchanges (a user message and the
	// assistant's reply) of a conversation: each conversation draws its
	// length in [MinTurns, MaxTurns] (2..4), and the user may end it once
	// MinTurns exchanges are done.
	MinTurns int    `yaml:"min_turns" doc:"Fewest exchanges (user message and reply) per conversation"`
	MaxTurns int    `yaml:"max_turns" doc:"Most exchanges per conversation"`
	EndToken string `yaml:"end_token" doc:"What the user simulator replies to end the conversation"`
	// OpenWithSeed makes the topic itself the first user message (useful
	// when the seeds are instructions), instead of one the user model writes.
	OpenWithSeed bool `yaml:"open_with_seed" doc:"Makes the topic itself the first user message"`

	// UserPersona says who the simulated user is. Default: an ordinary
	// person with a real need, in the prompt's language.
	UserPersona string `yaml:"user_persona" doc:"Who the simulated user is (default: an ordinary person with a real need)"`
	// System is the assistant's system prompt (none by default; in document
	// mode the document instructions follow it).
	System string `yaml:"system" doc:"The assistant's system prompt"`
	// Prompts replaces embedded prompts with the user's template files, for
	// every language: user, assistant_doc (docs/PROMPTS.md).
	Prompts prompt.Files `yaml:"prompts" doc:"Your own template files by kind: user, assistant_doc (docs/PROMPTS.md)"`
	// IncludeSystem keeps the assistant's system prompt as the first message
	// of the record, so a trainer sees what the assistant saw (true).
	IncludeSystem bool `yaml:"include_system" doc:"Keeps the system prompt as the record's first message"`

	Temperature     *float64 `yaml:"temperature" doc:"Temperature of the assistant"`
	TopP            *float64 `yaml:"top_p" doc:"top_p of the assistant"`
	MaxTokens       int      `yaml:"max_tokens" doc:"Bounds each assistant message"`
	UserTemperature *float64 `yaml:"user_temperature" doc:"Temperature of the user simulator"`
	UserTopP        *float64 `yaml:"user_top_p" doc:"top_p of the user simulator"`
	UserMaxTokens   int      `yaml:"user_max_tokens" doc:"Bounds each user message"`
	// Structured asks the user simulator for {message, end} by schema, so
	// neither a role label nor the end token has to be read from its text;
	// the assistant's replies are free text either way.
	Structured string `yaml:"structured" doc:"The user simulator's turns as JSON that fits a built-in schema ({message, end}): off (text, the end token ending the conversation), auto (the schema sent with each request until the backend refuses it, then off), native, or prompt (the schema written into the prompt)"`

	// MaxSimilarity is the ROUGE-L F (CJK-aware tokens) at which a message
	// counts as repeating an earlier one of the same side, or as echoing the
	// message it replies to (0.9; 1 only catches exact repeats).
	MaxSimilarity float64 `yaml:"max_similarity" doc:"ROUGE-L F at which a message counts as a repeat or an echo"`
	Seed          int64   `yaml:"seed" doc:"Drives the conversation lengths; 0 uses the run's seed"`
}

// DefaultConfig returns the defaults.
func DefaultConfig() *Config {
	t, ut := 0.7, 1.0
	return &Config{
		Mode:            ModeTopic,
		DocumentField:   "auto",
		MinTurns:        2,
		MaxTurns:        4,
		EndToken:        "[END]",
		IncludeSystem:   true,
		Temperature:     &t,
		MaxTokens:       1024,
		UserTemperature: &ut,
		UserMaxTokens:   256,
		MaxSimilarity:   0.9,
	}
}

// Validate checks the settings and that the seed file can be read.
func (c *Config) Validate() error {
	s, err := c.resolve()
	if err != nil {
		return err
	}
	if err := c.Prompts.Check(kinds); err != nil {
		return fmt.Errorf("conversation: %w", err)
	}
	if s.Seeds != "" {
		_, err = loadSeeds(s.Seeds)
	}
	return err
}

type settings struct {
	Config
	lang text.Lang
}

func (c *Config) resolve() (*settings, error) {
	s := &settings{Config: *c}
	switch {
	case s.Model == "":
		return nil, errors.New("conversation: model: required (the assistant: a name from the models section)")
	case s.UserModel == "":
		return nil, errors.New("conversation: user_model: required (the model that plays the user; it may name the same model as model)")
	}
	var err error
	if s.lang, err = genkit.Language("conversation", s.Language, s.Seeds); err != nil {
		return nil, err
	}
	s.Language = string(s.lang)
	if s.Mode == "" {
		s.Mode = ModeTopic
	}
	if s.Mode != ModeTopic && s.Mode != ModeDocument {
		return nil, fmt.Errorf("conversation: mode: unknown %q (want %s or %s)", s.Mode, ModeTopic, ModeDocument)
	}
	if s.DocumentField == "" {
		s.DocumentField = "auto"
	}
	switch f := s.DocumentField; {
	case f == "auto" || f == "instruction" || f == "input" || f == "output":
	case strings.HasPrefix(f, "meta.") && len(f) > 5:
	default:
		return nil, fmt.Errorf("conversation: document_field: %q (want auto, instruction, input, output or meta.KEY)", f)
	}
	if s.Seeds != "" && len(s.Topics) > 0 {
		return nil, errors.New("conversation: seeds and topics: set one, not both")
	}
	for i, t := range s.Topics {
		if strings.TrimSpace(t) == "" {
			return nil, fmt.Errorf("conversation: topics[%d]: empty", i)
		}
	}
	switch {
	case s.MinTurns < 1:
		return nil, fmt.Errorf("conversation: min_turns: %d, want at least 1", s.MinTurns)
	case s.MaxTurns < s.MinTurns:
		return nil, fmt.Errorf("conversation: max_turns %d is below min_turns %d", s.MaxTurns, s.MinTurns)
	case strings.TrimSpace(s.EndToken) == "":
		return nil, errors.New("conversation: end_token: must not be empty")
	case s.Limit < 0 || s.MaxTokens < 0 || s.UserMaxTokens < 0:
		return nil, errors.New("conversation: limit, max_tokens and user_max_tokens must not be negative")
	case s.MaxSimilarity <= 0 || s.MaxSimilarity > 1:
		return nil, fmt.Errorf("conversation: max_similarity: %g outside (0, 1]", s.MaxSimilarity)
	}
	s.EndToken = strings.TrimSpace(s.EndToken)
	return s, nil
}
