package estimate_test

import (
	"bytes"
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	_ "github.com/synthloop/synthloop/all"
	"github.com/synthloop/synthloop/estimate"
	"github.com/synthloop/synthloop/model"
	"github.com/synthloop/synthloop/model/modeltest"
	"github.com/synthloop/synthloop/pipeline"
	"github.com/synthloop/synthloop/store"
)

// responder serves the placeholder's replies from a modeltest server, so
// that a real run gets exactly the replies the dry run assumed.
func responder(p *estimate.Placeholder) modeltest.Responder {
	return func(r *modeltest.Request) modeltest.Reply {
		resp, err := p.Generate(context.Background(), model.Request{
			Messages: r.Messages, N: r.N, Temperature: r.Temperature, TopP: r.TopP, PresencePenalty: r.PresencePenalty,
			MaxTokens: r.MaxTokens, Stop: r.Stop, Seed: r.Seed, JSONSchema: r.JSONSchema,
		})
		if err != nil {
			return modeltest.Reply{}
		}
		rep := modeltest.Reply{Usage: &resp.Usage}
		for _, c := range resp.Choices {
			rep.Choices = append(rep.Choices, modeltest.Choice{Text: c.Text, FinishReason: c.FinishReason})
		}
		return rep
	}
}

const config = `name: est
seed: 3
concurrency: 4
models:
  teacher:
    ref: openai/gpt-4o-mini
    base_url: %[1]s
  judge:
    ref: openai-compatible/judge
    base_url: %[1]s
stages:
  - name: tasks
    type: selfinstruct
    with:
      model: teacher
      mode: alpaca
      target: 30
  - name: judged
    type: judge
    with:
      panel: [judge]
      rubric: {kind: scale, min: 1, max: 10, criteria: [The output does what the instruction asks.]}
`

// TestDryRunMatchesRealRun estimates a run and then makes it against a
// stand-in that answers as the placeholder does: the dry run sends
// nothing, and its request counts equal the real run's exactly (the
// replies being the same, every stage is deterministic here).
func TestDryRunMatchesRealRun(t *testing.T) {
	ctx := context.Background()
	srv := modeltest.NewServer(responder(estimate.NewPlaceholder(3)))
	defer srv.Close()
	cfg, err := pipeline.ParseConfig(filepath.Join(t.TempDir(), "p.yaml"), []byte(fmt.Sprintf(config, srv.URL)))
	if err != nil {
		t.Fatal(err)
	}
	getenv := func(k string) string { return map[string]string{"OPENAI_API_KEY": "k"}[k] }

	dry, err := store.Open(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer dry.Close()
	est := estimate.New(estimate.Options{Seed: cfg.Seed})
	if err := pipeline.Run(ctx, cfg, pipeline.Options{Store: dry, Reporter: est, OpenModel: est.Open}); err != nil {
		t.Fatal(err)
	}
	if n := srv.Requests(); n != 0 {
		t.Fatalf("the dry run sent %d requests", n)
	}
	rep := est.Report()

	real, err := store.Open(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer real.Close()
	if err := pipeline.Run(ctx, cfg, pipeline.Options{Store: real, Cache: real, Getenv: getenv}); err != nil {
		t.Fatal(err)
	}
	// The store counts only committed units' calls (a Self-Instruct wave
	// may ask for a batch it then does not need), so compare what reached
	// the server, per model.
	sent := map[string]int{}
	for _, r := range srv.Log() {
		sent[r.Model]++
	}
	want := map[string]int{}
	for _, l := range rep.Lines {
		want[map[string]string{"teacher": "gpt-4o-mini", "judge": "judge"}[l.Model]] += l.Requests
	}
	for m, n := range sent {
		if want[m] != n {
			t.Errorf("model %s: the dry run expects %d requests, the real run sent %d", m, want[m], n)
		}
	}
	if rep.Total.Requests != srv.Requests() {
		t.Errorf("the dry run expects %d requests, the real run sent %d", rep.Total.Requests, srv.Requests())
	}
	if len(rep.Lines) != 2 || rep.Lines[0].Tokenizer != "o200k_base" || rep.Lines[1].Tokenizer == "o200k_base" {
		t.Errorf("lines: %+v", rep.Lines)
	}
	if rep.Lines[0].Costs.Standard <= 0 || rep.Lines[0].Costs.Batch != rep.Lines[0].Costs.Standard*model.Batch {
		t.Errorf("teacher costs: %+v", rep.Lines[0].Costs)
	}
	if rep.Lines[1].PriceKnown {
		t.Errorf("an openai-compatible model without prices should be priced unknown: %+v", rep.Lines[1])
	}
	var out bytes.Buffer
	rep.Write(&out, true)
	for _, want := range []string{"tasks", "judged", "--- tasks: request 1 to teacher", "Score: N", "?"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("report lacks %q:\n%s", want, out.String())
		}
	}
	t.Logf("\n%s", out.String()[:min(out.Len(), 1500)])
}
