// Package merge combines the run stores of a sharded run into one run store and runs its whole-input stages (dedup, decontamination, novelty filters) again over the merged records.
package merge

// The merge reads every shard in the order of its index and every stage's
// units in the order of their keys, and the merged store reads its records
// in Seq order: nothing depends on which shard finished first. A stage of
// per-record units needs nothing more, since each record's work was done
// once, by one shard, exactly as one process would have done it. A
// whole-input stage (pipeline.WholeInput) ran in each shard over that
// shard's share only; the merge deletes what it made and runs it again over
// the merged input, then rejects the records that later stages made from
// inputs the rerun rejected. A stage that filters against its own earlier
// records (Self-Instruct's novelty filter, a pipeline.MergeFilter) filters
// every shard's records again in Seq order, with the same consequence.

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/synthloop/synthloop/pipeline"
	"github.com/synthloop/synthloop/record"
	"github.com/synthloop/synthloop/store"
)

// Options wire a merge to its environment; every field has a working default.
type Options struct {
	// Now is the clock of the records the whole-input stages make again;
	// nil means time.Now.
	Now     func() time.Time
	Log     *slog.Logger
	Getenv  func(string) string
	Version string // recorded in the merged run's metadata
}

// Result says what the merge did, stage by stage.
type Result struct {
	Shards int
	Stages []Stage
	// Already is set when out held a finished merge of these shards'
	// config already: the merge did nothing (a scheduler's retry).
	Already bool
}

// Stage is what the merge did with one stage.
type Stage struct {
	Name    string
	Records int  // records imported from the shards
	Rerun   bool // a whole-input stage, done again over the merged input
	// Dropped counts the kept records rejected because their input was
	// rejected by a rerun before them.
	Dropped int
	// Unmade counts the input records kept by a rerun that no shard did
	// this stage for: a shard's own pass had rejected them (only a
	// near-duplicate filter can do that), so their later records are
	// missing from the merged run.
	Unmade int
	// Filtered counts the kept records that the stage's own filter
	// (pipeline.MergeFilter: Self-Instruct's novelty) rejected when it ran
	// again over every shard's records.
	Filtered int
}

// MergedFromKey is the meta key of the merged run listing its shards.
const MergedFromKey = "merged_from"

// ErrShards matches (errors.Is) every refusal to merge a set of shards:
// different configs, a shard unfinished or missing, two of the same index.
var ErrShards = errors.New("merge: these shards cannot be merged")

// shard is one shard's store and what its metadata says.
type shard struct {
	dir   string
	st    *store.Store
	shard pipeline.Shard
	meta  map[string]string
}

func (s *shard) String() string { return fmt.Sprintf("shard %s (%s)", s.shard, s.dir) }

// Dirs expands the arguments of a merge into shard run directories: a run
// directory is itself, and a directory holding none but shard-I-of-N run
// directories (the parent a sharded run writes into) is those, in order.
func Dirs(args []string) ([]string, error) {
	var out []string
	for _, a := range args {
		if _, err := os.Stat(filepath.Join(a, store.FileName)); err == nil {
			out = append(out, a)
			continue
		}
		found, err := filepath.Glob(filepath.Join(a, "shard-*-of-*", store.FileName))
		if err != nil {
			return nil, fmt.Errorf("merge: %s: %w", a, err)
		}
		if len(found) == 0 {
			return nil, fmt.Errorf("merge: %s holds no run store (%s) and no shard-I-of-N run directories: %w", a, store.FileName, ErrShards)
		}
		slices.Sort(found)
		for _, f := range found {
			out = append(out, filepath.Dir(f))
		}
	}
	return out, nil
}

