package pipeline_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/synthloop/synthloop/model"
	"github.com/synthloop/synthloop/pipeline"
	"github.com/synthloop/synthloop/pipeline/pipelinetest"
	"github.com/synthloop/synthloop/record"
)

// The stages of the streaming tests: a source of N records (every fifth
// rejected), a per-record map that streams, and a whole-input stage that
// counts what it got.

type streamSettings struct {
	N int `yaml:"n"`
	// Check makes the map refuse (ForEachKeptChecked) inputs whose
	// instruction holds it.
	Check string `yaml:"check"`
	// Fail makes the map fail, for good, at the input record of this ID.
	Fail string `yaml:"fail"`
}

// failFor makes the map record a permanent failure for these input IDs,
// and transientFor fail them for a transient cause.
var failFor, transientFor map[string]bool

// srcUnit, when set, runs at the start of each source unit: tests hold a
// unit back or fail it there.
var srcUnit func(ctx context.Context, i int) error

type streamSrc struct{ n int }

func (s *streamSrc) Run(ctx context.Context, env *pipeline.Env) error {
	units := make([]pipeline.UnitSpec, s.n)
	for i := range units {
		units[i] = pipeline.UnitSpec{Key: fmt.Sprintf("u%03d", i), Seq: int64(i+1) * 10}
	}
	return pipeline.RunUnits(ctx, env, units, func(ctx context.Context, i int) ([]*record.Record, pipeline.UnitUsage, error) {
		if srcUnit != nil {
			if err := srcUnit(ctx, i); err != nil {
				return nil, pipeline.UnitUsage{}, err
			}
		}
		r := &record.Record{ID: fmt.Sprintf("s%03d", i), Status: record.Kept, Instruction: fmt.Sprintf("task %d", i),
			Meta: map[string]any{"i": i}}
		if i%5 == 4 {
			r.Status = record.Rejected
		}
		return []*record.Record{r}, pipeline.UnitUsage{Requests: 1}, nil
	})
}

type streamMap struct{ check, fail string }

func (s *streamMap) Streams() bool { return true }

func (s *streamMap) Run(ctx context.Context, env *pipeline.Env) error {
	var check func(*record.Record) error
	if s.check != "" {
		check = func(first *record.Record) error {
			if strings.Contains(first.Instruction, s.check) {
				return fmt.Errorf("map: input %s holds %q", first.ID, s.check)
			}
			return nil
		}
	}
	return pipeline.ForEachKeptChecked(ctx, env, check, func(ctx context.Context, in *record.Record) ([]*record.Record, pipeline.UnitUsage, error) {
		if in.ID == s.fail {
			return nil, pipeline.UnitUsage{}, fmt.Errorf("boom at %s", in.ID)
		}
		// The type of a number read back from the store (float64) says
		// whether the record came as the store would give it.
		r := &record.Record{ID: env.Name + ":" + in.ID, Status: record.Kept, Instruction: in.Instruction + " " + env.Name,
			Meta: map[string]any{"i": in.Meta["i"], "type": fmt.Sprintf("%T", in.Meta["i"])}}
		// Each stage rejects others: the IDs grow by a stage's name.
		if i, _ := in.Meta["i"].(float64); (int(i)+len(in.ID))%4 == 0 {
			r.Status = record.Rejected
		}
		if transientFor[in.ID] {
			return nil, pipeline.UnitUsage{}, &model.HTTPError{Status: 503}
		}
		if failFor[in.ID] {
			r.Status, r.Error = record.Failed, "refused"
		}
		return []*record.Record{r}, pipeline.UnitUsage{Requests: 1}, nil
	})
}

type streamWhole struct{}

func (streamWhole) Run(ctx context.Context, env *pipeline.Env) error {
	ins, err := pipeline.KeptInput(ctx, env, 0)
	if err != nil {
		return err
	}
	return pipeline.RunUnits(ctx, env, []pipeline.UnitSpec{{Key: "all"}}, func(context.Context, int) ([]*record.Record, pipeline.UnitUsage, error) {
		ids := make([]string, len(ins))
		for i, r := range ins {
			ids[i] = r.ID
		}
		return []*record.Record{{ID: env.Name + ":all", Status: record.Kept, Instruction: strings.Join(ids, ",")}}, pipeline.UnitUsage{}, nil
	})
}

