package store

import (
	"context"
	"fmt"
	"testing"
	"unsafe"

	"modernc.org/libc"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/synthloop/synthloop/pipeline"
	"github.com/synthloop/synthloop/record"
)

// poolStatus is where sqlite3_status writes: a package variable, which
// never moves.
var poolStatus [2]int32

// pagePoolUsed is how many of the page pool's slots are in use now, and at
// most since the process started.
func pagePoolUsed(t *testing.T) (now, most int) {
	t.Helper()
	tls := libc.NewTLS()
	defer tls.Close()
	if rc := sqlite3.Xsqlite3_status(tls, sqlite3.SQLITE_STATUS_PAGECACHE_USED,
		uintptr(unsafe.Pointer(&poolStatus[0])), uintptr(unsafe.Pointer(&poolStatus[1])), 0); rc != sqlite3.SQLITE_OK {
		t.Fatalf("sqlite3_status: code %d", rc)
	}
	return int(poolStatus[0]), int(poolStatus[1])
}

// TestSQLiteConfig checks that the process-wide settings were made before
// any connection opened, and that a store's pages come from the pool and
// go back to it at Close.
func TestSQLiteConfig(t *testing.T) {
	if sqliteConfigErr != nil {
		t.Fatal(sqliteConfigErr)
	}
	before, _ := pagePoolUsed(t)
	s := openTemp(t)
	ctx := context.Background()
	for i := range 50 {
		u := pipeline.Unit{Stage: "s", Key: fmt.Sprintf("u%03d", i),
			Records: []*record.Record{{ID: fmt.Sprint(i), Status: record.Kept, Output: "some text"}}}
		if err := s.CommitUnits(ctx, []pipeline.Unit{u}); err != nil {
			t.Fatal(err)
		}
	}
	open, _ := pagePoolUsed(t)
	if open <= before {
		t.Errorf("pool slots in use: %d before opening a store, %d with it open and written: want more", before, open)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if closed, _ := pagePoolUsed(t); closed != before {
		t.Errorf("pool slots in use: %d before opening a store, %d after closing it", before, closed)
	}
}
