package pipeline_test

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"maps"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cockroachdb/datadriven"

	"github.com/synthloop/synthloop/model"
	"github.com/synthloop/synthloop/pipeline"
	"github.com/synthloop/synthloop/record"
)

// TestUnitsScenarios runs the resume contract's scenarios in
// testdata/units: each file drives RunUnits against one store through runs
// that fail, are killed or cancelled, and reruns. Commands:
//
//	units a b c        the stage's units, in order; unit i has Seq (i+1)*100
//	run [args]         one run of the stage; prints what ran, what was
//	                   committed, the peak concurrency, progress and the error
//	  conc=N           env.Concurrency (default 1)
//	  ordered          RunUnitsInOrder: the work is the prepare step
//	  fail=(b,...)     these units' functions return an error
//	  transient=(b,...) these units' functions return a transient model
//	                   error (an HTTP 500 after the layer's retries)
//	  enough=b         this unit's function returns pipeline.ErrEnough
//	  kill-after=N     the process dies after N commits: later commits fail
//	  cancel-after=N   the context is cancelled after N commits
//	  late=(b,...)     these units finish their work only after the context
//	                   is cancelled (work in hand at Ctrl-C)
//	  reverse          each unit's work waits for the next one's: the work
//	                   finishes in reverse order (needs conc >= units)
//	rerun              run with no faults
//	state              the store: done units, records with Seq, commits per unit
//
// Run with -rewrite to regenerate the expected output.
func TestUnitsScenarios(t *testing.T) {
	datadriven.Walk(t, "testdata/units", func(t *testing.T, path string) {
		var units []pipeline.UnitSpec
		st := newScenarioStore()
		datadriven.RunTest(t, path, func(t *testing.T, d *datadriven.TestData) string {
			switch d.Cmd {
			case "units":
				units = nil
				for i, a := range d.CmdArgs {
					units = append(units, pipeline.UnitSpec{Key: a.Key, Seq: int64(i+1) * 100})
				}
				return ""
			case "run", "rerun":
				return runScenario(t, d, st, units)
			case "state":
				return st.state()
			}
			d.Fatalf(t, "unknown command %q", d.Cmd)
			return ""
		})
	})
}

// runScenario runs the stage once with the faults d asks for.
func runScenario(t *testing.T, d *datadriven.TestData, st *scenarioStore, units []pipeline.UnitSpec) string {
	conc := 1
	d.MaybeScanArgs(t, "conc", &conc)
	set := func(key string) map[string]bool {
		m := map[string]bool{}
		if a, ok := d.Arg(key); ok {
			for _, v := range a.Vals {
				m[v] = true
			}
		}
		return m
	}
	fail, late, enough, transient := set("fail"), set("late"), set("enough"), set("transient")
	killAfter, cancelAfter := -1, -1
	d.MaybeScanArgs(t, "kill-after", &killAfter)
	d.MaybeScanArgs(t, "cancel-after", &cancelAfter)
	reverse := d.HasArg("reverse")

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	st.begin(killAfter, cancelAfter, cancel)
	prog := &scenarioProgress{}
	env := &pipeline.Env{Name: "s", Store: st, Progress: prog, Concurrency: conc}

	var mu sync.Mutex
	var ran []string
	running, peak, started := 0, 0, 0
	// The first min(conc, pending) units wait for each other, so the peak
	// is exactly what the limit allows: a scheduler exceeding it shows.
	pend := 0
	for _, u := range units {
		if !st.isDone(u.Key) {
			pend++
		}
	}
	gate := make(chan struct{})
	finished := make([]chan struct{}, len(units))
	for i := range finished {
		finished[i] = make(chan struct{})
	}
	work := func(ctx context.Context, i int) ([]*record.Record, error) {
		key := units[i].Key
		mu.Lock()
		ran = append(ran, key)
		running++
		peak = max(peak, running)
		started++
		if started == min(conc, pend) {
			close(gate)
		}
		mu.Unlock()
		defer func() {
			mu.Lock()
			running--
			mu.Unlock()
		}()
		defer close(finished[i])
		wait := func(ch <-chan struct{}) error {
			select {
			case <-ch:
				return nil
			case <-time.After(5 * time.Second):
				return fmt.Errorf("unit %s: scenario deadlock", key)
			}
		}
		if err := wait(gate); err != nil {
			return nil, err
		}
		if reverse && i+1 < len(units) && !st.isDone(units[i+1].Key) {
			if err := wait(finished[i+1]); err != nil {
				return nil, err
			}
		}
		switch {
		case late[key]:
			if err := wait(ctx.Done()); err != nil {
				return nil, err
			}
		case ctx.Err() != nil:
			return nil, ctx.Err()
		case fail[key]:
			return nil, fmt.Errorf("unit %s failed", key)
		case transient[key]:
			return nil, fmt.Errorf("unit %s: %w", key, serverError)
		case enough[key]:
			return nil, pipeline.ErrEnough
		}
		return []*record.Record{
			{ID: key + "/0", Status: record.Kept},
			{ID: key + "/1", Status: record.Rejected},
		}, nil
	}
	var err error
	if d.HasArg("ordered") {
		err = pipeline.RunUnitsInOrder(ctx, env, units,
			func(ctx context.Context, i int) ([]*record.Record, error) { return work(ctx, i) },
			func(ctx context.Context, i int, recs []*record.Record) ([]*record.Record, pipeline.UnitUsage, error) {
				return recs, pipeline.UnitUsage{Requests: 1}, nil
			})
	} else {
		err = pipeline.RunUnits(ctx, env, units, func(ctx context.Context, i int) ([]*record.Record, pipeline.UnitUsage, error) {
			recs, err := work(ctx, i)
			return recs, pipeline.UnitUsage{Requests: 1}, err
		})
	}
	sort.Strings(ran)
	var b strings.Builder
	fmt.Fprintf(&b, "ran: %s\n", strings.Join(ran, " "))
	committed := st.run
	if !d.HasArg("ordered") {
		// Concurrent units commit in any order; an ordered run's order is
		// part of what it promises.
		committed = slices.Sorted(slices.Values(committed))
	}
	fmt.Fprintf(&b, "committed: %s\n", strings.Join(committed, " "))
	fmt.Fprintf(&b, "peak: %d\n", peak)
	fmt.Fprintf(&b, "progress: %s\n", prog)
	switch {
	case err == nil:
		b.WriteString("ok\n")
	case errors.Is(err, context.Canceled):
		b.WriteString("error: canceled\n")
	default:
		fmt.Fprintf(&b, "error: %v\n", err)
	}
	return b.String()
}

