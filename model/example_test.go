package model_test

import (
	"context"
	"fmt"

	"github.com/synthloop/synthloop/model"
	"github.com/synthloop/synthloop/model/modeltest"
)

// ExampleOpen opens a configured backend with a response cache and a budget,
// asks for samples, and reads the layer's counters.
func ExampleOpen() {
	srv := modeltest.NewServer(modeltest.Echo) // stands in for vLLM here
	defer srv.Close()

	cfg := model.Config{Ref: "vllm/llama-3.1-8b", BaseURL: srv.URL, MaxConcurrency: 16}
	cache := newMemCache() // in a run, the run store
	b, info, err := model.Open(context.Background(), "teacher", cfg, model.Options{
		Cache:  cache,
		Budget: model.NewBudget(5), // USD, shared by every backend of the run
	})
	if err != nil {
		panic(err)
	}
	req := model.Request{Messages: []model.Message{{Role: "user", Content: "Name a colour."}}, N: 2}
	for range 2 { // the second call is answered from the cache
		resp, err := b.Generate(context.Background(), req)
		if err != nil {
			panic(err)
		}
		fmt.Println(resp.Choices[1].Text, resp.Cached)
	}
	s := b.(model.StatsSource).Stats()
	fmt.Println(info.Provider, info.Free, s.Requests, s.CacheHits)
	// Output:
	// echo: Name a colour. #1 false
	// echo: Name a colour. #1 true
	// vllm true 1 2
}