// Shards merges the shard run directories dirs into a new run store in
// out. It refuses, before writing anything, shards of different configs,
// unfinished shards, a set that misses a shard, and two shards with the
// same index, naming the shard and what is wrong. The config the shards
// recorded is read with the stage types registered in this program, so a
// caller imports the stages (synthloop/all), and the files whole-input
// stages read (dedup's eval sets) must be where the config says.
func Shards(ctx context.Context, out string, dirs []string, opts Options) (*Result, error) {
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	shards, err := openShards(ctx, dirs)
	for _, s := range shards {
		defer s.st.Close()
	}
	if err != nil {
		return nil, err
	}
	first := shards[0]
	cfg, err := pipeline.ParseConfig(first.meta["config_source"], []byte(first.meta["config"]))
	if err != nil {
		return nil, fmt.Errorf("merge: the config %s recorded: %w", first, err)
	}
	for _, d := range dirs {
		if same(d, out) {
			return nil, fmt.Errorf("merge: the output %s is one of the shards; merge into a new directory", out)
		}
	}
	dst, err := store.Open(ctx, out)
	if err != nil {
		return nil, fmt.Errorf("merge: %w", err)
	}
	defer dst.Close()
	if done, err := earlier(ctx, dst, out, first); err != nil || done {
		return &Result{Shards: len(shards), Already: done}, err
	}
	if err := putMeta(ctx, dst, shards); err != nil {
		return nil, err
	}
	res := &Result{Shards: len(shards)}
	for _, sc := range cfg.Stages {
		n, err := importStage(ctx, dst, shards, sc.Name)
		if err != nil {
			return nil, err
		}
		res.Stages = append(res.Stages, Stage{Name: sc.Name, Records: n})
	}
	if err := rerun(ctx, cfg, dst, res, opts); err != nil {
		return nil, err
	}
	if err := dst.SetMetaValue(ctx, pipeline.FinishedKey, now(opts).UTC().Format(time.RFC3339Nano)); err != nil {
		return nil, fmt.Errorf("merge: %w", err)
	}
	return res, dst.Close()
}

// earlier deals with what out already holds: nothing, a finished merge of
// the same config (done: a retried merge Job has nothing to do), or a merge
// that stopped halfway (emptied, to start over). Any other run is refused.
func earlier(ctx context.Context, dst *store.Store, out string, first *shard) (done bool, err error) {
	hash, ok, err := dst.MetaValue(ctx, "config_hash")
	if err != nil || !ok {
		return false, err
	}
	from, _, err := dst.MetaValue(ctx, MergedFromKey)
	if err != nil {
		return false, err
	}
	finished, _, err := dst.MetaValue(ctx, pipeline.FinishedKey)
	if err != nil {
		return false, err
	}
	switch {
	case from == "":
		return false, fmt.Errorf("merge: %s already holds a run; merge into a new directory", out)
	case hash != first.meta["config_hash"]:
		return false, fmt.Errorf("merge: %s holds a merge of shards of another config; merge into a new directory", out)
	case finished != "":
		return true, nil
	}
	stages, err := dst.Stages(ctx)
	if err != nil {
		return false, fmt.Errorf("merge: %w", err)
	}
	for _, s := range stages {
		if err := dst.ResetStage(ctx, s); err != nil {
			return false, fmt.Errorf("merge: start %s over: %w", out, err)
		}
	}
	return false, nil
}

func now(opts Options) time.Time {
	if opts.Now != nil {
		return opts.Now()
	}
	return time.Now()
}

// same reports whether paths a and b name one directory.
func same(a, b string) bool {
	x, err1 := filepath.Abs(a)
	y, err2 := filepath.Abs(b)
	return err1 == nil && err2 == nil && x == y
}

