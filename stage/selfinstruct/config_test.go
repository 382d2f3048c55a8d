package selfinstruct

import (
	"reflect"
	"strings"
	"testing"

	"github.com/synthloop/synthloop/pipeline"
)

const pipelineYAML = `name: demo
models:
  teacher:
    ref: openai/gpt-4o-mini
stages:
  - name: instructions
    type: selfinstruct
    with:
      model: teacher
      seeds: ja
      target: 50
      blacklist: [画像, 写真]
      top_p: null
      machine_tasks: 0
  - name: alpaca
    type: selfinstruct
    with:
      model: teacher
      mode: alpaca
      blacklist: alpaca
  - name: instances
    type: selfinstruct-instances
    with:
      model: teacher
      max_instances: 3
`

func TestYAMLConfig(t *testing.T) {
	cfg, err := pipeline.ParseConfig("p.yaml", []byte(pipelineYAML))
	if err != nil {
		t.Fatal(err)
	}
	c := cfg.Stages[0].Settings.(*Config)
	zero := 0
	want := DefaultConfig()
	want.Model, want.Seeds, want.Target, want.MachineTasks = "teacher", "ja", 50, &zero
	want.Blacklist = Blacklist{Words: []string{"画像", "写真"}}
	if !reflect.DeepEqual(c, want) {
		t.Errorf("decoded %+v\nwant    %+v", c, want)
	}
	if a := cfg.Stages[1].Settings.(*Config); a.Mode != ModeAlpaca || a.Blacklist.Preset != "alpaca" {
		t.Errorf("alpaca stage decoded as %+v", a)
	}
	if in := cfg.Stages[2].Settings.(*InstancesConfig); in.MaxInstances != 3 || in.MaxTokensGenerate != 350 || *in.PresencePenalty != 1.5 {
		t.Errorf("instances stage decoded as %+v", in)
	}
}

func TestYAMLConfigErrors(t *testing.T) {
	for _, tc := range []struct{ from, to, want string }{
		{"target: 50", "taget: 50", `did you mean "target"`},
		{"blacklist: alpaca", "blacklist: nonsense", "blacklist"},
		{"mode: alpaca", "mode: evol", "mode: unknown"},
		{"seeds: ja", "seeds: /no/such.jsonl", "seeds"},
		{"max_instances: 3", "max_instances: 3\n      classify_model: judge", `no model named "judge"`},
	} {
		_, err := pipeline.ParseConfig("p.yaml", []byte(strings.Replace(pipelineYAML, tc.from, tc.to, 1)))
		if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "p.yaml:") {
			t.Errorf("%s: ParseConfig error = %v, want one naming the file and %q", tc.to, err, tc.want)
		}
	}
}

func TestRegistered(t *testing.T) {
	for _, name := range []string{"selfinstruct", "selfinstruct-instances"} {
		st, ok := pipeline.Lookup(name)
		if !ok || st.Doc == "" || st.Example == "" {
			t.Fatalf("stage type %q not registered with docs", name)
		}
	}
	for _, name := range []string{"selfinstruct", "selfinstruct-instances"} {
		st, _ := pipeline.Lookup(name)
		doc := "name: x\nmodels:\n  teacher:\n    ref: openai/gpt-4o-mini\nstages:\n" + st.Example
		if _, err := pipeline.ParseConfig("example.yaml", []byte(doc)); err != nil {
			t.Errorf("the %s example does not load: %v", name, err)
		}
	}
	st, _ := pipeline.Lookup("selfinstruct")
	c := st.Config().(*Config)
	c.Model = "teacher"
	if _, err := st.New(c); err != nil {
		t.Errorf("New from the registry: %v", err)
	}
}
