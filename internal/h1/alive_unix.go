//go:build linux || darwin || freebsd || netbsd || openbsd

package h1

import (
	"net"
	"syscall"
)

// alive reports whether an idle connection can carry a request: the server
// has not closed it and has sent nothing unasked (a 408 it sends before
// closing, or stray bytes, would be read as the next request's reply). It
// peeks without blocking; net/http learns the same from the read loop it
// keeps on every idle connection.
func alive(nc net.Conn) bool {
	sc, ok := nc.(syscall.Conn)
	if !ok {
		return true
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return false
	}
	var (
		rerr error
		b    [1]byte
	)
	if err := raw.Read(func(fd uintptr) bool {
		_, _, rerr = syscall.Recvfrom(int(fd), b[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		return true // never wait for data
	}); err != nil {
		return false
	}
	if rerr == syscall.EAGAIN || rerr == syscall.EWOULDBLOCK {
		return true // open, and nothing to read
	}
	return false // closed (nothing to peek), reset, or data nobody asked for
}
