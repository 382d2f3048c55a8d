package builtin_test

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/synthloop/synthloop/loop"
	_ "github.com/synthloop/synthloop/loop/builtin"
	"github.com/synthloop/synthloop/trainjob"
)

type genConfig struct {
	Format string `yaml:"format"`
}

// gen writes copy-the-word examples (or preference pairs).
type gen struct{ c *genConfig }

func (g gen) Generate(ctx context.Context, r *loop.Round) (loop.Data, error) {
	var b strings.Builder
	for i := range 8 {
		w := []string{"abc", "bca", "cab", "acb"}[i%4]
		if g.c.Format == "dpo" {
			fmt.Fprintf(&b, `{"prompt":"%s","chosen":"%s","rejected":"%s"}`+"\n", w, w, w[1:])
		} else {
			fmt.Fprintf(&b, `{"messages":[{"role":"user","content":"%s"},{"role":"assistant","content":"%s"}]}`+"\n", w, w)
		}
	}
	p := filepath.Join(r.Dir, "data.jsonl")
	if err := os.WriteFile(p, []byte(b.String()), 0o644); err != nil {
		return loop.Data{}, err
	}
	return loop.Data{Path: p, Format: g.c.Format, Kept: 8, Generated: 8}, nil
}

// always promotes the student.
type always struct{}

func (always) Evaluate(ctx context.Context, r *loop.Round, student, teacher loop.Model) (loop.Eval, error) {
	return loop.Eval{Metric: "accuracy", Student: 1}, nil
}

func init() {
	loop.RegisterGenerator(loop.Type[loop.Generator]{Name: "copy-gen", Config: func() any { return &genConfig{Format: "sft"} },
		New: func(c any) (loop.Generator, error) { return gen{c.(*genConfig)}, nil }})
	loop.RegisterEvaluator(loop.Type[loop.Evaluator]{Name: "always", Config: func() any { return &struct{}{} },
		New: func(any) (loop.Evaluator, error) { return always{}, nil }})
}

func run(t *testing.T, train string, format string, rounds int) (*loop.Summary, string, string, error) {
	t.Helper()
	dir := t.TempDir()
	text := fmt.Sprintf(`name: b
rounds: %d
models:
  teacher: {ref: openai-compatible/t, base_url: "http://127.0.0.1:1/v1"}
teacher: teacher
generate: {type: copy-gen, with: {format: %s}}
train:
  type: builtin
  with: {steps: 3, batch: 2, seq: 16, warmup: 0, %s}
evaluate: {type: always}
`, rounds, format, train)
	p := filepath.Join(dir, "loop.yaml")
	os.WriteFile(p, []byte(text), 0o644)
	cfg, err := loop.LoadConfig(p)
	if err != nil {
		t.Fatal(err)
	}
	var log bytes.Buffer
	sum, err := loop.Run(context.Background(), cfg, loop.Options{RunDir: filepath.Join(dir, "run"), Log: slog.New(slog.NewTextHandler(&log, nil))})
	return sum, dir, log.String(), err
}

func TestInitModes(t *testing.T) {
	// Round 1 from scratch; round 2 from the promoted round-1 student.
	_, _, _, err := run(t, "init: teacher, base: base", "sft", 2)
	if err == nil || !strings.Contains(err.Error(), "base") {
		// The API teacher falls back to base, which does not exist.
		t.Fatalf("init teacher with a missing base: %v", err)
	}
	sum, dir, log, err := run(t, "init: previous", "sft", 2)
	if err != nil {
		t.Fatal(err)
	}
	r1 := filepath.Join(dir, "run", "round-001", "student")
	if !strings.Contains(log, "from=scratch") || !strings.Contains(log, "from="+r1) {
		t.Errorf("round 1 from scratch, round 2 from %s; log:\n%s", r1, log)
	}
	if s := sum.Rounds[1]; s.Teacher != sum.Rounds[0].Student || !strings.HasPrefix(s.Student, "local/") || s.TrainSteps != 3 || s.Metrics["train_params"] == 0 {
		t.Errorf("round 2: %+v", s)
	}
	_, _, _, err = run(t, "init: teacher", "sft", 2)
	if err == nil || !strings.Contains(err.Error(), "is not a built-in model") {
		t.Errorf("init teacher with an API teacher and no base: %v", err)
	}
}

func TestDPOFromBase(t *testing.T) {
	if _, _, _, err := run(t, "init: scratch", "dpo", 1); err == nil || !strings.Contains(err.Error(), "dpo needs a starting model") {
		t.Errorf("dpo from scratch: %v", err)
	}
	// A base model to start from and to be the reference.
	dir := t.TempDir()
	data := filepath.Join(dir, "sft.jsonl")
	os.WriteFile(data, []byte(`{"messages":[{"role":"user","content":"abc"},{"role":"assistant","content":"abc"}]}`+"\n"), 0o644)
	base := filepath.Join(dir, "base")
	if _, err := trainjob.Run(context.Background(), trainjob.Options{Data: []trainjob.DataFile{{Path: data}}, Out: base, Steps: 2, Batch: 2, Seq: 16, Warmup: 0}); err != nil {
		t.Fatal(err)
	}
	sum, _, _, err := run(t, "init: base, base: "+base, "dpo", 1)
	if err != nil {
		t.Fatal(err)
	}
	if r := sum.Rounds[0]; r.TrainSteps != 3 || r.Metrics["train_examples"] != 8 {
		t.Errorf("dpo round: %+v", r)
	}
}

func TestConfigErrors(t *testing.T) {
	for with, want := range map[string]string{
		"init: nowhere":        `init "nowhere"`,
		"init: base":           "init: base needs base:",
		"method: ppo":          `method "ppo"`,
		"preset: huge":         `preset "huge"`,
		"steps: 5, warmup: 5":  "warmup in [0, steps)",
		"stepz: 5":             `did you mean "steps"?`,
		"lr: -1":               "must be positive",
		"tokenizer: char":      "",
		"schedule: wsd":        "",
		"init: base, base: /x": "",
	} {
		text := `name: b
models:
  teacher: {ref: openai-compatible/t, base_url: "http://127.0.0.1:1/v1"}
generate: {type: copy-gen}
train: {type: builtin, with: {` + with + `}}
evaluate: {type: always}
`
		_, err := loop.ParseConfig("b.yaml", []byte(text))
		switch {
		case want == "" && err != nil:
			t.Errorf("%s: %v", with, err)
		case want != "" && (err == nil || !strings.Contains(err.Error(), want)):
			t.Errorf("%s: %v, want %q", with, err, want)
		}
	}
}
