package model_test

import (
	"context"
	"strconv"
	"testing"

	"github.com/synthloop/synthloop/model"
	"github.com/synthloop/synthloop/model/modeltest"
	"github.com/synthloop/synthloop/model/openai"
)

// BenchmarkInstantServer measures a whole call over loopback HTTP to a server
// that answers at once: the SDK alone, then the SDK behind the layer.
//
//	go test ./model -run '^$' -bench BenchmarkInstantServer -benchmem
func BenchmarkInstantServer(b *testing.B) {
	srv := modeltest.NewServer(modeltest.Echo)
	defer srv.Close()
	ctx := context.Background()
	r := func(i int) model.Request {
		return model.Request{Messages: []model.Message{{Role: "user", Content: "question " + strconv.Itoa(i)}}}
	}
	b.Run("sdk", func(b *testing.B) {
		raw, err := openai.New(ctx, model.ProviderConfig{Provider: "vllm", Model: "test-model", BaseURL: srv.URL})
		if err != nil {
			b.Fatal(err)
		}
		b.ReportAllocs()
		for i := 0; b.Loop(); i++ {
			if _, err := raw.Generate(ctx, r(i)); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("layer", func(b *testing.B) {
		c, _ := open(b, srv, model.Config{Ref: "vllm/test-model"}, model.Options{Cache: newMemCache()})
		b.ReportAllocs()
		for i := 0; b.Loop(); i++ {
			if _, err := c.Generate(ctx, r(i)); err != nil {
				b.Fatal(err)
			}
		}
	})
}
