package lab

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
)

// benchPreset runs a preset, filtered and unfiltered, in a fresh directory
// and reports CPU-minutes and the last round's accuracy at each evaluated
// difficulty above the labelled ones. These are the experiments behind
// BENCHMARKS.md; they take minutes, so they are benchmarks, which `go test`
// does not run by default:
//
//	go test -run '^$' -bench 'SelfImprove/demo' -benchtime 1x -timeout 0 ./lab
func benchPreset(b *testing.B, name string) {
	cfg := Presets[name]
	for range b.N {
		dir := b.TempDir()
		fdir, udir := filepath.Join(dir, "filtered"), filepath.Join(dir, "unfiltered")
		f, err := SelfImprove(context.Background(), fdir, cfg, func(e Event) {
			if e.Phase == "done" {
				b.Logf("filtered %s", roundLine(e.Result))
			}
		})
		if err != nil {
			b.Fatal(err)
		}
		u, err := Baseline(context.Background(), udir, fdir, cfg, func(e Event) {
			if e.Phase == "done" {
				b.Logf("unfiltered %s", roundLine(e.Result))
			}
		})
		if err != nil {
			b.Fatal(err)
		}
		cpu := f.CPUSeconds + u.CPUSeconds - u.Rounds[0].CPUSeconds
		b.ReportMetric(cpu/60, "cpu-min")
		b.ReportMetric(f.CPUSeconds/60, "filtered-cpu-min")
		last, base := f.Rounds[len(f.Rounds)-1], u.Rounds[len(u.Rounds)-1]
		for i, p := range last.Accuracy {
			if p.Difficulty > cfg.LabelMax {
				b.ReportMetric(p.Accuracy, fmt.Sprintf("acc-%d", p.Difficulty))
				b.ReportMetric(base.Accuracy[i].Accuracy, fmt.Sprintf("unfiltered-acc-%d", p.Difficulty))
			}
		}
	}
}

func roundLine(r *RoundResult) string {
	s := fmt.Sprintf("round %d %v labels %d kept %d (correct %.2f) cpu %.1fs:", r.Round, r.Difficulties, r.Labels, r.Kept, r.KeptCorrect, r.CPUSeconds)
	for _, p := range r.Accuracy {
		s += fmt.Sprintf(" %d:%.2f", p.Difficulty, p.Accuracy)
	}
	return s
}

func BenchmarkSelfImprove(b *testing.B) {
	for _, name := range []string{"demo", "benchmark"} {
		b.Run(name, func(b *testing.B) { benchPreset(b, name) })
	}
}
