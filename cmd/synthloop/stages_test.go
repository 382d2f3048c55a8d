package main

import (
	"strings"
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

func TestStagesShowsSettings(t *testing.T) {
	tests := []struct {
		stage string
		want  []string // lines, whitespace collapsed
	}{
		{"dedup", []string{
			"KEY TYPE DEFAULT DESCRIPTION",
			"threshold number 0.8 Near-duplicate Jaccard threshold",
			"decontaminate list of string - Eval sets to decontaminate against: JSONL or text lines",
		}},
		{"judge", []string{
			"rubric mapping - Grades pointwise (default: the self-rewarding additive 5-point rubric)",
			"rubric.kind string - additive or scale (empty: additive)",
			"judge_temperature number - Temperature of the judge (unset: 0.7 pointwise, 0 pairwise)",
		}},
		{"evol", []string{"temperature number 1 Temperature of evolving and answering"}},
		// The verifier's own defaults do not hold inside a reasoning stage.
		{"reasoning", []string{
			"verifier.extract string - Picks the final answer out of a sample's answer part before exact, normalized, numeric or math compare it; unset: the stage's extract (auto by default), for every kind; none compares the whole answer part; regex, json_schema and command always get the whole answer part",
			"verifier.reference string - Unused here: the reference is the stage's answer field (or the voted answer)",
		}},
	}
	for _, tt := range tests {
		t.Run(tt.stage, func(t *testing.T) {
			var out strings.Builder
			cmd := newStagesCmd()
			cmd.SetOut(&out)
			cmd.SetArgs([]string{tt.stage})
			if err := cmd.Execute(); err != nil {
				t.Fatal(err)
			}
			lines := map[string]bool{}
			for _, l := range strings.Split(out.String(), "\n") {
				lines[strings.Join(strings.Fields(l), " ")] = true
			}
			for _, w := range tt.want {
				if !lines[w] {
					t.Errorf("stages %s lacks the line %q:\n%s", tt.stage, w, out.String())
				}
			}
			doc := strings.Index(out.String(), "Settings (with:)")
			example := strings.Index(out.String(), "Example:")
			if doc < 0 || example < doc {
				t.Errorf("settings table missing or not between the doc and the example:\n%s", out.String())
			}
		})
	}
}

// TestStagesListsPromptKinds checks that `synthloop stages TYPE` names the
// prompt templates a user may replace, under each setting.
func TestStagesListsPromptKinds(t *testing.T) {
	for typ, want := range map[string][]string{
		"selfinstruct": {"Prompt templates (prompts: KIND: FILE", "bootstrap, bootstrap_clf, alpaca"},
		"reject":       {"Prompt templates (judge_prompts: KIND: FILE", "pointwise_additive, pointwise_scale, pairwise, retry"},
	} {
		var out strings.Builder
		cmd := newStagesCmd()
		cmd.SetOut(&out)
		cmd.SetArgs([]string{typ})
		if err := cmd.Execute(); err != nil {
			t.Fatal(err)
		}
		for _, w := range want {
			if !strings.Contains(out.String(), w) {
				t.Errorf("stages %s lacks %q:\n%s", typ, w, out.String())
			}
		}
	}
}
