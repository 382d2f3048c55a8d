package pipeline

import (
	"context"
	"errors"
	"strings"
	"testing"

	_ "github.com/synthloop/synthloop/model/openai" // the "openai" provider for model refs
	"github.com/synthloop/synthloop/record"
)

type JudgeBlock struct {
	JudgeModel string   `yaml:"judge_model"`
	Panel      []string `yaml:"panel"`
}

type testSettings struct {
	JudgeBlock  `yaml:",inline"`
	Model       string   `yaml:"model"`
	Target      int      `yaml:"target"`
	Temperature float64  `yaml:"temperature"`
	Words       []string `yaml:"words"`
	Nested      struct {
		Threshold float64 `yaml:"threshold"`
	} `yaml:"nested"`
}

func (s *testSettings) Validate() error {
	if s.Target < 0 {
		return errors.New("target must not be negative")
	}
	return nil
}

// testStage writes one kept record per configured target into its stage,
// or copies its input's kept records, one unit each.
type testStage struct{ cfg *testSettings }

func (s *testStage) Run(ctx context.Context, env *Env) error {
	if env.Input != "" {
		return ForEachKept(ctx, env, func(ctx context.Context, in *record.Record) ([]*record.Record, UnitUsage, error) {
			return []*record.Record{{ID: env.Name + "/" + in.ID, Status: record.Kept, Instruction: in.Instruction + "!"}}, UnitUsage{Requests: 1}, nil
		})
	}
	units := make([]UnitSpec, s.cfg.Target)
	for i := range units {
		units[i] = UnitSpec{Key: string(rune('a' + i)), Seq: int64(i)}
	}
	return RunUnits(ctx, env, units, func(ctx context.Context, i int) ([]*record.Record, UnitUsage, error) {
		key := units[i].Key
		return []*record.Record{{ID: key, Status: record.Kept, Instruction: key}}, UnitUsage{}, nil
	})
}

func init() {
	Register(StageType{
		Name:   "test-gen",
		Doc:    "A stage for the pipeline package's own tests.",
		Config: func() any { return &testSettings{Target: 3, Temperature: 0.7} },
		New:    func(cfg any) (Stage, error) { return &testStage{cfg: cfg.(*testSettings)}, nil },
	})
}

const goodConfig = `name: t
seed: 7
models:
  teacher:
    ref: openai/gpt-4o-mini
stages:
  - name: gen
    type: test-gen
    with:
      model: teacher
      target: 4
      nested:
        threshold: 0.5
  - name: copy
    type: test-gen
`

func TestParseConfigGood(t *testing.T) {
	cfg, err := ParseConfig("p.yaml", []byte(goodConfig))
	if err != nil {
		t.Fatalf("ParseConfig: %v", err)
	}
	s := cfg.Stages[0].Settings.(*testSettings)
	if s.Target != 4 || s.Temperature != 0.7 || s.Nested.Threshold != 0.5 || s.Model != "teacher" {
		t.Errorf("settings = %+v, want target 4, default temperature 0.7, threshold 0.5", s)
	}
	if cfg.Seed != 7 || cfg.Stages[1].Name != "copy" {
		t.Errorf("cfg = %+v", cfg)
	}
}

func TestParseConfigErrors(t *testing.T) {
	tests := []struct {
		name string
		yaml string
		want []string // substrings of the error
	}{
		{"unknown top-level key", "name: t\nsead: 1\nstages:\n  - type: test-gen\n",
			[]string{"p.yaml:2:1", `unknown field "sead"`, `did you mean "seed"?`}},
		{"unknown key in with", "stages:\n  - type: test-gen\n    with:\n      temprature: 0.9\n",
			[]string{"p.yaml:4:7", "stages[0].with.temprature", `did you mean "temperature"?`}},
		{"unknown nested key", "stages:\n  - type: test-gen\n    with:\n      nested:\n        treshold: 1\n",
			[]string{"p.yaml:5:9", "stages[0].with.nested.treshold", `"threshold"`}},
		{"unknown stage key", "stages:\n  - type: test-gen\n    concurency: 3\n",
			[]string{"p.yaml:3:5", `did you mean "concurrency"?`}},
		{"unknown stage type", "stages:\n  - type: test-gne\n",
			[]string{"p.yaml:2:11", `unknown stage type "test-gne"`, `did you mean "test-gen"?`}},
		{"missing type", "stages:\n  - name: x\n", []string{"stages[0].type", "missing"}},
		{"unknown model", "models:\n  teacher:\n    ref: openai/x\nstages:\n  - type: test-gen\n    with:\n      model: teachr\n",
			[]string{`no model named "teachr"`, `did you mean "teacher"?`}},
		{"unknown inline judge model", "models:\n  teacher:\n    ref: openai/x\nstages:\n  - type: test-gen\n    with:\n      judge_model: teachr\n",
			[]string{`judge_model: no model named "teachr"`}},
		{"unknown panel member", "models:\n  teacher:\n    ref: openai/x\nstages:\n  - type: test-gen\n    with:\n      panel: [teacher, judge2]\n",
			[]string{`panel: no model named "judge2"`}},
		{"wrong type", "stages:\n  - type: test-gen\n    with:\n      target: lots\n", []string{"p.yaml:", "stages[0].with"}},
		{"validate", "stages:\n  - type: test-gen\n    with:\n      target: -1\n", []string{"target must not be negative"}},
		{"no stages", "name: t\n", []string{"no stages"}},
		{"not a mapping", "- a\n- b\n", []string{"top level must be a mapping"}},
		{"bad yaml", "stages: [\n", []string{"invalid YAML"}},
		{"duplicate names", "stages:\n  - type: test-gen\n  - type: test-gen\n", []string{`duplicate stage name "test-gen"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseConfig("p.yaml", []byte(tt.yaml))
			if err == nil {
				t.Fatalf("ParseConfig(%q) = nil error, want one containing %q", tt.yaml, tt.want)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("ParseConfig error = %q, want it to contain %q", err, w)
				}
			}
		})
	}
}

func TestParseConfigReportsAllErrors(t *testing.T) {
	_, err := ParseConfig("p.yaml", []byte("nmae: x\nsead: 1\nstages:\n  - type: test-gen\n"))
	var ce ConfigErrors
	if !errors.As(err, &ce) || len(ce) != 2 {
		t.Fatalf("got %v, want 2 config errors", err)
	}
}

func FuzzParseConfig(f *testing.F) {
	f.Add([]byte(goodConfig))
	f.Add([]byte("stages:\n  - type: test-gen\n    with: {target: 2}\n"))
	f.Add([]byte("&a x: *a\n"))
	f.Add([]byte("stages: !!map {}\n"))
	f.Add([]byte("models:\n  m:\n    ref: vllm/x\n    endpoints: [{base_url: 'http://a/v1', weight: 2}, {base_url: 'http://b/v1'}]\n    saturation_latency: 3\nstages:\n  - type: test-gen\n    with: {target: 2, model: m}\n"))
	f.Add([]byte("models:\n  m:\n    ref: vllm/x\n    base_urls: ['http://a/v1', 'http://a/v1']\nstages:\n  - type: test-gen\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, err := ParseConfig("f.yaml", data)
		if err == nil && len(cfg.Stages) == 0 {
			t.Fatalf("accepted a config without stages: %q", data)
		}
	})
}
