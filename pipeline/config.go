package pipeline

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"reflect"
	"sort"
	"strings"

	"github.com/goccy/go-yaml/ast"

	"github.com/synthloop/synthloop/internal/confkit"
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

// ConfigError is one problem in a config file, with its position; loaders
// of other config files (the loop's) return it too, so callers treat all
// config files alike.
type ConfigError = confkit.Error

// ConfigErrors is every problem found in one config file.
type ConfigErrors = confkit.Errors

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
	f, err := confkit.Parse(file, data, "name, models and stages")
	if err != nil {
		return nil, err
	}
	root := f.Root
	cfg := &Config{Source: file, Text: data}
	if !f.Decode(root, "", cfg) {
		return nil, f.Err()
	}
	// Stage settings: decode each `with` block into its type's config struct.
	stagesNode := confkit.Value(root, "stages")
	seq, _ := confkit.Unwrap(stagesNode).(*ast.SequenceNode)
	names := map[string]bool{}
	for i := range cfg.Stages {
		sc := &cfg.Stages[i]
		path := fmt.Sprintf("stages[%d]", i)
		var node ast.Node = stagesNode
		if seq != nil && i < len(seq.Values) {
			node = seq.Values[i]
		}
		if sc.Type == "" {
			f.Add(node, path+".type", "missing; one of: "+strings.Join(stageTypes.Names(), ", "))
			continue
		}
		st, ok := Lookup(sc.Type)
		if !ok {
			f.Add(confkit.Value(node, "type"), path+".type", stageTypes.Unknown(sc.Type))
			continue
		}
		if sc.Name == "" {
			sc.Name = sc.Type
		}
		if names[sc.Name] {
			f.Add(node, path+".name", fmt.Sprintf("duplicate stage name %q; give each stage a distinct name", sc.Name))
		}
		names[sc.Name] = true
		settings := st.Config()
		if with := confkit.Value(node, "with"); with != nil {
			f.Decode(with, path+".with", settings)
		}
		sc.Settings = settings
		if err := checkModelRefs(settings, cfg.Models); err != nil {
			f.Add(node, path+".with", err.Error())
		}
		if vd, ok := settings.(interface{ Validate() error }); ok {
			if err := vd.Validate(); err != nil {
				f.Add(node, path+".with", err.Error())
			}
		}
	}
	if len(cfg.Stages) == 0 {
		f.Add(root, "stages", "no stages: a pipeline needs at least one")
	}
	for name, mc := range cfg.Models {
		if err := mc.Validate(); err != nil {
			f.Add(confkit.Value(confkit.Value(root, "models"), name), "models."+name, err.Error())
		}
	}
	if cfg.Concurrency < 0 || cfg.MaxCostUSD < 0 {
		f.Add(root, "", "concurrency and max_cost_usd must not be negative")
	}
	if err := f.Err(); err != nil {
		return nil, err
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
		msg := fmt.Sprintf("%s: no model named %q in the models section%s", tag, name, confkit.Suggest(name, known))
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
		if confkit.Inline(sf) || (sf.Anonymous && sf.Tag.Get("yaml") == "") {
			if err := checkModelRefs(f.Addr().Interface(), models); err != nil {
				return err
			}
			continue
		}
		tag := confkit.Key(sf)
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
