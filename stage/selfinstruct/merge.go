package selfinstruct

import (
	"context"
	"fmt"

	"github.com/synthloop/synthloop/pipeline"
	"github.com/synthloop/synthloop/record"
	"github.com/synthloop/synthloop/text"
)

// MergeFilter implements pipeline.MergeFilter: the novelty filter again,
// over every shard's instructions in Seq order, against the seed tasks and
// the instructions kept before each. Each shard kept only instructions novel
// against its own pool, so what this rejects is an instruction too close to
// one another shard kept earlier in that order.
func (s *Stage) MergeFilter(ctx context.Context, env *pipeline.Env, recs []*record.Record) error {
	c := s.cfg
	// The merge records only a rejection's maximum and the instruction
	// reaching it (the earliest among equal scores, as in a top-K list), so
	// it asks the index for the maximum alone: no mean, no top K.
	idx, err := text.NewIndex(text.Options{Threshold: c.NoveltyThreshold, TopK: 1, Mean: text.MeanNone, Tokenizer: s.tok})
	if err != nil {
		return fmt.Errorf("selfinstruct: %w", err)
	}
	for _, t := range s.seeds {
		idx.AddText(t.Instruction)
	}
	for _, r := range recs {
		if err := ctx.Err(); err != nil {
			return err
		}
		if r.Status != record.Kept {
			continue
		}
		res := idx.CheckText(r.Instruction)
		if res.Novel {
			idx.AddText(r.Instruction)
			continue
		}
		d := record.Decision{Filter: "novelty", Value: res.Max,
			Reason: fmt.Sprintf("max ROUGE-L %s > %v across the merged shards", score(res.Max, c.NoveltyThreshold), c.NoveltyThreshold)}
		if len(res.Similar) > 0 {
			d.Reason += fmt.Sprintf(" against %q", clip(res.Similar[0].Text, 80))
		}
		r.Status = record.Rejected
		r.Decisions = append(r.Decisions, d)
	}
	return nil
}
