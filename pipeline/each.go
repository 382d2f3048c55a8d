package pipeline

import (
	"context"
	"errors"
	"fmt"

	"golang.org/x/sync/errgroup"

	"github.com/synthloop/synthloop/model"
	"github.com/synthloop/synthloop/record"
)

// MapFunc turns one input record into the records of the unit it defines.
// A per-record failure belongs on the returned records (Status Failed, Error
// set), not in the error: a returned error stops the whole stage, and is
// reserved for failures of the run itself (context cancelled, budget spent).
type MapFunc func(ctx context.Context, in *record.Record) ([]*record.Record, UnitUsage, error)

// ForEachKept runs fn over every kept record of env.Input that has no committed
// unit yet, at most env.Concurrency at a time, and commits each result as the
// unit keyed by the input record's ID. Output records get Stage and, when
// unset, a Seq of in.Seq*1000+i so the stage's order follows its input's.
func ForEachKept(ctx context.Context, env *Env, fn MapFunc) error {
	if env.Input == "" {
		return fmt.Errorf("pipeline: stage %q needs an input stage", env.Name)
	}
	done, err := env.Store.DoneUnits(ctx, env.Name)
	if err != nil {
		return err
	}
	var todo []*record.Record
	total := 0
	for rec, err := range env.Store.Records(ctx, env.Input, record.Kept) {
		if err != nil {
			return err
		}
		total++
		if done[rec.ID] {
			continue
		}
		todo = append(todo, rec)
	}
	if env.Progress != nil {
		env.Progress.SetTotal(total)
		if n := total - len(todo); n > 0 {
			env.Progress.Done(n, 0, 0, 0)
		}
	}
	conc := env.Concurrency
	if conc <= 0 {
		conc = 1
	}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(conc)
	for _, in := range todo {
		if gctx.Err() != nil {
			break
		}
		g.Go(func() error {
			out, usage, err := fn(gctx, in)
			if err != nil {
				return err
			}
			var kept, rejected, failed int
			for i, r := range out {
				r.Stage = env.Name
				if r.Seq == 0 {
					r.Seq = in.Seq*1000 + int64(i)
				}
				switch r.Status {
				case record.Kept:
					kept++
				case record.Rejected:
					rejected++
				default:
					failed++
				}
			}
			if err := env.Store.Commit(gctx, Unit{Stage: env.Name, Key: in.ID, Records: out, Usage: usage}); err != nil {
				return err
			}
			if env.Progress != nil {
				env.Progress.Done(1, kept, rejected, failed)
				env.Progress.Usage(usage)
			}
			return nil
		})
	}
	err = g.Wait()
	if err == nil {
		err = ctx.Err()
	}
	return err
}

// IsStop reports whether err must stop the stage rather than be recorded on
// a record: the run was cancelled, the budget is spent, or a model is down.
// Stages return such errors; the runner keeps all finished work.
func IsStop(err error) bool {
	return errors.Is(err, context.Canceled) || errors.Is(err, model.ErrBudgetExceeded) || errors.Is(err, ErrBackendDown)
}
