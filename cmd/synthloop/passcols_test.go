package main

import (
	"strings"
	"testing"

	"github.com/synthloop/synthloop/loop"
)

// TestTablesShowPass checks that both terminal tables show pass@1 and
// pass@k, the student's and the teacher's, when the rounds report them, and
// leave the columns out when they do not.
func TestTablesShowPass(t *testing.T) {
	withPass := loop.RoundSummary{Index: 1, Status: "done", Metrics: map[string]float64{
		"accuracy": 0.5, "pass_at_1": 0.375, "pass_at_k": 0.75, "teacher_pass_at_1": 0.25, "teacher_pass_at_k": 0.625},
		AccuracyByDifficulty: map[int]float64{1: 1, 2: 0.5}}
	without := loop.RoundSummary{Index: 1, Status: "done", Metrics: map[string]float64{"accuracy": 0.5},
		AccuracyByDifficulty: map[int]float64{1: 1, 2: 0.5}}
	tests := []struct {
		name  string
		print func(*strings.Builder, loop.RoundSummary)
		want  []string
	}{
		{"loop", func(b *strings.Builder, r loop.RoundSummary) { newRoundTable(b).row(r) },
			[]string{"  pass@1   pass@k t.pass@1 t.pass@k  reason", "  0.3750   0.7500   0.2500   0.6250  "}},
		{"lab", func(b *strings.Builder, r loop.RoundSummary) { (&labTable{w: b}).row(r) },
			[]string{"  pass@1   pass@k t.pass@1 t.pass@k  held-out accuracy", "    0.38     0.75     0.25     0.62  "}},
	}
	for _, tt := range tests {
		var b strings.Builder
		tt.print(&b, withPass)
		for _, w := range tt.want {
			if !strings.Contains(b.String(), w) {
				t.Errorf("%s table with pass@k lacks %q:\n%s", tt.name, w, b.String())
			}
		}
		b.Reset()
		tt.print(&b, without)
		if strings.Contains(b.String(), "pass@") {
			t.Errorf("%s table without pass@k shows it:\n%s", tt.name, b.String())
		}
	}
}

// TestLabTableAligned checks that the accuracies stay under their
// difficulties when the pass@ columns are shown.
func TestLabTableAligned(t *testing.T) {
	var b strings.Builder
	(&labTable{w: &b}).row(loop.RoundSummary{Index: 1, Status: "done",
		Metrics:              map[string]float64{"pass_at_1": 0.5, "pass_at_k": 0.75},
		AccuracyByDifficulty: map[int]float64{1: 1, 12: 0.5}})
	lines := strings.Split(strings.TrimRight(b.String(), "\n"), "\n")
	if len(lines) != 2 {
		t.Fatalf("got %d lines, want header and row:\n%s", len(lines), b.String())
	}
	if h, r := strings.Index(lines[0], " 12"), strings.LastIndex(lines[1], " 50"); h < 0 || h != r {
		t.Errorf("difficulty 12 at column %d, its accuracy at %d:\n%s", h, r, b.String())
	}
}
