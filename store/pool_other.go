//go:build !linux

package store

import (
	"errors"

	"modernc.org/libc"
)

// poolMemory allocates size bytes for the page pool from SQLite's own
// allocator; it is never freed.
func poolMemory(size int) (uintptr, error) {
	tls := libc.NewTLS()
	defer tls.Close()
	p := libc.Xmalloc(tls, libc.Tsize_t(size))
	if p == 0 {
		return 0, errors.New("out of memory")
	}
	return p, nil
}