func init() {
	reg := func(name string, New func(c *streamSettings) pipeline.Stage) {
		pipeline.Register(pipeline.StageType{
			Name: name, Doc: "A stage for the streaming tests.",
			Config: func() any { return &streamSettings{} },
			New:    func(cfg any) (pipeline.Stage, error) { return New(cfg.(*streamSettings)), nil },
		})
	}
	reg("stream-src", func(c *streamSettings) pipeline.Stage { return &streamSrc{n: c.N} })
	reg("stream-map", func(c *streamSettings) pipeline.Stage { return &streamMap{check: c.Check, fail: c.Fail} })
	reg("stream-whole", func(*streamSettings) pipeline.Stage { return streamWhole{} })
}

const streamConfig = `name: s
concurrency: 4
stages:
  - name: src
    type: stream-src
    with: {n: 40}
  - name: a
    type: stream-map
  - name: b
    type: stream-map
    concurrency: 3
  - name: count
    type: stream-whole
  - name: c
    type: stream-map
`

var fixedClock = func() time.Time { return time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC) }

// dump is every record of every stage of cfg, as JSON, in order.
func dump(t *testing.T, st *pipelinetest.MemStore, cfg *pipeline.Config) []string {
	t.Helper()
	var out []string
	for _, sc := range cfg.Stages {
		for _, r := range st.All(sc.Name) {
			b, err := json.Marshal(r)
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, string(b))
		}
	}
	return out
}

func sameRecords(t *testing.T, got, want []string) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%d records, want %d", len(got), len(want))
	}
	for i := range got {
		if got[i] != want[i] {
			t.Fatalf("record %d differs:\n got %s\nwant %s", i, got[i], want[i])
		}
	}
}

func parse(t *testing.T, text string) *pipeline.Config {
	t.Helper()
	cfg, err := pipeline.ParseConfig("s.yaml", []byte(text))
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// staged is the reference: the run of cfg stage after stage.
func staged(t *testing.T, cfg *pipeline.Config) []string {
	t.Helper()
	st := pipelinetest.NewMemStore()
	if err := pipeline.Run(context.Background(), cfg, pipeline.Options{Store: st, Now: fixedClock, Staged: true}); err != nil {
		t.Fatalf("staged run: %v", err)
	}
	return dump(t, st, cfg)
}

func TestStreamSameAsStaged(t *testing.T) {
	cfg := parse(t, streamConfig)
	want := staged(t, cfg)
	for range 3 {
		st := pipelinetest.NewMemStore()
		if err := pipeline.Run(context.Background(), cfg, pipeline.Options{Store: st, Now: fixedClock}); err != nil {
			t.Fatalf("streaming run: %v", err)
		}
		sameRecords(t, dump(t, st, cfg), want)
	}
	keptInC := 0
	for _, r := range want {
		if strings.HasPrefix(r, `{"id":"c:`) && strings.Contains(r, `"status":"kept"`) {
			keptInC++
		}
	}
	if keptInC == 0 {
		t.Fatal("the last stage kept nothing: the test compares too little")
	}
	for _, r := range want {
		if strings.HasPrefix(r, `{"id":"b:`) && !strings.Contains(r, `"type":"float64"`) {
			t.Fatalf("a number of stage b's input was not read as the store gives it: %s", r)
		}
	}
}

// watchStore calls onCommit after every commit.
type watchStore struct {
	*pipelinetest.MemStore
	onCommit func(u pipeline.Unit)
}

func (w *watchStore) Commit(ctx context.Context, u pipeline.Unit) error {
	if err := w.MemStore.Commit(ctx, u); err != nil {
		return err
	}
	w.onCommit(u)
	return nil
}

// TestStreamOverlaps holds the source's last unit until the stage after it
// has committed a unit: a run that waited for the source to end would never
// get there.
func TestStreamOverlaps(t *testing.T) {
	cfg := parse(t, streamConfig)
	mapped := make(chan struct{})
	var once sync.Once
	st := &watchStore{MemStore: pipelinetest.NewMemStore(), onCommit: func(u pipeline.Unit) {
		if u.Stage == "a" {
			once.Do(func() { close(mapped) })
		}
	}}
	srcUnit = func(ctx context.Context, i int) error {
		if i != 39 {
			return nil
		}
		select {
		case <-mapped:
			return nil
		case <-time.After(10 * time.Second):
			return errors.New("stage a committed nothing while its input stage was running")
		}
	}
	defer func() { srcUnit = nil }()
	if err := pipeline.Run(context.Background(), cfg, pipeline.Options{Store: st, Now: fixedClock}); err != nil {
		t.Fatal(err)
	}
	sameRecords(t, dump(t, st.MemStore, cfg), staged(t, cfg))
}

// TestStreamResume stops streaming runs after k commits, resumes them, and
// checks the result is the staged run's.
func TestStreamResume(t *testing.T) {
	cfg := parse(t, streamConfig)
	want := staged(t, cfg)
	for _, k := range []int{1, 7, 30, 55, 90} {
		t.Run(fmt.Sprint(k), func(t *testing.T) {
			st := pipelinetest.NewMemStore()
			ctx, cancel := context.WithCancel(context.Background())
			n := 0
			var mu sync.Mutex
			ws := &watchStore{MemStore: st, onCommit: func(pipeline.Unit) {
				mu.Lock()
				defer mu.Unlock()
				if n++; n == k {
					cancel()
				}
			}}
			err := pipeline.Run(ctx, cfg, pipeline.Options{Store: ws, Now: fixedClock})
			cancel()
			if !errors.Is(err, pipeline.ErrStopped) {
				t.Fatalf("stopped run = %v, want ErrStopped", err)
			}
			if err := pipeline.Run(context.Background(), cfg, pipeline.Options{Store: st, Now: fixedClock}); err != nil {
				t.Fatalf("resumed run: %v", err)
			}
			sameRecords(t, dump(t, st, cfg), want)
		})
	}
}

// TestStreamCheck: a check of the first input record decides as in a staged
// run, whichever record arrives first.
func TestStreamCheck(t *testing.T) {
	for _, tt := range []struct {
		check   string
		wantErr string
	}{
		// Stage a rejects s000 (and every fourth): a:s001 is b's first input.
		{"task 13", ""}, // a later record fails the check: it is done anyway
		{"task 1 ", `map: input a:s001 holds "task 1 "`}, // the first one fails it: the stage fails
	} {
		cfg := parse(t, strings.Replace(streamConfig, "    type: stream-map\n    concurrency: 3", "    type: stream-map\n    concurrency: 3\n    with: {check: \""+tt.check+"\"}", 1))
		for _, isStaged := range []bool{true, false} {
			st := pipelinetest.NewMemStore()
			// Reverse the source's order of commits, so the first record
			// in order arrives last.
			srcUnit = func(ctx context.Context, i int) error {
				time.Sleep(time.Duration(40-i) * 200 * time.Microsecond)
				return nil
			}
			err := pipeline.Run(context.Background(), cfg, pipeline.Options{Store: st, Now: fixedClock, Staged: isStaged})
			srcUnit = nil
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("check %q staged=%v: %v", tt.check, isStaged, err)
				}
				sameRecords(t, dump(t, st, cfg), staged(t, cfg))
				continue
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !strings.Contains(err.Error(), "stage b") {
				t.Fatalf("check %q staged=%v: %v, want an error of stage b holding %q", tt.check, isStaged, err, tt.wantErr)
			}
		}
	}
}