// openShards opens every shard read-only and checks that together they are
// one whole, finished sharded run, in the order of their indexes. The
// shards it returns, even with an error, are open.
func openShards(ctx context.Context, dirs []string) ([]*shard, error) {
	if len(dirs) == 0 {
		return nil, fmt.Errorf("merge: no shard directories: %w", ErrShards)
	}
	var shards []*shard
	for _, d := range dirs {
		st, err := store.OpenReadOnly(ctx, d)
		if err != nil {
			return shards, fmt.Errorf("merge: %w", err)
		}
		s := &shard{dir: d, st: st, meta: map[string]string{}}
		shards = append(shards, s)
		for _, k := range []string{pipeline.ShardKey, "config", "config_hash", "config_source", "seed", "created", "version", pipeline.FinishedKey} {
			v, _, err := st.MetaValue(ctx, k)
			if err != nil {
				return shards, fmt.Errorf("merge: %s: %w", d, err)
			}
			s.meta[k] = v
		}
		if s.meta[pipeline.ShardKey] == "" {
			return shards, fmt.Errorf("merge: %s is not a shard: it was run without --shard or --shards: %w", d, ErrShards)
		}
		if s.shard, err = pipeline.ParseShard(s.meta[pipeline.ShardKey]); err != nil {
			return shards, fmt.Errorf("merge: %s: %w", d, err)
		}
	}
	slices.SortStableFunc(shards, func(a, b *shard) int { return a.shard.Index - b.shard.Index })
	first := shards[0]
	for i, s := range shards {
		switch {
		case s.shard.Count != first.shard.Count:
			return shards, fmt.Errorf("merge: %s and %s are shards of runs split %d and %d ways: %w", first, s, first.shard.Count, s.shard.Count, ErrShards)
		case s.meta["config_hash"] != first.meta["config_hash"]:
			return shards, fmt.Errorf("merge: %s was run with a different config from %s (%s, not %s): %w",
				s, first, s.meta["config_source"], first.meta["config_source"], ErrShards)
		case i > 0 && s.shard.Index == shards[i-1].shard.Index:
			return shards, fmt.Errorf("merge: %s and %s have the same index: their partitions overlap: %w", shards[i-1], s, ErrShards)
		}
	}
	var missing []string
	have := map[int]bool{}
	for _, s := range shards {
		have[s.shard.Index] = true
	}
	for i := range first.shard.Count {
		if !have[i] {
			missing = append(missing, pipeline.Shard{Index: i, Count: first.shard.Count}.String())
		}
	}
	if len(missing) > 0 {
		return shards, fmt.Errorf("merge: the run was split %d ways and shard %s is missing: pass every shard's run directory: %w",
			first.shard.Count, strings.Join(missing, ", "), ErrShards)
	}
	for _, s := range shards {
		if s.meta[pipeline.FinishedKey] == "" {
			return shards, fmt.Errorf("merge: %s is unfinished: %s; run `synthloop run %s --shard %s` again to finish it: %w",
				s, unfinished(ctx, s), s.meta["config_source"], s.shard, ErrShards)
		}
	}
	return shards, nil
}

// unfinished says what an unfinished shard lacks, as far as its store tells.
func unfinished(ctx context.Context, s *shard) string {
	cfg, err := pipeline.ParseConfig(s.meta["config_source"], []byte(s.meta["config"]))
	if err != nil {
		return "its last run did not finish"
	}
	stats, err := s.st.Stats(ctx)
	if err != nil {
		return "its last run did not finish"
	}
	started := map[string]bool{}
	for _, st := range stats {
		started[st.Stage] = true
	}
	var none []string
	for _, sc := range cfg.Stages {
		if !started[sc.Name] {
			none = append(none, sc.Name)
		}
	}
	var parts []string
	if undone, err := pipeline.ReadUndone(ctx, s.st); err == nil {
		for _, u := range undone {
			parts = append(parts, fmt.Sprintf("stage %s left %d units undone (%s)", u.Stage, u.Units, u.Error))
		}
	}
	if len(none) > 0 {
		parts = append(parts, "no unit committed in stage "+strings.Join(none, ", "))
	}
	if len(parts) == 0 {
		return "its last run did not finish"
	}
	return strings.Join(parts, "; ")
}

