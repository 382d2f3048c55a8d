package tools_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	_ "github.com/synthloop/synthloop/all"
	"github.com/synthloop/synthloop/model"
	"github.com/synthloop/synthloop/model/scripted"
	"github.com/synthloop/synthloop/pipeline"
	"github.com/synthloop/synthloop/pipeline/pipelinetest"
	"github.com/synthloop/synthloop/record"
	"github.com/synthloop/synthloop/stage/internal/stagetest"
)

// TestExamplePipeline runs examples/tools.yaml as shipped, its tools run
// for real in the sandbox, with the scripted stand-in as the assistant.
func TestExamplePipeline(t *testing.T) {
	cfg, err := pipeline.LoadConfig("../../examples/tools.yaml")
	if err != nil {
		t.Fatal(err)
	}
	st := pipelinetest.NewMemStore()
	err = pipeline.Run(context.Background(), cfg, pipeline.Options{
		Store: st, Cache: st, Now: stagetest.Clock,
		OpenModel: func(_ context.Context, name string, _ model.Config, _ model.Options) (model.Backend, model.Info, error) {
			return scripted.New(1), model.Info{Name: name, Provider: "scripted", Model: "scripted"}, nil
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	recs := st.All("trajectories")
	if len(recs) != 8 {
		t.Fatalf("%d trajectories, want one per task (8)", len(recs))
	}
	kept, rejected := 0, 0
	for _, r := range recs {
		t.Logf("%s %s %v: %s", r.ID, r.Status, r.Reasons(), r.Output)
		switch r.Status {
		case record.Kept:
			kept++
			// system, user, assistant call, tool result, answer
			if len(r.Messages) != 5 || r.Messages[3].Role != "tool" || r.Messages[3].IsError || len(r.Messages[2].ToolCalls) != 1 {
				t.Errorf("%s: kept trajectory %+v", r.ID, r.Messages)
			}
		case record.Rejected:
			rejected++
			reasons := strings.Join(r.Reasons(), "; ")
			if !strings.Contains(reasons, "invented_tool") && !strings.Contains(reasons, "invalid_arguments") {
				t.Errorf("%s: rejected for %s", r.ID, reasons)
			}
			if fmt.Sprint(r.Meta["invalid_calls"]) != "1" {
				t.Errorf("%s: invalid_calls %v", r.ID, r.Meta["invalid_calls"])
			}
		default:
			t.Errorf("%s: %s: %s", r.ID, r.Status, r.Error)
		}
	}
	if kept == 0 || rejected == 0 {
		t.Errorf("%d kept, %d rejected: want both", kept, rejected)
	}
}
