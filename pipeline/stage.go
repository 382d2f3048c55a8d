// Package pipeline loads pipeline configs, holds the registry of stage types,
// and runs stages in order against a run store with resumable, per-unit commits.
package pipeline

import (
	"context"
	"iter"
	"log/slog"
	"sync"
	"time"

	"github.com/synthloop/synthloop/model"
	"github.com/synthloop/synthloop/record"
)

// Unit is one atomic piece of a stage's work: a batch request, or one input
// record. Its records, usage and done-mark are committed together, so after a
// crash a unit is either entirely in the store or not at all.
type Unit struct {
	Stage   string
	Key     string // unique within the stage, stable across reruns (e.g. "batch-000012" or a parent record id)
	Records []*record.Record
	Usage   UnitUsage
}

// UnitUsage is what a unit cost: its model calls, judges' included.
type UnitUsage = model.Calls

// Store is what stages need from the run store. Implemented by *store.Store.
type Store interface {
	// Commit writes a unit's records (upsert by ID), its usage and its done-mark in one transaction.
	// It is called from concurrent units at once (the run store groups them).
	Commit(ctx context.Context, u Unit) error
	// DoneUnits returns the keys of the units of stage already committed.
	// Only the unit scheduler (units.go) commits and reads done-marks.
	DoneUnits(ctx context.Context, stage string) (map[string]bool, error)
	// Records yields the records of stage in Seq order; status "" means any status.
	Records(ctx context.Context, stage string, status record.Status) iter.Seq2[*record.Record, error]
}

// Progress receives a stage's progress. Safe for concurrent use.
type Progress interface {
	// SetTotal sets the number of units (or target records) the stage expects; 0 means unknown.
	SetTotal(n int)
	// Done reports finished work: units done and the records they produced by status.
	Done(units int, kept, rejected, failed int)
	// Usage reports tokens and money spent.
	Usage(u UnitUsage)
}

// Env is everything a stage may use while it runs.
type Env struct {
	Name     string // this stage's name
	Input    string // the previous stage's name, "" for the first stage
	Store    Store
	Progress Progress
	Log      *slog.Logger
	// Backend returns the configured model by its name in the config's models section.
	Backend func(name string) (model.Backend, ModelInfo, error)
	Seed    int64 // the run's seed; stages derive their own randomness from it
	Round   int
	// Concurrency bounds how many units the stage works on at once.
	Concurrency int
	// Shard is this process's part of a sharded run; the zero Shard owns
	// all the work. Only the unit scheduler and stages that divide a
	// target among shards read it.
	Shard Shard
	// Clock stamps the records' Provenance.CreatedAt; nil means time.Now.
	// Tests and replays set it to get identical records.
	Clock func() time.Time
	// Units, when set, caps the units the stage starts in this run (Run's
	// Options.MaxUnits): a preview. Copies of the Env share it.
	Units *UnitCap
	// Flush has every model in batch mode send the requests deferred so
	// far (model.ErrDeferred) and waits for their batches to end, with the
	// answers in the response cache. RunUnits calls it between passes;
	// Run sets it.
	Flush func(ctx context.Context) error

	// feed, in a streaming run of a stage that streams, brings the input
	// stage's kept records as they are committed (ForEachKept reads it).
	feed *flow
	// out carries this stage's kept records, as they are committed, to a
	// streaming stage after it.
	out *flow
}

// UnitCap caps the units a stage starts; safe for concurrent use.
type UnitCap struct {
	mu      sync.Mutex
	max     int
	started int
}

// NewUnitCap returns a cap of max units.
func NewUnitCap(max int) *UnitCap { return &UnitCap{max: max} }

// take returns how many of n units may start, counting them as started.
func (c *UnitCap) take(n int) int {
	if c == nil {
		return n
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	k := min(n, max(c.max-c.started, 0))
	c.started += k
	return k
}

// Now is the time by the env's clock, in UTC.
func (e *Env) Now() time.Time {
	if e.Clock != nil {
		return e.Clock().UTC()
	}
	return time.Now().UTC()
}

// Provenance is what every record the stage makes from parents with model m
// carries: the generator, this stage, the model, the round and the time by
// the clock. The stage adds the rest (params, template hash, request keys).
func (e *Env) Provenance(generator string, m ModelInfo, parents ...string) record.Provenance {
	return record.Provenance{
		Generator: generator, Stage: e.Name, Backend: m.Backend, Model: m.Model,
		ParentIDs: parents, Round: e.Round, CreatedAt: e.Now(),
	}
}

// ModelInfo names a backend for provenance.
type ModelInfo struct {
	Backend string // "openai", "anthropic", "local", ...
	Model   string
}

// Stage is one step of a pipeline. Run must be resumable: it hands its units
// to RunUnits (which skips committed ones) and produces the same records for
// the same inputs and responses.
type Stage interface {
	Run(ctx context.Context, env *Env) error
}
