//go:build unix && !linux

package loop

import "syscall"

// serverProcAttr puts a server in its own process group, so stopping it
// stops its children too.
func serverProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true}
}

// childProcAttr keeps a baseline child in the loop's process group, so a
// terminal's Ctrl-C reaches it too. Without Pdeathsig, a child whose parent
// was killed stops cleanly when its stdin closes.
func childProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{}
}
