package loop

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"

	"github.com/goccy/go-yaml/ast"

	"github.com/synthloop/synthloop/internal/confkit"
	"github.com/synthloop/synthloop/model"
	"github.com/synthloop/synthloop/pipeline"
)

// Config is a loop file.
//
//	name: distill
//	rounds: 3
//	models:
//	  teacher: {ref: openai/gpt-4o-mini}
//	teacher: teacher
//	generate: {type: pipeline, with: {...}}
//	train:    {type: builtin, with: {...}}
//	evaluate: {type: verifier, with: {...}}
type Config struct {
	Name        string  `yaml:"name" doc:"Names the run; the default run directory is runs/<name>"`
	Description string  `yaml:"description" doc:"Shown in reports and the summary"`
	Seed        int64   `yaml:"seed" doc:"Drives every random choice; round r's plugins get seed + r"`
	Rounds      int     `yaml:"rounds" doc:"The most rounds to run"`
	Patience    int     `yaml:"patience" doc:"Stops after this many rounds in a row without a promotion (0: never)"`
	Margin      float64 `yaml:"margin" doc:"How much the student's score must exceed the teacher's for a promotion"`
	MaxCostUSD  float64 `yaml:"max_cost_usd" doc:"Stops cleanly once generation, training and evaluation spent this much (0: no cap)"`
	// Models are the loop's own models: the first teacher and any judge.
	Models  map[string]model.Config `yaml:"models" doc:"The loop's own models by name: the first teacher and any judge"`
	Teacher string                  `yaml:"teacher" doc:"The first teacher, by name in models; empty when round 1 needs none (labels)"`
	Mix     Mix                     `yaml:"mix" doc:"How earlier rounds' data join the newest round's in training"`
	// Generate, Train and Evaluate select the round's three steps.
	Generate Step `yaml:"generate" doc:"The generator: type and with"`
	Train    Step `yaml:"train" doc:"The trainer: type and with"`
	Evaluate Step `yaml:"evaluate" doc:"The evaluator: type and with"`
	// Baseline, when set, runs a control after the loop: the same loop with
	// some settings changed, shown beside it in the report.
	Baseline *Baseline `yaml:"baseline" doc:"A control run after the loop: title, shared_rounds, types, with-overrides and phases (the fields below)"`
	// Phases change the steps from given rounds on (GRPO, then RFT).
	Phases []Phase `yaml:"phases" doc:"Changes to the steps from a given round on, or after a round whose metric passes a bound: from, when, title, types and with-overrides, as a baseline's"`

	// Source is the file the config came from and Text its exact bytes.
	Source string `yaml:"-"`
	Text   []byte `yaml:"-"`
}

// Mix weighs the rounds' data in the training mixture.
type Mix struct {
	Newest float64 `yaml:"newest" doc:"The newest round's share of the training examples; earlier rounds share the rest (1: newest only)"`
	Window int     `yaml:"window" doc:"How many earlier rounds join the mixture (0: all)"`
}

// Step selects a generator, trainer or evaluator by type, with its settings.
type Step struct {
	Type string `yaml:"type" doc:"One of the types below"`
	// With is the type's own config block; Settings holds it decoded into
	// the type's config struct.
	With     map[string]any `yaml:"with" doc:"The type's settings (its table below)"`
	Settings any            `yaml:"-"`
}

// Default is a loop file's defaults, the one place they are stated: a
// field left out, or set to 0, takes its value from here.
func Default() Config {
	return Config{Rounds: 3, Mix: Mix{Newest: 0.5}}
}

// Hash identifies the config's content.
func (c *Config) Hash() string {
	h := sha256.Sum256(c.Text)
	return hex.EncodeToString(h[:])
}

// Dir is the directory of the config file, against which relative paths resolve.
func (c *Config) Dir() string {
	if c.Source == "" {
		return "."
	}
	return filepath.Dir(c.Source)
}

// LoadConfig reads and validates a loop file.
func LoadConfig(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("loop: %w", err)
	}
	return ParseConfig(path, data)
}

