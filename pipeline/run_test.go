package pipeline_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"

	"github.com/synthloop/synthloop/model"
	"github.com/synthloop/synthloop/pipeline"
	"github.com/synthloop/synthloop/pipeline/pipelinetest"
	"github.com/synthloop/synthloop/record"
)

const twoStages = `name: t
stages:
  - name: gen
    type: test-gen
    with:
      target: 5
  - name: copy
    type: test-gen
`

func TestRunResumesAndChecksConfig(t *testing.T) {
	ctx := context.Background()
	cfg, err := pipeline.ParseConfig("p.yaml", []byte(twoStages))
	if err != nil {
		t.Fatal(err)
	}
	st := pipelinetest.NewMemStore()
	if err := pipeline.Run(ctx, cfg, pipeline.Options{Store: st}); err != nil {
		t.Fatalf("Run: %v", err)
	}
	if got := len(st.All("copy")); got != 5 {
		t.Fatalf("copy stage has %d records, want 5", got)
	}
	if got := st.All("copy")[0].Instruction; got != "a!" {
		t.Errorf("first copied instruction = %q, want %q", got, "a!")
	}
	commits := st.Commits
	// A second run finds every unit done and commits nothing.
	if err := pipeline.Run(ctx, cfg, pipeline.Options{Store: st}); err != nil {
		t.Fatalf("second Run: %v", err)
	}
	if st.Commits != commits {
		t.Errorf("rerun committed %d more units, want 0", st.Commits-commits)
	}
	// A changed config is refused unless allowed.
	changed, err := pipeline.ParseConfig("p.yaml", []byte(strings.Replace(twoStages, "target: 5", "target: 6", 1)))
	if err != nil {
		t.Fatal(err)
	}
	if err := pipeline.Run(ctx, changed, pipeline.Options{Store: st}); err == nil || !strings.Contains(err.Error(), "different config") {
		t.Fatalf("Run with changed config = %v, want a different-config error", err)
	}
	if err := pipeline.Run(ctx, changed, pipeline.Options{Store: st, AllowConfigChange: true}); err != nil {
		t.Fatalf("Run with AllowConfigChange: %v", err)
	}
	if got := len(st.All("copy")); got != 6 {
		t.Errorf("after resume with target 6: %d records, want 6", got)
	}
}

func TestRunStopsCleanlyOnCancel(t *testing.T) {
	cfg, err := pipeline.ParseConfig("p.yaml", []byte(twoStages))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err = pipeline.Run(ctx, cfg, pipeline.Options{Store: pipelinetest.NewMemStore()})
	if !errors.Is(err, pipeline.ErrStopped) || !errors.Is(err, context.Canceled) {
		t.Fatalf("Run on a cancelled context = %v, want ErrStopped wrapping context.Canceled", err)
	}
}

func TestRunOnlyStage(t *testing.T) {
	cfg, err := pipeline.ParseConfig("p.yaml", []byte(twoStages))
	if err != nil {
		t.Fatal(err)
	}
	st := pipelinetest.NewMemStore()
	if err := pipeline.Run(context.Background(), cfg, pipeline.Options{Store: st, Stages: []string{"gen"}}); err != nil {
		t.Fatal(err)
	}
	if len(st.All("gen")) != 5 || len(st.All("copy")) != 0 {
		t.Errorf("--stage gen ran copy too: gen %d copy %d", len(st.All("gen")), len(st.All("copy")))
	}
	if err := pipeline.Run(context.Background(), cfg, pipeline.Options{Store: st, Stages: []string{"nope"}}); err == nil {
		t.Error("Run with an unknown stage name succeeded")
	}
}

// askStage asks the model "m" once per unit (one per letter of its target)
// and records a kept record, or a failed one when the model refuses the
// request for good; a transient failure is returned, as stages do.
type askStage struct{ n int }

func (s askStage) Run(ctx context.Context, env *pipeline.Env) error {
	b, _, err := env.Backend("m")
	if err != nil {
		return err
	}
	units := make([]pipeline.UnitSpec, s.n)
	for i := range units {
		units[i] = pipeline.UnitSpec{Key: string(rune('a' + i)), Seq: int64(i)}
	}
	return pipeline.RunUnits(ctx, env, units, func(ctx context.Context, i int) ([]*record.Record, pipeline.UnitUsage, error) {
		key := units[i].Key
		_, err := b.Generate(ctx, model.Request{Messages: []model.Message{{Role: "user", Content: key}}})
		r := &record.Record{ID: key, Status: record.Kept, Instruction: key}
		switch {
		case err != nil && pipeline.MustReturn(ctx, err):
			return nil, pipeline.UnitUsage{}, err
		case err != nil:
			r.Status, r.Error = record.Failed, err.Error()
		}
		return []*record.Record{r}, pipeline.UnitUsage{}, nil
	})
}

