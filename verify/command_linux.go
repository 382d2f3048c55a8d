package verify

import (
	"os"
	"os/exec"
	"sync"
	"syscall"
)

func sysProcAttr(network bool) *syscall.SysProcAttr {
	a := &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if !network {
		a.Cloneflags = syscall.CLONE_NEWUSER | syscall.CLONE_NEWNET
		// The same ids inside as outside, so the command owns its files.
		a.UidMappings = []syscall.SysProcIDMap{{ContainerID: os.Getuid(), HostID: os.Getuid(), Size: 1}}
		a.GidMappings = []syscall.SysProcIDMap{{ContainerID: os.Getgid(), HostID: os.Getgid(), Size: 1}}
	}
	return a
}

func killGroup(cmd *exec.Cmd) error {
	// The negative pid names the process group Setpgid made.
	return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
}

var (
	probeOnce sync.Once
	probeErr  error
)

// isolationAvailable starts /bin/true in new user and network namespaces
// once per process, to learn whether the kernel allows it.
func isolationAvailable() error {
	probeOnce.Do(func() {
		cmd := exec.Command("/bin/sh", "-c", "exit 0")
		cmd.Env = []string{}
		cmd.SysProcAttr = sysProcAttr(false)
		probeErr = cmd.Run()
	})
	return probeErr
}
