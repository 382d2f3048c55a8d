package selfinstruct

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"iter"
	"sort"
	"sync"
	"time"

	"github.com/synthloop/synthloop/model"
	"github.com/synthloop/synthloop/model/scripted"
	"github.com/synthloop/synthloop/pipeline"
	"github.com/synthloop/synthloop/record"
)

// memStore is an in-memory pipeline.Store. Records go through JSON both ways,
// as with the real store, so Meta comes back with JSON types.
type memStore struct {
	mu      sync.Mutex
	recs    map[string][]byte
	stage   map[string]string
	units   map[string]map[string]bool
	commits int
	// failAfter, when > 0, makes every Commit after that many fail: a crash.
	failAfter int
}

var errCrash = errors.New("memstore: simulated crash")

func newMemStore() *memStore {
	return &memStore{recs: map[string][]byte{}, stage: map[string]string{}, units: map[string]map[string]bool{}}
}

func (m *memStore) Commit(ctx context.Context, u pipeline.Unit) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.failAfter > 0 && m.commits >= m.failAfter {
		return errCrash
	}
	if m.units[u.Stage][u.Key] {
		return fmt.Errorf("memstore: unit %s/%s committed twice", u.Stage, u.Key)
	}
	for _, r := range u.Records {
		b, err := json.Marshal(r)
		if err != nil {
			return err
		}
		m.recs[r.ID] = b
		m.stage[r.ID] = r.Stage
	}
	if m.units[u.Stage] == nil {
		m.units[u.Stage] = map[string]bool{}
	}
	m.units[u.Stage][u.Key] = true
	m.commits++
	return nil
}

func (m *memStore) DoneUnits(ctx context.Context, stage string) (map[string]bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := map[string]bool{}
	for k := range m.units[stage] {
		out[k] = true
	}
	return out, nil
}

func (m *memStore) all(stage string, status record.Status) []*record.Record {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []*record.Record
	for id, b := range m.recs {
		if m.stage[id] != stage {
			continue
		}
		var r record.Record
		if err := json.Unmarshal(b, &r); err != nil {
			panic(err)
		}
		if status == "" || r.Status == status {
			out = append(out, &r)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Seq < out[j].Seq })
	return out
}

func (m *memStore) Records(ctx context.Context, stage string, status record.Status) iter.Seq2[*record.Record, error] {
	return func(yield func(*record.Record, error) bool) {
		for _, r := range m.all(stage, status) {
			if !yield(r, nil) {
				return
			}
		}
	}
}

// fakeProgress records what a stage reports.
type fakeProgress struct {
	mu                      sync.Mutex
	total                   int
	units, kept, rej, fails int
	usage                   pipeline.UnitUsage
}

func (p *fakeProgress) SetTotal(n int) { p.mu.Lock(); p.total = n; p.mu.Unlock() }
func (p *fakeProgress) Done(u, k, r, f int) {
	p.mu.Lock()
	p.units += u
	p.kept += k
	p.rej += r
	p.fails += f
	p.mu.Unlock()
}
func (p *fakeProgress) Usage(u pipeline.UnitUsage) {
	p.mu.Lock()
	p.usage.Requests += u.Requests
	p.usage.PromptTokens += u.PromptTokens
	p.mu.Unlock()
}

// countingBackend wraps a backend and counts calls per request.
type countingBackend struct {
	model.Backend
	mu    sync.Mutex
	calls int
}

func (c *countingBackend) Generate(ctx context.Context, req model.Request) (*model.Response, error) {
	c.mu.Lock()
	c.calls++
	c.mu.Unlock()
	return c.Backend.Generate(ctx, req)
}

// funcBackend answers with a function.
type funcBackend func(req model.Request) (*model.Response, error)

func (f funcBackend) Generate(ctx context.Context, req model.Request) (*model.Response, error) {
	return f(req)
}

var testClock = func() time.Time { return time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC) }

func newEnv(st pipeline.Store, b model.Backend, name, input string) (*pipeline.Env, *fakeProgress) {
	p := &fakeProgress{}
	return &pipeline.Env{
		Name:     name,
		Input:    input,
		Store:    st,
		Progress: p,
		Backend: func(n string) (model.Backend, pipeline.ModelInfo, error) {
			if n != "teacher" {
				return nil, pipeline.ModelInfo{}, fmt.Errorf("no model %q", n)
			}
			return b, pipeline.ModelInfo{Backend: "scripted", Model: "scripted-1"}, nil
		},
		Seed:        42,
		Concurrency: 3,
		Clock:       testClock,
	}, p
}

func scriptedTeacher() model.Backend { return scripted.New(7) }
