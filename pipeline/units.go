package pipeline

// This file is the resume contract, in one place: every stage hands its
// units to RunUnits or RunUnitsInOrder, which alone read the done-marks and
// commit. A unit is committed whole (records, usage, done-mark in one
// transaction) or not at all; a rerun skips committed units and does the
// rest; a unit whose function fails is not committed. A unit that failed
// for a transient cause is never committed as done: the stage goes on with
// the others and ends with an *UndoneError, so the run says that a rerun
// will retry it.

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"

	"github.com/synthloop/synthloop/model"
	"github.com/synthloop/synthloop/record"
)

// UnitSpec names one unit of a stage's work for RunUnits.
type UnitSpec struct {
	// Key is unique within the stage and stable across reruns: it is what
	// a rerun finds committed.
	Key string
	// Seq is the base of the unit's record order: a record left with Seq 0
	// gets Seq+i, its index in the unit, so the stage's order is its units'.
	Seq int64
	// Weight is what the unit counts for in progress; 0 means 1 (load
	// counts records, not chunks).
	Weight int
	// Partition says how a sharded run divides the unit among its shards.
	Partition Partition
}

// Partition says how a sharded run (Env.Shard) divides a unit among its
// shards. Whatever the mode, the division depends only on keys and IDs, so
// every shard and every restart of one agrees on it.
type Partition uint8

const (
	// ByKey gives the unit to one shard, by the hash of its key: for units
	// that bring work into the run (a seed, a document chunk, a batch of
	// generation). Other shards neither do it nor count it.
	ByKey Partition = iota
	// ByRecord has every shard do the unit and commit only the records
	// whose ID hashes to it, each at its place in the whole unit's order:
	// for cheap units of many records, such as a chunk of a loaded file,
	// so that shards split the records evenly however few chunks there are.
	ByRecord
	// Local has every shard do the unit: its work is this run store's own
	// input records, which are already the shard's share. ForEachRecord
	// sets it for records of the input stage.
	Local
)

func (u UnitSpec) weight() int { return max(u.Weight, 1) }

// UnitFunc does the work of units[i]. A permanent per-record failure belongs
// on the returned records (Status Failed, Error set). A returned error is
// not committed, so a rerun does the unit again: a transient one
// (model.IsTransient) leaves this unit undone while the others go on, any
// other error stops the stage.
type UnitFunc func(ctx context.Context, i int) ([]*record.Record, UnitUsage, error)

// ErrEnough, returned by a unit's function, ends the run of units early and
// cleanly: that unit and any finishing after it are not committed, no
// further unit starts, and RunUnits returns nil. Self-Instruct returns it
// once the target is reached.
var ErrEnough = errors.New("pipeline: enough units")

// ErrTransient matches (errors.Is) the error of a stage or a run that left
// units undone because they failed for transient causes: nothing of those
// units was committed, and running the same command again retries them.
var ErrTransient = errors.New("pipeline: units left undone by transient failures")

// UndoneError is what RunUnits and RunUnitsInOrder return when units failed
// for transient causes (model.IsTransient). Those units are not committed,
// so a rerun does them again, and none of their records is written off as
// failed. It matches ErrTransient, and unwraps to Stop.
type UndoneError struct {
	Units int   // units whose function failed for a transient cause
	Last  error // the last of those causes
	// Stop is the error that ended the stage early (a model down, a
	// cancelled run), or nil when every other unit was done.
	Stop error
}

func (e *UndoneError) Error() string {
	what := "1 unit failed for a transient cause and was"
	if e.Units != 1 {
		what = fmt.Sprintf("%d units failed for transient causes and were", e.Units)
	}
	if e.Stop != nil {
		return fmt.Sprintf("%v (before it, %s not committed either)", e.Stop, what)
	}
	them := "them"
	if e.Units == 1 {
		them = "it"
	}
	return fmt.Sprintf("%s not committed (last: %v); run the same command to retry %s, "+
		"or add --give-up-transient to record %s as failed and finish", what, e.Last, them, them)
}

// Is makes errors.Is(err, ErrTransient) true.
func (e *UndoneError) Is(target error) bool { return target == ErrTransient }

func (e *UndoneError) Unwrap() error { return e.Stop }

// leaveUndone reports whether a unit that failed with err is left undone
// while the other units go on: a transient failure that is not also a
// reason to stop the stage. Under GiveUpTransient too: a stage that returns
// the error rather than asking MustReturn has no record to put it on.
func leaveUndone(err error) bool { return !IsStop(err) && model.IsTransient(err) }

