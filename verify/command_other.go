//go:build !linux

package verify

import (
	"errors"
	"os/exec"
	"syscall"
)

func sysProcAttr(network bool) *syscall.SysProcAttr { return nil }

func killGroup(cmd *exec.Cmd) error { return cmd.Process.Kill() }

// isolationAvailable is false off Linux: there is no unprivileged network
// namespace, so commands need allow_network: true there.
func isolationAvailable() error {
	return errors.New("network isolation is implemented on Linux only")
}
