package confkit

import (
	"fmt"
	"sort"
	"strings"
	"sync"

	"github.com/goccy/go-yaml/ast"
)

// Registry maps names to values of one kind (stage types, providers, ...),
// filled from init functions and read while configs load.
type Registry[T any] struct {
	kind string
	mu   sync.RWMutex
	m    map[string]T
}

// NewRegistry returns an empty registry; kind names its values in messages
// ("stage", "generator").
func NewRegistry[T any](kind string) *Registry[T] {
	return &Registry[T]{kind: kind, m: map[string]T{}}
}

// Kind is what the registry holds, as given to NewRegistry.
func (r *Registry[T]) Kind() string { return r.kind }

// Register adds v under name. It panics on an empty or duplicate name:
// registration happens in init functions, where either is a programming error.
func (r *Registry[T]) Register(name string, v T) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if name == "" {
		panic(fmt.Sprintf("registering a %s with an empty name", r.kind))
	}
	if _, dup := r.m[name]; dup {
		panic(fmt.Sprintf("%s %q registered twice", r.kind, name))
	}
	r.m[name] = v
}

// Lookup returns the value registered under name.
func (r *Registry[T]) Lookup(name string) (T, bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	v, ok := r.m[name]
	return v, ok
}

// Names lists the registered names, sorted.
func (r *Registry[T]) Names() []string {
	r.mu.RLock()
	defer r.mu.RUnlock()
	out := make([]string, 0, len(r.m))
	for n := range r.m {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// All lists the registered values sorted by name.
func (r *Registry[T]) All() []T {
	names := r.Names()
	r.mu.RLock()
	defer r.mu.RUnlock()
	out := make([]T, 0, len(names))
	for _, n := range names {
		out = append(out, r.m[n])
	}
	return out
}

// Typed is a registered type of a typed block (`type:` and `with:`): a
// stage, generator, trainer or evaluator type.
type Typed interface {
	// NewConfig returns a pointer to a new config struct of the type, with
	// its defaults set, for the `with:` block to decode into.
	NewConfig() any
}

// DecodeTyped decodes the typed block at node (path names it) whose `type:`
// is typ: typ must be registered in r, and the block's `with:` decodes into
// the type's NewConfig. A missing or unknown type (with the closest
// registered one) or a problem in the `with:` block is recorded in f.
// settings is nil when the type is missing or unknown, or when the `with:`
// block has a problem: the checks callers run on the settings next (required
// fields, model names) would only restate it, as a misspelt `modle:` did
// when it was reported again as "model: required". decoded reports a
// `with:` block decoded without a problem.
func DecodeTyped[T Typed](f *File, r *Registry[T], node ast.Node, path, typ string) (settings any, decoded bool) {
	if typ == "" {
		f.Add(node, path+".type", "missing; one of: "+strings.Join(r.Names(), ", "))
		return nil, false
	}
	t, ok := r.Lookup(typ)
	if !ok {
		f.Add(Value(node, "type"), path+".type", r.Unknown(typ))
		return nil, false
	}
	settings = t.NewConfig()
	if with := Value(node, "with"); with != nil {
		if !f.Decode(with, path+".with", settings) {
			return nil, false
		}
		decoded = true
	}
	return settings, decoded
}

// Unknown describes a name that is not registered, with the closest
// registered one and the full list, for a config error.
func (r *Registry[T]) Unknown(name string) string {
	names := r.Names()
	return fmt.Sprintf("unknown %s type %q%s; known types: %s", r.kind, name, Suggest(name, names), strings.Join(names, ", "))
}