// RunUnits runs fn over the units not yet committed, at most
// env.Concurrency at a time, and commits each result as it comes. It
// reports progress: the total, the units a rerun skips, and each commit.
func RunUnits(ctx context.Context, env *Env, units []UnitSpec, fn UnitFunc) error {
	todo, err := pending(ctx, env, units)
	if err != nil {
		return err
	}
	c := committer{env: env, ctx: ctx}
	deferred, err := runPass(ctx, env, units, todo, fn, &c)
	if err != nil || c.enough() {
		return c.result(err)
	}
	if len(deferred) == 0 {
		return c.result(ctx.Err())
	}
	return c.rest(ctx, units, deferred, fn)
}

// rest sends the requests that the units todo deferred to provider
// batches, waits for the answers and does those units again, pass after
// pass, until none defers.
func (c *committer) rest(ctx context.Context, units []UnitSpec, todo []int, fn UnitFunc) error {
	for {
		if err := c.env.flush(ctx); err != nil {
			return c.result(err)
		}
		deferred, err := runPass(ctx, c.env, units, todo, fn, c)
		if err != nil || c.enough() {
			return c.result(err)
		}
		if len(deferred) == 0 {
			return c.result(ctx.Err())
		}
		todo = deferred
	}
}

// runPass runs fn over the units todo and commits them; it returns the
// units whose requests were deferred to provider batches, for the next
// pass once the batches are in.
func runPass(ctx context.Context, env *Env, units []UnitSpec, todo []int, fn UnitFunc, c *committer) ([]int, error) {
	var mu sync.Mutex
	var deferred []int
	cctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	g, gctx := newWorkers(cctx, env.Concurrency)
	c.open(cancel)
	for _, i := range todo {
		if gctx.Err() != nil || c.enough() {
			break
		}
		g.Go(func() error {
			// The slot may have come free because the run failed or
			// was stopped: then the unit does not begin.
			if err := gctx.Err(); err != nil {
				return err
			}
			out, usage, err := fn(gctx, i)
			d, err := c.settle(units[i], out, usage, err)
			if d {
				mu.Lock()
				deferred = append(deferred, i)
				mu.Unlock()
			}
			return err
		})
	}
	err := g.Wait()
	if cerr := c.close(); cerr != nil {
		err = cerr
	}
	slices.Sort(deferred)
	return deferred, err
}

// settle does what a unit's result calls for: it hands the unit over to be
// committed (group.go), sets it aside for a provider batch (deferred),
// leaves it undone after a transient failure, or returns the error that
// stops the stage.
func (c *committer) settle(u UnitSpec, out []*record.Record, usage UnitUsage, err error) (deferred bool, _ error) {
	switch {
	case errors.Is(err, model.ErrDeferred):
		return true, nil
	case err != nil && leaveUndone(err):
		c.leave(usage, err)
		return false, nil
	case err != nil:
		return false, c.stop(err)
	}
	return false, c.hand(u, out, usage)
}

// flush has the run's batching models send what the units deferred and
// waits for the answers (Env.Flush).
func (e *Env) flush(ctx context.Context) error {
	if e.Flush == nil {
		return fmt.Errorf("pipeline: stage %s: a model deferred requests to a batch, and this run has no way to send it", e.Name)
	}
	if n, ok := e.Progress.(interface{ Note(string) }); ok {
		ctx = model.WithNote(ctx, n.Note) // a wait for a provider's batch shows on the progress line
	}
	if err := e.Flush(ctx); err != nil {
		return fmt.Errorf("pipeline: stage %s: %w", e.Name, err)
	}
	return nil
}

// RunUnitsInOrder is RunUnits for units that depend on the units before
// them: prepare runs for at most env.Concurrency pending units at once
// (the slow part, such as a model request), and finish and the commit run
// one unit at a time in the order of units, so each finish sees the state
// every earlier unit left. A unit counts against the limit until it is
// committed.
//
// A unit that fails for a transient cause ends the run of units there: no
// later unit may be committed without it. The preparations already under
// way finish (a reply that arrives is in the response cache for the
// rerun), no other starts, and the result is an *UndoneError.
func RunUnitsInOrder[T any](ctx context.Context, env *Env, units []UnitSpec,
	prepare func(ctx context.Context, i int) (T, error),
	finish func(ctx context.Context, i int, v T) ([]*record.Record, UnitUsage, error)) error {
	todo, err := pending(ctx, env, units)
	if err != nil {
		return err
	}
	c := committer{env: env, ctx: ctx}
	for {
		rest, err := inOrderPass(ctx, env, units, todo, prepare, finish, &c)
		if err != nil || len(rest) == 0 {
			return err
		}
		// A unit deferred its requests to a batch: no later unit may
		// be committed before it, so the pass ended there. The units
		// prepared after it deferred theirs too, and go in the same batch.
		if err := env.flush(ctx); err != nil {
			return c.result(err)
		}
		todo = rest
	}
}

