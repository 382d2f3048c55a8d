package loop

import (
	"crypto/sha256"
	"encoding"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"time"

	"github.com/goccy/go-yaml"
	"github.com/goccy/go-yaml/ast"
	"github.com/goccy/go-yaml/parser"

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
	// Name names the run; the default run directory is runs/<name>.
	Name        string `yaml:"name"`
	Description string `yaml:"description"`
	// Seed drives every random choice; round r's plugins get Seed + r.
	Seed int64 `yaml:"seed"`
	// Rounds is the most rounds to run (default 3).
	Rounds int `yaml:"rounds"`
	// Patience stops the loop after this many rounds in a row without a
	// promotion (0: never; run all rounds).
	Patience int `yaml:"patience"`
	// Margin is how much the student's score must exceed the teacher's for
	// a promotion (default 0: any improvement).
	Margin float64 `yaml:"margin"`
	// MaxCostUSD stops the loop cleanly once this much has been spent on
	// generation, training and evaluation together (0: no cap).
	MaxCostUSD float64 `yaml:"max_cost_usd"`
	// Models are the loop's own models: the first teacher and any judge.
	Models map[string]model.Config `yaml:"models"`
	// Teacher names the first teacher in Models; empty when the generator
	// needs no teacher in round 1 (a labelled first round).
	Teacher string `yaml:"teacher"`
	// Mix says how earlier rounds' data join the newest round's in training.
	Mix Mix `yaml:"mix"`
	// Generate, Train and Evaluate select the round's three steps.
	Generate Step `yaml:"generate"`
	Train    Step `yaml:"train"`
	Evaluate Step `yaml:"evaluate"`
	// Baseline, when set, runs a control after the loop: the same loop with
	// some settings changed, shown beside it in the report.
	Baseline *Baseline `yaml:"baseline"`

	// Source is the file the config came from and Text its exact bytes.
	Source string `yaml:"-"`
	Text   []byte `yaml:"-"`
}

// Mix weighs the rounds' data in the training mixture.
type Mix struct {
	// Newest is the newest round's share of the training examples (default
	// 0.5); the earlier rounds share the rest equally. 1 trains on the newest
	// round only.
	Newest float64 `yaml:"newest"`
	// Window is how many earlier rounds join the mixture (0: all of them).
	Window int `yaml:"window"`
}

// Step selects a generator, trainer or evaluator by type, with its settings.
type Step struct {
	Type string `yaml:"type"`
	// With is the type's own config block; Settings holds it decoded into
	// the type's config struct.
	With     map[string]any `yaml:"with"`
	Settings any            `yaml:"-"`
}

