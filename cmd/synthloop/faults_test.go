package main

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/synthloop/synthloop/model"
	"github.com/synthloop/synthloop/model/modeltest"
	"github.com/synthloop/synthloop/model/scripted"
	"github.com/synthloop/synthloop/pipeline"
	"github.com/synthloop/synthloop/record"
	"github.com/synthloop/synthloop/store"
)

// TestPipelineUnderFaults runs Self-Instruct against a server that injects
// every kind of failure and checks that nothing is lost: every kept
// instruction got its instance unit, every record is kept, rejected, or failed
// with its error recorded, and the retries recovered most of the faults.
func TestPipelineUnderFaults(t *testing.T) {
	faults := []modeltest.Fault{
		modeltest.RateLimited("1"),
		modeltest.HTTPStatus(500),
		modeltest.HTTPStatus(503),
		modeltest.StallFor(2 * time.Second),
		{Kind: modeltest.Reset},
		{Kind: modeltest.Truncated},
		{Kind: modeltest.Malformed},
		{Kind: modeltest.EmptyChoices},
	}
	srv := modeltest.NewServer(scripted.New(5).Responder(), modeltest.WithFaults(modeltest.Randomly(0.35, 7, faults...)))
	defer srv.Close()
	text := fmt.Sprintf(`name: faults
seed: 2
concurrency: 8
models:
  teacher:
    ref: openai-compatible/scripted-teacher
    base_url: %s
    timeout: 300ms
    max_retries: 1
stages:
  - name: instructions
    type: selfinstruct
    with:
      model: teacher
      target: 60
  - name: instances
    type: selfinstruct-instances
    with:
      model: teacher
`, srv.URL)
	cfg, err := pipeline.ParseConfig("faults.yaml", []byte(text))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	st, err := store.Open(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	noWait := func(ctx context.Context, d time.Duration) error { return ctx.Err() }
	err = pipeline.Run(ctx, cfg, pipeline.Options{Store: st, Cache: st, ModelOptions: model.Options{Sleep: noWait}})
	if err != nil {
		t.Fatalf("Run: %v", err)
	}

	count := func(stage string) map[record.Status]int {
		c := map[record.Status]int{}
		for r, err := range st.Records(ctx, stage, "") {
			if err != nil {
				t.Fatal(err)
			}
			c[r.Status]++
			switch {
			case r.Status == record.Failed && r.Error == "":
				t.Errorf("record %s failed without an error", r.ID)
			case r.Status != record.Failed && r.Error != "":
				t.Errorf("record %s is %s but carries error %q", r.ID, r.Status, r.Error)
			}
		}
		return c
	}
	ins := count("instructions")
	inst := count("instances")
	t.Logf("instructions %v, instances %v, server requests %d", ins, inst, srv.Requests())
	if ins[record.Kept] < 60 {
		t.Errorf("kept %d instructions, want the target 60 despite faults", ins[record.Kept])
	}
	if ins[record.Failed] == 0 && inst[record.Failed] == 0 {
		t.Errorf("no failure recorded with 35%% faults and one retry: the faults did not reach the pipeline")
	}
	done, err := st.DoneUnits(ctx, "instances")
	if err != nil {
		t.Fatal(err)
	}
	if len(done) != ins[record.Kept] {
		t.Errorf("instances stage committed %d units for %d kept instructions: some were lost", len(done), ins[record.Kept])
	}
}
