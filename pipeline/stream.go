package pipeline

// This file is the dataflow run: every stage starts at once, and a stage
// that streams (Streaming) works on each kept record of its input stage as
// soon as the unit that made it is committed. Its units are keyed by the
// input record's ID and ordered by its Seq, as in a staged run, so which
// record arrives first changes when a unit is done, never what it makes.
// A stage that does not stream waits for its input stage to end (a
// barrier) and then runs as it would in a staged run.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"iter"
	"sync"

	"github.com/synthloop/synthloop/record"
)

// Streaming is implemented by stages that can start before their input
// stage has ended. A stage that says it streams guarantees that, as
// configured, it reads its input only through ForEachKept or
// ForEachKeptChecked, and that a unit's records depend on its input record
// (and the model's replies) alone: not on the other input records, their
// number or their order. Stages that do not implement it, or say false,
// wait for their input stage to end.
type Streaming interface {
	Stage
	// Streams reports whether the stage, as configured, streams.
	Streams() bool
}

// OneStageAtATime is implemented by a Reporter that must see the stages of
// a run one at a time, such as the dry run's estimator, which counts each
// model call for the stage that started last: with it, the run is staged.
type OneStageAtATime interface {
	Reporter
	OneStageAtATime() bool
}

// staged reports whether the run goes stage after stage: asked for, a
// reporter that needs it, a preview (MaxUnits: a stage previews the first
// units of its input, which only a finished input stage has), or a model
// in batch mode (a batch flush sends every model's deferred requests at
// once, so two stages deferring at the same time would share batches).
func (r *runner) staged() bool {
	if one, ok := r.opts.Reporter.(OneStageAtATime); ok && one.OneStageAtATime() {
		return true
	}
	if r.opts.Staged || r.opts.MaxUnits > 0 {
		return true
	}
	for _, m := range r.cfg.Models {
		if m.Batch {
			return true
		}
	}
	return false
}

// streams reports whether sr streams from its input stage. A stage with
// batch: true does not: its requests are to go in one batch, which needs
// the whole input.
func streams(sr *stageRun) bool {
	s, ok := sr.stage.(Streaming)
	return ok && s.Streams() && !sr.sc.Batch && sr.env.Input != ""
}

// stream runs stages at once. A stage that does not stream starts when its
// input stage has ended well; every stage ends only after its input stage
// has, so the last stage's end is the run's. The first failure stops the
// others (work in hand is committed), except a stage that left units
// undone after transient failures: the stages after it finish what it
// made, as a staged run would have before stopping there.
func (r *runner) stream(ctx context.Context, stages []*stageRun) error {
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	flows := map[string]*flow{}
	for _, sr := range stages {
		f := newFlow(sr.sc.Name)
		flows[sr.sc.Name] = f
		sr.env.out = f
	}
	var (
		mu    sync.Mutex
		cause error // the first stage error not brought on by another's
		wg    sync.WaitGroup
	)
	for _, sr := range stages {
		// nil: the first stage, or one this run leaves out (Options.Stages)
		in := flows[sr.env.Input]
		if in != nil && streams(sr) {
			sr.env.feed = in
			in.live = true
		}
		if in == nil || sr.env.feed != nil {
			// The stages that start now are reported in the config's
			// order, as a staged run reports them (a loop's reporter
			// takes the first stage for the start of a round).
			r.begin(sr)
		}
	}
	for _, sr := range stages {
		in := flows[sr.env.Input]
		live := sr.env.feed != nil
		wg.Go(func() {
			var err error
			started := false
			if in != nil && !live {
				err = in.wait(sctx)
			}
			if err == nil {
				started = true
				err = r.run(sctx, sr)
			}
			if err == nil && in != nil {
				// A stage that ended early (a target reached) still ends
				// after its input stage, so that ends mean "all before is done".
				err = in.wait(sctx)
			}
			sr.env.out.end(err)
			if !started {
				return // a staged run would not have started it either
			}
			ferr := r.finish(ctx, sr, err)
			if ferr == nil {
				return
			}
			mu.Lock()
			defer mu.Unlock()
			if cause != nil {
				return
			}
			cause = ferr
			var ue *UndoneError
			if !errors.As(err, &ue) || ue.Stop != nil {
				cancel()
			}
		})
	}
	wg.Wait()
	return cause
}

