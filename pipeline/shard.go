package pipeline

// A sharded run divides one pipeline's work among N processes that share
// nothing but the config: each has its own run store, and the unit
// scheduler (units.go) alone decides, from a hash of what it is given, which
// units belong to this shard. Nothing here depends on timing, so the split is
// the same on every restart and in every shard.

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"strconv"
	"strings"

	"github.com/synthloop/synthloop/record"
)

// Shard is this process's part of a sharded run: shard Index of Count. The
// zero value is an unsharded run, which owns every unit.
type Shard struct {
	Index int // 0 ≤ Index < Count
	Count int
}

// Sharded reports whether s is a part of a sharded run (Count ≥ 1); the
// zero Shard is not.
func (s Shard) Sharded() bool { return s.Count >= 1 }

// String is the i/N form that ParseShard reads, or "" when unsharded.
func (s Shard) String() string {
	if !s.Sharded() {
		return ""
	}
	return fmt.Sprintf("%d/%d", s.Index, s.Count)
}

// DirName is the run directory of the shard inside a sharded run's
// directory: shard-I-of-N.
func (s Shard) DirName() string { return fmt.Sprintf("shard-%d-of-%d", s.Index, s.Count) }

// Owns reports whether the work named key (a unit key, or a record ID for
// units split by record) is this shard's: FNV-1a of key, modulo Count. An
// unsharded run owns everything.
func (s Shard) Owns(key string) bool {
	if s.Count <= 1 {
		return true
	}
	h := fnv.New64a()
	h.Write([]byte(key))
	return h.Sum64()%uint64(s.Count) == uint64(s.Index)
}

// Share is this shard's part of a total of n, such as a generating stage's
// target: the parts of all shards add up to n and differ by at most one.
func (s Shard) Share(n int) int {
	if s.Count <= 1 {
		return n
	}
	return n*(s.Index+1)/s.Count - n*s.Index/s.Count
}

// check reports a Shard that no flag or variable should produce.
func (s Shard) check() error {
	if s.Count < 1 || s.Index < 0 || s.Index >= s.Count {
		return fmt.Errorf("pipeline: shard %d/%d: want 0 ≤ index < count", s.Index, s.Count)
	}
	return nil
}

// ParseShard reads "i/N": shard i (from 0) of N.
func ParseShard(v string) (Shard, error) {
	i, n, ok := strings.Cut(strings.TrimSpace(v), "/")
	if !ok {
		return Shard{}, fmt.Errorf("pipeline: shard %q: want INDEX/COUNT, such as 0/4", v)
	}
	idx, err1 := strconv.Atoi(i)
	cnt, err2 := strconv.Atoi(n)
	if err := errors.Join(err1, err2); err != nil {
		return Shard{}, fmt.Errorf("pipeline: shard %q: want INDEX/COUNT, such as 0/4: %w", v, err)
	}
	s := Shard{Index: idx, Count: cnt}
	if err := s.check(); err != nil {
		return Shard{}, err
	}
	return s, nil
}

// The schedulers' variables that ShardFromEnv reads.
const (
	// EnvJobIndex is set by Kubernetes in each pod of an Indexed Job.
	EnvJobIndex = "JOB_COMPLETION_INDEX"
	// EnvSlurmTaskID and its companions are set by Slurm in each task of a
	// job array; the index is the task ID less the array's lowest ID.
	EnvSlurmTaskID    = "SLURM_ARRAY_TASK_ID"
	EnvSlurmTaskMin   = "SLURM_ARRAY_TASK_MIN"
	EnvSlurmTaskCount = "SLURM_ARRAY_TASK_COUNT"
)

// ShardFromEnv is shard i of count, i read from the scheduler that started
// the process: a Kubernetes Indexed Job's JOB_COMPLETION_INDEX, or a Slurm
// job array's SLURM_ARRAY_TASK_ID less SLURM_ARRAY_TASK_MIN (whose
// SLURM_ARRAY_TASK_COUNT, when set, must equal count). Both set, or neither,
// is an error: guessing would make two shards do the same work.
func ShardFromEnv(count int, getenv func(string) string) (Shard, error) {
	if count < 1 {
		return Shard{}, fmt.Errorf("pipeline: --shards %d: want at least 1", count)
	}
	k8s, slurm := getenv(EnvJobIndex), getenv(EnvSlurmTaskID)
	num := func(name string) (int, error) {
		v, err := strconv.Atoi(strings.TrimSpace(getenv(name)))
		if err != nil {
			return 0, fmt.Errorf("pipeline: %s=%q is not a number", name, getenv(name))
		}
		return v, nil
	}
	var s Shard
	switch {
	case k8s != "" && slurm != "":
		return Shard{}, fmt.Errorf("pipeline: both %s and %s are set; pass --shard INDEX/COUNT to say which shard this is", EnvJobIndex, EnvSlurmTaskID)
	case k8s != "":
		i, err := num(EnvJobIndex)
		if err != nil {
			return Shard{}, err
		}
		s = Shard{Index: i, Count: count}
	case slurm != "":
		id, err := num(EnvSlurmTaskID)
		if err != nil {
			return Shard{}, err
		}
		low := 0
		if getenv(EnvSlurmTaskMin) != "" {
			if low, err = num(EnvSlurmTaskMin); err != nil {
				return Shard{}, err
			}
		}
		if getenv(EnvSlurmTaskCount) != "" {
			n, err := num(EnvSlurmTaskCount)
			if err != nil {
				return Shard{}, err
			}
			if n != count {
				return Shard{}, fmt.Errorf("pipeline: --shards %d but the Slurm array has %d tasks (%s); make them equal", count, n, EnvSlurmTaskCount)
			}
		}
		s = Shard{Index: id - low, Count: count}
	default:
		return Shard{}, fmt.Errorf("pipeline: --shards %d needs the shard index from %s (a Kubernetes Indexed Job) or %s (a Slurm job array); neither is set, so pass --shard INDEX/%d", count, EnvJobIndex, EnvSlurmTaskID, count)
	}
	if err := s.check(); err != nil {
		return Shard{}, err
	}
	return s, nil
}

// WholeInput is implemented by stages whose decisions depend on the whole of
// their input rather than on one record at a time, such as dedup. In a
// sharded run such a stage runs, whole, over the shard's share of its input
// (which is what reaches the shard's later stages), and the merge of the
// shards runs it again over the merged input, so that its decisions come out
// as one process's would.
type WholeInput interface {
	Stage
	// WholeInput is a marker; it returns true.
	WholeInput() bool
}

// MergeFilter is implemented by stages that filter each record against the
// records the stage kept before it, such as Self-Instruct's ROUGE-L novelty
// filter. In a sharded run each shard filters against its own records only;
// the merge hands the stage every shard's records of the stage to filter
// again across shards.
type MergeFilter interface {
	Stage
	// MergeFilter decides again, in place, about recs: the stage's records
	// from every shard, in Seq order (ties by ID). It may turn kept records
	// rejected, appending a Decision that says why; it changes nothing else.
	MergeFilter(ctx context.Context, env *Env, recs []*record.Record) error
}

// ShardKey is the run-store meta key holding a shard's i/N.
const ShardKey = "shard"

// FinishedKey is the run-store meta key that Run sets, to the time, when a
// run of every stage ends with no error, and clears when a run starts: a
// merge takes only finished shards.
const FinishedKey = "finished"
