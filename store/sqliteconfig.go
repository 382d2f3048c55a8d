package store

import (
	"fmt"
	"unsafe"

	"modernc.org/libc"
	sqlite3 "modernc.org/sqlite/lib"
)

// Process-wide SQLite settings (sqlite3_config), which can only be made
// before the first connection is opened: hence a package variable, set
// when the package is initialised.

// pagePoolSlots is how many 4 KiB pages the page pool holds: the writer's
// 32 MB cache (cache_size in dsn) and a few readers' 2 MB.
const pagePoolSlots = 10240

// stmtSpill is how large a statement or savepoint journal grows in memory
// before it moves to a temporary file.
const stmtSpill = 16 << 20

// pageHeaderSize is where SQLite writes the bytes it adds to each pooled
// page: a package variable, which never moves.
var pageHeaderSize int32

// sqliteConfigErr is the result of configuring SQLite: nil when the
// settings below apply to every connection this process opens.
var sqliteConfigErr = configSQLite()

// configSQLite makes two settings, each measured on BenchmarkGenerateStage10k.
//
// A page pool (SQLITE_CONFIG_PAGECACHE): every connection takes its cached
// pages from one buffer and returns them to it. Without it each page is a
// malloc of its own, and freeing them one by one when a connection closes
// (or a reader finds the file changed and drops its cache) cost about 0.2 s
// of CPU at every Close of a store: the libc allocator under modernc's
// SQLite hands each emptied 64 KB region back to the kernel with a madvise,
// a TLB shootdown on a VM, about 250 µs apiece here. The pool is taken once
// per process and kept (about 43 MB, touched when SQLite builds its free
// list; poolMemory says why it asks for huge pages). When it runs low, SQLite has each cache reuse its own least
// recently used pages before it allocates more, one by one as before: so
// the pool is also a soft bound on all caches together, sized for one
// writer's 32 MB and a few readers' 2 MB. In effect it is a cap: a
// connection with a 200 MB cache_size scanning a 75 MB table held 10,231
// slots and allocated nothing beyond them, so a larger cache_size, or two
// writers in one process, get about 40 MB between them.
//
// Statement journals spill at 16 MB instead of 64 KB
// (SQLITE_CONFIG_STMTJRNL_SPILL). The writer runs each write of a group
// commit inside a savepoint, and a group's multi-row inserts touch more
// than 64 KB of pages, so nearly every transaction opened a temporary
// file and wrote the pages' old contents to it with a syscall each, to
// throw them away at the commit.
func configSQLite() error {
	tls := libc.NewTLS()
	defer tls.Close()
	va := libc.Xmalloc(tls, 3*8)
	if va == 0 {
		return fmt.Errorf("store: configure sqlite: out of memory")
	}
	defer libc.Xfree(tls, va)
	if rc := sqlite3.Xsqlite3_config(tls, sqlite3.SQLITE_CONFIG_STMTJRNL_SPILL, libc.VaList(va, int32(stmtSpill))); rc != sqlite3.SQLITE_OK {
		return fmt.Errorf("store: configure sqlite: statement journal spill: code %d", rc)
	}
	if rc := sqlite3.Xsqlite3_config(tls, sqlite3.SQLITE_CONFIG_PCACHE_HDRSZ, libc.VaList(va, uintptr(unsafe.Pointer(&pageHeaderSize)))); rc != sqlite3.SQLITE_OK {
		return fmt.Errorf("store: configure sqlite: page header size: code %d", rc)
	}
	// A slot holds a 4 KiB page and SQLite's header for it, 8-byte aligned.
	slot := (4096 + int(pageHeaderSize) + 7) &^ 7
	buf, err := poolMemory(slot * pagePoolSlots)
	if err != nil {
		return fmt.Errorf("store: configure sqlite: page pool: %w", err)
	}
	if rc := sqlite3.Xsqlite3_config(tls, sqlite3.SQLITE_CONFIG_PAGECACHE, libc.VaList(va, buf, int32(slot), int32(pagePoolSlots))); rc != sqlite3.SQLITE_OK {
		return fmt.Errorf("store: configure sqlite: page pool: code %d", rc)
	}
	return nil
}
