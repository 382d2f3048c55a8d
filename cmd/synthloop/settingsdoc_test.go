package main

import (
	"testing"

	"github.com/synthloop/synthloop/internal/confkit"
	"github.com/synthloop/synthloop/loop"
	"github.com/synthloop/synthloop/pipeline"
)

// TestSettingsDocumented fails for a settings field without a doc tag: the
// tables of `synthloop stages NAME` and `synthloop loop --list` print it.
func TestSettingsDocumented(t *testing.T) {
	configs := map[string]any{}
	for _, st := range pipeline.Types() {
		configs["stage "+st.Name] = st.Config()
	}
	for _, x := range loop.Generators() {
		configs["generator "+x.Name] = x.Config()
	}
	for _, x := range loop.Trainers() {
		configs["trainer "+x.Name] = x.Config()
	}
	for _, x := range loop.Evaluators() {
		configs["evaluator "+x.Name] = x.Config()
	}
	for name, cfg := range configs {
		fields := confkit.Fields(cfg)
		if len(fields) == 0 {
			t.Errorf("%s: no settings fields in %T", name, cfg)
		}
		for _, f := range fields {
			if f.Doc == "" {
				t.Errorf("%s: %T: field %s (%s, default %q) has no doc tag", name, cfg, f.Key, f.Type, f.Default)
			}
		}
	}
}
