package progress

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/synthloop/synthloop/model"
	"github.com/synthloop/synthloop/pipeline"
)

func TestBarReachesFullOnlyWhenDone(t *testing.T) {
	tests := []struct {
		s    Snapshot
		want string
	}{
		{Snapshot{Stage: "a", State: "running", Done: 10, Total: 10}, " 99%"},
		{Snapshot{Stage: "a", State: "running", Done: 5, Total: 10}, " 50%"},
		{Snapshot{Stage: "a", State: "done", Done: 10, Total: 10}, "100%"},
		{Snapshot{Stage: "a", State: "done", Done: 4, Total: 10}, "ended short of its target"},
		{Snapshot{Stage: "a", State: "stopped", Done: 4, Total: 10}, "stopped"},
		{Snapshot{Stage: "a", State: "running", Done: 3}, "3/?"},
	}
	for _, tt := range tests {
		if got := Bar(tt.s, 10); !strings.Contains(got, tt.want) {
			t.Errorf("Bar(%+v) = %q, want it to contain %q", tt.s, got, tt.want)
		}
	}
}

func TestJSONLines(t *testing.T) {
	var buf bytes.Buffer
	r := New(&buf, false, time.Hour) // no ticks: only explicit flushes
	p := r.Stage("gen", 0, 2)
	p.SetTotal(4)
	p.Done(2, 2, 1, 0)
	p.Usage(pipeline.UnitUsage{Requests: 3, PromptTokens: 100, CompletionTokens: 50, CostUSD: 0.01})
	r.StageDone("gen", nil)
	q := r.Stage("next", 1, 2)
	q.Done(1, 0, 0, 1)
	r.StageDone("next", errors.Join(model.ErrBudgetExceeded))
	r.Close()
	r.Close() // safe twice

	var states []Snapshot
	for _, line := range strings.Split(strings.TrimSpace(buf.String()), "\n") {
		var s Snapshot
		if err := json.Unmarshal([]byte(line), &s); err != nil {
			t.Fatalf("line %q is not JSON: %v", line, err)
		}
		states = append(states, s)
	}
	last := map[string]Snapshot{}
	for _, s := range states {
		last[s.Stage] = s
	}
	if g := last["gen"]; g.State != "done" || g.Done != 2 || g.Kept != 2 || g.Rejected != 1 || g.PromptTokens != 100 || g.CostUSD != 0.01 || g.Index != 1 {
		t.Errorf("final gen line = %+v", g)
	}
	if n := last["next"]; n.State != "stopped" || n.Failed != 1 {
		t.Errorf("final next line = %+v, want state stopped", n)
	}
	// Each finished stage is written once in its final state, not repeated.
	finals := 0
	for _, s := range states {
		if s.Stage == "gen" && s.State == "done" {
			finals++
		}
	}
	if finals != 1 {
		t.Errorf("gen's final line written %d times, want 1", finals)
	}
}

func TestTTYRedrawsInPlace(t *testing.T) {
	var buf bytes.Buffer
	r := New(&buf, true, time.Hour)
	p := r.Stage("a", 0, 1)
	p.SetTotal(2)
	p.Done(2, 2, 0, 0)
	r.StageDone("a", nil)
	r.Close()
	out := buf.String()
	if !strings.Contains(out, "\x1b[1A") || !strings.Contains(out, "100%") {
		t.Errorf("tty output %q: want a cursor-up redraw and a final 100%%", out)
	}
}

// TestNote: a running stage's note (a wait for a provider's batch) ends its
// line and goes into the JSON; it is cleared when the stage ends.
func TestNote(t *testing.T) {
	var buf bytes.Buffer
	r := New(&buf, false, time.Hour)
	p := r.Stage("replies", 1, 1)
	p.(interface{ Note(string) }).Note("teacher: 1 batch open at the provider; next look in 1m0s")
	s := r.Snapshots()[0]
	if s.Note == "" || !strings.HasSuffix(Bar(s, 10), "  teacher: 1 batch open at the provider; next look in 1m0s") {
		t.Errorf("bar %q", Bar(s, 10))
	}
	r.flush(false) // the refresh loop's tick
	r.StageDone("replies", nil)
	if s := r.Snapshots()[0]; s.Note != "" || strings.Contains(Bar(s, 10), "batch") {
		t.Errorf("the note outlived the stage: %q", Bar(s, 10))
	}
	r.Close()
	if !strings.Contains(buf.String(), `"note":"teacher: 1 batch open`) {
		t.Errorf("JSON lines lack the note:\n%s", buf.String())
	}
}
