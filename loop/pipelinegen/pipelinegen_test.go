package pipelinegen_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/synthloop/synthloop/loop"
	_ "github.com/synthloop/synthloop/loop/builtin"
	_ "github.com/synthloop/synthloop/loop/evaluate"
	"github.com/synthloop/synthloop/loop/pipelinegen"
	_ "github.com/synthloop/synthloop/model/openai"
	_ "github.com/synthloop/synthloop/stage/selfinstruct"
)

const head = `name: p
models:
  teacher: {ref: openai-compatible/t, base_url: "http://127.0.0.1:1/v1"}
teacher: teacher
train: {type: builtin}
evaluate: {type: verifier, with: {items: [{prompt: a, answer: b}]}}
generate:
  type: pipeline
  with:
`

func TestInlinePipeline(t *testing.T) {
	tests := []struct {
		name, with string
		want       []string // substrings of the error; none: valid
	}{
		{"uses the loop's models", `    pipeline:
      name: gen
      stages:
        - type: selfinstruct
          with: {model: teacher, target: 5}
`, nil},
		{"own models", `    pipeline:
      name: gen
      models:
        teacher: {ref: openai-compatible/x, base_url: "http://127.0.0.1:2/v1"}
      stages:
        - type: selfinstruct
          with: {model: teacher, target: 5}
`, nil},
		// The position of an error inside the pipeline is its place in the loop file.
		{"error inside", `    pipeline:
      name: gen
      stages:
        - type: selfinstruct
          with:
            model: teacher
            targt: 5
`, []string{`p.yaml:16:13: generate.with.pipeline.stages[0].with.targt: unknown field "targt" (did you mean "target"?)`}},
		{"unknown stage type", `    pipeline:
      # a comment line, then a stage of no known type
      stages:
        - type: selfinstrct
`, []string{`p.yaml:13:17: generate.with.pipeline.stages[0].type: unknown stage type "selfinstrct" (did you mean "selfinstruct"?)`}},
		{"no teacher model", `    teacher_model: writer
    pipeline:
      stages:
        - type: selfinstruct
          with: {model: teacher, target: 5}
`, []string{`teacher_model "writer": the pipeline has no model of that name`}},
		{"neither", `    format: openai
`, []string{"pipeline or pipeline_file is required"}},
		{"bad format", `    format: csv
    pipeline:
      stages:
        - {type: selfinstruct, with: {model: teacher, target: 5}}
`, []string{`format "csv"`}},
		{"flow style", `    pipeline: {stages: [{type: selfinstruct, with: {model: teacher, target: 5}}]}
`, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := loop.ParseConfig("p.yaml", []byte(head+tt.with))
			if len(tt.want) == 0 {
				if err != nil {
					t.Fatalf("ParseConfig: %v", err)
				}
				if _, ok := cfg.Generate.Settings.(*pipelinegen.Config); !ok {
					t.Fatalf("settings %T", cfg.Generate.Settings)
				}
				return
			}
			if err == nil {
				t.Fatal("ParseConfig accepted it")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error\n%v\nlacks %q", err, w)
				}
			}
		})
	}
}

func TestPipelineFile(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "gen.yaml"), []byte(`name: gen
models:
  teacher: {ref: openai-compatible/x, base_url: "http://127.0.0.1:2/v1"}
stages:
  - type: selfinstruct
    with: {model: teacher, target: 5, modle: x}
`), 0o644)
	p := filepath.Join(dir, "loop.yaml")
	os.WriteFile(p, []byte(head+"    pipeline_file: gen.yaml\n"), 0o644)
	_, err := loop.LoadConfig(p)
	if err == nil || !strings.Contains(err.Error(), filepath.Join(dir, "gen.yaml")+":6:") || !strings.Contains(err.Error(), `did you mean "model"?`) {
		t.Errorf("a pipeline file with an error: %v; want the error at its place in gen.yaml", err)
	}
}

func FuzzInlinePipeline(f *testing.F) {
	f.Add([]byte("    pipeline:\n      stages:\n        - {type: selfinstruct, with: {model: teacher, target: 5}}\n"))
	f.Add([]byte("    pipeline: {stages: [{type: selfinstruct}]}\n"))
	f.Add([]byte("    pipeline:\n      models: {a: {ref: x/y}}\n      stages: []\n"))
	f.Fuzz(func(t *testing.T, with []byte) {
		cfg, err := loop.ParseConfig("f.yaml", append([]byte(head), with...))
		if err == nil {
			if _, ok := cfg.Generate.Settings.(*pipelinegen.Config); !ok {
				t.Fatalf("accepted without pipeline settings: %T", cfg.Generate.Settings)
			}
		}
	})
}
