package store

import (
	"context"
	"strings"
	"testing"

	"github.com/synthloop/synthloop/pipeline"
	"github.com/synthloop/synthloop/record"
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

// TestUpgradeFromVersion4 turns a run back into version 4's layout (two
// records indexes): a read-only open reads it as it
// is, and a writable one upgrades it with its records, counts and cache
// entries intact.
func TestUpgradeFromVersion4(t *testing.T) {
	ctx := context.Background()
	s := openTemp(t)
	dir := s.Dir()
	recs := []*record.Record{
		{ID: "r2", Seq: 2, Status: record.Kept, Output: "two"},
		{ID: "r1", Seq: 1, Status: record.Rejected, Output: "one"},
		{ID: "r3", Seq: 3, Status: record.Failed, Error: "boom"},
	}
	if err := s.Commit(ctx, pipeline.Unit{Stage: "a", Key: "u1", Records: recs}); err != nil {
		t.Fatal(err)
	}
	if err := s.Put(ctx, "k1", []byte("v1")); err != nil {
		t.Fatal(err)
	}
	s.Close()
	s4, err := Open(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range append(cacheV5,
		`DROP INDEX records_stage_seq_status`,
		`CREATE INDEX records_stage_status_seq ON records (stage, status, seq)`,
		`CREATE INDEX records_stage_seq ON records (stage, seq)`,
		`PRAGMA user_version = 4`,
	) {
		if _, err := s4.w.ExecContext(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	s4.Close()

	check := func(s *Store, when string) {
		t.Helper()
		var ids []string
		for r, err := range s.Records(ctx, "a", "") {
			if err != nil {
				t.Fatal(err)
			}
			ids = append(ids, r.ID)
		}
		if strings.Join(ids, ",") != "r1,r2,r3" {
			t.Errorf("%s: records %v", when, ids)
		}
		st, err := s.Stats(ctx)
		if err != nil || len(st) != 1 || st[0].Kept != 1 || st[0].Rejected != 1 || st[0].Failed != 1 || st[0].Records != 3 {
			t.Errorf("%s: stats %+v, %v", when, st, err)
		}
		if v, ok, err := s.Get(ctx, "k1"); err != nil || !ok || string(v) != "v1" {
			t.Errorf("%s: cache entry %q %v %v", when, v, ok, err)
		}
	}
	r, err := OpenReadOnly(ctx, dir)
	if err != nil {
		t.Fatalf("read-only open of version 4: %v", err)
	}
	check(r, "version 4, read-only")
	r.Close()

	w, err := Open(ctx, dir)
	if err != nil {
		t.Fatalf("upgrade: %v", err)
	}
	defer w.Close()
	check(w, "upgraded")
	var v int
	var ddl string
	w.w.QueryRowContext(ctx, "PRAGMA user_version").Scan(&v)
	w.w.QueryRowContext(ctx, "SELECT group_concat(sql, ';') FROM sqlite_schema WHERE tbl_name = 'records'").Scan(&ddl)
	if v != SchemaVersion || !strings.Contains(ddl, "records_stage_seq_status") || strings.Contains(ddl, "records_stage_status_seq") || strings.Contains(ddl, "records_stage_seq ") {
		t.Errorf("after the upgrade: version %d, schema %s", v, ddl)
	}
	if err := w.Put(ctx, "k2", []byte("v2")); err != nil {
		t.Fatal(err)
	}
}

// cacheV5 turns the cache table back into versions 1–5's layout: the key its
// primary key, so indexed.
var cacheV5 = []string{
	`CREATE TABLE cache_v5 (key TEXT PRIMARY KEY, value BLOB NOT NULL)`,
	`INSERT INTO cache_v5 SELECT key, value FROM cache`,
	`DROP TABLE cache`, `ALTER TABLE cache_v5 RENAME TO cache`,
}

// TestUpgradeFromVersion5 turns a run back into version 5's layout (the
// cache keyed by an index): a read-only open finds its entries as they are,
// and a writable one upgrades the table, finds them through the index in
// memory, and keeps new ones across a reopen.
func TestUpgradeFromVersion5(t *testing.T) {
	ctx := context.Background()
	s := openTemp(t)
	dir := s.Dir()
	for _, k := range []string{"k1", "k2", "k3"} {
		if err := s.Put(ctx, k, []byte("v"+k)); err != nil {
			t.Fatal(err)
		}
	}
	s.Close()
	s5, err := Open(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range append(cacheV5, `PRAGMA user_version = 5`) {
		if _, err := s5.w.ExecContext(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	s5.Close()

	check := func(s *Store, when string, keys ...string) {
		t.Helper()
		for _, k := range keys {
			if v, ok, err := s.Get(ctx, k); err != nil || !ok || string(v) != "v"+k {
				t.Errorf("%s: Get(%s) = %q %v %v", when, k, v, ok, err)
			}
		}
		if v, ok, err := s.Get(ctx, "k9"); err != nil || ok {
			t.Errorf("%s: Get(k9) = %q %v %v, want a miss", when, v, ok, err)
		}
	}
	r, err := OpenReadOnly(ctx, dir)
	if err != nil {
		t.Fatalf("read-only open of version 5: %v", err)
	}
	check(r, "version 5, read-only", "k1", "k2", "k3")
	r.Close()

	w, err := Open(ctx, dir)
	if err != nil {
		t.Fatalf("upgrade: %v", err)
	}
	check(w, "upgraded", "k1", "k2", "k3")
	var v int
	var ddl string
	w.w.QueryRowContext(ctx, "PRAGMA user_version").Scan(&v)
	w.w.QueryRowContext(ctx, "SELECT group_concat(coalesce(sql, name), ';') FROM sqlite_schema WHERE tbl_name = 'cache'").Scan(&ddl)
	if v != SchemaVersion || !strings.Contains(ddl, "id    INTEGER PRIMARY KEY") || strings.Contains(ddl, "autoindex") || strings.Contains(ddl, "cache_v") {
		t.Errorf("after the upgrade: version %d, schema %s", v, ddl)
	}
	if err := w.Put(ctx, "k4", []byte("vk4")); err != nil {
		t.Fatal(err)
	}
	check(reopen(t, w), "reopened", "k1", "k2", "k3", "k4")
}
