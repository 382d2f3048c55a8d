package store

// Whole committed units, read out and written in: what merging the run
// stores of a sharded run needs beyond Commit and Records.

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"iter"
	"strings"

	"github.com/synthloop/synthloop/pipeline"
)

// Units yields the committed units of stage in key order, each with its
// records (in Seq order, ties by ID) and its usage. Like Records it reads
// one snapshot and stops after yielding an error.
func (s *Store) Units(ctx context.Context, stage string) iter.Seq2[pipeline.Unit, error] {
	return func(yield func(pipeline.Unit, error) bool) {
		fail := func(err error) { yield(pipeline.Unit{}, fmt.Errorf("store: units of %s: %w", stage, err)) }
		// One read transaction, so the units and the records agree.
		tx, err := s.r.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
		if err != nil {
			fail(err)
			return
		}
		defer tx.Rollback()
		us, err := tx.QueryContext(ctx, `SELECT key, requests, cached_requests, prompt_tokens, completion_tokens, cost_usd, errors
			FROM units WHERE stage = ? ORDER BY key`, stage)
		if err != nil {
			fail(err)
			return
		}
		var units []pipeline.Unit
		for us.Next() {
			u := pipeline.Unit{Stage: stage}
			c := &u.Usage
			if err := us.Scan(&u.Key, &c.Requests, &c.CachedRequests, &c.PromptTokens, &c.CompletionTokens, &c.CostUSD, &c.Errors); err != nil {
				us.Close()
				fail(err)
				return
			}
			units = append(units, u)
		}
		us.Close()
		if err := us.Err(); err != nil {
			fail(err)
			return
		}
		// Records are grouped by unit in the same key order as the units,
		// so the two lists are walked side by side.
		rows, err := tx.QueryContext(ctx, `SELECT unit, data FROM records WHERE stage = ? ORDER BY unit, seq, id`, stage)
		if err != nil {
			fail(err)
			return
		}
		defer rows.Close()
		var key string
		var data []byte
		more := rows.Next()
		if more {
			if err := rows.Scan(&key, &data); err != nil {
				fail(err)
				return
			}
		}
		for _, u := range units {
			for more && key <= u.Key {
				if key < u.Key {
					fail(fmt.Errorf("record of unit %q, which has no done-mark", key))
					return
				}
				r, err := decodeRecord(data)
				if err != nil {
					fail(fmt.Errorf("decode: %w", err))
					return
				}
				u.Records = append(u.Records, r)
				if more = rows.Next(); more {
					if err := rows.Scan(&key, &data); err != nil {
						fail(err)
						return
					}
				}
			}
			if !yield(u, nil) {
				return
			}
		}
		if more {
			fail(fmt.Errorf("record of unit %q, which has no done-mark", key))
			return
		}
		if err := rows.Err(); err != nil {
			fail(err)
		}
	}
}

// Import adds a unit read from another run store (Units) in one
// transaction: its records are inserted, and its usage is added to the
// done-mark of the unit with its key, which it creates when there is none.
// So the parts of a unit that several shards did add up to the whole
// unit. A record whose ID is already in the store is an error: two shards
// did the same work.
func (s *Store) Import(ctx context.Context, u pipeline.Unit) error {
	if _, err := s.writer(); err != nil {
		return err
	}
	if u.Stage == "" || u.Key == "" {
		return fmt.Errorf("store: import: unit needs a stage and a key (stage %q, key %q)", u.Stage, u.Key)
	}
	blobs := make([]string, len(u.Records))
	for i, r := range u.Records {
		if r == nil || r.ID == "" || !validStatus(r.Status) || r.Stage != u.Stage {
			return fmt.Errorf("store: import %s/%s: record %d is not a committed record of the stage", u.Stage, u.Key, i)
		}
		b, err := json.Marshal(r)
		if err != nil {
			return fmt.Errorf("store: import %s/%s: encode record %s: %w", u.Stage, u.Key, r.ID, err)
		}
		blobs[i] = string(b)
	}
	err := s.write(func(ctx context.Context, tx *sql.Tx) error {
		if _, err := tx.StmtContext(ctx, s.insStage).ExecContext(ctx, u.Stage); err != nil {
			return err
		}
		for i, r := range u.Records {
			_, err := tx.ExecContext(ctx, `INSERT INTO records(id, stage, seq, status, unit, data) VALUES (?, ?, ?, ?, ?, ?)`,
				r.ID, u.Stage, r.Seq, string(r.Status), u.Key, blobs[i])
			if err != nil {
				if strings.Contains(err.Error(), "UNIQUE") {
					return fmt.Errorf("record %s is already in the store: %w", r.ID, ErrDuplicate)
				}
				return fmt.Errorf("record %s: %w", r.ID, err)
			}
		}
		us := u.Usage
		_, err := tx.ExecContext(ctx, `INSERT INTO units(stage, key, records, requests, cached_requests, prompt_tokens, completion_tokens, cost_usd, errors, committed_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
			ON CONFLICT(stage, key) DO UPDATE SET records = records + excluded.records, requests = requests + excluded.requests,
				cached_requests = cached_requests + excluded.cached_requests, prompt_tokens = prompt_tokens + excluded.prompt_tokens,
				completion_tokens = completion_tokens + excluded.completion_tokens, cost_usd = cost_usd + excluded.cost_usd,
				errors = errors + excluded.errors, committed_at = max(committed_at, excluded.committed_at)`,
			u.Stage, u.Key, len(u.Records), us.Requests, us.CachedRequests, us.PromptTokens, us.CompletionTokens, us.CostUSD, us.Errors, s.now().UnixNano())
		if err != nil {
			return fmt.Errorf("done-mark: %w", err)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("store: import %s/%s: %w", u.Stage, u.Key, err)
	}
	s.stages.Store(u.Stage, true)
	return nil
}

// ErrDuplicate is returned (wrapped) by Import for a record already in the
// store.
var ErrDuplicate = errors.New("store: duplicate record")

// ResetStage deletes the records and done-marks of stage in one
// transaction, so that the stage runs again from the start.
func (s *Store) ResetStage(ctx context.Context, stage string) error {
	if _, err := s.writer(); err != nil {
		return err
	}
	err := s.write(func(ctx context.Context, tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `DELETE FROM records WHERE stage = ?`, stage); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `DELETE FROM units WHERE stage = ?`, stage)
		return err
	})
	if err != nil {
		return fmt.Errorf("store: reset stage %s: %w", stage, err)
	}
	return nil
}
