package pipeline_test

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/synthloop/synthloop/pipeline"
	"github.com/synthloop/synthloop/pipeline/pipelinetest"
	"github.com/synthloop/synthloop/record"
)

func TestParseShard(t *testing.T) {
	for _, tc := range []struct {
		in      string
		want    pipeline.Shard
		wantErr string
	}{
		{"0/1", pipeline.Shard{Index: 0, Count: 1}, ""},
		{"3/4", pipeline.Shard{Index: 3, Count: 4}, ""},
		{" 2/10 ", pipeline.Shard{Index: 2, Count: 10}, ""},
		{"4/4", pipeline.Shard{}, "0 ≤ index < count"},
		{"-1/4", pipeline.Shard{}, "0 ≤ index < count"},
		{"0/0", pipeline.Shard{}, "0 ≤ index < count"},
		{"1", pipeline.Shard{}, "INDEX/COUNT"},
		{"a/4", pipeline.Shard{}, "INDEX/COUNT"},
		{"1/4/5", pipeline.Shard{}, "INDEX/COUNT"},
	} {
		got, err := pipeline.ParseShard(tc.in)
		if got != tc.want || (err == nil) != (tc.wantErr == "") || (err != nil && !strings.Contains(err.Error(), tc.wantErr)) {
			t.Errorf("ParseShard(%q) = %v, %v; want %v, error with %q", tc.in, got, err, tc.want, tc.wantErr)
		}
	}
}

func FuzzParseShard(f *testing.F) {
	for _, s := range []string{"0/1", "3/4", "4/4", "x", "1/2/3", " 1/ 2", "-0/+3"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		sh, err := pipeline.ParseShard(s)
		if err != nil {
			return
		}
		if sh.Count < 1 || sh.Index < 0 || sh.Index >= sh.Count {
			t.Fatalf("ParseShard(%q) = %v: out of range", s, sh)
		}
		back, err := pipeline.ParseShard(sh.String())
		if err != nil || back != sh {
			t.Fatalf("ParseShard(%q) = %v, whose String %q reads back as %v, %v", s, sh, sh.String(), back, err)
		}
	})
}

func TestShardFromEnv(t *testing.T) {
	for _, tc := range []struct {
		env     map[string]string
		count   int
		want    pipeline.Shard
		wantErr string
	}{
		{map[string]string{"JOB_COMPLETION_INDEX": "2"}, 4, pipeline.Shard{Index: 2, Count: 4}, ""},
		{map[string]string{"SLURM_ARRAY_TASK_ID": "3"}, 4, pipeline.Shard{Index: 3, Count: 4}, ""},
		{map[string]string{"SLURM_ARRAY_TASK_ID": "12", "SLURM_ARRAY_TASK_MIN": "10", "SLURM_ARRAY_TASK_COUNT": "4"}, 4, pipeline.Shard{Index: 2, Count: 4}, ""},
		{map[string]string{"SLURM_ARRAY_TASK_ID": "1", "SLURM_ARRAY_TASK_COUNT": "3"}, 4, pipeline.Shard{}, "has 3 tasks"},
		{map[string]string{"SLURM_ARRAY_TASK_ID": "4"}, 4, pipeline.Shard{}, "0 ≤ index < count"},
		{map[string]string{"JOB_COMPLETION_INDEX": "x"}, 4, pipeline.Shard{}, "not a number"},
		{map[string]string{"JOB_COMPLETION_INDEX": "1", "SLURM_ARRAY_TASK_ID": "1"}, 4, pipeline.Shard{}, "both"},
		{nil, 4, pipeline.Shard{}, "neither is set"},
		{map[string]string{"JOB_COMPLETION_INDEX": "0"}, 0, pipeline.Shard{}, "at least 1"},
	} {
		got, err := pipeline.ShardFromEnv(tc.count, func(k string) string { return tc.env[k] })
		if got != tc.want || (err == nil) != (tc.wantErr == "") || (err != nil && !strings.Contains(err.Error(), tc.wantErr)) {
			t.Errorf("ShardFromEnv(%d, %v) = %v, %v; want %v, error with %q", tc.count, tc.env, got, err, tc.want, tc.wantErr)
		}
	}
}

func TestShareAddsUp(t *testing.T) {
	for _, n := range []int{0, 1, 7, 100, 101} {
		for count := 1; count <= 6; count++ {
			sum := 0
			for i := range count {
				s := pipeline.Shard{Index: i, Count: count}.Share(n)
				if s < n/count || s > n/count+1 {
					t.Errorf("Share(%d) of %d/%d = %d: uneven", n, i, count, s)
				}
				sum += s
			}
			if sum != n {
				t.Errorf("the %d shares of %d add up to %d", count, n, sum)
			}
		}
	}
}