// TestStreamUndoneInput: a source unit fails for a transient cause. The run
// ends as a staged one does (ErrTransient, noted for status), and the
// streaming stages after it have done the records it committed; a rerun
// finishes with the staged run's records.
func TestStreamUndoneInput(t *testing.T) {
	cfg := parse(t, streamConfig)
	st := pipelinetest.NewMemStore()
	srcUnit = func(ctx context.Context, i int) error {
		if i == 7 {
			return &model.HTTPError{Status: 503}
		}
		return nil
	}
	err := pipeline.Run(context.Background(), cfg, pipeline.Options{Store: st, Now: fixedClock})
	srcUnit = nil
	if !errors.Is(err, pipeline.ErrTransient) || !strings.Contains(err.Error(), "stage src") {
		t.Fatalf("run = %v, want ErrTransient from stage src", err)
	}
	undone, rerr := pipeline.ReadUndone(context.Background(), st)
	if rerr != nil || len(undone) != 1 || undone[0].Stage != "src" || undone[0].Units != 1 {
		t.Fatalf("undone = %+v, %v; want 1 unit of src", undone, rerr)
	}
	// 40 records less the 8 rejected and the one undone.
	if got := len(st.All("a")); got != 31 {
		t.Errorf("stage a did %d records of its input, want 31", got)
	}
	if got := len(st.All("count")); got != 0 {
		t.Errorf("the whole-input stage ran over a partial input (%d records)", got)
	}
	if err := pipeline.Run(context.Background(), cfg, pipeline.Options{Store: st, Now: fixedClock}); err != nil {
		t.Fatalf("rerun: %v", err)
	}
	sameRecords(t, dump(t, st, cfg), staged(t, cfg))
}

