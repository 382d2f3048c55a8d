package confkit

import (
	"fmt"
	"sort"
	"strings"
	"sync"
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

// Unknown describes a name that is not registered, with the closest
// registered one and the full list, for a config error.
func (r *Registry[T]) Unknown(name string) string {
	names := r.Names()
	return fmt.Sprintf("unknown %s type %q%s; known types: %s", r.kind, name, Suggest(name, names), strings.Join(names, ", "))
}
