package verify

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// commandVerifier runs an external program per candidate.
//
// The sandbox, and why it is built this way (no root needed):
//   - time: the command runs under a deadline; when it passes, the whole
//     process group gets SIGKILL (Setpgid, so grandchildren die too) and the
//     candidate fails with "time limit".
//   - memory: the command is started through /bin/sh, which sets
//     `ulimit -v` (RLIMIT_AS, in KiB) and then execs it. Go's SysProcAttr has
//     no rlimit field, and setting a limit on the child after Start races
//     with the child's first allocations. RLIMIT_AS counts address space, not
//     resident memory: runtimes that reserve large heaps up front (Go, Java,
//     V8) need a generous memory_mb.
//   - network: the command starts in a new user and network namespace
//     (CLONE_NEWUSER|CLONE_NEWNET, the kernel's `unshare -rn`), where only an
//     unconfigured loopback exists. This needs unprivileged user namespaces
//     (on by default on most distributions; off when
//     kernel.unprivileged_userns_clone=0 or user.max_user_namespaces=0, and in
//     many containers). When the kernel refuses, New fails and says so: the
//     verifier never runs a command with the network while claiming it has none.
//     allow_network: true skips the namespace.
//   - environment: only PATH=/usr/local/bin:/usr/bin:/bin, HOME and TMPDIR (a
//     fresh empty directory, also the working directory, removed afterwards),
//     LANG=C.UTF-8, and SYNTHLOOP_PROMPT_FILE / SYNTHLOOP_REFERENCE_FILE naming
//     files in it that hold the prompt and the reference answer. Nothing of
//     the parent's environment (API keys!) is passed on.
//
// It is not a security boundary against hostile code: the file system is
// the user's. Run untrusted candidates inside a container or VM as well.
type commandVerifier struct {
	argv    []string // argv[0] resolved to an absolute path
	timeout time.Duration
	memKB   int
	network bool
}

func newCommand(c *Config) (Verifier, error) {
	if len(c.Command) == 0 || c.Command[0] == "" {
		return nil, errors.New("verify: command: the command list is required, e.g. [python3, check.py]")
	}
	path, err := exec.LookPath(c.Command[0])
	if err != nil {
		return nil, fmt.Errorf("verify: command: %w", err)
	}
	if path, err = filepath.Abs(path); err != nil {
		return nil, fmt.Errorf("verify: command: %w", err)
	}
	timeout, err := parseTimeout(c.Timeout)
	if err != nil {
		return nil, err
	}
	mem := c.MemoryMB
	if mem == 0 {
		mem = 1024
	}
	if mem < 0 {
		return nil, errors.New("verify: command: memory_mb must be positive")
	}
	v := &commandVerifier{argv: append([]string{path}, c.Command[1:]...), timeout: timeout, memKB: mem * 1024, network: c.AllowNetwork}
	if !v.network {
		if err := isolationAvailable(); err != nil {
			return nil, fmt.Errorf("verify: command: cannot cut the command off the network: %w; this needs unprivileged user namespaces (sysctl kernel.unprivileged_userns_clone=1, user.max_user_namespaces > 0), or set allow_network: true to run it with the network", err)
		}
	}
	return v, nil
}

// limitedBuffer keeps the first n bytes written and discards the rest, so a
// chatty command cannot exhaust memory.
type limitedBuffer struct {
	buf bytes.Buffer
	n   int
}

func (b *limitedBuffer) Write(p []byte) (int, error) {
	if room := b.n - b.buf.Len(); room > 0 {
		b.buf.Write(p[:min(len(p), room)])
	}
	return len(p), nil
}

// ulimitFailed is printed by the wrapper when the limit cannot be set, so the
// verifier can tell that apart from the command's own exit status.
const ulimitFailed = "synthloop-verify: cannot set the memory limit"

func (v *commandVerifier) Verify(ctx context.Context, c Check) (Verdict, error) {
	dir, err := os.MkdirTemp("", "synthloop-verify-")
	if err != nil {
		return Verdict{}, fmt.Errorf("verify: command: %w", err)
	}
	defer os.RemoveAll(dir)
	promptFile, refFile := filepath.Join(dir, "prompt.txt"), filepath.Join(dir, "reference.txt")
	if err := os.WriteFile(promptFile, []byte(c.Prompt), 0o600); err != nil {
		return Verdict{}, fmt.Errorf("verify: command: %w", err)
	}
	if err := os.WriteFile(refFile, []byte(c.Reference), 0o600); err != nil {
		return Verdict{}, fmt.Errorf("verify: command: %w", err)
	}
	tctx, cancel := context.WithTimeout(ctx, v.timeout)
	defer cancel()
	script := `ulimit -v "$0" 2>/dev/null || { echo "` + ulimitFailed + `" >&2; exit 125; }; exec "$@"`
	cmd := exec.CommandContext(tctx, "/bin/sh", append([]string{"-c", script, strconv.Itoa(v.memKB)}, v.argv...)...)
	cmd.Dir = dir
	cmd.Env = []string{
		"PATH=/usr/local/bin:/usr/bin:/bin", "HOME=" + dir, "TMPDIR=" + dir, "LANG=C.UTF-8",
		"SYNTHLOOP_PROMPT_FILE=" + promptFile, "SYNTHLOOP_REFERENCE_FILE=" + refFile,
	}
	cmd.Stdin = strings.NewReader(c.Candidate)
	var stdout, stderr = &limitedBuffer{n: 4096}, &limitedBuffer{n: 4096}
	cmd.Stdout, cmd.Stderr = stdout, stderr
	cmd.SysProcAttr = sysProcAttr(v.network)
	cmd.Cancel = func() error { return killGroup(cmd) }
	cmd.WaitDelay = time.Second
	err = cmd.Run()
	if ctx.Err() != nil {
		return Verdict{}, ctx.Err()
	}
	msg := strings.TrimSpace(stderr.buf.String())
	if msg == "" {
		msg = strings.TrimSpace(stdout.buf.String())
	}
	switch {
	case tctx.Err() != nil:
		return Verdict{Reason: fmt.Sprintf("time limit %v exceeded", v.timeout)}, nil
	case err == nil:
		return Verdict{Pass: true, Reason: clip(firstLine(stdout.buf.String(), "exit status 0"), 200)}, nil
	}
	var ee *exec.ExitError
	if !errors.As(err, &ee) {
		return Verdict{}, fmt.Errorf("verify: command %s: %w", v.argv[0], err)
	}
	if ee.ExitCode() == 125 && strings.Contains(msg, ulimitFailed) {
		return Verdict{}, fmt.Errorf("verify: command %s: %s", v.argv[0], ulimitFailed)
	}
	if ee.ExitCode() == 126 || ee.ExitCode() == 127 {
		// The shell could not run the program at all: a setup problem, not a verdict.
		return Verdict{}, fmt.Errorf("verify: command %s: cannot run it (exit %d): %s", v.argv[0], ee.ExitCode(), clip(msg, 300))
	}
	reason := ee.String() // "exit status 1" or "signal: killed"
	if msg != "" {
		reason += ": " + clip(msg, 300)
	}
	return Verdict{Reason: reason}, nil
}

func firstLine(s, def string) string {
	s = strings.TrimSpace(s)
	if s == "" {
		return def
	}
	l, _, _ := strings.Cut(s, "\n")
	return l
}
