package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
)

// MetaValue returns one run-metadata value by key (the keys Meta reads, plus
// any a caller set with SetMetaValue).
func (s *Store) MetaValue(ctx context.Context, key string) (string, bool, error) {
	var v string
	err := s.r.QueryRowContext(ctx, `SELECT value FROM meta WHERE key = ?`, key).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return "", false, nil
	}
	if err != nil {
		return "", false, fmt.Errorf("store: meta %s: %w", key, err)
	}
	return v, true, nil
}

// SetMetaValue sets one run-metadata value, committed before it returns.
func (s *Store) SetMetaValue(ctx context.Context, key, val string) error {
	if _, err := s.writer(); err != nil {
		return err
	}
	err := s.write(func(ctx context.Context, tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO meta(key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value`, key, val)
		return err
	})
	if err != nil {
		return fmt.Errorf("store: set meta %s: %w", key, err)
	}
	return nil
}

// SpentUSD returns what the run's committed units cost in all, so a resumed
// run's budget cap counts money spent before the restart.
func (s *Store) SpentUSD(ctx context.Context) (float64, error) {
	var v float64
	if err := s.r.QueryRowContext(ctx, `SELECT COALESCE(SUM(cost_usd), 0) FROM units`).Scan(&v); err != nil {
		return 0, fmt.Errorf("store: spent: %w", err)
	}
	return v, nil
}