func init() {
	pipeline.Register(pipeline.StageType{
		Name:   "test-ask",
		Doc:    "Asks the model m once per unit, for the runner's tests.",
		Config: func() any { return &struct{}{} },
		New:    func(any) (pipeline.Stage, error) { return askStage{n: 4}, nil },
	})
}

// scriptedFailures fails the first call for each prompt in first with its
// error, and answers every other call.
type scriptedFailures struct {
	mu    sync.Mutex
	first map[string]error
}

func (f *scriptedFailures) Generate(ctx context.Context, req model.Request) (*model.Response, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	p := req.Messages[0].Content
	if err := f.first[p]; err != nil {
		delete(f.first, p)
		return nil, err
	}
	return &model.Response{Choices: []model.Choice{{Text: "ok"}}}, nil
}

// TestRunTransientAndPermanentFailures checks what each run does with the
// two kinds of failure: a transient one leaves its unit undone (the run
// says so, status can show it, later stages wait) and the next run does it;
// a permanent one stays on its record until a run with RetryFailed.
func TestRunTransientAndPermanentFailures(t *testing.T) {
	cfg, err := pipeline.ParseConfig("p.yaml", []byte(`name: t
models:
  m:
    ref: openai-compatible/m
    base_url: http://127.0.0.1:1/v1
stages:
  - name: ask
    type: test-ask
  - name: copy
    type: test-gen
`))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	st := pipelinetest.NewMemStore()
	backend := &scriptedFailures{first: map[string]error{
		"b": &model.HTTPError{Status: 503, Message: "overloaded"},  // transient
		"c": &model.HTTPError{Status: 400, Message: "bad request"}, // permanent
	}}
	opts := pipeline.Options{Store: st, OpenModel: func(context.Context, string, model.Config, model.Options) (model.Backend, model.Info, error) {
		return backend, model.Info{Provider: "test", Model: "m"}, nil
	}}
	statuses := func(stage string) string {
		var out []string
		for _, r := range st.All(stage) {
			out = append(out, r.ID+":"+string(r.Status))
		}
		return strings.Join(out, " ")
	}
	undone := func() []pipeline.Undone {
		u, err := pipeline.ReadUndone(ctx, st)
		if err != nil {
			t.Fatal(err)
		}
		return u
	}

	err = pipeline.Run(ctx, cfg, opts)
	if !errors.Is(err, pipeline.ErrTransient) || !strings.Contains(err.Error(), "stage ask: 1 unit failed for a transient cause") ||
		!strings.Contains(err.Error(), "HTTP 503") || !strings.Contains(err.Error(), "run the same command to retry it") {
		t.Fatalf("first run = %v, want a transient-failure error naming the cause and saying to rerun", err)
	}
	if got, want := statuses("ask"), "a:kept c:failed d:kept"; got != want {
		t.Errorf("after the first run ask holds %q, want %q (b undone, c failed for good)", got, want)
	}
	if got := statuses("copy"); got != "" {
		t.Errorf("copy ran on an incomplete input: %q", got)
	}
	if u := undone(); len(u) != 1 || u[0].Stage != "ask" || u[0].Units != 1 || !strings.Contains(u[0].Error, "HTTP 503") {
		t.Errorf("undone after the first run = %+v, want 1 unit of ask with its cause", u)
	}

	if err := pipeline.Run(ctx, cfg, opts); err != nil {
		t.Fatalf("second run: %v", err)
	}
	if got, want := statuses("ask"), "a:kept b:kept c:failed d:kept"; got != want {
		t.Errorf("after the second run ask holds %q, want %q", got, want)
	}
	if u := undone(); len(u) != 0 {
		t.Errorf("undone after a complete run = %+v, want none", u)
	}

	opts.RetryFailed = true
	if err := pipeline.Run(ctx, cfg, opts); err != nil {
		t.Fatalf("run with RetryFailed: %v", err)
	}
	if got, want := statuses("ask"), "a:kept b:kept c:kept d:kept"; got != want {
		t.Errorf("after RetryFailed ask holds %q, want %q", got, want)
	}
	if got, want := statuses("copy"), "copy/a:kept copy/b:kept copy/c:kept copy/d:kept"; got != want {
		t.Errorf("after RetryFailed copy holds %q, want %q", got, want)
	}
}