// Defaults of Config.
const (
	DefaultRounds = 3
	DefaultNewest = 0.5
)

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
	f, err := parsePanicSafe(data)
	if err != nil {
		return nil, &pipeline.ConfigError{File: file, Msg: "invalid YAML: " + yamlMsg(err)}
	}
	if len(f.Docs) != 1 || f.Docs[0].Body == nil {
		return nil, &pipeline.ConfigError{File: file, Msg: "expected exactly one YAML document with a mapping at the top"}
	}
	root := unwrap(f.Docs[0].Body)
	if _, ok := root.(*ast.MappingNode); !ok {
		return nil, errAt(file, root, "", "the top level must be a mapping with name, models, generate, train and evaluate")
	}
	var errs pipeline.ConfigErrors
	v := &validator{file: file, errs: &errs}
	v.check(root, reflect.TypeOf(Config{}), "")
	if len(errs) > 0 {
		return nil, sortErrs(errs)
	}
	cfg := &Config{Source: file, Text: data}
	if err := decodeNode(root, cfg); err != nil {
		return nil, &pipeline.ConfigError{File: file, Msg: yamlMsg(err)}
	}
	if cfg.Rounds == 0 {
		cfg.Rounds = DefaultRounds
	}
	if cfg.Mix.Newest == 0 {
		cfg.Mix.Newest = DefaultNewest
	}
	var known []string
	for k := range cfg.Models {
		known = append(known, k)
	}
	sort.Strings(known)
	checkName := func(node ast.Node, field, name string) {
		if _, ok := cfg.Models[name]; ok {
			return
		}
		msg := fmt.Sprintf("no model named %q in the models section", name)
		if s := pipeline.Closest(name, known); s != "" {
			msg += fmt.Sprintf(" (did you mean %q?)", s)
		}
		if len(known) > 0 {
			msg += "; configured: " + strings.Join(known, ", ")
		}
		errs = append(errs, errAt(file, node, field, msg))
	}
	if cfg.Teacher != "" {
		checkName(mapValue(root, "teacher"), "teacher", cfg.Teacher)
	}
	for _, name := range known {
		mc := cfg.Models[name]
		if err := mc.Validate(); err != nil {
			errs = append(errs, errAt(file, mapValue(mapValue(root, "models"), name), "models."+name, err.Error()))
		}
	}
	if cfg.Rounds < 0 || cfg.Patience < 0 || cfg.MaxCostUSD < 0 || cfg.Margin < 0 || cfg.Mix.Window < 0 {
		errs = append(errs, errAt(file, root, "", "rounds, patience, margin, max_cost_usd and mix.window must not be negative"))
	}
	if cfg.Mix.Newest < 0 || cfg.Mix.Newest > 1 {
		errs = append(errs, errAt(file, mapValue(mapValue(root, "mix"), "newest"), "mix.newest", fmt.Sprintf("%g: the newest round's share must be in (0, 1]", cfg.Mix.Newest)))
	}
	steps := []struct {
		key  string
		step *Step
		reg  interface {
			lookupConfig(name string) (func() any, bool)
			names() []string
		}
	}{
		{"generate", &cfg.Generate, generatorReg{}},
		{"train", &cfg.Train, trainerReg{}},
		{"evaluate", &cfg.Evaluate, evaluatorReg{}},
	}
	for _, s := range steps {
		node := mapValue(root, s.key)
		if node == nil {
			errs = append(errs, errAt(file, root, s.key, fmt.Sprintf("missing; a loop needs generate, train and evaluate (%s types: %s)", s.key, strings.Join(s.reg.names(), ", "))))
			continue
		}
		if s.step.Type == "" {
			errs = append(errs, errAt(file, node, s.key+".type", "missing; one of: "+strings.Join(s.reg.names(), ", ")))
			continue
		}
		newCfg, ok := s.reg.lookupConfig(s.step.Type)
		if !ok {
			msg := fmt.Sprintf("unknown %s type %q", s.key, s.step.Type)
			if c := pipeline.Closest(s.step.Type, s.reg.names()); c != "" {
				msg += fmt.Sprintf(" (did you mean %q?)", c)
			}
			errs = append(errs, errAt(file, mapValue(node, "type"), s.key+".type", msg+"; known types: "+strings.Join(s.reg.names(), ", ")))
			continue
		}
		settings := newCfg()
		path := s.key + ".with"
		if with := mapValue(node, "with"); with != nil {
			before := len(errs)
			v.check(with, reflect.TypeOf(settings).Elem(), path)
			if len(errs) == before {
				if err := decodeNode(unwrap(with), settings); err != nil {
					errs = append(errs, errAt(file, with, path, yamlMsg(err)))
				}
			}
			if len(errs) == before {
				errs = append(errs, fillEmbedded(file, data, settings, path)...)
			}
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
		if vd, ok := settings.(interface{ Validate() error }); ok {
			if err := vd.Validate(); err != nil {
				var ce pipeline.ConfigErrors
				var one *pipeline.ConfigError
				switch {
				case errors.As(err, &ce):
					errs = append(errs, ce...)
				case errors.As(err, &one):
					errs = append(errs, one)
				default:
					errs = append(errs, errAt(file, node, path, err.Error()))
				}
			}
		}
	}
	if len(errs) == 0 && cfg.Baseline != nil {
		if err := cfg.Baseline.check(); err != nil {
			errs = append(errs, errAt(file, mapValue(root, "baseline"), "baseline", err.Error()))
		} else if _, err := cfg.BaselineConfig(); err != nil {
			errs = append(errs, errAt(file, mapValue(root, "baseline"), "baseline", err.Error()))
		}
	}
	if len(errs) > 0 {
		return nil, sortErrs(errs)
	}
	return cfg, nil
}

