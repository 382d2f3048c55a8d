package sample

// Continuous batching: one goroutine owns a KV cache of a fixed number of
// sequence slots and decodes every running sample one token per step, all
// in one Forward call, so concurrent requests share each pass over the
// weights. A request joins between steps (its prompt is prefilled into free
// slots) and leaves as soon as its samples end, freeing them. Each request
// keeps its own options, random streams and guides, and the model's rows are
// computed independently of each other, so a request gets exactly what
// Generate gives it alone.

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync/atomic"

	"github.com/synthloop/synthloop/engine/llama"
)

// Batcher decodes the requests given to Generate together. Generate is safe
// for concurrent use and blocks until its request is done; Close stops the
// batcher.
type Batcher struct {
	m     *llama.Model
	slots int
	reqs  chan *job
	quit  chan struct{}
	done  chan struct{}
}

// ErrClosed is returned by Generate after Close.
var ErrClosed = errors.New("sample: batcher closed")

// job is one request in the batcher.
type job struct {
	ctx    context.Context
	prompt []int32
	opt    Options
	limit  int
	s      *sampler
	out    []Completion
	rngs   []*rand.Rand
	guides []Guide
	slot   []int // cache slot per sample; -1 once it ended
	last   []int32
	live   int
	res    chan error
	state  atomic.Int32 // queued, admitted or withdrawn
}

// NewBatcher starts a batcher over m with room for slots sequences at a
// time, each up to the model's context length. A request's N samples take N
// slots; one that needs more than slots is generated on its own.
func NewBatcher(m *llama.Model, slots int) (*Batcher, error) {
	if slots < 1 {
		return nil, fmt.Errorf("sample: batcher needs at least 1 slot, got %d", slots)
	}
	cache, err := m.NewCache(slots, m.Config.MaxSeq, max(m.Config.MaxSeq, slots))
	if err != nil {
		return nil, fmt.Errorf("sample: %w", err)
	}
	b := &Batcher{m: m, slots: slots, reqs: make(chan *job), quit: make(chan struct{}), done: make(chan struct{})}
	go b.loop(cache)
	return b, nil
}

// Close stops the batcher; requests in it end with ErrClosed.
func (b *Batcher) Close() {
	select {
	case <-b.quit:
	default:
		close(b.quit)
	}
	<-b.done
}

// Generate samples opt.N completions of prompt, as Generate(m,
// [][]int32{prompt}, opt) does, decoding them together with the other
// requests in the batcher. OnToken runs on the batcher's goroutine, between
// steps of every request: it must be quick, and it is never called after
// Generate returns. A request whose ctx ends returns ctx's error: at once
// while it waits for slots, after the step under way once it runs.
func (b *Batcher) Generate(ctx context.Context, prompt []int32, opt Options) ([]Completion, error) {
	n := max(opt.N, 1)
	if n > b.slots {
		return Generate(b.m, [][]int32{prompt}, opt)
	}
	// The same checks as Generate, before the request joins.
	if err := check(b.m, [][]int32{prompt}, opt); err != nil {
		return nil, err
	}
	limit := seqLimit(b.m.Config.MaxSeq, len(prompt), opt.MaxTokens)
	j := &job{ctx: ctx, prompt: prompt, opt: opt, limit: limit, s: newSampler(b.m.Config.Vocab, opt),
		out: make([]Completion, n), rngs: make([]*rand.Rand, n), slot: make([]int, n), last: make([]int32, n),
		res: make(chan error, 1)}
	for i := range j.slot {
		j.slot[i] = -1 // no slot until admitted: ending it frees none
	}
	if opt.Constraint != nil {
		j.guides = make([]Guide, n)
	}
	select {
	case b.reqs <- j:
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-b.quit:
		return nil, ErrClosed
	}
	var err error
	select {
	case err = <-j.res:
	case <-ctx.Done():
		if j.state.CompareAndSwap(queued, withdrawn) {
			// Never admitted, so OnToken will not run: the loop drops j
			// when it next looks (res is buffered; nobody reads it).
			return nil, ctx.Err()
		}
		// Running: the loop ends it before its next step.
		err = <-j.res
	}
	if err != nil {
		return nil, err
	}
	return j.out, nil
}

// States of a job, for a caller that gives up while it waits for slots.
const (
	queued    int32 = iota // waiting for slots
	admitted               // prefilled: the loop owns it until it ends
	withdrawn              // its caller returned before it was admitted
)

// loop owns the cache: it admits requests while slots are free, steps every
// running sample, and hands each request back when its samples end.
func (b *Batcher) loop(cache *llama.Cache) {
	defer close(b.done)
	l := &batchLoop{b: b, cache: cache, free: make([]int, 0, b.slots)}
	for s := b.slots - 1; s >= 0; s-- {
		l.free = append(l.free, s)
	}
	defer func() {
		for _, j := range slices.Concat(l.waiting, l.running) {
			l.end(j, ErrClosed)
		}
	}()
	for l.gather() {
		l.dropCancelled()
		l.admit()
		if len(l.running) > 0 {
			l.step()
		}
	}
}

// batchLoop is the state of the Batcher's loop: the free slots, the
// requests in line and those being decoded.
type batchLoop struct {
	b                *Batcher
	cache            *llama.Cache
	free             []int
	waiting, running []*job
	ids              []int   // the step's slots
	toks             []int32 // and their last tokens
}

