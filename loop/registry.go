package loop

import (
	"fmt"
	"sort"
	"sync"
)

// Type describes a kind of generator, trainer or evaluator: its name in the
// loop config's `type:` key, its documentation, its config (a struct with
// yaml tags, pre-filled with defaults) and its constructor. The config struct
// is the spec: the loader decodes the `with:` block into it strictly, so an
// unknown key is an error naming the file, line and the closest valid key.
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

type registry[T any] struct {
	kind string
	mu   sync.RWMutex
	m    map[string]Type[T]
}

func (r *registry[T]) register(t Type[T]) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if t.Name == "" || t.Config == nil || t.New == nil {
		panic(fmt.Sprintf("loop: registering a %s needs Name, Config and New", r.kind))
	}
	if _, dup := r.m[t.Name]; dup {
		panic(fmt.Sprintf("loop: %s %q registered twice", r.kind, t.Name))
	}
	if r.m == nil {
		r.m = map[string]Type[T]{}
	}
	r.m[t.Name] = t
}

func (r *registry[T]) lookup(name string) (Type[T], bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	t, ok := r.m[name]
	return t, ok
}

func (r *registry[T]) names() []string {
	r.mu.RLock()
	defer r.mu.RUnlock()
	var out []string
	for n := range r.m {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

func (r *registry[T]) types() []Type[T] {
	r.mu.RLock()
	defer r.mu.RUnlock()
	var out []Type[T]
	for _, t := range r.m {
		out = append(out, t)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

var (
	generators = &registry[Generator]{kind: "generator"}
	trainers   = &registry[Trainer]{kind: "trainer"}
	evaluators = &registry[Evaluator]{kind: "evaluator"}
)

// RegisterGenerator adds a generator type, usually from an init function.
// It panics on a duplicate name.
func RegisterGenerator(t Type[Generator]) { generators.register(t) }

// RegisterTrainer adds a trainer type. It panics on a duplicate name.
func RegisterTrainer(t Type[Trainer]) { trainers.register(t) }

// RegisterEvaluator adds an evaluator type. It panics on a duplicate name.
func RegisterEvaluator(t Type[Evaluator]) { evaluators.register(t) }

// Generators, Trainers and Evaluators list the registered types by name.
func Generators() []Type[Generator] { return generators.types() }
func Trainers() []Type[Trainer]     { return trainers.types() }
func Evaluators() []Type[Evaluator] { return evaluators.types() }
