//go:build unix && !linux

package loop

import "syscall"

// serverProcAttr puts a server in its own process group, so stopping it
// stops its children too.
func serverProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true}
}