// inOrderPass is one pass of RunUnitsInOrder over todo. It returns the
// units from the first whose requests were deferred to a batch on.
func inOrderPass[T any](ctx context.Context, env *Env, units []UnitSpec, todo []int,
	prepare func(ctx context.Context, i int) (T, error),
	finish func(ctx context.Context, i int, v T) ([]*record.Record, UnitUsage, error), c *committer) ([]int, error) {
	type prepared struct {
		v   T
		err error
	}
	results := make([]chan prepared, len(todo))
	for k := range results {
		results[k] = make(chan prepared, 1)
	}
	pctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	// Nothing returns before the preparations do: they may use the caller's state.
	defer wg.Wait()
	defer cancel()
	slots := make(chan struct{}, max(env.Concurrency, 1))
	quit := make(chan struct{}) // closed to start no more preparations
	wg.Go(func() {
		for k, i := range todo {
			select {
			case slots <- struct{}{}:
			case <-pctx.Done():
			case <-quit:
				return
			}
			if pctx.Err() != nil {
				for _, ch := range results[k:] {
					ch <- prepared{err: pctx.Err()}
				}
				return
			}
			select {
			case <-quit:
				return
			default:
			}
			wg.Go(func() {
				v, err := prepare(pctx, i)
				results[k] <- prepared{v, err}
			})
		}
	})
	for k, i := range todo {
		p := <-results[k]
		err := p.err
		var out []*record.Record
		var usage UnitUsage
		if err == nil {
			out, usage, err = finish(ctx, i, p.v)
		}
		if errors.Is(err, model.ErrDeferred) {
			close(quit)
			wg.Wait()
			// The launcher may not have filled the window yet when unit k
			// deferred: the units the window holds queue their requests
			// now, so that they go in this pass's batch, not one of their
			// own (the next pass prepares them again, from the answers).
			for m := k + 1; m < min(k+cap(slots), len(todo)); m++ {
				if len(results[m]) == 0 {
					wg.Go(func() { prepare(pctx, todo[m]) })
				}
			}
			wg.Wait()
			return todo[k:], nil
		}
		if err != nil && leaveUndone(err) {
			c.leave(usage, err)
			// Let the requests in flight finish rather than cancel them:
			// their replies are paid for, and the cache keeps them.
			close(quit)
			wg.Wait()
			return nil, c.result(nil)
		}
		if err != nil {
			return nil, c.result(c.stop(err))
		}
		if err := c.commit(units[i], out, usage); err != nil {
			return nil, err
		}
		if c.enough() {
			return nil, nil
		}
		<-slots
	}
	return nil, ctx.Err()
}

// pending returns the indexes of the units not yet committed, in order, and
// reports the total and the skipped units to progress.
func pending(ctx context.Context, env *Env, units []UnitSpec) ([]int, error) {
	done, err := env.Store.DoneUnits(ctx, env.Name)
	if err != nil {
		return nil, fmt.Errorf("pipeline: stage %s: %w", env.Name, err)
	}
	var todo []int
	total, skipped := 0, 0
	seen := make(map[string]bool, len(units))
	for i, u := range units {
		if u.Partition == ByKey && !env.Shard.Owns(u.Key) {
			continue // another shard's: not this one's to do or count
		}
		if seen[u.Key] {
			// Two units under one key would overwrite each other's
			// done-mark: a stage bug that would lose work on resume.
			return nil, fmt.Errorf("pipeline: stage %s: two units have the key %q", env.Name, u.Key)
		}
		seen[u.Key] = true
		total += u.weight()
		if done[u.Key] {
			skipped += u.weight()
			continue
		}
		todo = append(todo, i)
	}
	todo = todo[:env.Units.take(len(todo))]
	if env.Progress != nil {
		env.Progress.SetTotal(total)
		if skipped > 0 {
			env.Progress.Done(skipped, 0, 0, 0)
		}
	}
	return todo, nil
}

