package sample

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"

	"github.com/synthloop/synthloop/pipeline"
	"github.com/synthloop/synthloop/pipeline/pipelinetest"
	"github.com/synthloop/synthloop/stage/internal/attrs"
	"github.com/synthloop/synthloop/stage/internal/stagetest"
)

// loggedCoverage is the coverage report a run logged, "" when it logged
// none.
func loggedCoverage(t *testing.T, log *bytes.Buffer) string {
	t.Helper()
	for line := range strings.Lines(log.String()) {
		var e struct{ Msg, Report string }
		if err := json.Unmarshal([]byte(line), &e); err != nil {
			t.Fatal(err)
		}
		if e.Msg == "sample: coverage" {
			return e.Report
		}
	}
	return ""
}

// TestCoverageResume: a run killed after some units and run again reports
// the coverage a run never stopped reports, and status (Summarize) shows
// the same; the report counts this shard's records only.
func TestCoverageResume(t *testing.T) {
	// x's mean is a sum of unrounded floats.
	cfg := parse(t, mixed+"  - {name: x, kind: uniform, min: 0, max: 1}\n")
	cfg.Count = 1050
	run := func(st pipeline.Store, ctx context.Context, conc int, shard pipeline.Shard) (string, error) {
		var log bytes.Buffer
		s, err := New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		err = s.Run(ctx, &pipeline.Env{Name: "attrs", Store: st, Seed: 7, Concurrency: conc, Clock: stagetest.Clock,
			Log: slog.New(slog.NewJSONHandler(&log, nil)), Shard: shard})
		return loggedCoverage(t, &log), err
	}
	for _, shard := range []pipeline.Shard{{}, {Index: 1, Count: 3}} {
		fresh := pipelinetest.NewMemStore()
		want, err := run(fresh, context.Background(), 4, shard)
		if err != nil || !strings.HasPrefix(want, "coverage of ") || !strings.Contains(want, "uniform: min 0") {
			t.Fatalf("shard %v: fresh run: %v\n%s", shard, err, want)
		}
		if cov, _ := Summarize(context.Background(), fresh, "attrs"); cov.String() != want {
			t.Errorf("shard %v: status shows\n%s\nthe run reported\n%s", shard, cov, want)
		}
		mem := pipelinetest.NewMemStore()
		ctx, cancel := context.WithCancel(context.Background())
		ks := &killingStore{MemStore: mem, cancel: cancel}
		ks.left.Store(5)
		if got, err := run(ks, ctx, 3, shard); err == nil || got != "" {
			t.Fatalf("shard %v: the killed run: %v, reported %q", shard, err, got)
		}
		got, err := run(mem, context.Background(), 4, shard)
		if err != nil {
			t.Fatal(err)
		}
		if got != want {
			t.Errorf("shard %v: the resumed run reported\n%s\na whole run\n%s", shard, got, want)
		}
		// A run with nothing left to do reports it all from the store.
		if again, _ := run(mem, context.Background(), 4, shard); again != want {
			t.Errorf("shard %v: a finished run reported\n%s\nwant\n%s", shard, again, want)
		}
	}
}

// TestUnitTallyOrder: counting a unit in memory or reading it back, and
// the units coming in any order, give the same coverage to the bit (the
// means' sums included).
func TestUnitTallyOrder(t *testing.T) {
	cfg := parse(t, mixed)
	cfg.Count = 1234
	recs, err := runStage(t, pipelinetest.NewMemStore(), cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	sp, err := compile(cfg)
	if err != nil {
		t.Fatal(err)
	}
	spec := attrs.Spec{Columns: sp.names(), Kinds: sp.kinds(), Possible: sp.possible()}
	// The records as the run holds them before the commit: numbers as
	// int64, the spec not yet through JSON.
	d := &drawer{spec: sp, seed: 7, stage: "attrs", width: 4, hash: sp.hash()}
	env := &pipeline.Env{Name: "attrs", Seed: 7, Clock: stagetest.Clock}
	parts := make([]*attrs.Tally, (cfg.Count+unitSize-1)/unitSize)
	for i := range cfg.Count {
		r, err := d.record(env, i)
		if err != nil {
			t.Fatal(err)
		}
		if parts[i/unitSize] == nil {
			parts[i/unitSize] = new(attrs.Tally)
		}
		parts[i/unitSize].Add(r, spec)
	}
	var inOrder unitTally
	for k, p := range parts {
		inOrder.put(k, p)
	}
	want := inOrder.coverage()
	for seed := range uint64(5) {
		var shuffled unitTally
		for _, k := range rand.New(rand.NewPCG(seed, 1)).Perm(len(parts)) {
			shuffled.put(k, parts[k])
		}
		if got := shuffled.coverage(); !reflect.DeepEqual(got, want) {
			t.Errorf("units in order %d: %+v\nwant %+v", seed, got, want)
		}
	}
	st := pipelinetest.NewMemStore()
	for k := 0; k < len(recs); k += unitSize {
		if err := st.Commit(context.Background(), pipeline.Unit{Stage: "attrs", Key: "u" + recs[k].ID, Records: recs[k:min(k+unitSize, len(recs))]}); err != nil {
			t.Fatal(err)
		}
	}
	got, err := Summarize(context.Background(), st, "attrs")
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Errorf("read back: %v\n%+v\nwant %+v", err, got, want)
	}
	if got.Records != cfg.Count || got.Columns[4].N != cfg.Count || got.Columns[4].Mean == 0 {
		t.Errorf("coverage %+v", got)
	}
}
