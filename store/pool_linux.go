package store

import (
	"fmt"
	"unsafe"

	"golang.org/x/sys/unix"
)

// poolBuf keeps the page pool's mapping referenced for the life of the
// process: SQLite holds its address.
var poolBuf []byte

// poolMemory maps size bytes for the page pool, asking for transparent
// huge pages. SQLite writes into every slot of the pool when it first
// opens a connection (to chain its free list), and with 4 KiB pages that
// was one page fault per slot, 10,000 of them: a `synthloop status` took
// 0.27 s of CPU instead of 0.12 s without the pool, on a VM where a fault
// is dear. With 2 MB pages it is about 20 faults, and 0.13 s. Where the
// kernel gives no huge pages the mapping works as before.
func poolMemory(size int) (uintptr, error) {
	b, err := unix.Mmap(-1, 0, size, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS)
	if err != nil {
		return 0, fmt.Errorf("mmap %d bytes: %w", size, err)
	}
	unix.Madvise(b, unix.MADV_HUGEPAGE) // advice only: an error leaves 4 KiB pages
	poolBuf = b
	return uintptr(unsafe.Pointer(&b[0])), nil
}