// ParseConfig parses and validates a loop config with the strictness of a
// pipeline config: every unknown key, wrong type, unknown plugin type or
// model name is reported with file:line:column and, for keys and names, the
// closest valid one. The error is a pipeline.ConfigErrors (or a single
// *pipeline.ConfigError), so callers treat both configs alike.
func ParseConfig(file string, data []byte) (*Config, error) {
	cfg := &Config{Source: file, Text: data}
	f, err := confkit.ParseInto(file, data, "name, models, generate, train and evaluate", cfg)
	if err != nil {
		return nil, err
	}
	root := f.Root
	def := Default()
	if cfg.Rounds == 0 {
		cfg.Rounds = def.Rounds
	}
	if cfg.Mix.Newest == 0 {
		cfg.Mix.Newest = def.Mix.Newest
	}
	checkName := func(node ast.Node, field, name string) {
		if msg := pipeline.UnknownModel(name, cfg.Models); msg != "" {
			f.Add(node, field, msg)
		}
	}
	if cfg.Teacher != "" {
		checkName(confkit.Value(root, "teacher"), "teacher", cfg.Teacher)
	}
	pipeline.CheckModels(f, cfg.Models)
	if cfg.Rounds < 0 || cfg.Patience < 0 || cfg.MaxCostUSD < 0 || cfg.Margin < 0 || cfg.Mix.Window < 0 {
		f.Add(root, "", "rounds, patience, margin, max_cost_usd and mix.window must not be negative")
	}
	if cfg.Mix.Newest < 0 || cfg.Mix.Newest > 1 {
		f.Add(confkit.Value(confkit.Value(root, "mix"), "newest"), "mix.newest", fmt.Sprintf("%g: the newest round's share must be in (0, 1]", cfg.Mix.Newest))
	}
	steps := []struct {
		key    string
		step   *Step
		names  func() []string
		decode func(node ast.Node, key, typ string) (any, bool)
	}{
		{"generate", &cfg.Generate, generators.Names, decodeStep(f, generators)},
		{"train", &cfg.Train, trainers.Names, decodeStep(f, trainers)},
		{"evaluate", &cfg.Evaluate, evaluators.Names, decodeStep(f, evaluators)},
	}
	for _, s := range steps {
		node := confkit.Value(root, s.key)
		if node == nil {
			f.Add(root, s.key, fmt.Sprintf("missing; a loop needs generate, train and evaluate (%s types: %s)", s.key, strings.Join(s.names(), ", ")))
			continue
		}
		settings, decoded := s.decode(node, s.key, s.step.Type)
		if settings == nil {
			continue
		}
		path := s.key + ".with"
		if decoded {
			fillEmbedded(f, settings, path)
		}
		s.step.Settings = settings
		if sl, ok := settings.(interface{ SetLoop(c *Config) }); ok {
			sl.SetLoop(cfg)
		}
		if mn, ok := settings.(interface{ ModelNames() []string }); ok {
			for _, n := range mn.ModelNames() {
				if n != "" {
					checkName(node, path, n)
				}
			}
		}
		f.Validate(node, path, settings)
	}
	// Phases first: a baseline keeps them, and a phase's error must show
	// at the phase, not as the baseline's.
	if len(f.Errs) == 0 && len(cfg.Phases) > 0 {
		cfg.checkPhases(f, confkit.Value(root, "phases"))
	}
	if len(f.Errs) == 0 && cfg.Baseline != nil {
		if err := cfg.Baseline.check(cfg.Phases); err != nil {
			f.Add(confkit.Value(root, "baseline"), "baseline", err.Error())
		} else if _, err := cfg.BaselineConfig(); err != nil {
			f.Add(confkit.Value(root, "baseline"), "baseline", err.Error())
		}
	}
	if err := f.Err(); err != nil {
		return nil, err
	}
	return cfg, nil
}

// decodeStep gives the config loader one view of the three registries.
func decodeStep[T any](f *confkit.File, r *confkit.Registry[Type[T]]) func(node ast.Node, key, typ string) (any, bool) {
	return func(node ast.Node, key, typ string) (any, bool) { return confkit.DecodeTyped(f, r, node, key, typ) }
}

