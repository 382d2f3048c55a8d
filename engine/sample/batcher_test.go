package sample

import (
	"context"
	"errors"
	"math"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestBatcherEqualsAlone sends requests of every shape at once to a batcher
// with fewer slots than they need together, so that they join and leave
// while others run, and checks that each gets exactly what Generate gives
// it alone: the same tokens, log-probabilities, finish and text.
func TestBatcherEqualsAlone(t *testing.T) {
	m := testModel(t)
	b, err := NewBatcher(m, 5)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	decode := func(toks []int32) string {
		var s strings.Builder
		for _, t := range toks {
			s.WriteByte(byte('a' + t))
		}
		return s.String()
	}
	type req struct {
		prompt []int32
		opt    Options
	}
	var reqs []req
	for i := range 14 {
		opt := Options{MaxTokens: 3 + i%9, Temperature: float64(i%4) * 0.4, TopK: i % 5, TopP: []float64{0, 0.9, 1}[i%3],
			Seed: uint64(i), N: 1 + i%3, TopLogProbs: i % 2 * 3}
		if i%4 == 1 {
			opt.StopTokens = []int32{int32(i % 10)}
		}
		if i%5 == 2 {
			opt.StopText, opt.Decode = []string{"c"}, decode
		}
		if i%6 == 3 {
			opt.MaxTokens = 0 // up to the context
		}
		reqs = append(reqs, req{prompts[i%len(prompts)][:1+i%len(prompts[i%len(prompts)])], opt})
	}
	got := make([][]Completion, len(reqs))
	errs := make([]error, len(reqs))
	var wg sync.WaitGroup
	for i, r := range reqs {
		wg.Go(func() { got[i], errs[i] = b.Generate(context.Background(), r.prompt, r.opt) })
	}
	wg.Wait()
	for i, r := range reqs {
		if errs[i] != nil {
			t.Fatalf("request %d: %v", i, errs[i])
		}
		want, err := Generate(m, [][]int32{r.prompt}, r.opt)
		if err != nil {
			t.Fatal(err)
		}
		if len(got[i]) != len(want) {
			t.Fatalf("request %d: %d completions, want %d", i, len(got[i]), len(want))
		}
		for k := range want {
			g, w := got[i][k], want[k]
			if g.Index != w.Index || !slices.Equal(g.Tokens, w.Tokens) || g.Finish != w.Finish || g.Text != w.Text || len(g.Top) != len(w.Top) {
				t.Errorf("request %d sample %d in the batch: %+v\nalone: %+v", i, k, g, w)
			}
			// A row's logits in a step of many rows go through other GEMM
			// kernels than a step of one, so they may differ in the last
			// bits (as in Generate's own batches); the draws do not.
			for p := range g.LogProbs {
				if d := math.Abs(float64(g.LogProbs[p] - w.LogProbs[p])); d > 1e-4*(1+math.Abs(float64(w.LogProbs[p]))) {
					t.Errorf("request %d sample %d token %d: log-probability %g in the batch, %g alone", i, k, p, g.LogProbs[p], w.LogProbs[p])
				}
			}
		}
	}
}

func TestBatcherCancelAndClose(t *testing.T) {
	m := testModel(t)
	b, err := NewBatcher(m, 2)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := b.Generate(ctx, []int32{1, 2}, Options{MaxTokens: 5}); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled request: %v", err)
	}
	// Wider than the batcher: generated alone, still right.
	wide, err := b.Generate(context.Background(), []int32{1, 2}, Options{MaxTokens: 5, N: 3, Temperature: 1, Seed: 9})
	want, _ := Generate(m, [][]int32{{1, 2}}, Options{MaxTokens: 5, N: 3, Temperature: 1, Seed: 9})
	if err != nil || len(wide) != 3 || !slices.Equal(wide[2].Tokens, want[2].Tokens) {
		t.Errorf("a request wider than the batcher: %v, %v", wide, err)
	}
	if _, err := b.Generate(context.Background(), nil, Options{}); err == nil {
		t.Error("an empty prompt was accepted")
	}
	b.Close()
	if _, err := b.Generate(context.Background(), []int32{1}, Options{MaxTokens: 2}); !errors.Is(err, ErrClosed) {
		t.Errorf("after Close: %v", err)
	}
}

// seenCtx notes the first time the batcher's loop asks whether the request
// was cancelled, which it does only once the request is queued in it.
type seenCtx struct {
	context.Context
	once sync.Once
	seen chan struct{}
}

func (c *seenCtx) Err() error {
	c.once.Do(func() { close(c.seen) })
	return c.Context.Err()
}

// TestBatcherCancelQueued: a request queued behind a batch that holds every
// slot returns ctx's error as soon as it is cancelled, not when a slot frees.
func TestBatcherCancelQueued(t *testing.T) {
	m := testModel(t)
	b, err := NewBatcher(m, 1)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	inner, cancel := context.WithCancel(context.Background())
	queued := &seenCtx{Context: inner, seen: make(chan struct{})}
	started, blocked, release := make(chan struct{}), make(chan struct{}), make(chan struct{})
	var once sync.Once
	first := Options{MaxTokens: 0, Temperature: 1, Seed: 1, OnToken: func(c *Completion) {
		if len(c.Tokens) == 1 {
			close(started)
			return
		}
		select {
		case <-queued.seen:
			// The second request waits in the batcher: hold the slot.
			once.Do(func() { close(blocked) })
			<-release
		default:
			time.Sleep(20 * time.Millisecond) // time for it to be sent
		}
	}}
	firstDone := make(chan error, 1)
	go func() {
		_, err := b.Generate(context.Background(), []int32{4}, first)
		firstDone <- err
	}()
	<-started
	queuedDone := make(chan error, 1)
	go func() {
		_, err := b.Generate(queued, []int32{1, 2}, Options{MaxTokens: 3})
		queuedDone <- err
	}()
	select {
	case <-blocked:
	case err := <-firstDone:
		t.Fatalf("the first request ended (%v) before the second was queued", err)
	}
	cancel()
	late := false
	select {
	case err := <-queuedDone:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("cancelled while queued: %v, want context.Canceled", err)
		}
	case <-time.After(3 * time.Second):
		t.Error("a request cancelled while queued did not return while the batch held its slot")
		late = true
	}
	close(release)
	if err := <-firstDone; err != nil {
		t.Errorf("the first request: %v", err)
	}
	if late {
		<-queuedDone
	}
	// The dropped request held no slot: the batcher still has one, so two
	// requests at once take turns and each gets what it gets alone.
	opt := Options{MaxTokens: 6, Temperature: 1, Seed: 5}
	want, _ := Generate(m, [][]int32{{1, 2}}, opt)
	var wg sync.WaitGroup
	for range 2 {
		wg.Go(func() {
			got, err := b.Generate(context.Background(), []int32{1, 2}, opt)
			if err != nil || len(got) != 1 || !slices.Equal(got[0].Tokens, want[0].Tokens) {
				t.Errorf("after the drop: %v, %v; want %v", got, err, want[0].Tokens)
			}
		})
	}
	wg.Wait()
}
