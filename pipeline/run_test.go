package pipeline_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/synthloop/synthloop/pipeline"
	"github.com/synthloop/synthloop/pipeline/pipelinetest"
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
