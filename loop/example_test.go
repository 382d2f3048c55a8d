package loop_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/synthloop/synthloop/loop"
)

// A loop of two rounds with the test's scripted plugins: the first student
// beats the teacher and is promoted, the second does not beat the first.
func Example() {
	cfg, err := loop.ParseConfig("example.yaml", []byte(`name: example
rounds: 2
models:
  teacher: {ref: openai-compatible/first, base_url: "http://127.0.0.1:1/v1"}
teacher: teacher
generate: {type: fake-gen, with: {n: 3}}
train: {type: fake-train}
evaluate: {type: fake-eval, with: {scores: [0.7, 0.6]}}
`))
	if err != nil {
		fmt.Println(err)
		return
	}
	dir, _ := os.MkdirTemp("", "loop-example")
	defer os.RemoveAll(dir)
	if _, err := loop.Run(context.Background(), cfg, loop.Options{RunDir: dir}); err != nil {
		fmt.Println(err)
		return
	}
	sum, err := loop.Load(context.Background(), dir)
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, r := range sum.Rounds {
		fmt.Printf("round %d: %s taught %s, kept %d: promoted %v (%s)\n", r.Index, r.Teacher, r.Student, r.Kept, r.Promoted, r.Reason)
	}
	fmt.Println("stopped by", sum.Stopped, "; teacher", sum.Teacher)
	// Output:
	// round 1: openai-compatible/first taught fake/job-1-1, kept 3: promoted true (accuracy 0.7000 > teacher 0.5000 + margin 0)
	// round 2: fake/job-1-1 taught fake/job-2-1, kept 3: promoted false (accuracy 0.6000 <= teacher 0.7000 + margin 0)
	// stopped by rounds ; teacher fake/job-1-1
}

// echoGen is a generator that turns a fixed list of questions into SFT data
// by asking the round's teacher.
type echoGen struct{ questions []string }

func (g echoGen) Generate(ctx context.Context, r *loop.Round) (loop.Data, error) {
	teacher, _, err := r.Open(ctx, r.Teacher) // with the loop's response cache and budget
	if err != nil {
		return loop.Data{}, err
	}
	_ = teacher // ask it each question, write {"messages": [...]} lines...
	path := filepath.Join(r.Dir, "data.jsonl")
	return loop.Data{Path: path, Format: "sft", Generated: len(g.questions), Kept: len(g.questions)}, nil
}

// A generator type registers itself with a config struct, which is also the
// spec its `with:` block is checked against.
func ExampleRegisterGenerator() {
	type config struct {
		Questions []string `yaml:"questions"`
	}
	loop.RegisterGenerator(loop.Type[loop.Generator]{
		Name:    "ask-teacher",
		Doc:     "Asks the teacher a fixed list of questions.",
		Example: "generate:\n  type: ask-teacher\n  with: {questions: [Why is the sky blue?]}",
		Config:  func() any { return &config{} },
		New: func(c any) (loop.Generator, error) {
			return echoGen{questions: c.(*config).Questions}, nil
		},
	})
}
