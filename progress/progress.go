// Package progress shows a run's progress: live bars per stage on a terminal,
// JSON lines otherwise. A bar reaches 100% only when its stage has finished.
package progress

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/synthloop/synthloop/pipeline"
)

// Snapshot is one stage's progress at a moment; it is also the JSON line
// written when output is not a terminal.
type Snapshot struct {
	Time             time.Time `json:"time"`
	Stage            string    `json:"stage"`
	Index            int       `json:"index"` // 1-based position in the pipeline
	Stages           int       `json:"stages"`
	State            string    `json:"state"` // running, done, stopped, incomplete (units wait for a rerun after transient failures), failed
	Done             int       `json:"done"`
	Total            int       `json:"total,omitempty"`
	Kept             int       `json:"kept"`
	Rejected         int       `json:"rejected"`
	Failed           int       `json:"failed"`
	Requests         int       `json:"requests"`
	CachedRequests   int       `json:"cached_requests"`
	PromptTokens     int       `json:"prompt_tokens"`
	CompletionTokens int       `json:"completion_tokens"`
	CostUSD          float64   `json:"cost_usd"`
	Errors           int       `json:"errors"`
	RatePerSec       float64   `json:"rate_per_sec"`
	ETASeconds       float64   `json:"eta_seconds,omitempty"`
	Error            string    `json:"error,omitempty"`
	// Note says what a running stage waits for, when it waits on something
	// other than its own work (a provider's batch).
	Note string `json:"note,omitempty"`
}

// Reporter implements pipeline.Reporter. Create it with New, call Close when
// the run ends to draw the final state and stop the refresh loop.
type Reporter struct {
	w        io.Writer
	tty      bool
	interval time.Duration
	now      func() time.Time

	mu     sync.Mutex
	stages []*tracker
	lines  int // lines drawn last time (tty)
	stop   chan struct{}
	done   chan struct{}
}

// New returns a reporter writing to w. With tty true it redraws bars in place
// every interval; otherwise it writes a JSON line per stage every interval
// while the stage changes, and one when the stage ends.
func New(w io.Writer, tty bool, interval time.Duration) *Reporter {
	if interval <= 0 {
		interval = time.Second
	}
	r := &Reporter{w: w, tty: tty, interval: interval, now: time.Now, stop: make(chan struct{}), done: make(chan struct{})}
	go r.loop()
	return r
}

func (r *Reporter) loop() {
	defer close(r.done)
	t := time.NewTicker(r.interval)
	defer t.Stop()
	for {
		select {
		case <-r.stop:
			return
		case <-t.C:
			r.flush(false)
		}
	}
}

// Close draws the final state and stops the refresh loop. Safe to call twice.
func (r *Reporter) Close() {
	r.mu.Lock()
	select {
	case <-r.stop:
		r.mu.Unlock()
		return
	default:
		close(r.stop)
	}
	r.mu.Unlock()
	<-r.done
	r.flush(true)
}

// Stage implements pipeline.Reporter.
func (r *Reporter) Stage(name string, index, count int) pipeline.Progress {
	r.mu.Lock()
	defer r.mu.Unlock()
	t := &tracker{s: Snapshot{Stage: name, Index: index + 1, Stages: count, State: "running"}, start: r.now(), now: r.now}
	r.stages = append(r.stages, t)
	return t
}

// StageDone implements pipeline.Reporter.
func (r *Reporter) StageDone(name string, err error) {
	r.mu.Lock()
	for _, t := range r.stages {
		if t.name() == name {
			t.finish(err)
		}
	}
	r.mu.Unlock()
	r.flush(false)
}

// Snapshots returns the current state of every stage seen so far.
func (r *Reporter) Snapshots() []Snapshot {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]Snapshot, len(r.stages))
	for i, t := range r.stages {
		out[i] = t.snapshot()
	}
	return out
}

func (r *Reporter) flush(final bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.tty {
		var b strings.Builder
		if r.lines > 0 {
			fmt.Fprintf(&b, "\x1b[%dA", r.lines)
		}
		for _, t := range r.stages {
			b.WriteString("\r\x1b[2K")
			b.WriteString(Bar(t.snapshot(), 30))
			b.WriteByte('\n')
		}
		r.lines = len(r.stages)
		io.WriteString(r.w, b.String())
		return
	}
	for _, t := range r.stages {
		s := t.snapshot()
		if !final && sameWork(s, t.lastWritten) {
			continue
		}
		if s.State != "running" && t.wroteFinal {
			continue
		}
		line, _ := json.Marshal(s)
		r.w.Write(append(line, '\n'))
		t.lastWritten = s
		t.wroteFinal = s.State != "running"
	}
}

// sameWork reports whether no work was reported between two snapshots, so an
// idle stage does not repeat the same JSON line every interval.
func sameWork(a, b Snapshot) bool {
	a.Time, b.Time = time.Time{}, time.Time{}
	a.RatePerSec, b.RatePerSec = 0, 0
	a.ETASeconds, b.ETASeconds = 0, 0
	return a == b
}