// end gives j's slots back and answers its caller.
func (l *batchLoop) end(j *job, err error) {
	for i, s := range j.slot {
		if s >= 0 {
			l.free = append(l.free, s)
			j.slot[i] = -1
		}
	}
	if err == nil {
		decodeTexts(j.out, j.opt.Decode)
	}
	j.res <- err
}

// gather waits for work when there is none, and otherwise takes what has
// come; it is false once the Batcher closes.
func (l *batchLoop) gather() bool {
	if len(l.running) == 0 && len(l.waiting) == 0 {
		select {
		case j := <-l.b.reqs:
			l.waiting = append(l.waiting, j)
		case <-l.b.quit:
			return false
		}
	}
	for {
		select {
		case j := <-l.b.reqs:
			l.waiting = append(l.waiting, j)
		case <-l.b.quit:
			return false
		default:
			return true
		}
	}
}

// dropCancelled ends the requests whose caller gave up, running or queued
// (wherever they are in line).
func (l *batchLoop) dropCancelled() {
	keep := l.running[:0]
	for _, j := range l.running {
		if err := j.ctx.Err(); err != nil {
			l.end(j, err)
		} else {
			keep = append(keep, j)
		}
	}
	l.running = keep
	keep = l.waiting[:0]
	for _, j := range l.waiting {
		if err := j.ctx.Err(); err != nil || j.state.Load() == withdrawn {
			l.end(j, cmp.Or(err, context.Canceled))
		} else {
			keep = append(keep, j)
		}
	}
	l.waiting = keep
}

// admit lets requests join in arrival order while the first in line fits,
// prefilling each.
func (l *batchLoop) admit() {
	for len(l.waiting) > 0 {
		j := l.waiting[0]
		if len(j.out) > len(l.free) {
			return
		}
		l.waiting = l.waiting[1:]
		if !j.state.CompareAndSwap(queued, admitted) {
			l.end(j, context.Canceled) // withdrawn since dropCancelled
			continue
		}
		for i := range j.slot {
			j.slot[i] = l.free[len(l.free)-1]
			l.free = l.free[:len(l.free)-1]
			l.cache.Reset(j.slot[i])
		}
		if err := l.b.prefill(l.cache, j); err != nil {
			l.end(j, err)
			continue
		}
		// Samples that ended on their first token give their slots back.
		for i, s := range j.slot {
			if j.out[i].Finish != "" {
				l.free = append(l.free, s)
				j.slot[i] = -1
			}
		}
		if j.live == 0 {
			l.end(j, nil)
			continue
		}
		l.running = append(l.running, j)
	}
}

// step decodes one token of every running sample in one forward pass.
func (l *batchLoop) step() {
	l.ids, l.toks = l.ids[:0], l.toks[:0]
	for _, j := range l.running {
		for i, s := range j.slot {
			if s >= 0 {
				l.ids = append(l.ids, s)
				l.toks = append(l.toks, j.last[i])
			}
		}
	}
	logits, err := l.cache.Forward(l.ids, l.toks)
	if err != nil {
		for _, j := range l.running {
			l.end(j, fmt.Errorf("sample: %w", err))
		}
		l.running = l.running[:0]
		return
	}
	vocab := l.b.m.Config.Vocab
	row := 0
	keep := l.running[:0]
	for _, j := range l.running {
		var failed error
		for i, s := range j.slot {
			if s < 0 {
				continue
			}
			lg := logits[row*vocab : (row+1)*vocab]
			row++
			if failed != nil {
				continue
			}
			more, err := j.s.take(&j.out[i], lg, j.rngs[i], guideOf(j.guides, i), j.opt, len(j.prompt), j.limit)
			if err != nil {
				failed = err
				continue
			}
			if more {
				j.last[i] = j.out[i].Tokens[len(j.out[i].Tokens)-1]
			} else {
				l.free = append(l.free, s)
				j.slot[i] = -1
				j.live--
			}
		}
		switch {
		case failed != nil:
			l.end(j, failed)
		case j.live == 0:
			l.end(j, nil)
		default:
			keep = append(keep, j)
		}
	}
	l.running = keep
}

// prefill runs j's prompt into its first slot, copies it to the others, and
// draws every sample's first token, as generate does for one prompt.
func (b *Batcher) prefill(cache *llama.Cache, j *job) error {
	first := j.slot[0]
	ids := make([]int, len(j.prompt))
	for i := range ids {
		ids[i] = first
	}
	logits, err := cache.ForwardLast(ids, j.prompt)
	if err != nil {
		return fmt.Errorf("sample: prompt 0: %w", err)
	}
	row := slices.Clone(logits[:b.m.Config.Vocab])
	for i := range j.out {
		if i > 0 {
			cache.Copy(j.slot[i], first)
		}
		j.out[i] = Completion{Prompt: 0, Index: i}
		j.rngs[i] = rand.New(rand.NewPCG(j.opt.Seed, uint64(j.opt.FirstIndex+i)))
		if j.guides != nil {
			j.guides[i] = j.opt.Constraint.Start()
		}
		more, err := j.s.take(&j.out[i], row, j.rngs[i], guideOf(j.guides, i), j.opt, len(j.prompt), j.limit)
		if err != nil {
			return err
		}
		if more {
			j.last[i] = j.out[i].Tokens[len(j.out[i].Tokens)-1]
			j.live++
		}
	}
	return nil
}
