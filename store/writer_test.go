package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync"
	"testing"
)

// TestBatchIsolatesFailures runs a batch by hand: the failing write's rows
// must be rolled back while its neighbours in the same transaction commit.
func TestBatchIsolatesFailures(t *testing.T) {
	ctx := context.Background()
	s := openTemp(t)
	put := func(key string, fail bool) writeReq {
		return writeReq{done: make(chan error, 1), fn: func(ctx context.Context, tx *sql.Tx) error {
			if _, err := tx.ExecContext(ctx, `INSERT INTO meta(key, value) VALUES (?, 'v')`, key); err != nil {
				return err
			}
			if fail {
				return errors.New("boom")
			}
			return nil
		}}
	}
	batch := []writeReq{put("a", false), put("b", true), put("c", false)}
	s.commitBatch(batch)
	for i, want := range []bool{true, false, true} {
		err := <-batch[i].done
		if (err == nil) != want {
			t.Errorf("write %d: err = %v", i, err)
		}
	}
	for key, want := range map[string]bool{"a": true, "b": false, "c": true} {
		if _, ok, _ := s.MetaValue(ctx, key); ok != want {
			t.Errorf("key %s present = %v, want %v", key, ok, want)
		}
	}
	// A batch in which every write fails commits nothing and reports each error.
	batch = []writeReq{put("d", true), put("e", true)}
	s.commitBatch(batch)
	for i := range batch {
		if err := <-batch[i].done; err == nil {
			t.Errorf("all-failing batch: write %d succeeded", i)
		}
	}
}

// TestGroupCommitBatches checks that concurrent writers really share
// transactions (otherwise group commit is dead code) and all land.
func TestGroupCommitBatches(t *testing.T) {
	ctx := context.Background()
	s := openTemp(t)
	var wg sync.WaitGroup
	for g := range 16 {
		wg.Go(func() {
			for i := range 50 {
				if err := s.Put(ctx, fmt.Sprint(g, "-", i), []byte("x")); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	// Puts return before their entries commit; any later write carries them.
	if err := s.SetMetaValue(ctx, "after", "puts"); err != nil {
		t.Fatal(err)
	}
	var n int
	if err := s.r.QueryRowContext(ctx, `SELECT count(*) FROM cache`).Scan(&n); err != nil || n != 800 {
		t.Errorf("cache rows = %d, %v; want 800", n, err)
	}
	txs, writes := s.txs.Load(), s.writes.Load()
	t.Logf("%d writes in %d transactions", writes, txs)
	if writes != 801 || txs >= writes {
		t.Errorf("%d writes in %d transactions: no write shared a transaction", writes, txs)
	}
}

func TestWriteAfterClose(t *testing.T) {
	s := openTemp(t)
	// Close racing with writers: each write either lands or reports errClosed.
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			for i := range 100 {
				if err := s.Put(context.Background(), fmt.Sprint(g, i), nil); err != nil && !errors.Is(err, errClosed) {
					t.Errorf("Put during Close = %v", err)
					return
				}
			}
		})
	}
	s.Close()
	wg.Wait()
	if err := s.Put(context.Background(), "k", nil); !errors.Is(err, errClosed) {
		t.Errorf("Put after Close = %v, want errClosed", err)
	}
}
