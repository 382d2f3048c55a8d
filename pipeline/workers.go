package pipeline

import (
	"context"

	"golang.org/x/sync/errgroup"
)

// workers runs a pass's units on at most n goroutines that live as long as
// the pass, where errgroup.Group with a limit starts one goroutine per
// unit. A unit's call goes deep (the model layer, net/http), so every new
// goroutine grew and copied its stack again: 2–3% of the CPU of a stage of
// one-request units. The first error a unit returns cancels the context
// Wait's group runs under, as errgroup's does.
type workers struct {
	g       *errgroup.Group
	ctx     context.Context
	tasks   chan func() error // unbuffered: a send succeeds when a worker is idle
	n       int
	started int
}

// newWorkers returns up to n workers and the context that the first error
// cancels.
func newWorkers(ctx context.Context, n int) (*workers, context.Context) {
	g, gctx := errgroup.WithContext(ctx)
	return &workers{g: g, ctx: gctx, tasks: make(chan func() error), n: max(n, 1)}, gctx
}

// Go runs task on an idle worker, starting one while fewer than n run, and
// else waits for one to be idle, like errgroup.Group.Go under SetLimit. It
// drops task when the context has ended first. Only one goroutine calls Go.
func (w *workers) Go(task func() error) {
	select {
	case w.tasks <- task:
		return
	default:
	}
	if w.started < w.n {
		w.started++
		w.g.Go(func() error {
			if err := task(); err != nil {
				return err
			}
			for t := range w.tasks {
				if err := t(); err != nil {
					return err
				}
			}
			return nil
		})
		return
	}
	select {
	case w.tasks <- task:
	case <-w.ctx.Done():
	}
}

// Wait waits for the tasks handed over, and returns the first error.
func (w *workers) Wait() error {
	close(w.tasks)
	return w.g.Wait()
}