func sortErrs(errs pipeline.ConfigErrors) pipeline.ConfigErrors {
	sort.SliceStable(errs, func(i, j int) bool { return errs[i].Line < errs[j].Line })
	return errs
}

type generatorReg struct{}
type trainerReg struct{}
type evaluatorReg struct{}

func (generatorReg) lookupConfig(n string) (func() any, bool) {
	t, ok := generators.lookup(n)
	return t.Config, ok
}
func (generatorReg) names() []string { return generators.names() }
func (trainerReg) lookupConfig(n string) (func() any, bool) {
	t, ok := trainers.lookup(n)
	return t.Config, ok
}
func (trainerReg) names() []string { return trainers.names() }
func (evaluatorReg) lookupConfig(n string) (func() any, bool) {
	t, ok := evaluators.lookup(n)
	return t.Config, ok
}
func (evaluatorReg) names() []string { return evaluators.names() }

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
	shift := func(e *pipeline.ConfigError) *pipeline.ConfigError {
		c := *e
		c.File = y.File
		if c.Line > 0 {
			c.Line += y.Line - 1
			c.Column += y.Column - 1
		} else {
			c.Line, c.Column = y.Line, y.Column
		}
		if prefix != "" {
			c.Field = join(prefix, c.Field)
		}
		return &c
	}
	var ce pipeline.ConfigErrors
	var one *pipeline.ConfigError
	switch {
	case errors.As(err, &ce):
		out := make(pipeline.ConfigErrors, len(ce))
		for i, e := range ce {
			out[i] = shift(e)
		}
		return out
	case errors.As(err, &one):
		return shift(one)
	}
	return err
}

var yamlType = reflect.TypeOf(YAML{})

// fillEmbedded cuts the source text of every YAML field of settings (a
// pointer to a struct) out of data.
func fillEmbedded(file string, data []byte, settings any, path string) pipeline.ConfigErrors {
	rv := reflect.ValueOf(settings).Elem()
	if rv.Kind() != reflect.Struct {
		return nil
	}
	var errs pipeline.ConfigErrors
	for i := 0; i < rv.NumField(); i++ {
		f := rv.Field(i)
		if f.Type() != yamlType || !f.CanSet() {
			continue
		}
		y := f.Addr().Interface().(*YAML)
		if y.node == nil {
			continue
		}
		if err := y.cut(file, data); err != nil {
			errs = append(errs, errAt(file, y.node, join(path, yamlName(rv.Type().Field(i))), err.Error()))
		}
	}
	return errs
}

