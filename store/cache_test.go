package store

import (
	"context"
	"database/sql"
	"fmt"
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

// collide makes every key of c hash alike and reads the index again, as an
// open with that hash would have.
func collide(t *testing.T, s *Store, db func(*Store) *sql.DB) {
	t.Helper()
	c := &s.cache
	c.mu.Lock()
	c.hash = func(string) uint64 { return 7 }
	c.index, c.spill, c.last, c.loaded = map[uint64]int64{}, map[string]int64{}, 0, false
	c.mu.Unlock()
	if d := db(s); d != nil {
		if err := s.readIndex(context.Background(), d); err != nil {
			t.Fatal(err)
		}
	}
}

// TestCacheCollisions: keys with one hash are told apart, whether they are
// put in one transaction or several, replaced, read after a reopen or by a
// read-only store.
func TestCacheCollisions(t *testing.T) {
	ctx := context.Background()
	s := openTemp(t)
	writer := func(s *Store) *sql.DB { return s.w }
	collide(t, s, writer)
	want := map[string]string{}
	put := func(k, v string) {
		t.Helper()
		if err := s.Put(ctx, k, []byte(v)); err != nil {
			t.Fatal(err)
		}
		want[k] = v
	}
	flush := func(key string) { // a unit commit carries the entries put before it
		t.Helper()
		if err := s.Commit(ctx, pipeline.Unit{Stage: "s", Key: key}); err != nil {
			t.Fatal(err)
		}
	}
	check := func(s *Store, when string) {
		t.Helper()
		for k, v := range want {
			if got, ok, err := s.Get(ctx, k); err != nil || !ok || string(got) != v {
				t.Errorf("%s: Get(%s) = %q, %v, %v; want %q", when, k, got, ok, err, v)
			}
		}
		if got, ok, err := s.Get(ctx, "never"); err != nil || ok {
			t.Errorf("%s: Get(never) = %q, %v, %v; want a miss", when, got, ok, err)
		}
	}
	put("a", "1")
	put("b", "2")
	put("c", "3")
	flush("u1")
	put("d", "4") // after a, b, c are in the table
	put("b", "2'")
	flush("u2")
	put("a", "1'")
	put("e", "5")
	flush("u3")
	check(s, "collided")
	var rows int
	if err := s.r.QueryRowContext(ctx, `SELECT count(*) FROM cache`).Scan(&rows); err != nil || rows != 5 {
		t.Errorf("cache rows = %d, %v; want 5 (a replaced entry keeps its row)", rows, err)
	}

	ro, err := OpenReadOnly(ctx, s.Dir())
	if err != nil {
		t.Fatal(err)
	}
	defer ro.Close()
	collide(t, ro, func(*Store) *sql.DB { return nil }) // read at the first Get
	check(ro, "read-only")
	put("f", "6")
	flush("u4")
	check(ro, "read-only, after a later put")
	s = reopen(t, s)
	collide(t, s, writer)
	check(s, "reopened")
}

// TestCacheReadOnlySeesWriter: a read-only store finds entries another
// store commits after its first lookup, and replaced values.
func TestCacheReadOnlySeesWriter(t *testing.T) {
	ctx := context.Background()
	s := openTemp(t)
	ro, err := OpenReadOnly(ctx, s.Dir())
	if err != nil {
		t.Fatal(err)
	}
	defer ro.Close()
	for i := range 3 {
		k := fmt.Sprint("k", i)
		if _, ok, err := ro.Get(ctx, k); err != nil || ok {
			t.Fatalf("Get(%s) before it was put: %v %v", k, ok, err)
		}
		for _, v := range []string{"first", "second"} {
			if err := s.Put(ctx, k, []byte(v)); err != nil {
				t.Fatal(err)
			}
			if err := s.Commit(ctx, pipeline.Unit{Stage: "s", Key: k + v}); err != nil {
				t.Fatal(err)
			}
			if got, ok, err := ro.Get(ctx, k); err != nil || !ok || string(got) != v {
				t.Errorf("read-only Get(%s) = %q, %v, %v; want %q", k, got, ok, err, v)
			}
		}
	}
}

// reopen closes s and opens its run for writing again, as a resume does.
func reopen(t *testing.T, s *Store) *Store {
	t.Helper()
	dir := s.Dir()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s, err := Open(context.Background(), dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}
