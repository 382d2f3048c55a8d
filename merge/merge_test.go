package merge_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	_ "github.com/synthloop/synthloop/all"
	"github.com/synthloop/synthloop/export"
	"github.com/synthloop/synthloop/merge"
	"github.com/synthloop/synthloop/model/modeltest"
	"github.com/synthloop/synthloop/model/scripted"
	"github.com/synthloop/synthloop/pipeline"
	"github.com/synthloop/synthloop/record"
	"github.com/synthloop/synthloop/store"
	"github.com/synthloop/synthloop/text"
)

// teacher is the scripted teacher, and as a judge it scores 1 to 5 by a hash
// of the prompt, so that reject and judge keep some records only.
var teacher = scripted.New(2).HashJudgeResponder()

var clock = func() time.Time { return time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC) }

// writeInput writes n distinct questions, and dups exact repeats of some of
// them, as a JSONL file.
func writeInput(t *testing.T, n, dups int) string {
	t.Helper()
	var b strings.Builder
	for i := range n {
		fmt.Fprintf(&b, `{"instruction": "How do I return item number %d that I bought %d days ago?", "output": "Within 30 days, with the receipt, at any shop."}`+"\n", i, i%40)
		if i < dups {
			fmt.Fprintf(&b, `{"instruction": "How do I return item number %d that I bought %d days ago?", "output": "Within 30 days, with the receipt, at any shop."}`+"\n", i, i%40)
		}
	}
	// A relative path in a fixed place: record IDs hold it, and the
	// shards' split follows the IDs, so the test splits alike every time.
	t.Chdir(t.TempDir())
	const path = "faq.jsonl"
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// config is load → [dedup →] generate → reject → judge, all against the
// scripted teacher at url.
func config(t *testing.T, url, input string, withDedup bool) *pipeline.Config {
	t.Helper()
	return cappedConfig(t, url, input, withDedup, 0)
}

// cappedConfig is config with prices for the teacher and, when capUSD > 0,
// max_cost_usd.
func cappedConfig(t *testing.T, url, input string, withDedup bool, capUSD float64) *pipeline.Config {
	t.Helper()
	top := ""
	if capUSD > 0 {
		top = fmt.Sprintf("max_cost_usd: %v\n", capUSD)
	}
	dedup := ""
	if withDedup {
		dedup = `
  - name: unique
    type: dedup
    with: {method: exact, field: instruction}`
	}
	text := fmt.Sprintf(`name: shards
seed: 3
concurrency: 4
%smodels:
  teacher:
    ref: openai-compatible/scripted-teacher
    base_url: %s
    price_input: 1
    price_output: 1
stages:
  - name: faq
    type: load
    with: {path: %q, chunk: 7}%s
  - name: replies
    type: generate
    with:
      model: teacher
      prompt: "A customer asks: {{.instruction}} Our policy: {{.output}} Write the reply."
      output: reply
      n: 2
  - name: best
    type: reject
    with: {model: teacher, n: 3, judge_model: teacher, samples: 1, threshold: 1}
  - name: judged
    type: judge
    with: {judge_model: teacher, samples: 1, filter: true, threshold: 2}
`, top, url, input, dedup)
	cfg, err := pipeline.ParseConfig("shards.yaml", []byte(text))
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// runInto runs cfg (as shard sh) into dir.
func runInto(t *testing.T, cfg *pipeline.Config, dir string, sh pipeline.Shard) {
	t.Helper()
	ctx := context.Background()
	st, err := store.Open(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if err := pipeline.Run(ctx, cfg, pipeline.Options{Store: st, Cache: st, Now: clock, Shard: sh}); err != nil {
		t.Fatalf("run %s into %s: %v", sh, dir, err)
	}
}

// exports writes dir's last stage in each format and returns the bytes.
func exports(t *testing.T, dir string) map[string][]byte {
	t.Helper()
	ctx := context.Background()
	st, err := store.OpenReadOnly(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	out := map[string][]byte{}
	for _, f := range []string{"alpaca", "openai", "sharegpt"} {
		for _, rejected := range []bool{false, true} {
			path := filepath.Join(t.TempDir(), f+".jsonl")
			if _, err := export.Write(ctx, st, export.Options{Format: f, IncludeRejected: rejected}, path); err != nil {
				t.Fatal(err)
			}
			b, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			out[fmt.Sprintf("%s rejected=%v", f, rejected)] = b
		}
	}
	return out
}

// TestMergeEqualsOneProcess runs a pipeline of per-record stages as one
// process and as 3 shards, merges the shards, and compares the exports byte
// for byte; with an exact dedup stage too, which the merge runs again.
func TestMergeEqualsOneProcess(t *testing.T) {
	srv := modeltest.NewServer(teacher)
	defer srv.Close()
	for _, withDedup := range []bool{false, true} {
		t.Run(fmt.Sprintf("dedup=%v", withDedup), func(t *testing.T) {
			dups := 0
			if withDedup {
				dups = 12
			}
			cfg := config(t, srv.URL, writeInput(t, 30, dups), withDedup)
			root := t.TempDir()
			one := filepath.Join(root, "one")
			runInto(t, cfg, one, pipeline.Shard{})
			const n = 3
			var dirs []string
			sizes := map[int]int{}
			for i := range n {
				sh := pipeline.Shard{Index: i, Count: n}
				dir := filepath.Join(root, "x", sh.DirName())
				runInto(t, cfg, dir, sh)
				dirs = append(dirs, dir)
				sizes[i] = countKept(t, dir, "faq")
			}
			// Shards split the records, not the chunks: each has some.
			for i, k := range sizes {
				if k == 0 || k == 30+dups {
					t.Errorf("shard %d loaded %d of %d records: the split is lopsided", i, k, 30+dups)
				}
			}
			// Merge in reverse, through the parent directory: the order of
			// the arguments must not matter.
			merged := filepath.Join(root, "merged")
			got, err := merge.Dirs([]string{filepath.Join(root, "x")})
			if err != nil || len(got) != n {
				t.Fatalf("Dirs = %v, %v", got, err)
			}
			res, err := merge.Shards(context.Background(), merged, []string{dirs[2], dirs[0], dirs[1]}, merge.Options{Now: clock})
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("merge: %+v", res.Stages)
			want, have := exports(t, one), exports(t, merged)
			for k, w := range want {
				if withDedup && strings.HasSuffix(k, "rejected=true") {
					// The merged run also holds what shards made from
					// duplicates across shards, rejected: checked below.
					continue
				}
				if !bytes.Equal(have[k], w) {
					t.Errorf("%s: the merged export (%d bytes) differs from one process's (%d bytes)", k, len(have[k]), len(w))
				}
			}
			if len(want["alpaca rejected=false"]) == 0 {
				t.Fatal("the export is empty: the test compares nothing")
			}
			if withDedup {
				if res.Stages[2].Dropped == 0 {
					t.Errorf("no record was dropped after the dedup rerun: the duplicates across shards were not caught")
				}
				extraOnlyMerge(t, cfg, one, merged)
			}
		})
	}
}

// extraOnlyMerge checks that the merged run holds every record of the one
// process's, and that each record it holds besides was rejected by the merge.
func extraOnlyMerge(t *testing.T, cfg *pipeline.Config, one, merged string) {
	t.Helper()
	ctx := context.Background()
	a, err := store.OpenReadOnly(ctx, one)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := store.OpenReadOnly(ctx, merged)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	for _, sc := range cfg.Stages {
		ids := map[string]bool{}
		for r, err := range a.Records(ctx, sc.Name, "") {
			if err != nil {
				t.Fatal(err)
			}
			ids[r.ID] = true
		}
		for r, err := range b.Records(ctx, sc.Name, "") {
			if err != nil {
				t.Fatal(err)
			}
			if ids[r.ID] {
				delete(ids, r.ID)
				continue
			}
			if n := len(r.Decisions); r.Status == record.Kept || n == 0 || r.Decisions[n-1].Filter != "merge" {
				t.Errorf("stage %s: the merged run has %s (%s) that one process does not, not rejected by the merge", sc.Name, r.ID, r.Status)
			}
		}
		if len(ids) > 0 {
			t.Errorf("stage %s: the merged run lacks %d records of one process's", sc.Name, len(ids))
		}
	}
}

func countKept(t *testing.T, dir, stage string) int {
	t.Helper()
	st, err := store.OpenReadOnly(context.Background(), dir)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	n, err := st.Count(context.Background(), stage, record.Kept)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// TestMergeRefuses checks the refusals: each names the shard and the fault.
func TestMergeRefuses(t *testing.T) {
	srv := modeltest.NewServer(teacher)
	defer srv.Close()
	input := writeInput(t, 9, 0)
	cfg := config(t, srv.URL, input, false)
	other := config(t, srv.URL+"/", input, false)
	root := t.TempDir()
	dir := func(name string, sh pipeline.Shard, c *pipeline.Config) string {
		d := filepath.Join(root, name)
		runInto(t, c, d, sh)
		return d
	}
	s0 := dir("s0", pipeline.Shard{Index: 0, Count: 2}, cfg)
	s1 := dir("s1", pipeline.Shard{Index: 1, Count: 2}, cfg)
	s0again := dir("s0again", pipeline.Shard{Index: 0, Count: 2}, cfg)
	s1other := dir("s1other", pipeline.Shard{Index: 1, Count: 2}, other)
	s1of3 := dir("s1of3", pipeline.Shard{Index: 1, Count: 3}, cfg)
	single := dir("single", pipeline.Shard{}, cfg)
	// An unfinished shard: its last stage has not run.
	unfinished := filepath.Join(root, "unfinished")
	{
		st, err := store.Open(context.Background(), unfinished)
		if err != nil {
			t.Fatal(err)
		}
		err = pipeline.Run(context.Background(), cfg, pipeline.Options{Store: st, Cache: st, Now: clock, Shard: pipeline.Shard{Index: 1, Count: 2}, Stages: []string{"faq"}})
		st.Close()
		if err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		name string
		dirs []string
		want []string
	}{
		{"overlap", []string{s0, s0again, s1}, []string{"same index", "overlap", "s0again"}},
		{"config", []string{s0, s1other}, []string{"different config", "s1other"}},
		{"count", []string{s0, s1of3}, []string{"2 and 3 ways"}},
		{"missing", []string{s0}, []string{"shard 1/2 is missing"}},
		{"unfinished", []string{s0, unfinished}, []string{"unfinished", "no unit committed in stage replies, best, judged", "--shard 1/2"}},
		{"not a shard", []string{s0, single}, []string{"not a shard", "single"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "out")
			_, err := merge.Shards(context.Background(), out, tc.dirs, merge.Options{Now: clock})
			if err == nil {
				t.Fatal("merged; want a refusal")
			}
			if tc.name != "not a shard" && !errors.Is(err, merge.ErrShards) {
				t.Errorf("error %v is not ErrShards", err)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not say %q", err, w)
				}
			}
			if _, serr := os.Stat(filepath.Join(out, store.FileName)); serr == nil {
				t.Errorf("a refused merge wrote %s", out)
			}
		})
	}
}

// TestShardResumesAsItself: a shard's store refuses to run as another shard
// or unsharded.
func TestShardResumesAsItself(t *testing.T) {
	srv := modeltest.NewServer(teacher)
	defer srv.Close()
	cfg := config(t, srv.URL, writeInput(t, 5, 0), false)
	d := t.TempDir()
	runInto(t, cfg, d, pipeline.Shard{Index: 0, Count: 2})
	for _, sh := range []pipeline.Shard{{Index: 1, Count: 2}, {}, {Index: 0, Count: 3}} {
		st, err := store.Open(context.Background(), d)
		if err != nil {
			t.Fatal(err)
		}
		err = pipeline.Run(context.Background(), cfg, pipeline.Options{Store: st, Cache: st, Shard: sh})
		st.Close()
		if err == nil || !strings.Contains(err.Error(), "shard 0/2") {
			t.Errorf("run as %q over shard 0/2: %v; want a refusal naming 0/2", sh, err)
		}
	}
}

// TestMergeAgain: a merge retried over its own finished output does
// nothing, one over a merge that stopped halfway starts over and gives the
// same run, and one over another run is refused.
func TestMergeAgain(t *testing.T) {
	srv := modeltest.NewServer(teacher)
	defer srv.Close()
	cfg := config(t, srv.URL, writeInput(t, 9, 0), false)
	root := t.TempDir()
	var dirs []string
	for i := range 2 {
		sh := pipeline.Shard{Index: i, Count: 2}
		d := filepath.Join(root, sh.DirName())
		runInto(t, cfg, d, sh)
		dirs = append(dirs, d)
	}
	ctx := context.Background()
	out := filepath.Join(root, "merged")
	if _, err := merge.Shards(ctx, out, dirs, merge.Options{Now: clock}); err != nil {
		t.Fatal(err)
	}
	want := exports(t, out)
	res, err := merge.Shards(ctx, out, dirs, merge.Options{Now: clock})
	if err != nil || !res.Already {
		t.Fatalf("merge again: %+v, %v; want Already", res, err)
	}
	// As if the first merge had died before it finished.
	st, err := store.Open(ctx, out)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.SetMetaValue(ctx, pipeline.FinishedKey, ""); err != nil {
		t.Fatal(err)
	}
	st.Close()
	if res, err := merge.Shards(ctx, out, dirs, merge.Options{Now: clock}); err != nil || res.Already {
		t.Fatalf("merge over a half merge: %+v, %v", res, err)
	}
	for k, w := range want {
		if got := exports(t, out)[k]; !bytes.Equal(got, w) {
			t.Errorf("%s: the merge started over differs from the first", k)
		}
	}
	if _, err := merge.Shards(ctx, dirs[0], dirs, merge.Options{Now: clock}); err == nil || !strings.Contains(err.Error(), "is one of the shards") {
		t.Errorf("merge into a shard's own run: %v", err)
	}
	single := filepath.Join(root, "single")
	runInto(t, cfg, single, pipeline.Shard{})
	if _, err := merge.Shards(ctx, single, dirs, merge.Options{Now: clock}); err == nil || !strings.Contains(err.Error(), "already holds a run") {
		t.Errorf("merge into another run: %v", err)
	}
}

// TestMergeSelfInstruct runs Self-Instruct with its instances as 3 shards:
// each shard bootstraps on its own to its share of the target, and the merge
// runs the novelty filter across shards, rejecting the instances of the
// instructions it rejects.
func TestMergeSelfInstruct(t *testing.T) {
	srv := modeltest.NewServer(scripted.New(6).Responder())
	defer srv.Close()
	cfg, err := pipeline.ParseConfig("si.yaml", []byte(fmt.Sprintf(`name: si
seed: 4
concurrency: 4
models:
  teacher:
    ref: openai-compatible/scripted-teacher
    base_url: %s
stages:
  - name: instructions
    type: selfinstruct
    with: {model: teacher, target: 90, novelty_threshold: 0.5}
  - name: instances
    type: selfinstruct-instances
    with: {model: teacher}
`, srv.URL)))
	if err != nil {
		t.Fatal(err)
	}
	root := t.TempDir()
	var dirs []string
	total := 0
	for i := range 3 {
		sh := pipeline.Shard{Index: i, Count: 3}
		d := filepath.Join(root, sh.DirName())
		runInto(t, cfg, d, sh)
		// Its share, 30, and the rest of the batch that reached it.
		k := countKept(t, d, "instructions")
		if k < 30 || k > 45 {
			t.Errorf("shard %d kept %d instructions, want its share 30 and at most a batch more", i, k)
		}
		total += k
		dirs = append(dirs, d)
	}
	out := filepath.Join(root, "merged")
	res, err := merge.Shards(context.Background(), out, dirs, merge.Options{Now: clock})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("merge: %+v", res.Stages)
	kept := countKept(t, out, "instructions")
	if f := res.Stages[0].Filtered; kept != total-f {
		t.Errorf("kept %d instructions after the merge rejected %d of %d", kept, f, total)
	}
	if res.Stages[0].Filtered == 0 {
		t.Errorf("the merge's novelty pass rejected nothing: the test shows nothing")
	}
	// What is kept is novel across shards, in Seq order.
	st, err := store.OpenReadOnly(context.Background(), out)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	idx, err := text.NewIndex(text.Options{Threshold: 0.5})
	if err != nil {
		t.Fatal(err)
	}
	for r, err := range st.Records(context.Background(), "instructions", record.Kept) {
		if err != nil {
			t.Fatal(err)
		}
		if res := idx.CheckText(r.Instruction); !res.Novel {
			t.Errorf("kept %q, ROUGE-L %.2f to a kept one", r.Instruction, res.Max)
		}
		idx.AddText(r.Instruction)
	}
	inst := 0
	for r, err := range st.Records(context.Background(), "instances", record.Kept) {
		if err != nil {
			t.Fatal(err)
		}
		inst++
		parent, err := st.Record(context.Background(), r.Prov.ParentIDs[0])
		if err != nil || parent.Status != record.Kept {
			t.Errorf("instance %s is kept but its instruction is not: %v", r.ID, err)
		}
	}
	if inst == 0 {
		t.Error("no instance kept")
	}
}

// TestMergeOverPerShardCap: shards under a max_cost_usd each may together
// have paid more than it; the merge, which pays nothing, must not stop there.
func TestMergeOverPerShardCap(t *testing.T) {
	srv := modeltest.NewServer(teacher)
	defer srv.Close()
	input := writeInput(t, 12, 6)
	root := t.TempDir()
	spent := func(dir string) float64 {
		st, err := store.OpenReadOnly(context.Background(), dir)
		if err != nil {
			t.Fatal(err)
		}
		defer st.Close()
		v, err := st.SpentUSD(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	// What each shard pays, without a cap.
	free := cappedConfig(t, srv.URL, input, true, 0)
	// One request at a time: with several in flight, which of two equal
	// requests pays and which reads the cache depends on timing, and so
	// does the spend the cap is measured against.
	free.Concurrency = 1
	most, sum := 0.0, 0.0
	for i := range 2 {
		sh := pipeline.Shard{Index: i, Count: 2}
		d := filepath.Join(root, "free", sh.DirName())
		runInto(t, free, d, sh)
		most, sum = max(most, spent(d)), sum+spent(d)
	}
	capUSD := most * 1.01
	if capUSD >= sum {
		t.Fatalf("one shard paid %g of %g: the test needs both to pay", most, sum)
	}
	capped := cappedConfig(t, srv.URL, input, true, capUSD)
	capped.Concurrency = 1
	var dirs []string
	for i := range 2 {
		sh := pipeline.Shard{Index: i, Count: 2}
		d := filepath.Join(root, "capped", sh.DirName())
		runInto(t, capped, d, sh)
		dirs = append(dirs, d)
	}
	if _, err := merge.Shards(context.Background(), filepath.Join(root, "merged"), dirs, merge.Options{Now: clock}); err != nil {
		t.Fatalf("merge of shards that paid $%g together under a $%g cap each: %v", sum, capUSD, err)
	}
}

// TestMergeSampleStage: a sample stage's drawn records are split by record
// among shards, and the merged run holds exactly one process's records.
func TestMergeSampleStage(t *testing.T) {
	srv := modeltest.NewServer(teacher)
	defer srv.Close()
	cfg, err := pipeline.ParseConfig("sample.yaml", []byte(fmt.Sprintf(`name: drawn
seed: 8
concurrency: 4
models:
  teacher:
    ref: openai-compatible/scripted-teacher
    base_url: %s
stages:
  - name: attributes
    type: sample
    with:
      count: 150
      columns:
        - {name: task, kind: category, values: [explain, compare, plan]}
        - {name: difficulty, kind: int, min: 1, max: 5}
  - name: asked
    type: generate
    with:
      model: teacher
      prompt: "Write a {{.task}} request of difficulty {{.difficulty}}."
      output: reply
`, srv.URL)))
	if err != nil {
		t.Fatal(err)
	}
	root := t.TempDir()
	one := filepath.Join(root, "one")
	runInto(t, cfg, one, pipeline.Shard{})
	var dirs []string
	for i := range 3 {
		sh := pipeline.Shard{Index: i, Count: 3}
		d := filepath.Join(root, sh.DirName())
		runInto(t, cfg, d, sh)
		if k := countKept(t, d, "attributes"); k == 0 || k == 150 {
			t.Errorf("shard %d drew %d of 150 records", i, k)
		}
		dirs = append(dirs, d)
	}
	merged := filepath.Join(root, "merged")
	if _, err := merge.Shards(context.Background(), merged, dirs, merge.Options{Now: clock}); err != nil {
		t.Fatal(err)
	}
	for _, stage := range []string{"attributes", "asked"} {
		want, got := dump(t, one, stage), dump(t, merged, stage)
		if len(want) == 0 || !bytes.Equal(got, want) {
			t.Errorf("stage %s: the merged records (%d bytes) differ from one process's (%d bytes)", stage, len(got), len(want))
		}
	}
}

// dump is every record of stage in dir, as JSON lines in Seq order.
func dump(t *testing.T, dir, stage string) []byte {
	t.Helper()
	st, err := store.OpenReadOnly(context.Background(), dir)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	var b bytes.Buffer
	for r, err := range st.Records(context.Background(), stage, "") {
		if err != nil {
			t.Fatal(err)
		}
		line, err := json.Marshal(r)
		if err != nil {
			t.Fatal(err)
		}
		b.Write(append(line, '\n'))
	}
	return b.Bytes()
}
