package model_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/synthloop/synthloop/model"
)

// queueServer is a server that serves capacity requests at a time, each for
// service, and queues the rest without refusing them, as vLLM does.
type queueServer struct {
	slots   chan struct{}
	service time.Duration
}

func (q *queueServer) Generate(ctx context.Context, req model.Request) (*model.Response, error) {
	select {
	case q.slots <- struct{}{}:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	time.Sleep(q.service)
	<-q.slots
	return &model.Response{Choices: []model.Choice{{Text: "ok", FinishReason: model.FinishStop}},
		Usage: model.Usage{PromptTokens: 10, CompletionTokens: 10}}, nil
}

var queue = &queueServer{slots: make(chan struct{}, 4), service: 5 * time.Millisecond}

func init() {
	model.RegisterProvider("queuetest", model.ProviderSpec{
		New:  func(context.Context, model.ProviderConfig) (model.Backend, error) { return queue, nil },
		Free: true, DefaultBaseURL: "http://queue.invalid/v1",
	})
}

// TestSaturationFromLatency: a server that queues instead of answering 429
// never makes the window shrink by errors; rising latency does, so the
// window stays near the server's capacity instead of growing to its ceiling.
func TestSaturationFromLatency(t *testing.T) {
	off := 0.0
	for _, tt := range []struct {
		name   string
		factor *float64
		maxWin int // the window at the end is at most this
		minWin int // and at least this
	}{
		{"latency on (default for local servers)", nil, 32, 1},
		{"latency off", &off, 64, 40},
	} {
		t.Run(tt.name, func(t *testing.T) {
			b, _, err := model.Open(context.Background(), "q", model.Config{Ref: "queuetest/m", MaxConcurrency: 64, SaturationLatency: tt.factor}, model.Options{})
			if err != nil {
				t.Fatal(err)
			}
			var wg sync.WaitGroup
			for w := range 64 {
				wg.Go(func() {
					for i := range 12 {
						if _, err := b.Generate(context.Background(), model.Request{Messages: []model.Message{{Role: "user", Content: fmt.Sprint(w, i)}}}); err != nil {
							t.Error(err)
						}
					}
				})
			}
			wg.Wait()
			st := b.(model.StatsSource).Stats()
			t.Logf("window %d after %d requests", st.Concurrency, st.Requests)
			if st.Concurrency > tt.maxWin || st.Concurrency < tt.minWin {
				t.Errorf("window %d, want %d..%d", st.Concurrency, tt.minWin, tt.maxWin)
			}
		})
	}
}
