package dedup

import (
	"context"
	"fmt"
	"iter"

	"github.com/synthloop/synthloop/pipeline"
	"github.com/synthloop/synthloop/record"
)

// partReader is what the stage needs of a store to read its input in
// parts. *store.Store has it; any other pipeline.Store is read through
// Records (scanStore), which is right but reads from the start each part.
type partReader interface {
	// Count returns how many records stage holds with status.
	Count(ctx context.Context, stage string, status record.Status) (int, error)
	// RecordsAfter is Records from the first record after (seq, id).
	RecordsAfter(ctx context.Context, stage string, status record.Status, seq int64, id string) iter.Seq2[*record.Record, error]
	// Record returns the record with the given ID.
	Record(ctx context.Context, id string) (*record.Record, error)
}

func partsOf(st pipeline.Store, input string) partReader {
	if p, ok := st.(partReader); ok {
		return p
	}
	return scanStore{st, input}
}

// scanStore reads parts of a pipeline.Store by scanning Records: for small
// stores, such as the in-memory ones of tests.
type scanStore struct {
	st    pipeline.Store
	input string // the stage whose records Record finds
}

func (s scanStore) Count(ctx context.Context, stage string, status record.Status) (int, error) {
	n := 0
	for _, err := range s.st.Records(ctx, stage, status) {
		if err != nil {
			return 0, err
		}
		n++
	}
	return n, nil
}

func (s scanStore) RecordsAfter(ctx context.Context, stage string, status record.Status, seq int64, id string) iter.Seq2[*record.Record, error] {
	return func(yield func(*record.Record, error) bool) {
		for r, err := range s.st.Records(ctx, stage, status) {
			if err == nil && (r.Seq < seq || (r.Seq == seq && r.ID <= id)) {
				continue
			}
			if !yield(r, err) || err != nil {
				return
			}
		}
	}
}

func (s scanStore) Record(ctx context.Context, id string) (*record.Record, error) {
	for r, err := range s.st.Records(ctx, s.input, "") {
		if err != nil {
			return nil, err
		}
		if r.ID == id {
			return r, nil
		}
	}
	return nil, fmt.Errorf("record %q not found", id)
}
