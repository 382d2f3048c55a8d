package selfinstruct

import (
	"context"
	"fmt"

	"github.com/synthloop/synthloop/model"
	"github.com/synthloop/synthloop/model/scripted"
	"github.com/synthloop/synthloop/pipeline"
	"github.com/synthloop/synthloop/record"
)

// ExampleNew runs Self-Instruct against the scripted teacher, then generates
// instances for the kept instructions.
func ExampleNew() {
	cfg := DefaultConfig()
	cfg.Model = "teacher"
	cfg.Target = 10
	stage, err := New(cfg)
	if err != nil {
		panic(err)
	}
	store := newMemStore() // in a run: the SQLite run store
	env := &pipeline.Env{
		Name:  "instructions",
		Store: store,
		Backend: func(string) (model.Backend, pipeline.ModelInfo, error) {
			return scripted.New(1), pipeline.ModelInfo{Backend: "scripted", Model: "scripted"}, nil
		},
		Seed:        42,
		Concurrency: 4,
	}
	if err := stage.Run(context.Background(), env); err != nil {
		panic(err)
	}
	fmt.Println("kept at least 10:", len(store.all("instructions", record.Kept)) >= 10)

	icfg := DefaultInstancesConfig()
	icfg.Model = "teacher"
	inst, err := NewInstances(icfg)
	if err != nil {
		panic(err)
	}
	env.Name, env.Input = "instances", "instructions"
	if err := inst.Run(context.Background(), env); err != nil {
		panic(err)
	}
	fmt.Println("instances:", len(store.all("instances", record.Kept)) > 0)
	// Output:
	// kept at least 10: true
	// instances: true
}