// cut extracts the block of y.node from data: in block style, the lines from
// the node's first key while they are blank, comments, or indented at least
// as deep as that key, dedented; in flow style, the node's own text.
func (y *YAML) cut(file string, data []byte) error {
	n := unwrap(y.node)
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

// validator reports every key of a YAML tree that the Go type it decodes
// into does not have, and mismatched shapes (a list where a mapping goes).
type validator struct {
	file string
	errs *pipeline.ConfigErrors
}

var textUnmarshaler = reflect.TypeOf((*encoding.TextUnmarshaler)(nil)).Elem()

func (v *validator) check(node ast.Node, t reflect.Type, path string) {
	node = unwrap(node)
	if node == nil {
		return
	}
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t == reflect.TypeOf(time.Duration(0)) || reflect.PointerTo(t).Implements(textUnmarshaler) {
		return
	}
	if t == yamlType {
		return // checked by its owner (e.g. pipeline.ParseConfig)
	}
	if _, ok := reflect.PointerTo(t).MethodByName("UnmarshalYAML"); ok {
		return
	}
	switch t.Kind() {
	case reflect.Struct:
		m, ok := node.(*ast.MappingNode)
		if !ok {
			if _, isNull := node.(*ast.NullNode); !isNull {
				*v.errs = append(*v.errs, errAt(v.file, node, path, "expected a mapping of "+strings.Join(fieldNames(t), ", ")))
			}
			return
		}
		fields := fieldMap(t)
		for _, mv := range m.Values {
			key := mv.Key.GetToken().Value
			sub := join(path, key)
			f, ok := fields[key]
			if !ok {
				msg := fmt.Sprintf("unknown field %q", key)
				if s := pipeline.Closest(key, fieldNames(t)); s != "" {
					msg += fmt.Sprintf(" (did you mean %q?)", s)
				} else {
					msg += "; valid fields: " + strings.Join(fieldNames(t), ", ")
				}
				*v.errs = append(*v.errs, errAt(v.file, mv.Key, sub, msg))
				continue
			}
			if t == reflect.TypeOf(Step{}) && key == "with" {
				continue // checked against the plugin type's own config by ParseConfig
			}
			v.check(mv.Value, f.Type, sub)
		}
	case reflect.Map:
		m, ok := node.(*ast.MappingNode)
		if !ok {
			if _, isNull := node.(*ast.NullNode); !isNull && t.Key().Kind() == reflect.String {
				*v.errs = append(*v.errs, errAt(v.file, node, path, "expected a mapping"))
			}
			return
		}
		for _, mv := range m.Values {
			v.check(mv.Value, t.Elem(), join(path, mv.Key.GetToken().Value))
		}
	case reflect.Slice:
		s, ok := node.(*ast.SequenceNode)
		if !ok {
			if _, isNull := node.(*ast.NullNode); !isNull && t.Elem().Kind() != reflect.Uint8 {
				*v.errs = append(*v.errs, errAt(v.file, node, path, "expected a list"))
			}
			return
		}
		for i, e := range s.Values {
			v.check(e, t.Elem(), fmt.Sprintf("%s[%d]", path, i))
		}
	}
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	if key == "" {
		return path
	}
	return path + "." + key
}

func yamlName(f reflect.StructField) string {
	name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
	if name == "" {
		return strings.ToLower(f.Name)
	}
	return name
}

func fieldMap(t reflect.Type) map[string]reflect.StructField {
	out := map[string]reflect.StructField{}
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		tag := f.Tag.Get("yaml")
		if tag == "-" {
			continue
		}
		if strings.Contains(tag, ",inline") {
			ft := f.Type
			if ft.Kind() == reflect.Pointer {
				ft = ft.Elem()
			}
			for k, v := range fieldMap(ft) {
				out[k] = v
			}
			continue
		}
		out[yamlName(f)] = f
	}
	return out
}

func fieldNames(t reflect.Type) []string {
	var out []string
	for k := range fieldMap(t) {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func unwrap(n ast.Node) ast.Node {
	for {
		switch x := n.(type) {
		case *ast.AnchorNode:
			n = x.Value
		case *ast.TagNode:
			n = x.Value
		case *ast.DocumentNode:
			n = x.Body
		default:
			return n
		}
	}
}

func mapValue(n ast.Node, key string) ast.Node {
	if n == nil {
		return nil
	}
	m, ok := unwrap(n).(*ast.MappingNode)
	if !ok {
		return nil
	}
	for _, mv := range m.Values {
		if mv.Key.GetToken().Value == key {
			return mv.Value
		}
	}
	return nil
}

func errAt(file string, n ast.Node, field, msg string) *pipeline.ConfigError {
	e := &pipeline.ConfigError{File: file, Field: field, Msg: msg}
	if n != nil {
		if tk := n.GetToken(); tk != nil && tk.Position != nil {
			e.Line, e.Column = tk.Position.Line, tk.Position.Column
		}
	}
	return e
}

// parsePanicSafe parses YAML, turning a panic of the YAML library into an
// error: a config file must never crash the program.
func parsePanicSafe(data []byte) (f *ast.File, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("cannot parse (%v)", r)
		}
	}()
	return parser.ParseBytes(data, 0)
}

// decodeNode decodes a node, turning a panic inside the YAML library into an error.
func decodeNode(n ast.Node, v any) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("cannot decode this value (%v)", r)
		}
	}()
	return yaml.NodeToValue(n, v)
}

func yamlMsg(err error) string {
	return strings.TrimSpace(yaml.FormatError(err, false, true))
}