// Bar renders one stage as a terminal line.
func Bar(s Snapshot, width int) string {
	frac := 0.0
	if s.Total > 0 {
		frac = float64(s.Done) / float64(s.Total)
	}
	if s.State == "running" && frac >= 1 {
		frac = 0.99 // the last unit may still be committing: 100% means finished
	}
	if s.State == "done" && (s.Total == 0 || s.Done >= s.Total) {
		frac = 1
	}
	frac = min(max(frac, 0), 1)
	fill := int(frac * float64(width))
	bar := strings.Repeat("█", fill) + strings.Repeat("░", width-fill)
	total := "?"
	if s.Total > 0 {
		total = fmt.Sprint(s.Total)
	}
	line := fmt.Sprintf("[%d/%d] %-14s %s %3.0f%% %d/%s  kept %d rej %d err %d  %.1f/s",
		s.Index, s.Stages, trunc(s.Stage, 14), bar, frac*100, s.Done, total, s.Kept, s.Rejected, s.Failed+s.Errors, s.RatePerSec)
	if s.State == "running" && s.ETASeconds > 0 {
		line += "  ETA " + (time.Duration(s.ETASeconds) * time.Second).String()
	}
	line += fmt.Sprintf("  tok %s  $%.4f", human(s.PromptTokens+s.CompletionTokens), s.CostUSD)
	switch {
	case s.State == "done" && s.Total > 0 && s.Done < s.Total:
		line += "  ended short of its target"
	case s.State != "running" && s.State != "done":
		line += "  " + s.State
	case s.State == "running" && s.Note != "":
		line += "  " + s.Note
	}
	return line
}

func trunc(s string, n int) string {
	if r := []rune(s); len(r) > n {
		return string(r[:n-1]) + "…"
	}
	return s
}

func human(n int) string {
	switch {
	case n >= 1_000_000:
		return fmt.Sprintf("%.1fM", float64(n)/1e6)
	case n >= 1_000:
		return fmt.Sprintf("%.1fk", float64(n)/1e3)
	}
	return fmt.Sprint(n)
}

// tracker is one stage's pipeline.Progress.
type tracker struct {
	mu          sync.Mutex
	s           Snapshot
	start       time.Time
	now         func() time.Time
	resumed     int // units already done when the stage started: not part of the rate
	lastWritten Snapshot
	wroteFinal  bool
}

func (t *tracker) name() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.s.Stage
}

func (t *tracker) SetTotal(n int) {
	t.mu.Lock()
	t.s.Total = n
	t.mu.Unlock()
}

func (t *tracker) Done(units, kept, rejected, failed int) {
	t.mu.Lock()
	if kept == 0 && rejected == 0 && failed == 0 && t.s.Done == 0 && t.s.Requests == 0 {
		// Units reported with no records before any work are units a resume
		// skipped; they count toward the bar but not toward the rate.
		t.resumed += units
	}
	t.s.Done += units
	t.s.Kept += kept
	t.s.Rejected += rejected
	t.s.Failed += failed
	t.mu.Unlock()
}

func (t *tracker) Usage(u pipeline.UnitUsage) {
	t.mu.Lock()
	t.s.Requests += u.Requests
	t.s.CachedRequests += u.CachedRequests
	t.s.PromptTokens += u.PromptTokens
	t.s.CompletionTokens += u.CompletionTokens
	t.s.CostUSD += u.CostUSD
	t.s.Errors += u.Errors
	t.mu.Unlock()
}

// Note sets the line's note; "" clears it.
func (t *tracker) Note(msg string) {
	t.mu.Lock()
	t.s.Note = msg
	t.mu.Unlock()
}

func (t *tracker) finish(err error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	switch {
	case err == nil:
		t.s.State = "done"
	case pipeline.IsStop(err):
		t.s.State = "stopped"
		t.s.Error = err.Error()
	case errors.Is(err, pipeline.ErrTransient):
		t.s.State = "incomplete"
		t.s.Error = err.Error()
	default:
		t.s.State = "failed"
		t.s.Error = err.Error()
	}
	t.s.ETASeconds = 0
	t.s.Note = ""
}

func (t *tracker) snapshot() Snapshot {
	t.mu.Lock()
	defer t.mu.Unlock()
	s := t.s
	now := t.now()
	s.Time = now
	if el := now.Sub(t.start).Seconds(); el > 0 {
		s.RatePerSec = float64(s.Done-t.resumed) / el
		if s.State == "running" && s.Total > s.Done && s.RatePerSec > 0 {
			s.ETASeconds = float64(s.Total-s.Done) / s.RatePerSec
		}
	}
	s.Time = s.Time.UTC().Truncate(time.Millisecond)
	return s
}