var errKilled = errors.New("killed")

// serverError is what the model layer returns when a server answered 500
// to every attempt.
var serverError = &model.Error{Name: "m", Ref: "test/m", BaseURL: "http://m", Attempts: 2, Retryable: true, Transient: true,
	Status: 500, Err: &model.HTTPError{Status: 500}}

// scenarioStore is an in-memory store that refuses a second commit of a
// unit (a duplicated unit would be a broken resume) and can die or cancel
// the run after some commits.
type scenarioStore struct {
	mu      sync.Mutex
	recs    map[string]*record.Record
	done    map[string]int // unit -> commits
	run     []string       // units committed by the current run, in order
	kill    int            // commits of this run after which every commit fails; -1: never
	cancelN int            // commits of this run after which the run is cancelled; -1: never
	cancel  func()
}

func newScenarioStore() *scenarioStore {
	return &scenarioStore{recs: map[string]*record.Record{}, done: map[string]int{}}
}

func (s *scenarioStore) begin(kill, cancelN int, cancel func()) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.run, s.kill, s.cancelN, s.cancel = nil, kill, cancelN, cancel
}

func (s *scenarioStore) isDone(key string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.done[key] > 0
}

func (s *scenarioStore) Commit(ctx context.Context, u pipeline.Unit) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.kill >= 0 && len(s.run) >= s.kill {
		return errKilled
	}
	if s.done[u.Key] > 0 {
		return fmt.Errorf("unit %s committed twice", u.Key)
	}
	for _, r := range u.Records {
		c := *r
		s.recs[r.ID] = &c
	}
	s.done[u.Key]++
	s.run = append(s.run, u.Key)
	if s.cancelN >= 0 && len(s.run) >= s.cancelN {
		s.cancel()
	}
	return nil
}

func (s *scenarioStore) DoneUnits(ctx context.Context, stage string) (map[string]bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string]bool{}
	for k := range s.done {
		out[k] = true
	}
	return out, nil
}

func (s *scenarioStore) Records(ctx context.Context, stage string, status record.Status) iter.Seq2[*record.Record, error] {
	return func(yield func(*record.Record, error) bool) {}
}

func (s *scenarioStore) state() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var b strings.Builder
	b.WriteString("done:")
	for _, k := range slices.Sorted(maps.Keys(s.done)) {
		fmt.Fprintf(&b, " %s", k)
		if n := s.done[k]; n > 1 {
			fmt.Fprintf(&b, "×%d", n)
		}
	}
	b.WriteString("\nrecords:")
	recs := slices.Collect(maps.Values(s.recs))
	sort.Slice(recs, func(i, j int) bool {
		if recs[i].Seq != recs[j].Seq {
			return recs[i].Seq < recs[j].Seq
		}
		return recs[i].ID < recs[j].ID
	})
	for _, r := range recs {
		fmt.Fprintf(&b, " %s@%d", r.ID, r.Seq)
		if r.Stage != "s" {
			fmt.Fprintf(&b, "(stage %q)", r.Stage)
		}
	}
	b.WriteString("\n")
	return b.String()
}

// scenarioProgress sums what a run reports.
type scenarioProgress struct {
	mu                          sync.Mutex
	total, units, kept, rej, fl int
	requests                    int
}

func (p *scenarioProgress) SetTotal(n int) { p.mu.Lock(); p.total = n; p.mu.Unlock() }
func (p *scenarioProgress) Done(u, k, r, f int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.units += u
	p.kept += k
	p.rej += r
	p.fl += f
}
func (p *scenarioProgress) Usage(u pipeline.UnitUsage) {
	p.mu.Lock()
	p.requests += u.Requests
	p.mu.Unlock()
}

func (p *scenarioProgress) String() string {
	return fmt.Sprintf("%d/%d units, kept %d, rejected %d, failed %d, requests %d", p.units, p.total, p.kept, p.rej, p.fl, p.requests)
}