// putMeta records the merged run's metadata: the shards' config and seed,
// the earliest creation time, and where it came from.
func putMeta(ctx context.Context, dst *store.Store, shards []*shard) error {
	first := shards[0]
	created := first.meta["created"]
	type from struct {
		Shard string `json:"shard"`
		Dir   string `json:"dir"`
	}
	var froms []from
	for _, s := range shards {
		if c := s.meta["created"]; c != "" && c < created {
			created = c // RFC 3339 in UTC sorts as text
		}
		froms = append(froms, from{s.shard.String(), s.dir})
	}
	b, err := json.Marshal(froms)
	if err != nil {
		return fmt.Errorf("merge: %w", err)
	}
	kv := [][2]string{
		{"config", first.meta["config"]}, {"config_hash", first.meta["config_hash"]},
		{"config_source", first.meta["config_source"]}, {"seed", first.meta["seed"]},
		{"created", created}, {"version", first.meta["version"]},
		{pipeline.ShardKey, ""}, {MergedFromKey, string(b)},
	}
	for _, p := range kv {
		if err := dst.SetMetaValue(ctx, p[0], p[1]); err != nil {
			return fmt.Errorf("merge: %w", err)
		}
	}
	return nil
}

// importStage copies every shard's units of stage into dst, shard by
// shard in index order, and returns how many records it copied.
func importStage(ctx context.Context, dst *store.Store, shards []*shard, stage string) (int, error) {
	n := 0
	for _, s := range shards {
		for u, err := range s.st.Units(ctx, stage) {
			if err != nil {
				return n, fmt.Errorf("merge: %s: %w", s, err)
			}
			if err := dst.Import(ctx, u); err != nil {
				if errors.Is(err, store.ErrDuplicate) {
					return n, fmt.Errorf("merge: %s did work another shard did too: their partitions overlap: %w (%w)", s, ErrShards, err)
				}
				return n, fmt.Errorf("merge: %s: %w", s, err)
			}
			n += len(u.Records)
		}
	}
	return n, nil
}

// rerun decides again, in the config's order, what each shard decided
// from its share only: it runs the whole-input stages again over the merged
// records, runs the stages' merge filters (pipeline.MergeFilter) over every
// shard's records, and after either rejects the later stages' records
// whose input was rejected.
func rerun(ctx context.Context, cfg *pipeline.Config, dst *store.Store, res *Result, opts Options) error {
	var last string // the last stage decided again
	for i, sc := range cfg.Stages {
		st, _ := pipeline.Lookup(sc.Type)
		stage, err := st.New(sc.Settings)
		if err != nil {
			return fmt.Errorf("merge: stage %s: %w", sc.Name, err)
		}
		if _, ok := stage.(pipeline.WholeInput); ok {
			if err := dst.ResetStage(ctx, sc.Name); err != nil {
				return fmt.Errorf("merge: %w", err)
			}
			err := pipeline.Run(ctx, cfg, pipeline.Options{
				Store: dst, Cache: dst, Stages: []string{sc.Name}, Now: opts.Now,
				Log: opts.Log, Getenv: opts.Getenv, Version: opts.Version,
				// The merged run holds what every shard paid, each under
				// max_cost_usd of its own: the sum may pass the cap, and a
				// whole-input stage pays nothing anyway.
				MaxCostUSD: math.MaxFloat64,
			})
			if err != nil {
				return fmt.Errorf("merge: stage %s again over the merged shards: %w", sc.Name, err)
			}
			res.Stages[i].Rerun = true
			last = sc.Name
			continue
		}
		if last != "" && i > 0 {
			dropped, unmade, err := prune(ctx, dst, sc.Name, cfg.Stages[i-1].Name, last)
			if err != nil {
				return err
			}
			res.Stages[i].Dropped, res.Stages[i].Unmade = dropped, unmade
			if unmade > 0 {
				opts.Log.Warn("merge: records kept over all shards were rejected by a shard's own pass, so this stage never ran on them",
					"stage", sc.Name, "records", unmade, "rerun", last)
			}
		}
		if mf, ok := stage.(pipeline.MergeFilter); ok {
			env := &pipeline.Env{Name: sc.Name, Store: dst, Log: opts.Log.With("stage", sc.Name), Seed: cfg.Seed, Clock: opts.Now}
			if i > 0 {
				env.Input = cfg.Stages[i-1].Name
			}
			n, err := refilter(ctx, dst, mf, env)
			if err != nil {
				return err
			}
			res.Stages[i].Filtered = n
			last = sc.Name
		}
	}
	return nil
}

