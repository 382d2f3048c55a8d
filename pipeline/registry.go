package pipeline

import (
	"fmt"
	"sort"
	"sync"
)

// StageType describes a kind of stage: its name in YAML, its documentation, its
// config (a struct with yaml tags, pre-filled with defaults) and its constructor.
// The config struct is the spec: the loader decodes a stage's `with:` block
// into it strictly, so an unknown key is an error naming the file, line and the
// closest valid key.
type StageType struct {
	Name    string
	Doc     string                       // one paragraph for `synthloop stages` and --help
	Example string                       // a YAML snippet of the stage with its main options
	Config  func() any                   // returns a pointer to a new config struct with defaults set
	New     func(cfg any) (Stage, error) // cfg is what Config returned, after decoding
}

var (
	regMu sync.RWMutex
	reg   = map[string]StageType{}
)

// Register adds a stage type. It panics on a duplicate name, as registration
// happens in init functions where a duplicate is a programming error.
func Register(t StageType) {
	regMu.Lock()
	defer regMu.Unlock()
	if t.Name == "" || t.Config == nil || t.New == nil {
		panic("pipeline: Register needs Name, Config and New")
	}
	if _, dup := reg[t.Name]; dup {
		panic(fmt.Sprintf("pipeline: stage type %q registered twice", t.Name))
	}
	reg[t.Name] = t
}

// Lookup returns the stage type registered under name.
func Lookup(name string) (StageType, bool) {
	regMu.RLock()
	defer regMu.RUnlock()
	t, ok := reg[name]
	return t, ok
}

// Types returns the registered stage types sorted by name.
func Types() []StageType {
	regMu.RLock()
	defer regMu.RUnlock()
	out := make([]StageType, 0, len(reg))
	for _, t := range reg {
		out = append(out, t)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}
