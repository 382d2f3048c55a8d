package review

import (
	"context"
	"iter"

	"github.com/synthloop/synthloop/record"
	"github.com/synthloop/synthloop/store"
)

// Run is a run store as the reviewed view of it needs it; *store.Store is one.
type Run interface {
	Labelled
	Meta(ctx context.Context) (store.Meta, error)
	Stats(ctx context.Context) ([]store.StageStats, error)
}

// Reviewed is a run seen through its human decisions: Records yields each
// record as Apply leaves it, so an exporter reading it writes what the
// reviewers decided without knowing of them. It also passes on Meta and
// Stats, which the hf exporter's dataset card reads.
type Reviewed struct {
	Run
	// HumanPairs adds after each record the preference pairs reviewers
	// made between its candidates (Decisions.HumanPairs): for a preference
	// export, which has no other place for them.
	HumanPairs bool
}

// Records yields the stage's records with their human decisions applied;
// status selects by the status after them.
func (v Reviewed) Records(ctx context.Context, stage string, status record.Status) iter.Seq2[*record.Record, error] {
	return func(yield func(*record.Record, error) bool) {
		d, err := Load(ctx, v.Run, stage)
		if err != nil {
			yield(nil, err)
			return
		}
		for r, err := range v.Run.Records(ctx, stage, "") {
			if err != nil {
				yield(nil, err)
				return
			}
			var pairs []*record.Record
			if v.HumanPairs {
				pairs = d.HumanPairs(r)
			}
			for _, r := range append([]*record.Record{d.Apply(r)}, pairs...) {
				if status != "" && r.Status != status {
					continue
				}
				if !yield(r, nil) {
					return
				}
			}
		}
	}
}