// YAML is a block of a config file kept as its own source text, for a
// setting that holds a whole other config inline (the pipeline generator's
// `pipeline:`). The loop's parser fills it; Fix moves the positions of
// errors found in Text to their place in File.
type YAML struct {
	File string
	Text []byte
	// Line and Column are where Text's first line and column sit in File.
	Line, Column int

	node ast.Node
}

// UnmarshalYAML keeps the node; the loop's parser fills the text afterwards.
func (y *YAML) UnmarshalYAML(n ast.Node) error {
	y.node = n
	return nil
}

// IsZero reports whether the block is absent.
func (y YAML) IsZero() bool { return len(y.Text) == 0 }

// Fix rewrites the positions and fields of pipeline config errors found in
// y.Text (as parsed under the name y.File) to their place in y.File under
// the field prefix.
func (y YAML) Fix(err error, prefix string) error {
	return mapConfigErrors(err, func(c confkit.Error) confkit.Error {
		c.File = y.File
		if c.Line > 0 {
			c.Line += y.Line - 1
			c.Column += y.Column - 1
		} else {
			c.Line, c.Column = y.Line, y.Column
		}
		if prefix != "" {
			c.Field = confkit.Join(prefix, c.Field)
		}
		return c
	})
}

// mapConfigErrors returns err with f applied to a copy of each config
// error it holds, or err itself when it holds none.
func mapConfigErrors(err error, f func(confkit.Error) confkit.Error) error {
	var es confkit.Errors
	var one *confkit.Error
	switch {
	case errors.As(err, &es):
		out := make(confkit.Errors, len(es))
		for i, e := range es {
			c := f(*e)
			out[i] = &c
		}
		return out
	case errors.As(err, &one):
		c := f(*one)
		return &c
	}
	return err
}

var yamlType = reflect.TypeOf(YAML{})

// fillEmbedded cuts the source text of every YAML field of settings (a
// pointer to a struct) out of the file.
func fillEmbedded(f *confkit.File, settings any, path string) {
	rv := reflect.ValueOf(settings).Elem()
	if rv.Kind() != reflect.Struct {
		return
	}
	for i := 0; i < rv.NumField(); i++ {
		fv := rv.Field(i)
		if fv.Type() != yamlType || !fv.CanSet() {
			continue
		}
		y := fv.Addr().Interface().(*YAML)
		if y.node == nil {
			continue
		}
		if err := y.cut(f.Name, f.Data); err != nil {
			f.Add(y.node, confkit.Join(path, confkit.Key(rv.Type().Field(i))), err.Error())
		}
	}
}

// cut extracts the block of y.node from data: in block style, the lines from
// the node's first key while they are blank, comments, or indented at least
// as deep as that key, dedented; in flow style, the node's own text.
func (y *YAML) cut(file string, data []byte) error {
	n := confkit.Unwrap(y.node)
	m, ok := n.(*ast.MappingNode)
	if !ok {
		return errors.New("expected a mapping (an inline config)")
	}
	y.File = file
	if len(m.Values) == 0 {
		return errors.New("empty inline config")
	}
	pos := m.Values[0].Key.GetToken().Position
	lines := strings.SplitAfter(string(data), "\n")
	if pos == nil || pos.Line < 1 || pos.Line > len(lines) {
		return errors.New("cannot locate the inline config in the file")
	}
	indent := pos.Column - 1
	first := lines[pos.Line-1]
	if m.IsFlowStyle || indent > len(first) || strings.TrimLeft(first[:indent], " ") != "" {
		// Flow style or a mapping that starts on its parent's line: the
		// node's own text, with positions approximate to its first line.
		y.Text = []byte(n.String() + "\n")
		y.Line, y.Column = pos.Line, 1
		return nil
	}
	var b strings.Builder
	for i := pos.Line - 1; i < len(lines); i++ {
		l := lines[i]
		t := strings.TrimLeft(l, " ")
		lead := len(l) - len(t)
		if i > pos.Line-1 && strings.TrimSpace(t) != "" && !strings.HasPrefix(t, "#") && lead < indent {
			break
		}
		b.WriteString(l[min(lead, indent):])
	}
	y.Text = []byte(b.String())
	y.Line, y.Column = pos.Line, pos.Column
	return nil
}
