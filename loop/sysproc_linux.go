package loop

import "syscall"

// serverProcAttr puts a server in its own process group (so stopping it
// stops its children too) and has the kernel kill it when the loop's
// process dies, so a kill -9 of the loop leaves no server running.
func serverProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}

// childProcAttr has the kernel kill a baseline child when the loop's
// process dies, as a kill -9 of the loop kills its rounds. The child stays
// in the loop's process group, so a terminal's Ctrl-C reaches it too.
func childProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
