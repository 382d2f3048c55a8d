package main

import (
	"context"
	"errors"
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
// every kind of transient failure, rerunning until a run completes, and
// checks that nothing is lost: every kept instruction got its instance unit,
// and no record is written off as failed for a fault a rerun could retry.
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
	incomplete := 0
	for {
		err = pipeline.Run(ctx, cfg, pipeline.Options{Store: st, Cache: st, ModelOptions: model.Options{Sleep: noWait}})
		if err == nil {
			break
		}
		if !errors.Is(err, pipeline.ErrTransient) || incomplete == 20 {
			t.Fatalf("Run after %d incomplete runs: %v", incomplete, err)
		}
		incomplete++
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
	t.Logf("instructions %v, instances %v, server requests %d, %d runs before the complete one", ins, inst, srv.Requests(), incomplete)
	if ins[record.Kept] < 60 {
		t.Errorf("kept %d instructions, want the target 60 despite faults", ins[record.Kept])
	}
	if incomplete == 0 {
		t.Errorf("the first run completed with 35%% faults and one retry: the faults did not reach the pipeline")
	}
	// Every injected fault is transient: none may end on a record.
	if ins[record.Failed]+inst[record.Failed] != 0 {
		t.Errorf("%d records failed for transient faults; a rerun must retry them instead", ins[record.Failed]+inst[record.Failed])
	}
	done, err := st.DoneUnits(ctx, "instances")
	if err != nil {
		t.Fatal(err)
	}
	if len(done) != ins[record.Kept] {
		t.Errorf("instances stage committed %d units for %d kept instructions: some were lost", len(done), ins[record.Kept])
	}
}
