package pipeline

import (
	"crypto/sha256"
	"encoding"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"reflect"
	"sort"
	"strings"
	"time"

	"github.com/goccy/go-yaml"
	"github.com/goccy/go-yaml/ast"
	"github.com/goccy/go-yaml/parser"

	"github.com/synthloop/synthloop/model"
)

// Config is a pipeline file.
type Config struct {
	// Name names the run; the default run directory is runs/<name>.
	Name        string `yaml:"name"`
	Description string `yaml:"description"`
	// Seed drives every random choice of every stage, so a run is reproducible.
	Seed int64 `yaml:"seed"`
	// MaxCostUSD stops the run cleanly once this much has been spent (0: no cap).
	MaxCostUSD float64 `yaml:"max_cost_usd"`
	// Concurrency is the default number of units a stage works on at once.
	Concurrency int `yaml:"concurrency"`
	// MaxConsecutiveFailures stops the run when one model fails this many
	// requests in a row after retries (default 10; -1 never stops).
	MaxConsecutiveFailures int `yaml:"max_consecutive_failures"`
	// Models maps a name used by stages to a backend.
	Models map[string]model.Config `yaml:"models"`
	Stages []StageConfig           `yaml:"stages"`

	// Source is the file the config came from and Text its exact bytes; both
	// are kept in the run store so a resume can tell whether the config changed.
	Source string `yaml:"-"`
	Text   []byte `yaml:"-"`
}

// StageConfig is one entry of the stages list.
type StageConfig struct {
	Name        string `yaml:"name"`
	Type        string `yaml:"type"`
	Concurrency int    `yaml:"concurrency"`
	// With is the stage type's own config block; Settings holds it decoded
	// into the type's config struct.
	With     map[string]any `yaml:"with"`
	Settings any            `yaml:"-"`
}

// Hash identifies the config's content.
func (c *Config) Hash() string {
	h := sha256.Sum256(c.Text)
	return hex.EncodeToString(h[:])
}

// ConfigError is one problem in a config file, with its position.
type ConfigError struct {
	File   string
	Line   int
	Column int
	Field  string // dotted path, e.g. stages[0].with.temperature
	Msg    string
}

func (e *ConfigError) Error() string {
	loc := e.File
	if e.Line > 0 {
		loc = fmt.Sprintf("%s:%d:%d", e.File, e.Line, e.Column)
	}
	if e.Field != "" {
		return fmt.Sprintf("%s: %s: %s", loc, e.Field, e.Msg)
	}
	return fmt.Sprintf("%s: %s", loc, e.Msg)
}

// ConfigErrors is every problem found in one config file.
type ConfigErrors []*ConfigError

func (es ConfigErrors) Error() string {
	var b strings.Builder
	for i, e := range es {
		if i > 0 {
			b.WriteByte('\n')
		}
		b.WriteString(e.Error())
	}
	return b.String()
}

// LoadConfig reads and validates a pipeline file.
func LoadConfig(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("pipeline: %w", err)
	}
	return ParseConfig(path, data)
}

