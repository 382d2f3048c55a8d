package loop

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"syscall"
)

// A baseline beside the main run is a child process of the same binary
// (Options.BaselineCommand), not a goroutine: a round's CPU seconds are read
// from the process clock, and two runs in one process would share it. The
// child runs BaselineChild. The parent writes one childStart line to its
// stdin and keeps stdin open: end of input tells the child to stop cleanly.
// The child writes childMsg lines to file descriptor 3 (its stdout and
// stderr are the user's stderr, so nothing a plugin prints can corrupt the
// messages).

// childStart is what the parent tells the child: the baseline's config.
type childStart struct {
	Source            string `json:"source"`
	Text              string `json:"text"`
	AllowConfigChange bool   `json:"allow_config_change,omitempty"`
}

// childMsg is one line from the child: a progress event, a finished round,
// or the end of its run.
type childMsg struct {
	Event *Event        `json:"event,omitempty"`
	Round *RoundSummary `json:"round,omitempty"`
	Done  *childDone    `json:"done,omitempty"`
}

type childDone struct {
	Error   string `json:"error,omitempty"`
	Stopped bool   `json:"stopped,omitempty"` // the error wraps ErrStopped
}

// parseChildStart reads the parent's first line.
func parseChildStart(line []byte) (*Config, bool, error) {
	var s childStart
	if err := json.Unmarshal(line, &s); err != nil {
		return nil, false, fmt.Errorf("loop: baseline child: start line: %w", err)
	}
	cfg, err := ParseConfig(s.Source, []byte(s.Text))
	if err != nil {
		return nil, false, fmt.Errorf("loop: baseline child: %w", err)
	}
	return cfg, s.AllowConfigChange, nil
}

// parseChildMsg reads one line of the child's.
func parseChildMsg(line []byte) (childMsg, error) {
	var m childMsg
	if err := json.Unmarshal(line, &m); err != nil {
		return m, fmt.Errorf("loop: baseline child: message: %w", err)
	}
	n := 0
	for _, set := range []bool{m.Event != nil, m.Round != nil, m.Done != nil} {
		if set {
			n++
		}
	}
	if n != 1 {
		return m, errors.New("loop: baseline child: message: want exactly one of event, round and done")
	}
	return m, nil
}

// ChildMessagesFD is the file descriptor on which a baseline child writes
// to its parent.
const ChildMessagesFD = 3

// BaselineChild is the child side of Options.BaselineCommand: it reads the
// baseline's config from stdin, runs it in dir (RUN/baseline) and reports
// its progress, rounds and end on file descriptor 3. It stops cleanly when
// ctx ends or stdin closes (the parent stopping it, or gone). The returned
// error is the run's, as from Run.
func BaselineChild(ctx context.Context, dir string) error {
	out := os.NewFile(ChildMessagesFD, "loop-parent")
	if out == nil {
		return errors.New("loop: baseline child: no message descriptor (started other than by its parent loop?)")
	}
	defer out.Close()
	// The run's own children (servers, external trainers) must not hold the
	// parent's pipe open after this process ends.
	syscall.CloseOnExec(ChildMessagesFD)
	return runChild(ctx, dir, os.Stdin, out)
}

func runChild(ctx context.Context, dir string, in io.Reader, out io.Writer) error {
	br := bufio.NewReader(in)
	line, err := br.ReadBytes('\n')
	if err != nil {
		return fmt.Errorf("loop: baseline child: reading the start line: %w", err)
	}
	cfg, allow, err := parseChildStart(line)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	// This reader blocks until the parent closes stdin; it cannot be
	// interrupted, and the process exits soon after Run returns.
	go func() {
		io.Copy(io.Discard, br)
		cancel()
	}()
	var mu sync.Mutex
	enc := json.NewEncoder(out)
	send := func(m childMsg) {
		mu.Lock()
		defer mu.Unlock()
		enc.Encode(m) // a parent gone reads nothing; the run stops by its stdin
	}
	_, err = Run(ctx, cfg, Options{
		RunDir:            dir,
		Progress:          func(e Event) { send(childMsg{Event: &e}) },
		OnRound:           func(r RoundSummary) { send(childMsg{Round: &r}) },
		AllowConfigChange: allow,
	})
	d := &childDone{}
	if err != nil {
		// A child whose context ended was told to stop: whatever it was
		// doing then (opening its store, say) ends as a stop.
		d.Error, d.Stopped = err.Error(), errors.Is(err, ErrStopped) || ctx.Err() != nil
	}
	send(childMsg{Done: d})
	return err
}

// child is the parent's handle on a baseline child process.
type child struct {
	l     *runner
	title string
	stdin io.WriteCloser

	mu   sync.Mutex
	held []RoundSummary // rounds finished before the main run was
	live bool           // the main run is done: rounds are reported as they come
	done *childDone

	read   chan struct{} // closed when the message reader ends
	exited chan error    // the child's exit, once reaped
	reap   chan struct{} // closed to let the starting goroutine reap the child
}

