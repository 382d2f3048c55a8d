package store

import (
	"context"
	"strings"
	"testing"

	"github.com/synthloop/synthloop/pipeline"
)

// TestUpgradeFromVersion1 makes a run database as version 1 wrote it (no
// cached_prompt_tokens): a read-only open reads it as it is, a writable one
// upgrades it, and cached prompt tokens are then kept.
func TestUpgradeFromVersion1(t *testing.T) {
	ctx := context.Background()
	s := openTemp(t)
	dir := s.Dir()
	if err := s.Commit(ctx, pipeline.Unit{Stage: "a", Key: "u1", Usage: pipeline.UnitUsage{Requests: 1, PromptTokens: 50}}); err != nil {
		t.Fatal(err)
	}
	// Back to version 1: the table without the column.
	v1 := strings.Replace(schemaUnitsV2(), "\tcached_prompt_tokens INTEGER NOT NULL DEFAULT 0, -- served by the provider's prompt cache (v2)\n", "", 1)
	for _, q := range []string{
		`CREATE TABLE units_v1 ` + v1,
		`INSERT INTO units_v1 SELECT stage, key, records, requests, cached_requests, prompt_tokens, completion_tokens, cost_usd, errors, committed_at FROM units`,
		`DROP TABLE units`, `ALTER TABLE units_v1 RENAME TO units`, `PRAGMA user_version = 1`,
	} {
		if _, err := s.w.ExecContext(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	s.Close()

	r, err := OpenReadOnly(ctx, dir)
	if err != nil {
		t.Fatalf("read-only open of version 1: %v", err)
	}
	st, err := r.Stats(ctx)
	r.Close()
	if err != nil || len(st) != 1 || st[0].PromptTokens != 50 || st[0].CachedPromptTokens != 0 {
		t.Fatalf("stats of version 1: %+v, %v", st, err)
	}

	w, err := Open(ctx, dir)
	if err != nil {
		t.Fatalf("upgrade: %v", err)
	}
	defer w.Close()
	if err := w.Commit(ctx, pipeline.Unit{Stage: "a", Key: "u2", Usage: pipeline.UnitUsage{Requests: 1, PromptTokens: 40, CachedPromptTokens: 30}}); err != nil {
		t.Fatal(err)
	}
	st, err = w.Stats(ctx)
	if err != nil || st[0].PromptTokens != 90 || st[0].CachedPromptTokens != 30 {
		t.Fatalf("stats after the upgrade: %+v, %v", st, err)
	}
	var v int
	w.w.QueryRowContext(ctx, "PRAGMA user_version").Scan(&v)
	if v != SchemaVersion {
		t.Errorf("user_version %d after the upgrade, want %d", v, SchemaVersion)
	}
}

// schemaUnitsV2 is the column list of the units table in schema.
func schemaUnitsV2() string {
	i := strings.Index(schema, "CREATE TABLE units (")
	rest := schema[i+len("CREATE TABLE units "):]
	return rest[:strings.Index(rest, ") WITHOUT ROWID;")+len(") WITHOUT ROWID")]
}