// ParseConfig parses and validates a pipeline config. Every unknown key,
// wrong type, unknown stage type or model name is reported with its file,
// line and field; unknown keys come with the closest valid key. Nothing is
// silently ignored.
func ParseConfig(file string, data []byte) (*Config, error) {
	f, err := parser.ParseBytes(data, 0)
	if err != nil {
		return nil, &ConfigError{File: file, Msg: "invalid YAML: " + yamlMsg(err)}
	}
	if len(f.Docs) != 1 || f.Docs[0].Body == nil {
		return nil, &ConfigError{File: file, Msg: "expected exactly one YAML document with a mapping at the top"}
	}
	root := unwrap(f.Docs[0].Body)
	if _, ok := root.(*ast.MappingNode); !ok {
		return nil, errAt(file, root, "", "the top level must be a mapping with name, models and stages")
	}
	var errs ConfigErrors
	v := &validator{file: file, errs: &errs}
	v.check(root, reflect.TypeOf(Config{}), "")
	if len(errs) > 0 {
		return nil, errs
	}
	cfg := &Config{Source: file, Text: data}
	if err := decodeNode(root, cfg); err != nil {
		return nil, &ConfigError{File: file, Msg: yamlMsg(err)}
	}
	// Stage settings: decode each `with` block into its type's config struct.
	stagesNode := mapValue(root, "stages")
	seq, _ := unwrap(stagesNode).(*ast.SequenceNode)
	names := map[string]bool{}
	for i := range cfg.Stages {
		sc := &cfg.Stages[i]
		path := fmt.Sprintf("stages[%d]", i)
		var node ast.Node = stagesNode
		if seq != nil && i < len(seq.Values) {
			node = seq.Values[i]
		}
		if sc.Type == "" {
			errs = append(errs, errAt(file, node, path+".type", "missing; one of: "+strings.Join(typeNames(), ", ")))
			continue
		}
		st, ok := Lookup(sc.Type)
		if !ok {
			msg := fmt.Sprintf("unknown stage type %q", sc.Type)
			if s := Closest(sc.Type, typeNames()); s != "" {
				msg += fmt.Sprintf(" (did you mean %q?)", s)
			}
			errs = append(errs, errAt(file, mapValue(node, "type"), path+".type", msg+"; known types: "+strings.Join(typeNames(), ", ")))
			continue
		}
		if sc.Name == "" {
			sc.Name = sc.Type
		}
		if names[sc.Name] {
			errs = append(errs, errAt(file, node, path+".name", fmt.Sprintf("duplicate stage name %q; give each stage a distinct name", sc.Name)))
		}
		names[sc.Name] = true
		settings := st.Config()
		if with := mapValue(node, "with"); with != nil {
			before := len(errs)
			v.check(with, reflect.TypeOf(settings).Elem(), path+".with")
			if len(errs) == before {
				if err := decodeNode(unwrap(with), settings); err != nil {
					errs = append(errs, errAt(file, with, path+".with", yamlMsg(err)))
				}
			}
		}
		sc.Settings = settings
		if err := checkModelRefs(settings, cfg.Models); err != nil {
			errs = append(errs, errAt(file, node, path+".with", err.Error()))
		}
		if vd, ok := settings.(interface{ Validate() error }); ok {
			if err := vd.Validate(); err != nil {
				errs = append(errs, errAt(file, node, path+".with", err.Error()))
			}
		}
	}
	if len(cfg.Stages) == 0 {
		errs = append(errs, errAt(file, root, "stages", "no stages: a pipeline needs at least one"))
	}
	for name, mc := range cfg.Models {
		if vd, ok := any(&mc).(interface{ Validate() error }); ok {
			if err := vd.Validate(); err != nil {
				errs = append(errs, errAt(file, mapValue(mapValue(root, "models"), name), "models."+name, err.Error()))
			}
		}
	}
	if cfg.Concurrency < 0 || cfg.MaxCostUSD < 0 {
		errs = append(errs, errAt(file, root, "", "concurrency and max_cost_usd must not be negative"))
	}
	if len(errs) > 0 {
		sort.SliceStable(errs, func(i, j int) bool { return errs[i].Line < errs[j].Line })
		return nil, errs
	}
	return cfg, nil
}

