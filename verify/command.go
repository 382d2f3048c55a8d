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
type commandVerifier struct{ sb *Sandbox }

func newCommand(c *Config) (Verifier, error) {
	sb, err := NewSandbox(SandboxConfig{Command: c.Command, Timeout: c.Timeout, MemoryMB: c.MemoryMB, AllowNetwork: c.AllowNetwork})
	if err != nil {
		return nil, err
	}
	return &commandVerifier{sb}, nil
}

func (v *commandVerifier) Verify(ctx context.Context, c Check) (Verdict, error) {
	out, err := v.sb.Run(ctx, c.Candidate,
		File{Env: "SYNTHLOOP_PROMPT_FILE", Name: "prompt.txt", Content: c.Prompt},
		File{Env: "SYNTHLOOP_REFERENCE_FILE", Name: "reference.txt", Content: c.Reference})
	switch {
	case err != nil:
		return Verdict{}, err
	case out.TimedOut:
		return Verdict{Reason: fmt.Sprintf("time limit %v exceeded", v.sb.timeout)}, nil
	case out.ExitCode == 0:
		return Verdict{Pass: true, Reason: clip(firstLine(out.Stdout, "exit status 0"), 200)}, nil
	}
	msg := strings.TrimSpace(out.Stderr)
	if msg == "" {
		msg = strings.TrimSpace(out.Stdout)
	}
	reason := out.Status // "exit status 1" or "signal: killed"
	if msg != "" {
		reason += ": " + clip(msg, 300)
	}
	return Verdict{Reason: reason}, nil
}

// SandboxConfig sets up a Sandbox: the program and its limits, as the
// command verifier's settings do.
type SandboxConfig struct {
	Command      []string // the program and its arguments
	Timeout      string   // bounds a run (default 10s)
	MemoryMB     int      // caps the address space (0: 1024)
	AllowNetwork bool     // else a network namespace with loopback only
	MaxOutput    int      // bytes of stdout and of stderr kept (0: 4096)
}

// Sandbox runs one program under the command verifier's limits (see the
// comment above): a deadline that kills the process group, a memory cap, no
// network, a clean environment and a fresh working directory. The command
// verifier runs candidates in it; tools run their calls in it. Safe for
// concurrent use: every Run has its own directory.
type Sandbox struct {
	argv      []string // argv[0] resolved to an absolute path
	timeout   time.Duration
	memKB     int
	network   bool
	maxOutput int
}

// NewSandbox checks c: the program is found, the limits make sense, and
// the kernel can cut the program off the network unless it may use it.
func NewSandbox(c SandboxConfig) (*Sandbox, error) {
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
	if mem < 0 || c.MaxOutput < 0 {
		return nil, errors.New("verify: command: memory_mb must be positive")
	}
	s := &Sandbox{argv: append([]string{path}, c.Command[1:]...), timeout: timeout, memKB: mem * 1024, network: c.AllowNetwork, maxOutput: c.MaxOutput}
	if s.maxOutput == 0 {
		s.maxOutput = 4096
	}
	if !s.network {
		if err := isolationAvailable(); err != nil {
			return nil, fmt.Errorf("verify: command: cannot cut the command off the network: %w; this needs unprivileged user namespaces (sysctl kernel.unprivileged_userns_clone=1, user.max_user_namespaces > 0), or set allow_network: true to run it with the network", err)
		}
	}
	return s, nil
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

// File is a file a Run writes into the program's working directory, named
// to the program by the environment variable Env.
type File struct {
	Env, Name, Content string
}

// Output is how a Run ended and what the program printed.
type Output struct {
	Stdout, Stderr string // the first MaxOutput bytes of each
	ExitCode       int    // the program's exit status; -1 when a signal ended it
	Status         string // "exit status 1", "signal: killed"; "" on success
	TimedOut       bool   // the deadline passed and the program was killed
}

// Run runs the program once with stdin and files. The error is for what
// says nothing about the input: a cancelled ctx, a program that cannot be
// run at all (exit 126 or 127), a memory limit that cannot be set.
func (s *Sandbox) Run(ctx context.Context, stdin string, files ...File) (Output, error) {
	dir, err := os.MkdirTemp("", "synthloop-verify-")
	if err != nil {
		return Output{}, fmt.Errorf("verify: command: %w", err)
	}
	defer os.RemoveAll(dir)
	env := []string{"PATH=/usr/local/bin:/usr/bin:/bin", "HOME=" + dir, "TMPDIR=" + dir, "LANG=C.UTF-8"}
	for _, f := range files {
		p := filepath.Join(dir, f.Name)
		if err := os.WriteFile(p, []byte(f.Content), 0o600); err != nil {
			return Output{}, fmt.Errorf("verify: command: %w", err)
		}
		env = append(env, f.Env+"="+p)
	}
	tctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	script := `ulimit -v "$0" 2>/dev/null || { echo "` + ulimitFailed + `" >&2; exit 125; }; exec "$@"`
	cmd := exec.CommandContext(tctx, "/bin/sh", append([]string{"-c", script, strconv.Itoa(s.memKB)}, s.argv...)...)
	cmd.Dir = dir
	cmd.Env = env
	cmd.Stdin = strings.NewReader(stdin)
	var stdout, stderr = &limitedBuffer{n: s.maxOutput}, &limitedBuffer{n: s.maxOutput}
	cmd.Stdout, cmd.Stderr = stdout, stderr
	cmd.SysProcAttr = sysProcAttr(s.network)
	cmd.Cancel = func() error { return killGroup(cmd) }
	cmd.WaitDelay = time.Second
	err = cmd.Run()
	if ctx.Err() != nil {
		return Output{}, ctx.Err()
	}
	out := Output{Stdout: stdout.buf.String(), Stderr: stderr.buf.String()}
	switch {
	case tctx.Err() != nil:
		out.TimedOut, out.ExitCode, out.Status = true, -1, "signal: killed"
		return out, nil
	case err == nil:
		return out, nil
	}
	var ee *exec.ExitError
	if !errors.As(err, &ee) {
		return Output{}, fmt.Errorf("verify: command %s: %w", s.argv[0], err)
	}
	msg := strings.TrimSpace(out.Stderr)
	if msg == "" {
		msg = strings.TrimSpace(out.Stdout)
	}
	if ee.ExitCode() == 125 && strings.Contains(msg, ulimitFailed) {
		return Output{}, fmt.Errorf("verify: command %s: %s", s.argv[0], ulimitFailed)
	}
	if ee.ExitCode() == 126 || ee.ExitCode() == 127 {
		// The shell could not run the program at all: a setup problem, not a verdict.
		return Output{}, fmt.Errorf("verify: command %s: cannot run it (exit %d): %s", s.argv[0], ee.ExitCode(), clip(msg, 300))
	}
	out.ExitCode, out.Status = ee.ExitCode(), ee.String()
	return out, nil
}

func firstLine(s, def string) string {
	s = strings.TrimSpace(s)
	if s == "" {
		return def
	}
	l, _, _ := strings.Cut(s, "\n")
	return l
}