// startBaseline starts the baseline beside the main run when it runs in a
// child process and the rounds it shares are done; otherwise it does nothing.
func (l *runner) startBaseline(ctx context.Context) error {
	b := l.cfg.Baseline
	if b == nil || l.opts.BaselineCommand == nil || l.child != nil {
		return nil
	}
	if n := b.SharedRounds; n > 0 && (len(l.s.Rounds) < n || !l.s.Rounds[n-1].Done) {
		return nil
	}
	bc, err := l.cfg.BaselineConfig()
	if err != nil {
		return err
	}
	dir := filepath.Join(l.opts.RunDir, BaselineDir)
	if err := l.share(ctx, dir, bc); err != nil {
		return err
	}
	start, _ := json.Marshal(childStart{Source: bc.Source, Text: string(bc.Text), AllowConfigChange: l.opts.AllowConfigChange})
	cmd := l.opts.BaselineCommand(dir)
	msgR, msgW, err := os.Pipe()
	if err != nil {
		return fmt.Errorf("loop: baseline: %w", err)
	}
	defer msgW.Close()
	stdin, err := cmd.StdinPipe()
	if err != nil {
		msgR.Close()
		return fmt.Errorf("loop: baseline: %w", err)
	}
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	cmd.ExtraFiles = []*os.File{msgW} // descriptor 3, ChildMessagesFD
	cmd.SysProcAttr = childProcAttr()
	c := &child{l: l, title: b.Title, stdin: stdin, read: make(chan struct{}), exited: make(chan error, 1), reap: make(chan struct{})}
	started := make(chan error, 1)
	go func() {
		// On Linux the kernel kills the child when the thread that started
		// it ends (Pdeathsig), not the process: this goroutine keeps its
		// thread until the child is reaped.
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		if err := cmd.Start(); err != nil {
			started <- err
			return
		}
		started <- nil
		// The child is reaped only once the main run's rounds are over:
		// reaping adds its CPU time to this process's children's clock,
		// which a main round's CPU seconds include (external trainers).
		<-c.reap
		c.exited <- cmd.Wait()
	}()
	if err := <-started; err != nil {
		msgR.Close()
		return fmt.Errorf("loop: baseline: start %s: %w", cmd.Path, err)
	}
	l.child = c
	if _, err := stdin.Write(append(start, '\n')); err != nil {
		l.log.Warn("loop: baseline: writing its start line", "err", err)
	}
	go c.readMessages(msgR)
	l.log.Info("loop: baseline started beside the main run", "pid", cmd.Process.Pid, "dir", dir)
	return nil
}

// readMessages passes the child's progress on and holds its rounds until
// the main run's are all reported.
func (c *child) readMessages(r io.ReadCloser) {
	defer close(c.read)
	defer r.Close()
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 16<<20)
	for sc.Scan() {
		m, err := parseChildMsg(sc.Bytes())
		if err != nil {
			c.l.log.Warn("loop: baseline", "err", err)
			continue
		}
		switch {
		case m.Event != nil:
			if p := c.l.opts.Progress; p != nil {
				m.Event.Run = BaselineDir
				p(*m.Event)
			}
		case m.Round != nil:
			c.mu.Lock()
			if c.live {
				c.onRound(*m.Round)
			} else {
				c.held = append(c.held, *m.Round)
			}
			c.mu.Unlock()
		case m.Done != nil:
			c.mu.Lock()
			c.done = m.Done
			c.mu.Unlock()
		}
	}
}

func (c *child) onRound(r RoundSummary) {
	if f := c.l.opts.OnRound; f != nil {
		f(r)
	}
}

// goLive reports the baseline's start and the rounds it finished so far;
// later ones are reported as they finish. The main run's rounds are then
// all reported, so the output has the shape of a baseline run after it.
func (c *child) goLive() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if f := c.l.opts.OnBaseline; f != nil {
		f(c.title)
	}
	for _, r := range c.held {
		c.onRound(r)
	}
	c.held, c.live = nil, true
}

// wait waits for the child to end, asking it to stop cleanly first when
// stop is set or ctx ends, and returns its error.
func (c *child) wait(ctx context.Context, stop bool) error {
	if stop {
		c.stdin.Close()
	}
	select {
	case <-c.read:
	case <-ctx.Done():
		c.stdin.Close()
		<-c.read
	}
	c.stdin.Close()
	close(c.reap)
	exit := <-c.exited
	c.mu.Lock()
	d := c.done
	c.mu.Unlock()
	switch {
	case d == nil && exit == nil:
		return errors.New("loop: baseline: the child process ended without reporting its end")
	case d == nil:
		if ctx.Err() != nil {
			return fmt.Errorf("%w (baseline: %w)", ErrStopped, exit)
		}
		return fmt.Errorf("loop: baseline: the child process ended: %w", exit)
	case d.Stopped:
		return fmt.Errorf("%w (baseline: %s)", ErrStopped, d.Error)
	case d.Error != "":
		return fmt.Errorf("loop: baseline: %s", d.Error)
	}
	return nil
}

// finishBaselineChild ends the main run's part and the child's: after a
// failed or stopped main run the child is stopped cleanly (running the
// command again resumes both); otherwise the child (started now if the main
// run stopped before its shared rounds were done, as a baseline after it
// would be) is waited for and its summary read from its run directory.
func (l *runner) finishBaselineChild(ctx context.Context, mainErr error) (*Summary, error) {
	if mainErr == nil {
		if err := l.startBaseline(ctx); err != nil {
			return nil, err
		}
	}
	c := l.child
	if c == nil {
		return nil, mainErr
	}
	if mainErr != nil {
		c.wait(ctx, true)
		return nil, mainErr
	}
	c.goLive()
	if err := c.wait(ctx, false); err != nil {
		return nil, err
	}
	sum, err := Load(ctx, filepath.Join(l.opts.RunDir, BaselineDir))
	if err != nil {
		return nil, err
	}
	return sum, nil
}