// flow carries a stage's kept records, as their units are committed, to
// the stage after it, and tells that stage when the stage has ended. The
// stage after gets the record a read from the store would give it (numbers
// in Meta are float64 either way): a copy made as the store's JSON would
// leave it (record.AsStored), or, for the few records that copy declines,
// the record encoded as the store keeps it.
type flow struct {
	stage string
	live  bool // a streaming stage reads it; set before any stage starts

	mu     sync.Mutex
	queue  []flowItem    // committed kept records not yet taken
	wake   chan struct{} // closed when the queue grows or the stage ends
	ended  bool
	err    error         // why the stage ended, nil when it finished
	endedC chan struct{} // closed when the stage ends
}

// flowItem is a record in a flow: copied as stored, or else encoded.
type flowItem struct {
	rec *record.Record
	enc []byte
}

func newFlow(stage string) *flow {
	return &flow{stage: stage, wake: make(chan struct{}), endedC: make(chan struct{})}
}

// publish queues the kept records of a unit the stage just committed.
func (f *flow) publish(recs []*record.Record) error {
	if f == nil || !f.live {
		return nil
	}
	var items []flowItem
	for _, r := range recs {
		if r.Status != record.Kept {
			continue
		}
		if c, ok := r.AsStored(); ok {
			items = append(items, flowItem{rec: c})
			continue
		}
		b, err := r.AppendJSON(nil)
		if err != nil {
			return fmt.Errorf("pipeline: stage %s: encode record %s: %w", f.stage, r.ID, err)
		}
		items = append(items, flowItem{enc: b})
	}
	if len(items) == 0 {
		return nil
	}
	f.mu.Lock()
	f.queue = append(f.queue, items...)
	close(f.wake)
	f.wake = make(chan struct{})
	f.mu.Unlock()
	return nil
}

// end marks the stage ended with err (nil: it finished).
func (f *flow) end(err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.ended {
		return
	}
	f.ended, f.err = true, err
	close(f.wake)
	close(f.endedC)
}

// take returns the records queued so far; when there are none, whether
// the stage has ended (and how), or a channel closed when that changes.
func (f *flow) take() (recs []flowItem, wake <-chan struct{}, ended bool, err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	recs, f.queue = f.queue, nil
	return recs, f.wake, f.ended, f.err
}

// wait blocks until the stage has ended: nil when it finished, an
// *inputEnded when it did not.
func (f *flow) wait(ctx context.Context) error {
	select {
	case <-f.endedC:
	case <-ctx.Done():
		return ctx.Err()
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return &inputEnded{stage: f.stage, err: f.err}
	}
	return nil
}

// inputEnded is what a stage ends with when its input stage ended without
// finishing. It unwraps to that stage's error, so a stop there reads as a
// stop here too.
type inputEnded struct {
	stage string
	err   error
}

func (e *inputEnded) Error() string {
	return fmt.Sprintf("pipeline: input stage %s did not finish: %v", e.stage, e.err)
}

func (e *inputEnded) Unwrap() error { return e.err }