// checkModelRefs finds the model names in a stage's settings and checks that
// each names a configured model: string fields tagged `model` or ending in
// `_model`, and string lists tagged `panel` or ending in `_models`, also inside
// inlined structs (a judge block shared by several stages).
func checkModelRefs(settings any, models map[string]model.Config) error {
	rv := reflect.ValueOf(settings)
	for rv.Kind() == reflect.Pointer {
		if rv.IsNil() {
			return nil
		}
		rv = rv.Elem()
	}
	if rv.Kind() != reflect.Struct {
		return nil
	}
	var known []string
	for k := range models {
		known = append(known, k)
	}
	sort.Strings(known)
	check := func(tag, name string) error {
		if name == "" {
			return nil
		}
		if _, ok := models[name]; ok {
			return nil
		}
		msg := fmt.Sprintf("%s: no model named %q in the models section", tag, name)
		if s := Closest(name, known); s != "" {
			msg += fmt.Sprintf(" (did you mean %q?)", s)
		}
		if len(known) > 0 {
			msg += "; configured: " + strings.Join(known, ", ")
		}
		return errors.New(msg)
	}
	rt := rv.Type()
	for i := 0; i < rt.NumField(); i++ {
		sf := rt.Field(i)
		if !sf.IsExported() {
			continue
		}
		f := rv.Field(i)
		if strings.Contains(sf.Tag.Get("yaml"), ",inline") || (sf.Anonymous && sf.Tag.Get("yaml") == "") {
			if err := checkModelRefs(f.Addr().Interface(), models); err != nil {
				return err
			}
			continue
		}
		tag := yamlName(sf)
		switch {
		case f.Kind() == reflect.String && (tag == "model" || strings.HasSuffix(tag, "_model")):
			if err := check(tag, f.String()); err != nil {
				return err
			}
		case f.Kind() == reflect.Slice && f.Type().Elem().Kind() == reflect.String && (tag == "panel" || strings.HasSuffix(tag, "_models")):
			for j := 0; j < f.Len(); j++ {
				if err := check(tag, f.Index(j).String()); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

type validator struct {
	file string
	errs *ConfigErrors
}

var textUnmarshaler = reflect.TypeOf((*encoding.TextUnmarshaler)(nil)).Elem()

// check walks node against the Go type it will decode into and records every
// key that the type does not have.
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
	if _, ok := reflect.PointerTo(t).MethodByName("UnmarshalYAML"); ok {
		return // the type decodes itself and reports its own errors
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
				if s := Closest(key, fieldNames(t)); s != "" {
					msg += fmt.Sprintf(" (did you mean %q?)", s)
				} else {
					msg += "; valid fields: " + strings.Join(fieldNames(t), ", ")
				}
				*v.errs = append(*v.errs, errAt(v.file, mv.Key, sub, msg))
				continue
			}
			if t == reflect.TypeOf(StageConfig{}) && key == "with" {
				continue // checked against the stage type's own config by ParseConfig
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
	return path + "." + key
}

func yamlName(f reflect.StructField) string {
	tag := f.Tag.Get("yaml")
	name, _, _ := strings.Cut(tag, ",")
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

func typeNames() []string {
	var out []string
	for _, t := range Types() {
		out = append(out, t.Name)
	}
	return out
}

// Closest returns the candidate nearest to s by edit distance (with
// transpositions, the commonest typo), or "" when none is close enough to be
// a plausible typo. Ties go to the candidate of the closest length. Config
// loaders of other files (the loop's) use it for their "did you mean".
func Closest(s string, candidates []string) string {
	best, bestD, bestL := "", 1<<30, 1<<30
	for _, c := range candidates {
		d := editDistance(strings.ToLower(s), strings.ToLower(c))
		l := len(c) - len(s)
		if l < 0 {
			l = -l
		}
		if d < bestD || (d == bestD && l < bestL) {
			best, bestD, bestL = c, d, l
		}
	}
	if bestD <= max(2, len(s)/3) {
		return best
	}
	return ""
}

// editDistance is the optimal-string-alignment distance: insertions,
// deletions, substitutions and adjacent transpositions each cost 1.
func editDistance(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	d := make([][]int, len(ra)+1)
	for i := range d {
		d[i] = make([]int, len(rb)+1)
		d[i][0] = i
	}
	for j := range d[0] {
		d[0][j] = j
	}
	for i := 1; i <= len(ra); i++ {
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			d[i][j] = min(d[i-1][j]+1, d[i][j-1]+1, d[i-1][j-1]+cost)
			if i > 1 && j > 1 && ra[i-1] == rb[j-2] && ra[i-2] == rb[j-1] {
				d[i][j] = min(d[i][j], d[i-2][j-2]+1)
			}
		}
	}
	return d[len(ra)][len(rb)]
}

// unwrap looks through anchors and tags to the value node.
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

func errAt(file string, n ast.Node, field, msg string) *ConfigError {
	e := &ConfigError{File: file, Field: field, Msg: msg}
	if n != nil {
		if tk := n.GetToken(); tk != nil && tk.Position != nil {
			e.Line, e.Column = tk.Position.Line, tk.Position.Column
		}
	}
	return e
}

// decodeNode decodes a node, turning a panic inside the YAML library (seen
// with odd tagged nodes under fuzzing) into an error: a config file must
// never crash the program.
func decodeNode(n ast.Node, v any) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("cannot decode this value (%v)", r)
		}
	}()
	return yaml.NodeToValue(n, v)
}

// yamlMsg renders a go-yaml error without ANSI colours, keeping its position.
func yamlMsg(err error) string {
	return strings.TrimSpace(yaml.FormatError(err, false, true))
}