// TestShardsPartitionUnits runs the same units as 3 shards, one store each,
// and checks that together they did every unit and made every record once,
// each record at the Seq one process gives it, whatever the partition.
func TestShardsPartitionUnits(t *testing.T) {
	const n = 3
	ctx := context.Background()
	var units []pipeline.UnitSpec
	for i := range 30 {
		units = append(units, pipeline.UnitSpec{Key: fmt.Sprintf("u%02d", i), Seq: int64(i) * 10})
	}
	fn := func(ctx context.Context, i int) ([]*record.Record, pipeline.UnitUsage, error) {
		var out []*record.Record
		for j := range 4 {
			out = append(out, &record.Record{ID: fmt.Sprintf("%s-r%d", units[i].Key, j), Status: record.Kept})
		}
		return out, pipeline.UnitUsage{}, nil
	}
	for _, part := range []pipeline.Partition{pipeline.ByKey, pipeline.ByRecord} {
		seq := map[string]int64{}
		var ran atomic.Int64
		for i := range n {
			st := pipelinetest.NewMemStore()
			env := &pipeline.Env{Name: "s", Store: st, Concurrency: 3, Shard: pipeline.Shard{Index: i, Count: n}}
			us := make([]pipeline.UnitSpec, len(units))
			for k, u := range units {
				u.Partition = part
				us[k] = u
			}
			counted := func(ctx context.Context, k int) ([]*record.Record, pipeline.UnitUsage, error) {
				ran.Add(1)
				return fn(ctx, k)
			}
			if err := pipeline.RunUnits(ctx, env, us, counted); err != nil {
				t.Fatal(err)
			}
			mine := st.All("s")
			if len(mine) == 0 || len(mine) == 120 {
				t.Errorf("partition %d: shard %d made %d of 120 records: lopsided", part, i, len(mine))
			}
			for _, r := range mine {
				if _, dup := seq[r.ID]; dup {
					t.Errorf("partition %d: record %s made by two shards", part, r.ID)
				}
				seq[r.ID] = r.Seq
			}
		}
		if len(seq) != 120 {
			t.Errorf("partition %d: the shards made %d records, want 120", part, len(seq))
		}
		for id, s := range seq {
			var u, j int
			fmt.Sscanf(id, "u%d-r%d", &u, &j)
			if want := int64(u*10 + j); s != want {
				t.Errorf("partition %d: record %s has Seq %d, want %d as in one process", part, id, s, want)
			}
		}
		wantRan := 30
		if part == pipeline.ByRecord {
			wantRan = 90 // every shard does every unit
		}
		if ran.Load() != int64(wantRan) {
			t.Errorf("partition %d: %d unit functions ran, want %d", part, ran.Load(), wantRan)
		}
	}
}

// TestForEachRecordInputIsLocal: records of the input stage are the shard's
// already, so every shard does all of its own; seeds are split.
func TestForEachRecordInputIsLocal(t *testing.T) {
	ctx := context.Background()
	var ins, seeds []*record.Record
	for i := range 10 {
		ins = append(ins, &record.Record{ID: fmt.Sprintf("in%d", i), Stage: "prev", Seq: int64(i), Status: record.Kept})
		seeds = append(seeds, &record.Record{ID: fmt.Sprintf("seed%d", i), Seq: int64(i), Status: record.Kept})
	}
	fn := func(ctx context.Context, in *record.Record) ([]*record.Record, pipeline.UnitUsage, error) {
		return []*record.Record{{ID: "out-" + in.ID, Status: record.Kept}}, pipeline.UnitUsage{}, nil
	}
	total := 0
	for i := range 2 {
		env := &pipeline.Env{Name: "s", Input: "prev", Store: pipelinetest.NewMemStore(), Shard: pipeline.Shard{Index: i, Count: 2}}
		if err := pipeline.ForEachRecord(ctx, env, ins, fn); err != nil {
			t.Fatal(err)
		}
		if got := len(env.Store.(*pipelinetest.MemStore).All("s")); got != 10 {
			t.Errorf("shard %d did %d of its 10 input records", i, got)
		}
		env = &pipeline.Env{Name: "t", Input: "prev", Store: pipelinetest.NewMemStore(), Shard: pipeline.Shard{Index: i, Count: 2}}
		if err := pipeline.ForEachRecord(ctx, env, seeds, fn); err != nil {
			t.Fatal(err)
		}
		total += len(env.Store.(*pipelinetest.MemStore).All("t"))
	}
	if total != 10 {
		t.Errorf("the 2 shards did %d seed units, want each of the 10 once", total)
	}
}