// records yields every kept record of the flow's stage once: first those
// the store holds already (committed by earlier runs, or by this one
// before the read), in order, then the ones committed since, as they come.
// It ends when the stage has ended, with an *inputEnded when the stage did
// not finish.
func (f *flow) records(ctx context.Context, env *Env) iter.Seq2[*record.Record, error] {
	return func(yield func(*record.Record, error) bool) {
		seen := map[string]bool{}
		// Read whole before any unit starts: a read held open through the
		// stage would keep SQLite from checkpointing its log.
		before, err := keptRecords(ctx, env, 0)
		if err != nil {
			yield(nil, err)
			return
		}
		for _, r := range before {
			seen[r.ID] = true
			if !yield(r, nil) {
				return
			}
		}
		for {
			recs, wake, ended, ferr := f.take()
			for _, it := range recs {
				r := it.rec
				if r == nil {
					var err error
					if r, err = decodeJSON(it.enc); err != nil {
						yield(nil, fmt.Errorf("pipeline: stage %s: decode input record: %w", env.Name, err))
						return
					}
				}
				if seen[r.ID] {
					continue
				}
				seen[r.ID] = true
				if !yield(r, nil) {
					return
				}
			}
			if len(recs) > 0 {
				continue
			}
			if ended {
				if ferr != nil {
					yield(nil, &inputEnded{stage: f.stage, err: ferr})
				}
				return
			}
			select {
			case <-wake:
			case <-ctx.Done():
				yield(nil, ctx.Err())
				return
			}
		}
	}
}

// decodeJSON decodes a record the flow carries encoded.
func decodeJSON(b []byte) (*record.Record, error) {
	r := new(record.Record)
	if err := json.Unmarshal(b, r); err != nil {
		return nil, err
	}
	return r, nil
}

// streamKept is ForEachKeptChecked over env.feed: a unit starts for each
// kept input record as it arrives. A record that fails check waits for
// the end of the input, when check decides about the first record in
// order, as in a staged run: the stage fails there, or those records are
// done like the others.
func streamKept(ctx context.Context, env *Env, check func(first *record.Record) error, fn MapFunc) error {
	done, err := env.Store.DoneUnits(ctx, env.Name)
	if err != nil {
		return fmt.Errorf("pipeline: stage %s: %w", env.Name, err)
	}
	c := committer{env: env, ctx: ctx}
	var (
		mu       sync.Mutex
		deferred []UnitSpec
		later    []*record.Record // the deferred units' input records
	)
	cctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	g, gctx := newWorkers(cctx, env.Concurrency)
	c.open(cancel)
	start := func(in *record.Record) {
		u := UnitSpec{Key: in.ID, Seq: in.Seq * 1000, Partition: Local}
		g.Go(func() error {
			if err := gctx.Err(); err != nil {
				return err
			}
			out, usage, err := fn(gctx, in)
			d, err := c.settle(u, out, usage, err)
			if d {
				mu.Lock()
				deferred, later = append(deferred, u), append(later, in)
				mu.Unlock()
			}
			return err
		})
	}
	var (
		first *record.Record // the first input record in order
		held  []*record.Record
		total int
		inErr error
	)
	for in, err := range env.feed.records(gctx, env) {
		if err != nil {
			inErr = err
			break
		}
		if first == nil || in.Seq < first.Seq || (in.Seq == first.Seq && in.ID < first.ID) {
			first = in
		}
		total++
		if env.Progress != nil {
			env.Progress.SetTotal(total)
		}
		if done[in.ID] {
			if env.Progress != nil {
				env.Progress.Done(1, 0, 0, 0)
			}
			continue
		}
		if env.Units.take(1) == 0 {
			continue
		}
		if gctx.Err() != nil || c.enough() {
			break
		}
		if check != nil && check(in) != nil {
			held = append(held, in)
			continue
		}
		start(in)
	}
	if inErr == nil && check != nil && first != nil && len(held) > 0 {
		if inErr = check(first); inErr == nil {
			for _, in := range held {
				if gctx.Err() != nil || c.enough() {
					break
				}
				start(in)
			}
		}
	}
	err = g.Wait()
	if cerr := c.close(); cerr != nil {
		err = cerr
	}
	if err == nil {
		err = inErr
	}
	if err != nil || c.enough() || len(deferred) == 0 {
		if err == nil {
			err = ctx.Err()
		}
		return c.result(err)
	}
	// A model deferred requests to a provider batch: send them now, and do
	// those units again from the answers.
	todo := make([]int, len(deferred))
	for i := range todo {
		todo[i] = i
	}
	return c.rest(ctx, deferred, todo, func(ctx context.Context, i int) ([]*record.Record, UnitUsage, error) {
		return fn(ctx, later[i])
	})
}
