package pipeline_test

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"

	"github.com/synthloop/synthloop/model"
	"github.com/synthloop/synthloop/pipeline"
	"github.com/synthloop/synthloop/pipeline/pipelinetest"
	"github.com/synthloop/synthloop/record"
)

// deferring stands in for a model in batch mode: a prompt it has not
// answered yet is queued and deferred; Flush answers the queue, as one batch.
type deferring struct {
	mu       sync.Mutex
	answered map[string]bool
	queue    []string
	batches  [][]string
}

func (d *deferring) ask(prompt string) (string, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.answered[prompt] {
		return "re: " + prompt, nil
	}
	if !slices.Contains(d.queue, prompt) {
		d.queue = append(d.queue, prompt)
	}
	return "", fmt.Errorf("fake: %w", model.ErrDeferred)
}

func (d *deferring) Flush(context.Context) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if len(d.queue) > 0 {
		slices.Sort(d.queue)
		d.batches = append(d.batches, d.queue)
	}
	for _, p := range d.queue {
		d.answered[p] = true
	}
	d.queue = nil
	return nil
}

// TestBatchPasses: units of two dependent calls each (an answer, then a
// judgment of it) under RunUnits and RunUnitsInOrder. Each unit is
// committed once, after two flushes: the first batch holds every unit's
// first call, the second every second call.
func TestBatchPasses(t *testing.T) {
	for _, ordered := range []bool{false, true} {
		t.Run(fmt.Sprintf("ordered=%v", ordered), func(t *testing.T) {
			const n = 6
			fake := &deferring{answered: map[string]bool{}}
			st := pipelinetest.NewMemStore()
			env := &pipeline.Env{Name: "s", Store: st, Concurrency: n, Flush: fake.Flush}
			units := make([]pipeline.UnitSpec, n)
			for i := range units {
				units[i] = pipeline.UnitSpec{Key: fmt.Sprint("u", i), Seq: int64(i+1) * 10}
			}
			var calls int
			var mu sync.Mutex
			work := func(i int) (string, error) {
				mu.Lock()
				calls++
				mu.Unlock()
				a, err := fake.ask(fmt.Sprint("q", i))
				if err != nil {
					return "", err
				}
				return fake.ask("judge " + a)
			}
			finish := func(i int, out string) ([]*record.Record, pipeline.UnitUsage, error) {
				return []*record.Record{{ID: fmt.Sprint("r", i), Output: out, Status: record.Kept}}, pipeline.UnitUsage{}, nil
			}
			var err error
			if ordered {
				err = pipeline.RunUnitsInOrder(context.Background(), env, units,
					func(_ context.Context, i int) (string, error) { return work(i) },
					func(_ context.Context, i int, v string) ([]*record.Record, pipeline.UnitUsage, error) {
						return finish(i, v)
					})
			} else {
				err = pipeline.RunUnits(context.Background(), env, units, func(_ context.Context, i int) ([]*record.Record, pipeline.UnitUsage, error) {
					out, err := work(i)
					if err != nil {
						return nil, pipeline.UnitUsage{}, err
					}
					return finish(i, out)
				})
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(fake.batches) != 2 || len(fake.batches[0]) != n || len(fake.batches[1]) != n {
				t.Errorf("batches %v, want two of %d", fake.batches, n)
			}
			recs := st.All("s")
			if len(recs) != n {
				t.Fatalf("%d records, want %d", len(recs), n)
			}
			for i, r := range recs {
				if want := fmt.Sprintf("re: judge re: q%d", i); r.Output != want || r.Seq != int64(i+1)*10 {
					t.Errorf("record %d: %q seq %d, want %q", i, r.Output, r.Seq, want)
				}
			}
			if calls != 3*n {
				t.Errorf("%d unit calls, want %d (three passes)", calls, 3*n)
			}
		})
	}
}
