package loop

import (
	"fmt"

	"github.com/synthloop/synthloop/internal/confkit"
)

// Type describes a kind of generator, trainer or evaluator: its name in the
// loop config's `type:` key, its documentation, its config (a struct with
// yaml tags, pre-filled with defaults) and its constructor. The config struct
// is the spec: the loader decodes the `with:` block into it strictly, so an
// unknown key is an error naming the file, line and the closest valid key;
// every field has a `doc` tag that `synthloop loop --list` prints with the
// field's default from Config.
// A config may implement SetLoop(c *Config), called first with the loop
// config (its Dir() is where relative paths resolve, its Models the loop's
// models),
// Validate() error for checks the types cannot express (returning
// pipeline.ConfigError values keeps their positions), and ModelNames()
// []string to have the names it uses checked against the loop config's
// models section.
type Type[T any] struct {
	Name    string
	Doc     string                   // one paragraph for --help
	Example string                   // a YAML snippet of the `with:` block
	Config  func() any               // returns a pointer to a new config struct with defaults set
	New     func(cfg any) (T, error) // cfg is what Config returned, after decoding
}

// NewConfig implements confkit.Typed.
func (t Type[T]) NewConfig() any { return t.Config() }

var (
	generators = confkit.NewRegistry[Type[Generator]]("generator")
	trainers   = confkit.NewRegistry[Type[Trainer]]("trainer")
	evaluators = confkit.NewRegistry[Type[Evaluator]]("evaluator")
)

func register[T any](r *confkit.Registry[Type[T]], kind string, t Type[T]) {
	if t.Name == "" || t.Config == nil || t.New == nil {
		panic(fmt.Sprintf("loop: registering a %s needs Name, Config and New", kind))
	}
	r.Register(t.Name, t)
}

// RegisterGenerator adds a generator type, usually from an init function.
// It panics on a duplicate name.
func RegisterGenerator(t Type[Generator]) { register(generators, "generator", t) }

// RegisterTrainer adds a trainer type. It panics on a duplicate name.
func RegisterTrainer(t Type[Trainer]) { register(trainers, "trainer", t) }

// RegisterEvaluator adds an evaluator type. It panics on a duplicate name.
func RegisterEvaluator(t Type[Evaluator]) { register(evaluators, "evaluator", t) }

// Generators, Trainers and Evaluators list the registered types by name.
func Generators() []Type[Generator] { return generators.All() }
func Trainers() []Type[Trainer]     { return trainers.All() }
func Evaluators() []Type[Evaluator] { return evaluators.All() }