// TestStreamStopsOthers: a failure of a later stage stops the source too,
// cleanly, and the run says which stage failed.
func TestStreamStopsOthers(t *testing.T) {
	cfg := parse(t, strings.Replace(streamConfig, "    type: stream-map\n    concurrency: 3", "    type: stream-map\n    concurrency: 3\n    with: {fail: a:s011}", 1))
	st := pipelinetest.NewMemStore()
	srcUnit = func(ctx context.Context, i int) error {
		if i < 20 {
			return nil
		}
		select { // the rest wait for the stop
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(10 * time.Second):
			return errors.New("the source was not stopped")
		}
	}
	err := pipeline.Run(context.Background(), cfg, pipeline.Options{Store: st, Now: fixedClock})
	srcUnit = nil
	if err == nil || !strings.Contains(err.Error(), "pipeline: stage b: boom at a:s011") {
		t.Fatalf("run = %v, want stage b's error", err)
	}
	if n := len(st.All("src")); n > 20 {
		t.Errorf("the source committed %d records, want at most the 20 it could before the stop", n)
	}
}

// chainConfig is streamConfig without its whole-input stage: every stage
// after the source streams.
var chainConfig = strings.Replace(streamConfig, "  - name: count\n    type: stream-whole\n", "", 1)

// TestStreamRetryFailed: permanent failures in a streaming stage, redone by
// a streaming run with RetryFailed, give the records of a clean staged run;
// the stages after it do what the redone units now keep.
func TestStreamRetryFailed(t *testing.T) {
	cfg := parse(t, chainConfig)
	st := pipelinetest.NewMemStore()
	failFor = map[string]bool{"s012": true, "a:s021": true}
	err := pipeline.Run(context.Background(), cfg, pipeline.Options{Store: st, Now: fixedClock})
	failFor = nil
	if err != nil {
		t.Fatal(err)
	}
	if got := len(st.All("c")); got >= 30 {
		t.Fatalf("stage c has %d records: the failures did not reach it", got)
	}
	if err := pipeline.Run(context.Background(), cfg, pipeline.Options{Store: st, Now: fixedClock, RetryFailed: true}); err != nil {
		t.Fatal(err)
	}
	sameRecords(t, dump(t, st, cfg), staged(t, cfg))
}

// TestStreamOnlyStages runs the source alone, then the stages after it
// (Options.Stages): they stream among themselves, from a finished input.
func TestStreamOnlyStages(t *testing.T) {
	cfg := parse(t, chainConfig)
	st := pipelinetest.NewMemStore()
	for _, only := range [][]string{{"src"}, {"a", "b", "c"}} {
		if err := pipeline.Run(context.Background(), cfg, pipeline.Options{Store: st, Now: fixedClock, Stages: only}); err != nil {
			t.Fatalf("stages %v: %v", only, err)
		}
	}
	sameRecords(t, dump(t, st, cfg), staged(t, cfg))
}

// TestStreamUndoneNotes: stages that end at once keep status's note of
// undone units right. Stage a finishes, clearing what an earlier run noted
// for it, as stage b ends with a unit undone; the note must name b alone.
func TestStreamUndoneNotes(t *testing.T) {
	cfg := parse(t, chainConfig)
	transientFor = map[string]bool{"a:s010": true}
	defer func() { transientFor = nil }()
	for range 5 {
		st := &slowNotes{pipelinetest.NewMemStore()}
		if err := st.SetMetaValue(context.Background(), pipeline.UndoneKey, `[{"stage":"a","units":1,"error":"old"}]`); err != nil {
			t.Fatal(err)
		}
		err := pipeline.Run(context.Background(), cfg, pipeline.Options{Store: st, Now: fixedClock})
		if !errors.Is(err, pipeline.ErrTransient) {
			t.Fatalf("run = %v, want ErrTransient", err)
		}
		undone, err := pipeline.ReadUndone(context.Background(), st)
		if err != nil || len(undone) != 1 || undone[0].Stage != "b" {
			t.Fatalf("undone = %+v, %v; want 1 unit of b", undone, err)
		}
	}
}

// slowNotes reads the note of undone units slowly, as a store under load
// may: two stages that end at once then both read it before either writes.
type slowNotes struct{ *pipelinetest.MemStore }

func (s *slowNotes) MetaValue(ctx context.Context, key string) (string, bool, error) {
	if key == pipeline.UndoneKey {
		time.Sleep(20 * time.Millisecond)
	}
	return s.MemStore.MetaValue(ctx, key)
}
