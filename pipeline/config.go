package pipeline

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"maps"
	"os"
	"reflect"
	"slices"
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
	// Batch sends this stage's model requests through the providers' batch
	// APIs at half price (see model.Config.Batch), whatever the models say.
	Batch bool `yaml:"batch"`
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
	cfg := &Config{Source: file, Text: data}
	f, err := confkit.ParseInto(file, data, "name, models and stages", cfg)
	if err != nil {
		return nil, err
	}
	root := f.Root
	// Stage settings: decode each `with` block into its type's config struct.
	stagesNode := confkit.Value(root, "stages")
	seq, _ := confkit.Unwrap(stagesNode).(*ast.SequenceNode)
	names := map[string]bool{}
	var fields []string // what the previous stage's records can hold, when fieldsKnown
	fieldsKnown := false
	for i := range cfg.Stages {
		sc := &cfg.Stages[i]
		path := fmt.Sprintf("stages[%d]", i)
		var node ast.Node = stagesNode
		if seq != nil && i < len(seq.Values) {
			node = seq.Values[i]
		}
		settings, _ := confkit.DecodeTyped(f, stageTypes, node, path, sc.Type)
		if settings == nil {
			fieldsKnown = false
			continue
		}
		if sc.Name == "" {
			sc.Name = sc.Type
		}
		if names[sc.Name] {
			f.Add(node, path+".name", fmt.Sprintf("duplicate stage name %q; give each stage a distinct name", sc.Name))
		}
		names[sc.Name] = true
		sc.Settings = settings
		if err := checkModelRefs(settings, cfg.Models); err != nil {
			f.Add(node, path+".with", err.Error())
		}
		f.Validate(node, path+".with", settings)
		if u, ok := settings.(FieldUser); ok && fieldsKnown && i > 0 {
			for _, name := range u.UsedFields() {
				if !slices.Contains(fields, name) {
					f.Add(node, path+".with", fmt.Sprintf("the template uses field %q, which the records of stage %q do not have%s; fields: %s",
						name, cfg.Stages[i-1].Name, confkit.Suggest(name, fields), strings.Join(fields, ", ")))
				}
			}
		}
		if d, ok := settings.(FieldDeclarer); ok {
			fields, fieldsKnown = d.DeclaredFields(fields, fieldsKnown)
		} else {
			fields, fieldsKnown = nil, false
		}
	}
	if len(cfg.Stages) == 0 {
		f.Add(root, "stages", "no stages: a pipeline needs at least one")
	}
	CheckModels(f, cfg.Models)
	if cfg.Concurrency < 0 || cfg.MaxCostUSD < 0 {
		f.Add(root, "", "concurrency and max_cost_usd must not be negative")
	}
	if err := f.Err(); err != nil {
		return nil, err
	}
	return cfg, nil
}

// FieldUser is a stage's settings that read fields of the input records by
// name (a prompt template); ParseConfig checks them against the fields the
// previous stage declares, when it declares them.
type FieldUser interface {
	UsedFields() []string
}

// FieldDeclarer is a stage's settings that know every field the stage's
// records can hold, given those of its input's (known false: unknown). A
// stage whose settings are not a FieldDeclarer declares nothing, and the
// stage after it checks its fields at run time.
type FieldDeclarer interface {
	DeclaredFields(input []string, known bool) (fields []string, ok bool)
}

// CheckModels records in f the problems of each model of a config's models
// section, at its entry.
func CheckModels(f *confkit.File, models map[string]model.Config) {
	for name, mc := range models {
		if err := mc.Validate(); err != nil {
			f.Add(confkit.Value(confkit.Value(f.Root, "models"), name), "models."+name, err.Error())
		}
	}
}

// UnknownModel describes a model name that a config's models section lacks,
// with the closest configured name and the list; "" when the section has it.
func UnknownModel(name string, models map[string]model.Config) string {
	if _, ok := models[name]; ok {
		return ""
	}
	known := slices.Sorted(maps.Keys(models))
	msg := fmt.Sprintf("no model named %q in the models section%s", name, confkit.Suggest(name, known))
	if len(known) > 0 {
		msg += "; configured: " + strings.Join(known, ", ")
	}
	return msg
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
	check := func(tag, name string) error {
		if msg := UnknownModel(name, models); name != "" && msg != "" {
			return fmt.Errorf("%s: %s", tag, msg)
		}
		return nil
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
