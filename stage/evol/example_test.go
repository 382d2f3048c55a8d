package evol_test

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/synthloop/synthloop/model"
	"github.com/synthloop/synthloop/model/modeltest"
	"github.com/synthloop/synthloop/pipeline"
	"github.com/synthloop/synthloop/pipeline/pipelinetest"
	"github.com/synthloop/synthloop/record"
	"github.com/synthloop/synthloop/stage/evol"
	"github.com/synthloop/synthloop/stage/internal/stagetest"
)

// TestExamplePipeline runs examples/evol-instruct.yaml as shipped, with its
// model pointed at a scripted server, so nothing but the endpoint differs
// from a real run.
func TestExamplePipeline(t *testing.T) {
	const path = "../../examples/evol-instruct.yaml"
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := pipeline.ParseConfig(path, data)
	if err != nil {
		t.Fatal(err)
	}
	// The scripted evolver adds a sentence per generation and the judge
	// always finds it new: every evolution survives.
	srv := modeltest.NewServer(func(req *modeltest.Request) modeltest.Reply {
		p := req.Messages[len(req.Messages)-1].Content
		switch {
		case strings.HasPrefix(p, "Two tasks"):
			return modeltest.Reply{Choices: []modeltest.Choice{{Text: "It adds a requirement.\nVerdict: DIFFERENT"}}}
		case strings.Contains(p, "<<<\n"):
			task := p[strings.Index(p, "<<<\n")+4 : strings.Index(p, "\n>>>")]
			return modeltest.Reply{Choices: []modeltest.Choice{{Text: task + fmt.Sprintf(" Then add step %d.", strings.Count(task, " Then add step")+1)}}}
		}
		return modeltest.Reply{Choices: []modeltest.Choice{{Text: "A complete answer, in three short paragraphs."}}}
	})
	defer srv.Close()
	st := pipelinetest.NewMemStore()
	err = pipeline.Run(context.Background(), cfg, pipeline.Options{
		Store: st, Cache: st, Now: stagetest.Clock,
		OpenModel: func(ctx context.Context, name string, _ model.Config, opts model.Options) (model.Backend, model.Info, error) {
			opts.Sleep = func(context.Context, time.Duration) error { return nil }
			return model.Open(ctx, name, model.Config{Ref: "openai-compatible/" + name, BaseURL: srv.URL}, opts)
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	recs := st.All("evolved")
	kept := 0
	for _, r := range recs {
		if r.Status == record.Kept {
			kept++
		}
	}
	if len(recs) != 50*5 || kept != len(recs) {
		t.Fatalf("%d records (%d kept), want 50 seeds × (original + 4 generations), all kept", len(recs), kept)
	}
	rep, err := evol.Summarize(context.Background(), st, "evolved")
	if err != nil || rep.All.Tried != 200 || rep.All.Rate != 1 || len(rep.Operations) != 6 || len(rep.Generations) != 4 {
		t.Errorf("Summarize = %+v, %v", rep, err)
	}
}

// scriptedTeacher stands in for a model: it evolves a task by adding a
// constraint, judges every evolution new, and answers briefly.
type scriptedTeacher struct{}

func (scriptedTeacher) Generate(_ context.Context, req model.Request) (*model.Response, error) {
	p := req.Messages[len(req.Messages)-1].Content
	text := "Boil water, add the pasta, stir, and drain it when it is al dente."
	switch {
	case strings.HasPrefix(p, "Two tasks"):
		text = "The second asks for timing.\nVerdict: DIFFERENT"
	case strings.Contains(p, "<<<\n"):
		task := p[strings.Index(p, "<<<\n")+4 : strings.Index(p, "\n>>>")]
		text = task + []string{" Give the time of each step.", " Keep it under 50 words."}[(strings.Count(task, ".")+1)%2]
	}
	return &model.Response{Choices: []model.Choice{{Text: text, FinishReason: model.FinishStop}}}, nil
}

// Evolve one instruction for two generations from Go, with any
// model.Backend as the teacher.
func Example() {
	ctx := context.Background()
	st := pipelinetest.NewMemStore() // the run store: *store.Store in a real run
	cfg := evol.DefaultConfig()
	cfg.Model = "teacher"
	cfg.Generations = 2
	cfg.Operations = map[string]float64{evol.OpConstraints: 1}
	cfg.IncludeOriginal = false
	stage, err := evol.New(cfg)
	if err != nil {
		panic(err)
	}
	st.Commit(ctx, pipeline.Unit{Stage: "seeds", Key: "all", Records: []*record.Record{
		{ID: "pasta", Stage: "seeds", Seq: 1, Status: record.Kept, Instruction: "Explain how to cook pasta."},
	}})
	env := &pipeline.Env{Name: "evolved", Input: "seeds", Store: st, Seed: 1,
		Backend: func(string) (model.Backend, pipeline.ModelInfo, error) {
			return scriptedTeacher{}, pipeline.ModelInfo{Backend: "scripted", Model: "teacher"}, nil
		}}
	if err := stage.Run(ctx, env); err != nil {
		panic(err)
	}
	for _, r := range st.All("evolved") {
		fmt.Printf("%s (%s, from %s): %s\n", r.Status, r.Meta[evol.MetaOperation], r.Meta[evol.MetaParentID], r.Instruction)
	}
	// Output:
	// kept (constraints, from pasta): Explain how to cook pasta. Give the time of each step.
	// kept (constraints, from evolved:pasta:g1): Explain how to cook pasta. Give the time of each step. Keep it under 50 words.
}