// committer commits finished units, remembers ErrEnough so nothing
// commits after it, and counts the units left undone.
type committer struct {
	env *Env
	ctx context.Context
	// A unit's own commit (commit) holds mu for reading, so that the store
	// can group the commits of concurrent units into one transaction
	// (serialising them here made every unit a transaction of its own);
	// setting end takes it for writing, which waits for the commits under
	// way and lets no other begin. The group committer (group.go) does not
	// take it: hand checks end before it hands a unit over.
	mu       sync.RWMutex
	end      bool
	left     int        // units that failed for a transient cause
	last     error      // the last of those causes
	progress sync.Mutex // serialises the progress reports of concurrent commits
	group    groupState // RunUnits' and streamKept's commits in groups (group.go)
}

// leave notes a unit that failed for a transient cause: it is not
// committed, and progress shows its requests and its error.
func (c *committer) leave(usage UnitUsage, err error) {
	c.mu.Lock()
	c.left++
	c.last = err
	c.mu.Unlock()
	if c.env.Progress != nil {
		usage.Errors++
		c.env.Progress.Usage(usage)
	}
}

func (c *committer) enough() bool {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.end
}

// stop notes a unit's error: after ErrEnough nothing more is committed. The
// error goes on up, so that an errgroup cancels the units still running.
func (c *committer) stop(err error) error {
	if errors.Is(err, ErrEnough) {
		c.mu.Lock()
		c.end = true
		c.mu.Unlock()
	}
	return err
}

// result is the run's error: nil after ErrEnough, unless another unit
// failed first; an *UndoneError when units were left undone.
func (c *committer) result(err error) error {
	if errors.Is(err, ErrEnough) {
		err = nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.left == 0 {
		return err
	}
	return &UndoneError{Units: c.left, Last: c.last, Stop: err}
}

// commit commits one unit now, for RunUnitsInOrder, whose units must be
// committed one after another in order, and for a store without group
// commit. It holds mu for reading, so that setting end waits for the
// commits under way, and commits nothing after ErrEnough.
func (c *committer) commit(u UnitSpec, out []*record.Record, usage UnitUsage) error {
	f := c.prepare(u, out, usage)
	c.mu.RLock()
	defer c.mu.RUnlock()
	if c.end {
		return nil
	}
	return c.commitGroup([]finished{f})
}

// prepare stamps the unit's records with the stage and their order, keeps
// the shard's own, and counts them by status for progress.
func (c *committer) prepare(u UnitSpec, out []*record.Record, usage UnitUsage) finished {
	f := finished{weight: u.weight()}
	mine := out[:0:0]
	for i, r := range out {
		r.Stage = c.env.Name
		if r.Seq == 0 {
			r.Seq = u.Seq + int64(i)
		}
		// After the Seq: a record keeps its place in the whole unit, so
		// the merged shards read in the order one process would have.
		if u.Partition == ByRecord && !c.env.Shard.Owns(r.ID) {
			continue
		}
		mine = append(mine, r)
		switch r.Status {
		case record.Kept:
			f.kept++
		case record.Rejected:
			f.rejected++
		default:
			f.failed++
		}
	}
	f.unit = Unit{Stage: c.env.Name, Key: u.Key, Records: mine, Usage: usage}
	return f
}

// commitGroup commits finished units (each whole, in one write when the
// store can), then publishes their kept records and reports the progress.
// The commit ignores cancellation: work in hand when the run is stopped is
// kept. ErrEnough is for the caller to heed: a unit handed to the group
// committer before it (hand) is committed after it too.
func (c *committer) commitGroup(group []finished) error {
	ctx := context.WithoutCancel(c.ctx)
	if gc, ok := c.env.Store.(UnitsCommitter); ok && len(group) > 1 {
		units := make([]Unit, len(group))
		for i, f := range group {
			units[i] = f.unit
		}
		if err := gc.CommitUnits(ctx, units); err != nil {
			return fmt.Errorf("pipeline: stage %s: commit units %s and %d more: %w", c.env.Name, units[0].Key, len(units)-1, err)
		}
	} else {
		for _, f := range group {
			if err := c.env.Store.Commit(ctx, f.unit); err != nil {
				return fmt.Errorf("pipeline: stage %s: commit unit %s: %w", c.env.Name, f.unit.Key, err)
			}
		}
	}
	for _, f := range group {
		if o := c.env.out; o != nil && o.stage == c.env.Name {
			if err := o.publish(f.unit.Records); err != nil {
				return err
			}
		}
		if c.env.Progress != nil {
			c.progress.Lock()
			c.env.Progress.Done(f.weight, f.kept, f.rejected, f.failed)
			c.env.Progress.Usage(f.unit.Usage)
			c.progress.Unlock()
		}
	}
	return nil
}
