package loop_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/synthloop/synthloop/loop"
	_ "github.com/synthloop/synthloop/model/openai" // the providers named in model refs
	"github.com/synthloop/synthloop/pipeline"
)

const goodLoop = `name: ok
rounds: 2
models:
  teacher: {ref: openai-compatible/t, base_url: "http://127.0.0.1:1/v1"}
teacher: teacher
generate: {type: fake-gen, with: {n: 3}}
train: {type: fake-train}
evaluate: {type: fake-eval, with: {scores: [0.6, 0.7]}}
`

func TestParseConfigDefaults(t *testing.T) {
	cfg, err := loop.ParseConfig("loop.yaml", []byte(goodLoop))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Rounds != 2 || cfg.Mix.Newest != loop.Default().Mix.Newest || cfg.Patience != 0 || cfg.Teacher != "teacher" {
		t.Errorf("config = %+v", cfg)
	}
	if cfg.Generate.Settings == nil || cfg.Train.Settings == nil {
		t.Error("plugin settings not decoded")
	}
	if cfg.Hash() == "" || cfg.Dir() != "." {
		t.Errorf("hash %q dir %q", cfg.Hash(), cfg.Dir())
	}
}

func TestParseConfigErrors(t *testing.T) {
	tests := []struct {
		name string
		text string
		want []string // substrings of the error
	}{
		{"unknown key", strings.Replace(goodLoop, "rounds: 2", "roundz: 2", 1),
			[]string{`loop.yaml:2:1: roundz: unknown field "roundz" (did you mean "rounds"?)`}},
		{"unknown plugin key", strings.Replace(goodLoop, "{n: 3}", "{nn: 3}", 1),
			[]string{`loop.yaml:6:35: generate.with.nn: unknown field "nn" (did you mean "n"?)`}},
		{"unknown type", strings.Replace(goodLoop, "type: fake-gen", "type: fake-gne", 1),
			[]string{`loop.yaml:6:`, `generate.type: unknown generator type "fake-gne" (did you mean "fake-gen"?)`}},
		{"missing step", strings.Replace(goodLoop, "train: {type: fake-train}\n", "", 1),
			[]string{"train: missing; a loop needs generate, train and evaluate"}},
		{"missing type", strings.Replace(goodLoop, "{type: fake-train}", "{with: {}}", 1),
			[]string{"train.type: missing; one of:", "fake-train"}},
		{"unknown teacher", strings.Replace(goodLoop, "teacher: teacher", "teacher: teachr", 1),
			[]string{`loop.yaml:5:10: teacher: no model named "teachr" in the models section (did you mean "teacher"?)`}},
		{"bad model", strings.Replace(goodLoop, "ref: openai-compatible/t,", "ref: nothing,", 1),
			[]string{"loop.yaml:4:", "models.teacher:", "has no provider"}},
		{"mix newest", goodLoop + "mix: {newest: 1.5}\n",
			[]string{"mix.newest: 1.5: the newest round's share must be in (0, 1]"}},
		{"negative", strings.Replace(goodLoop, "rounds: 2", "rounds: -1", 1), []string{"must not be negative"}},
		{"wrong type", strings.Replace(goodLoop, "rounds: 2", "rounds: many", 1), []string{"loop.yaml", "rounds"}},
		{"list for mapping", strings.Replace(goodLoop, "train: {type: fake-train}", "train: [fake-train]", 1),
			[]string{"loop.yaml:7:8: train: expected a mapping of type, with"}},
		{"not yaml", "name: [", []string{"invalid YAML"}},
		{"not a mapping", "- a\n- b\n", []string{"the top level must be a mapping"}},
		{"two documents", goodLoop + "---\n" + goodLoop, []string{"exactly one YAML document"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := loop.ParseConfig("loop.yaml", []byte(tt.text))
			if err == nil {
				t.Fatal("ParseConfig accepted the config")
			}
			var ce pipeline.ConfigErrors
			var one *pipeline.ConfigError
			if !errors.As(err, &ce) && !errors.As(err, &one) {
				t.Errorf("error %T is not a pipeline config error (exit code 2 depends on it)", err)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error\n%v\nlacks %q", err, w)
				}
			}
		})
	}
}

func FuzzParseConfig(f *testing.F) {
	f.Add([]byte(goodLoop))
	f.Add([]byte(goodLoop + "mix: {newest: 0.3, window: 2}\npatience: 2\n"))
	f.Add([]byte("name: x\ngenerate: {type: fake-gen, with: {n: &a 3}}\ntrain: *a\n"))
	f.Add([]byte("generate: !!map {type: fake-gen}\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		cfg, err := loop.ParseConfig("f.yaml", b)
		if err == nil && (cfg.Generate.Settings == nil || cfg.Train.Settings == nil || cfg.Evaluate.Settings == nil || cfg.Rounds <= 0) {
			t.Fatalf("accepted a config without settings: %+v", cfg)
		}
	})
}
