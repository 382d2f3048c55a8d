package store

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"time"
)

// Meta describes a run: what it was started with and by which build. Its
// fields are stored as the metadata keys config, config_hash, config_source,
// seed, created (RFC 3339) and version, which MetaValue reads one by one.
type Meta struct {
	Config     string    // the pipeline config text as given
	Source     string    // where the config came from (its file path)
	ConfigHash string    // HashConfig(Config) unless the caller set it
	Seed       int64     // the run's seed
	Created    time.Time // when the run was first started
	Version    string    // synthloop version that created the run
}

// HashConfig returns the hex SHA-256 of a config text; a resume compares it
// with the stored hash to notice that the config changed under a run.
func HashConfig(config string) string {
	h := sha256.Sum256([]byte(config))
	return hex.EncodeToString(h[:])
}

// PutMeta stores the run metadata, replacing what was there, in one transaction.
func (s *Store) PutMeta(ctx context.Context, m Meta) error {
	if _, err := s.writer(); err != nil {
		return err
	}
	if m.ConfigHash == "" {
		m.ConfigHash = HashConfig(m.Config)
	}
	kv := [][2]string{
		{"config", m.Config},
		{"config_hash", m.ConfigHash},
		{"config_source", m.Source},
		{"seed", strconv.FormatInt(m.Seed, 10)},
		{"created", m.Created.UTC().Format(time.RFC3339Nano)},
		{"version", m.Version},
	}
	err := s.write(func(ctx context.Context, tx *sql.Tx) error {
		for _, p := range kv {
			if _, err := tx.ExecContext(ctx, `INSERT INTO meta(key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value`, p[0], p[1]); err != nil {
				return fmt.Errorf("%s: %w", p[0], err)
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("store: put meta: %w", err)
	}
	return nil
}

// Meta returns the run metadata, or an error wrapping ErrNotFound when
// PutMeta was never called for this run.
func (s *Store) Meta(ctx context.Context) (Meta, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT key, value FROM meta`)
	if err != nil {
		return Meta{}, fmt.Errorf("store: meta: %w", err)
	}
	defer rows.Close()
	var m Meta
	found := false
	for rows.Next() {
		var k, v string
		if err := rows.Scan(&k, &v); err != nil {
			return Meta{}, fmt.Errorf("store: meta: %w", err)
		}
		found = true
		switch k {
		case "config":
			m.Config = v
		case "config_hash":
			m.ConfigHash = v
		case "config_source":
			m.Source = v
		case "seed":
			if m.Seed, err = strconv.ParseInt(v, 10, 64); err != nil {
				return Meta{}, fmt.Errorf("store: meta seed %q: %w", v, err)
			}
		case "created":
			if m.Created, err = time.Parse(time.RFC3339Nano, v); err != nil {
				return Meta{}, fmt.Errorf("store: meta created %q: %w", v, err)
			}
		case "version":
			m.Version = v
		}
	}
	if err := rows.Err(); err != nil && !errors.Is(err, sql.ErrNoRows) {
		return Meta{}, fmt.Errorf("store: meta: %w", err)
	}
	if !found {
		return Meta{}, fmt.Errorf("store: meta: %w", ErrNotFound)
	}
	return m, nil
}
