package conversation

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/synthloop/synthloop/model"
	"github.com/synthloop/synthloop/model/modeltest"
	"github.com/synthloop/synthloop/pipeline"
	"github.com/synthloop/synthloop/pipeline/pipelinetest"
	"github.com/synthloop/synthloop/record"
	"github.com/synthloop/synthloop/stage/internal/stagetest"
)

// TestExamplePipeline runs examples/conversation.yaml as shipped, with the
// simulator and the assistant on two scripted servers, so nothing but the
// endpoints differs from a real run.
func TestExamplePipeline(t *testing.T) {
	const path = "../../examples/conversation.yaml"
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := pipeline.ParseConfig(path, data)
	if err != nil {
		t.Fatal(err)
	}
	user, asst := modeltest.NewServer(userSide), modeltest.NewServer(assistantSide)
	defer user.Close()
	defer asst.Close()
	st := pipelinetest.NewMemStore()
	err = pipeline.Run(context.Background(), cfg, pipeline.Options{
		Store: st, Cache: st, Now: stagetest.Clock,
		OpenModel: func(ctx context.Context, name string, _ model.Config, opts model.Options) (model.Backend, model.Info, error) {
			srv := map[string]*modeltest.Server{"simulator": user, "assistant": asst}[name]
			opts.Sleep = func(context.Context, time.Duration) error { return nil }
			return model.Open(ctx, name, model.Config{Ref: "openai-compatible/" + name, BaseURL: srv.URL}, opts)
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	recs := st.All("chats")
	if len(recs) != 8 {
		t.Fatalf("%d conversations, want one per topic (8)", len(recs))
	}
	turns := 0
	for _, r := range recs {
		n := int(r.Meta["turns"].(float64))
		if r.Status != record.Kept || n < 2 || n > 4 || r.Messages[0].Role != "system" || len(r.Messages) != 1+2*n {
			t.Errorf("%s: %s %v with %d messages", r.ID, r.Status, r.Reasons(), len(r.Messages))
		}
		turns += n
	}
	if user.Requests() != turns || asst.Requests() != turns {
		t.Errorf("simulator %d requests, assistant %d; want %d each", user.Requests(), asst.Requests(), turns)
	}
	if p := user.Log()[0].Messages[0].Content; !strings.Contains(p, "Who you are: a busy adult") {
		t.Errorf("the persona is not in the simulator's prompt:\n%s", p)
	}
}
