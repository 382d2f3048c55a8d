package review

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"iter"

	"github.com/synthloop/synthloop/record"
	"github.com/synthloop/synthloop/store"
)

// Labelled is what Labels reads: the log and the records.
type Labelled interface {
	Log
	Stages(ctx context.Context) ([]string, error)
	Records(ctx context.Context, stage string, status record.Status) iter.Seq2[*record.Record, error]
}

// HumanScore is a verdict as an ordinal score for judge calibration:
// accepted 2, edited 1 (usable after a fix), rejected 0.
func HumanScore(k store.ReviewKind) float64 {
	switch k {
	case store.Accept:
		return 2
	case store.Edit:
		return 1
	}
	return 0
}

// Labels writes the reviewed records of stage ("" every stage) as lines
// `judge calibrate` reads: {"prompt", "answer", "score"}, the answer as the
// pipeline wrote it (what its judges saw) and the score HumanScore of the
// reviewers' outcome. Records without an output are left out. It returns how
// many lines it wrote.
func Labels(ctx context.Context, run Labelled, stage string, w io.Writer) (int, error) {
	stages := []string{stage}
	if stage == "" {
		var err error
		if stages, err = run.Stages(ctx); err != nil {
			return 0, err
		}
	}
	enc := json.NewEncoder(w)
	n := 0
	for _, st := range stages {
		d, err := Load(ctx, run, st)
		if err != nil {
			return n, err
		}
		if len(d.ByRecord) == 0 {
			continue
		}
		for r, err := range run.Records(ctx, st, "") {
			if err != nil {
				return n, err
			}
			v, ok := d.Outcome(r.ID)
			if !ok || r.Output == "" {
				continue
			}
			prompt := r.Instruction
			if r.Input != "" {
				prompt += "\n\n" + r.Input
			}
			line := struct {
				Prompt string  `json:"prompt"`
				Answer string  `json:"answer"`
				Score  float64 `json:"score"`
			}{prompt, r.Output, HumanScore(v.Kind)}
			if err := enc.Encode(line); err != nil {
				return n, fmt.Errorf("review: labels: %w", err)
			}
			n++
		}
	}
	return n, nil
}
