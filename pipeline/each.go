package pipeline

import (
	"context"
	"errors"
	"fmt"

	"github.com/synthloop/synthloop/model"
	"github.com/synthloop/synthloop/record"
)

// MapFunc turns one input record into the records of the unit it defines.
// A permanent per-record failure belongs on the returned records (Status
// Failed, Error set), not in the error. The error is for what MustReturn
// reports: a transient model failure, which leaves the unit undone for a
// rerun, or a failure of the run itself (context cancelled, budget spent),
// which stops the stage.
type MapFunc func(ctx context.Context, in *record.Record) ([]*record.Record, UnitUsage, error)

// ForEachKept runs fn over every kept record of env.Input with RunUnits: one
// unit per input record, keyed by its ID. Output records get Stage and, when
// unset, a Seq of in.Seq*1000+i so the stage's order follows its input's.
// In a streaming run of a stage that streams (Streaming), a unit starts as
// soon as its input record is committed.
func ForEachKept(ctx context.Context, env *Env, fn MapFunc) error {
	return ForEachKeptChecked(ctx, env, nil, fn)
}

// ForEachKeptChecked is ForEachKept for a stage whose config must fit its
// input, such as a template's fields: check is asked about the first kept
// input record in order, which stands for the rest, and its error stops
// the stage. A streaming stage asks check about every record as it
// arrives and does the ones it refuses only once the input has ended and
// the first record passes, so the stage fails or succeeds as it would in a
// staged run, with the same records.
func ForEachKeptChecked(ctx context.Context, env *Env, check func(first *record.Record) error, fn MapFunc) error {
	if env.feed != nil {
		return streamKept(ctx, env, check, fn)
	}
	ins, err := KeptInput(ctx, env, 0)
	if err != nil {
		return err
	}
	if check != nil && len(ins) > 0 {
		if err := check(ins[0]); err != nil {
			return err
		}
	}
	return ForEachRecord(ctx, env, ins, fn)
}

// KeptInput returns the kept records of env.Input in order, the first limit
// of them when limit > 0. A stage that streams and reads its input this way
// waits here for its input stage to end.
func KeptInput(ctx context.Context, env *Env, limit int) ([]*record.Record, error) {
	if env.Input == "" {
		return nil, fmt.Errorf("pipeline: stage %q needs an input stage", env.Name)
	}
	if env.feed != nil {
		if err := env.feed.wait(ctx); err != nil {
			return nil, err
		}
	}
	return keptRecords(ctx, env, limit)
}

// keptRecords reads the kept records of env.Input that the store holds.
func keptRecords(ctx context.Context, env *Env, limit int) ([]*record.Record, error) {
	var ins []*record.Record
	for rec, err := range env.Store.Records(ctx, env.Input, record.Kept) {
		if err != nil {
			return nil, fmt.Errorf("pipeline: stage %s: read input %s: %w", env.Name, env.Input, err)
		}
		if limit > 0 && len(ins) == limit {
			break
		}
		ins = append(ins, rec)
	}
	return ins, nil
}

// ForEachRecord is ForEachKept over records that need not be in the store,
// such as a stage's seed file: one unit per record, keyed by its ID. In a
// sharded run a record of the input stage is the shard's already (Local);
// any other record, such as a seed, goes to the shard its ID hashes to.
func ForEachRecord(ctx context.Context, env *Env, ins []*record.Record, fn MapFunc) error {
	units := make([]UnitSpec, len(ins))
	for i, in := range ins {
		units[i] = UnitSpec{Key: in.ID, Seq: in.Seq * 1000}
		if env.Input != "" && in.Stage == env.Input {
			units[i].Partition = Local
		}
	}
	return RunUnits(ctx, env, units, func(ctx context.Context, i int) ([]*record.Record, UnitUsage, error) {
		return fn(ctx, ins[i])
	})
}

// IsStop reports whether err must stop the stage: the run was cancelled, the
// budget is spent, or a model is down. The runner keeps all finished work.
func IsStop(err error) bool {
	return errors.Is(err, context.Canceled) || errors.Is(err, model.ErrBudgetExceeded) || errors.Is(err, ErrBackendDown)
}

// MustReturn reports whether a unit's function, working under ctx, must
// return err rather than record it on a record: errors that stop the stage
// (IsStop, or ctx has ended), requests deferred to a provider batch
// (model.ErrDeferred: RunUnits does the unit again once the batch is in),
// and transient model failures
// (model.IsTransient), after which the unit is left undone and the next run
// retries it (see RunUnits). A record failed for a transient cause would be
// lost: a rerun skips its committed unit. Every other failure is permanent
// and belongs on its record, Status failed.
//
// Under GiveUpTransient a transient failure is permanent instead: it goes on
// its record and the unit is committed.
func MustReturn(ctx context.Context, err error) bool {
	return IsStop(err) || errors.Is(err, model.ErrDeferred) || (model.IsTransient(err) && !givingUp(ctx)) || ctx.Err() != nil
}

type giveUpKey struct{}

// GiveUpTransient returns a context under which transient model failures
// are recorded on their records like permanent ones, so that a run whose
// server keeps failing a few requests for good (an endpoint that always
// times out on one long prompt) can finish. --retry-failed redoes them
// later. A stop (a model down, a cancelled run, the budget) still stops.
func GiveUpTransient(ctx context.Context) context.Context {
	return context.WithValue(ctx, giveUpKey{}, true)
}

func givingUp(ctx context.Context) bool { v, _ := ctx.Value(giveUpKey{}).(bool); return v }
