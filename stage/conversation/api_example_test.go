package conversation_test

import (
	"context"
	"fmt"
	"strings"

	"github.com/synthloop/synthloop/model"
	"github.com/synthloop/synthloop/pipeline"
	"github.com/synthloop/synthloop/pipeline/pipelinetest"
	"github.com/synthloop/synthloop/record"
	"github.com/synthloop/synthloop/stage/conversation"
)

// say is a model.Backend that answers with a function of the request.
type say func(model.Request) string

func (f say) Generate(_ context.Context, req model.Request) (*model.Response, error) {
	return &model.Response{Choices: []model.Choice{{Text: f(req), FinishReason: model.FinishStop}}}, nil
}

// A conversation from Go, with one backend playing the user and another
// answering: any model.Backend will do.
func Example() {
	ctx := context.Background()
	st := pipelinetest.NewMemStore() // the run store: *store.Store in a real run
	cfg := conversation.DefaultConfig()
	cfg.Model, cfg.UserModel = "assistant", "simulator"
	cfg.Topics = []string{"Keeping basil alive on a windowsill"}
	cfg.MinTurns, cfg.MaxTurns = 1, 2 // this seed draws 2 exchanges
	stage, err := conversation.New(cfg)
	if err != nil {
		panic(err)
	}
	user := say(func(req model.Request) string {
		// A simulator that had nothing left to ask would reply "[END]".
		if strings.Contains(req.Messages[0].Content, "has not started") {
			return "My basil keeps wilting. What am I doing wrong?"
		}
		return "How often should I water it, then?"
	})
	assistant := say(func(req model.Request) string {
		if len(req.Messages) == 1 {
			return "Probably too much water and too little sun: basil wants six hours of light."
		}
		return "When the top two centimetres of soil are dry, usually every two or three days."
	})
	env := &pipeline.Env{Name: "chats", Store: st, Seed: 1,
		Backend: func(name string) (model.Backend, pipeline.ModelInfo, error) {
			if name == "simulator" {
				return user, pipeline.ModelInfo{Backend: "scripted", Model: name}, nil
			}
			return assistant, pipeline.ModelInfo{Backend: "scripted", Model: name}, nil
		}}
	if err := stage.Run(ctx, env); err != nil {
		panic(err)
	}
	r := st.All("chats")[0]
	fmt.Println(r.Status, "ended by", r.Meta["ended_by"])
	for _, m := range r.Messages {
		fmt.Printf("%s: %s\n", m.Role, m.Content)
	}
	var _ record.Turn = r.Messages[0]
	// Output:
	// kept ended by max_turns
	// user: My basil keeps wilting. What am I doing wrong?
	// assistant: Probably too much water and too little sun: basil wants six hours of light.
	// user: How often should I water it, then?
	// assistant: When the top two centimetres of soil are dry, usually every two or three days.
}
