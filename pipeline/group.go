package pipeline

// Group commit of independent units. With a store that commits several
// units in one write (UnitsCommitter, as the SQLite store does), RunUnits
// and streamKept hand each finished unit to one goroutine that commits what
// is waiting in one write, and the unit's slot is free for the next unit at
// once; with any other store each unit commits on its own, in its slot.
// At thousands of one-request units a second, a write per unit made the
// store's work per unit (the hand-over to its writer, a savepoint, a
// transaction shared by at most Concurrency units, since each unit held its
// slot until its commit was durable) a third of the store's CPU. Now the
// units that finish within groupLinger of a group's first, or while the
// write before commits, go together, so a group grows with the rate at
// which units finish and is one unit when they come slowly. Nothing a
// resume reads changes: each unit keeps its key, its done-mark and its
// records, and a group is committed whole or not at all, like a unit. What
// kill -9 can lose grows from the units running to those, the ones
// waiting for the next write (at most maxGroup queued, and the units
// blocked handing theirs over) and the group being written (at most
// maxGroup): their requests are in the response cache, so a rerun redoes
// them without paying again.

import (
	"context"
	"sync"
	"time"

	"github.com/synthloop/synthloop/record"
)

// UnitsCommitter is implemented by a run store that commits several units
// in one write: CommitUnits is Commit for each unit, all of them in one
// transaction. A store without it gets one Commit per unit.
type UnitsCommitter interface {
	CommitUnits(ctx context.Context, units []Unit) error
}

// maxGroup bounds the units of one write, so that one write's latency
// stays short.
const maxGroup = 64

// groupLinger is how long the committer waits for more units to join a
// group: short beside any model's latency, and what kill -9 can cost in
// units done meanwhile (redone from the response cache).
const groupLinger = time.Millisecond

// finished is a unit done and prepared for its commit.
type finished struct {
	unit                   Unit
	weight                 int
	kept, rejected, failed int
}

// groupState is the group committer of a pass of units.
type groupState struct {
	q    chan finished // finished units waiting for a write
	done chan struct{} // closed when the committer has ended
	// cancel stops the pass's units when a commit fails.
	cancel context.CancelCauseFunc
	mu     sync.Mutex
	err    error // the first failed commit; later units are not committed
}

// open starts the group committer of a pass whose units run under a
// context that cancel cancels, when the store commits groups; with any
// other store, hand commits each unit itself before the unit's slot is
// free, as before.
func (c *committer) open(cancel context.CancelCauseFunc) {
	g := &c.group
	g.q = nil
	if _, ok := c.env.Store.(UnitsCommitter); !ok {
		return
	}
	g.q = make(chan finished, maxGroup)
	g.done = make(chan struct{})
	g.cancel = cancel
	g.err = nil
	go c.commitLoop()
}

// close waits until every unit handed over is committed (or dropped after
// a failed commit) and returns the first commit failure.
func (c *committer) close() error {
	g := &c.group
	if g.q == nil {
		return nil
	}
	close(g.q)
	<-g.done
	return g.failure()
}

func (g *groupState) failure() error {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.err
}

// hand passes a finished unit to the committer. It blocks only while the
// committer has maxGroup units waiting, and returns the failure of an
// earlier commit, which stops the pass. A unit finishing after ErrEnough
// is not committed; one handed over before it is, as when each unit
// committed in its slot. Without a group committer it commits the unit.
func (c *committer) hand(u UnitSpec, out []*record.Record, usage UnitUsage) error {
	if c.group.q == nil {
		return c.commit(u, out, usage)
	}
	if err := c.group.failure(); err != nil {
		return err
	}
	if c.enough() {
		return nil
	}
	c.group.q <- c.prepare(u, out, usage)
	return nil
}

// commitLoop commits what waits, up to maxGroup units a write, until the
// pass closes the queue. After a failure it drops the rest: the pass is
// stopping, and those units are done again by a rerun.
func (c *committer) commitLoop() {
	g := &c.group
	defer close(g.done)
	group := make([]finished, 0, maxGroup)
	linger := time.NewTimer(groupLinger)
	for f := range g.q {
		group = append(group[:0], f)
		// Units finishing within groupLinger of the first go with it:
		// their slots are free already, so the wait costs no throughput,
		// and a transaction's fixed cost is shared by more of them.
		linger.Reset(groupLinger)
	gather:
		for len(group) < maxGroup {
			select {
			case f, ok := <-g.q:
				if !ok {
					break gather
				}
				group = append(group, f)
			case <-linger.C:
				break gather
			}
		}
		linger.Stop()
		if g.failure() != nil {
			continue
		}
		if err := c.commitGroup(group); err != nil {
			g.mu.Lock()
			g.err = err
			g.mu.Unlock()
			g.cancel(err)
		}
	}
}
