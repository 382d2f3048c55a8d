package store

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/synthloop/synthloop/pipeline"
)

// TestCachePutCommitsAlone: an entry no other write follows (the answer of a
// unit still running) is committed on its own within moments, as another
// process reading the run sees.
func TestCachePutCommitsAlone(t *testing.T) {
	ctx := context.Background()
	s := openTemp(t)
	if err := s.Put(ctx, "k", []byte("paid")); err != nil {
		t.Fatal(err)
	}
	// Readable at once, committed or not.
	if v, ok, err := s.Get(ctx, "k"); err != nil || !ok || string(v) != "paid" {
		t.Fatalf("Get right after Put = %q, %v, %v", v, ok, err)
	}
	ro, err := OpenReadOnly(ctx, s.Dir())
	if err != nil {
		t.Fatal(err)
	}
	defer ro.Close()
	deadline := time.Now().Add(5 * time.Second)
	for {
		v, ok, err := ro.Get(ctx, "k")
		if err != nil {
			t.Fatal(err)
		}
		if ok && string(v) == "paid" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the entry was never committed without a following write")
		}
		time.Sleep(time.Millisecond)
	}
}

// TestCachePutBeforeCommit: an entry put before a unit commits is committed
// with the unit or before it, which is what a resume relies on.
func TestCachePutBeforeCommit(t *testing.T) {
	ctx := context.Background()
	s := openTemp(t)
	for i := range 50 {
		key := string(rune('a'+i%26)) + string(rune('0'+i/26))
		if err := s.Put(ctx, "req-"+key, []byte(key)); err != nil {
			t.Fatal(err)
		}
		if err := s.Commit(ctx, pipeline.Unit{Stage: "s", Key: key}); err != nil {
			t.Fatal(err)
		}
		var v string
		if err := s.r.QueryRowContext(ctx, `SELECT value FROM cache WHERE key = ?`, "req-"+key).Scan(&v); err != nil || v != key {
			t.Fatalf("unit %s committed, its cache entry = %q, %v", key, v, err)
		}
	}
}

// TestCacheIndex: a reopened store knows the keys stored before, and a miss
// is answered from memory without asking SQLite.
func TestCacheIndex(t *testing.T) {
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "run")
	s, err := Open(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"a", "b", "c"} {
		if err := s.Put(ctx, k, []byte("v"+k)); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s, err = Open(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for _, k := range []string{"a", "b", "c"} {
		if v, ok, err := s.Get(ctx, k); err != nil || !ok || string(v) != "v"+k {
			t.Errorf("Get(%s) after reopen = %q, %v, %v", k, v, ok, err)
		}
	}
	// With the query closed, only an answer from memory can succeed.
	s.getCache.Close()
	if v, ok, err := s.Get(ctx, "never-stored"); err != nil || ok {
		t.Errorf("Get(never-stored) = %q, %v, %v; want a miss from memory", v, ok, err)
	}
	if _, _, err := s.Get(ctx, "a"); err == nil {
		t.Error("Get(a) with the query closed succeeded: the test does not test what it says")
	}
}
