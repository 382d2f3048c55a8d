package pipeline

import (
	"fmt"

	"github.com/synthloop/synthloop/internal/confkit"
)

// StageType describes a kind of stage: its name in YAML, its documentation, its
// config (a struct with yaml tags, pre-filled with defaults) and its constructor.
// The config struct is the spec: the loader decodes a stage's `with:` block
// into it strictly, so an unknown key is an error naming the file, line and the
// closest valid key. Every field has a `doc` tag, a one-line description that
// `synthloop stages NAME` prints with the field's default from Config.
type StageType struct {
	Name    string
	Doc     string                       // one paragraph for `synthloop stages` and --help
	Example string                       // a YAML snippet of the stage with its main options
	Config  func() any                   // returns a pointer to a new config struct with defaults set
	New     func(cfg any) (Stage, error) // cfg is what Config returned, after decoding
}

var stageTypes = confkit.NewRegistry[StageType]("stage")

// Register adds a stage type. It panics on a duplicate name, as registration
// happens in init functions where a duplicate is a programming error.
func Register(t StageType) {
	if t.Name == "" || t.Config == nil || t.New == nil {
		panic("pipeline: Register needs Name, Config and New")
	}
	stageTypes.Register(t.Name, t)
}

// NewConfig implements confkit.Typed.
func (t StageType) NewConfig() any { return t.Config() }

// Lookup returns the stage type registered under name.
func Lookup(name string) (StageType, bool) { return stageTypes.Lookup(name) }

// Types returns the registered stage types sorted by name.
func Types() []StageType { return stageTypes.All() }

// Typed adapts a stage constructor that takes its own config type to
// StageType.New, whose config comes from the loader as an any.
func Typed[C any, S Stage](name string, newStage func(*C) (S, error)) func(cfg any) (Stage, error) {
	return func(cfg any) (Stage, error) {
		c, ok := cfg.(*C)
		if !ok {
			return nil, fmt.Errorf("%s: config is %T, want %T", name, cfg, c)
		}
		s, err := newStage(c)
		if err != nil {
			return nil, err
		}
		return s, nil
	}
}
