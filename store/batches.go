package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"time"

	"github.com/synthloop/synthloop/model"
)

// schemaBatches holds provider batches (schema version 3): a batch and its
// request map are committed before the provider hears of the batch, so a
// killed run finds it again instead of creating a second one.
const schemaBatches = `
CREATE TABLE IF NOT EXISTS batches (
	tag        TEXT PRIMARY KEY, -- synthloop's id, sent as the batch's metadata
	model      TEXT NOT NULL,    -- the config's model name
	provider   TEXT NOT NULL,
	id         TEXT NOT NULL DEFAULT '', -- the provider's id, '' until created
	state      TEXT NOT NULL,    -- pending, running, ended, finished
	status     TEXT NOT NULL DEFAULT '', -- the provider's last word
	items      INTEGER NOT NULL,
	succeeded  INTEGER NOT NULL DEFAULT 0,
	failed     INTEGER NOT NULL DEFAULT 0,
	created_at INTEGER NOT NULL, -- unix nanoseconds
	updated_at INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS batches_model ON batches (model, state);

-- One row per request of a batch; state is pending until its result is
-- committed: done (answer in the cache), failed (refused), retry (sent again
-- in a later batch).
CREATE TABLE IF NOT EXISTS batch_items (
	tag       TEXT NOT NULL,
	custom_id TEXT NOT NULL,
	request   TEXT NOT NULL, -- model.Request as JSON
	state     TEXT NOT NULL,
	error     TEXT NOT NULL DEFAULT '',
	PRIMARY KEY (tag, custom_id)
) WITHOUT ROWID;
`

// AddBatch implements model.BatchStore.
func (s *Store) AddBatch(ctx context.Context, b model.BatchInfo, items []model.BatchItem) error {
	if _, err := s.writer(); err != nil {
		return err
	}
	reqs := make([][]byte, len(items))
	for i, it := range items {
		var err error
		if reqs[i], err = json.Marshal(it.Request); err != nil {
			return fmt.Errorf("store: add batch %s: %w", b.Tag, err)
		}
	}
	err := s.write(func(ctx context.Context, tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `INSERT INTO batches(tag, model, provider, id, state, status, items, created_at, updated_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`, b.Tag, b.Model, b.Provider, b.ID, b.State, b.Status, len(items),
			b.Created.UnixNano(), b.Updated.UnixNano()); err != nil {
			return err
		}
		for i, it := range items {
			if _, err := tx.ExecContext(ctx, `INSERT INTO batch_items(tag, custom_id, request, state) VALUES (?, ?, ?, 'pending')`,
				b.Tag, it.CustomID, string(reqs[i])); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("store: add batch %s: %w", b.Tag, err)
	}
	return nil
}

// UpdateBatch implements model.BatchStore.
func (s *Store) UpdateBatch(ctx context.Context, b model.BatchInfo) error {
	if _, err := s.writer(); err != nil {
		return err
	}
	err := s.write(func(ctx context.Context, tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `UPDATE batches SET id = ?, state = ?, status = ?, updated_at = ? WHERE tag = ?`,
			b.ID, b.State, b.Status, b.Updated.UnixNano(), b.Tag)
		return err
	})
	if err != nil {
		return fmt.Errorf("store: update batch %s: %w", b.Tag, err)
	}
	return nil
}

// BatchResult implements model.BatchStore.
func (s *Store) BatchResult(ctx context.Context, tag, customID, state, errText, cacheKey string, cacheVal []byte) error {
	if _, err := s.writer(); err != nil {
		return err
	}
	if cacheVal != nil {
		// Handed to the writer like Put's entries, before the write: the
		// transaction carrying the item's new state carries the entry too,
		// or follows the one that did.
		if err := s.cache.put(cacheKey, cacheVal); err != nil {
			return fmt.Errorf("store: batch %s: result of %s: earlier cache entries were not written: %w", tag, customID, err)
		}
	}
	col := "failed"
	if state == "done" {
		col = "succeeded"
	}
	err := s.write(func(ctx context.Context, tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE batch_items SET state = ?, error = ? WHERE tag = ? AND custom_id = ? AND state = 'pending'`,
			state, errText, tag, customID)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return nil // committed already
		}
		_, err = tx.ExecContext(ctx, `UPDATE batches SET `+col+` = `+col+` + 1 WHERE tag = ?`, tag)
		return err
	})
	if err != nil {
		return fmt.Errorf("store: batch %s: result of %s: %w", tag, customID, err)
	}
	return nil
}

// Batches implements model.BatchStore.
func (s *Store) Batches(ctx context.Context, modelName string) ([]model.BatchInfo, [][]model.BatchItem, error) {
	infos, err := s.batchList(ctx, `WHERE model = ? AND state != ?`, modelName, model.BatchFinished)
	if err != nil {
		return nil, nil, err
	}
	items := make([][]model.BatchItem, len(infos))
	for i, b := range infos {
		rows, err := s.r.QueryContext(ctx, `SELECT custom_id, request FROM batch_items WHERE tag = ? AND state = 'pending' ORDER BY custom_id`, b.Tag)
		if err != nil {
			return nil, nil, fmt.Errorf("store: batch %s: %w", b.Tag, err)
		}
		for rows.Next() {
			var it model.BatchItem
			var req string
			if err := rows.Scan(&it.CustomID, &req); err != nil {
				rows.Close()
				return nil, nil, fmt.Errorf("store: batch %s: %w", b.Tag, err)
			}
			if err := json.Unmarshal([]byte(req), &it.Request); err != nil {
				rows.Close()
				return nil, nil, fmt.Errorf("store: batch %s: request %s: %w", b.Tag, it.CustomID, err)
			}
			items[i] = append(items[i], it)
		}
		err = rows.Err()
		rows.Close()
		if err != nil {
			return nil, nil, fmt.Errorf("store: batch %s: %w", b.Tag, err)
		}
	}
	return infos, items, nil
}

// AllBatches returns every batch of the run, oldest first, for `status`.
// A store older than schema version 3 has none.
func (s *Store) AllBatches(ctx context.Context) ([]model.BatchInfo, error) {
	if s.version < 3 {
		return nil, nil
	}
	return s.batchList(ctx, ``)
}

func (s *Store) batchList(ctx context.Context, where string, args ...any) ([]model.BatchInfo, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT tag, model, provider, id, state, status, items, succeeded, failed, created_at, updated_at
		FROM batches `+where+` ORDER BY created_at, tag`, args...)
	if err != nil {
		return nil, fmt.Errorf("store: batches: %w", err)
	}
	defer rows.Close()
	var out []model.BatchInfo
	for rows.Next() {
		var b model.BatchInfo
		var c, u int64
		if err := rows.Scan(&b.Tag, &b.Model, &b.Provider, &b.ID, &b.State, &b.Status, &b.Items, &b.Succeeded, &b.Failed, &c, &u); err != nil {
			return nil, fmt.Errorf("store: batches: %w", err)
		}
		b.Created, b.Updated = time.Unix(0, c).UTC(), time.Unix(0, u).UTC()
		out = append(out, b)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: batches: %w", err)
	}
	return out, nil
}