// refilter runs a stage's MergeFilter over every record of the stage in Seq
// order and commits again the units whose records it changed, with their
// usage as it was. It returns how many kept records it rejected.
func refilter(ctx context.Context, dst *store.Store, mf pipeline.MergeFilter, env *pipeline.Env) (int, error) {
	type ref struct {
		unit   int
		status record.Status
		ds     int
	}
	var units []pipeline.Unit
	var recs []*record.Record
	was := map[*record.Record]ref{}
	for u, err := range dst.Units(ctx, env.Name) {
		if err != nil {
			return 0, fmt.Errorf("merge: %w", err)
		}
		for _, r := range u.Records {
			recs = append(recs, r)
			was[r] = ref{len(units), r.Status, len(r.Decisions)}
		}
		units = append(units, u)
	}
	slices.SortFunc(recs, func(a, b *record.Record) int {
		if a.Seq != b.Seq {
			return cmp.Compare(a.Seq, b.Seq)
		}
		return strings.Compare(a.ID, b.ID)
	})
	if err := mf.MergeFilter(ctx, env, recs); err != nil {
		return 0, fmt.Errorf("merge: stage %s again over the merged shards: %w", env.Name, err)
	}
	changed := map[int]bool{}
	n := 0
	for _, r := range recs {
		w := was[r]
		if r.Status != w.status || len(r.Decisions) != w.ds {
			changed[w.unit] = true
		}
		if w.status == record.Kept && r.Status != record.Kept {
			n++
		}
	}
	for i, u := range units {
		if changed[i] {
			if err := dst.Commit(ctx, u); err != nil {
				return 0, fmt.Errorf("merge: %w", err)
			}
		}
	}
	return n, nil
}

// prune rejects the kept records of stage whose unit is an input record
// (one unit per input record, keyed by its ID) that is no longer kept, and
// counts the kept input records that have no unit in a stage of such units.
func prune(ctx context.Context, dst *store.Store, stage, input, rerun string) (dropped, unmade int, err error) {
	status := map[string]record.Status{}
	for r, err := range dst.Records(ctx, input, "") {
		if err != nil {
			return 0, 0, fmt.Errorf("merge: %w", err)
		}
		status[r.ID] = r.Status
	}
	perRecord := false
	seen := map[string]bool{}
	var changed []pipeline.Unit
	for u, err := range dst.Units(ctx, stage) {
		if err != nil {
			return 0, 0, fmt.Errorf("merge: %w", err)
		}
		st, ok := status[u.Key]
		if !ok {
			continue // not a unit of one input record
		}
		perRecord = true
		seen[u.Key] = true
		if st == record.Kept {
			continue
		}
		// Every record of the unit says why, whatever its status; the
		// kept ones are rejected.
		for _, r := range u.Records {
			if r.Status == record.Kept {
				r.Status = record.Rejected
				dropped++
			}
			r.Decisions = append(r.Decisions, record.Decision{Filter: "merge", Reason: fmt.Sprintf(
				"its input %s is not kept once stage %s ran again over every shard's records", u.Key, rerun)})
		}
		if len(u.Records) > 0 {
			changed = append(changed, u)
		}
	}
	// Written after the reading ends: Units holds one read snapshot.
	for _, u := range changed {
		if err := dst.Commit(ctx, u); err != nil {
			return 0, 0, fmt.Errorf("merge: %w", err)
		}
	}
	if perRecord {
		for id, st := range status {
			if st == record.Kept && !seen[id] {
				unmade++
			}
		}
	}
	return dropped, unmade, nil
}
