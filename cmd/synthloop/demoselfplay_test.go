package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/synthloop/synthloop/report"
)

// tinyDemo shrinks the demo's lab configuration to seconds; the real preset's
// figures are measured in BENCHMARKS.md, not in tests.
const tinyDemo = `{"task":"copy","supervised":1000,"pretrain":{"steps":80,"batch":16,"lr":0.001,"warmup":5},` +
	`"rounds":2,"label":64,"train":{"steps":20,"batch":16,"lr":0.0005,"warmup":2,"newest":0.5},"eval":[3,7,8],"eval_count":8}`

// TestSelfPlayDemo runs `synthloop demo` end to end on a tiny configuration:
// the filtered run, the baseline sharing its round 0, the per-round tables,
// the report with its plots, a servable model; then a rerun resumes without
// redoing a round.
func TestSelfPlayDemo(t *testing.T) {
	dir := t.TempDir()
	out, err := cli(dir, nil, "demo", "--set", tinyDemo, "--json").CombinedOutput()
	if err != nil {
		t.Fatalf("demo: %v\n%s", err, out)
	}
	text := string(out)
	for _, want := range []string{
		"== with the filter (length + majority vote)",
		"== baseline without the filter (every self-made label kept)",
		"held-out accuracy % at difficulty   3   7   8",
		"(shared with the filtered run)",
		"report: runs/demo/report.html",
		"next:   synthloop serve runs/demo/filtered/round-02/model",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("output lacks %q\n%s", want, text)
		}
	}
	run := filepath.Join(dir, "runs", "demo")
	for _, f := range []string{"report.html", report.AccuracyPlot, report.BaselinePlot, report.YieldPlot, report.RunFile,
		"filtered/round-02/model/config.json", "filtered/round-01/data.jsonl", "filtered/round-01/labels.jsonl", "unfiltered/round-02/data.jsonl"} {
		if _, err := os.Stat(filepath.Join(run, f)); err != nil {
			t.Errorf("run directory lacks %s: %v", f, err)
		}
	}
	r, err := report.Load(filepath.Join(run, report.RunFile))
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Rounds) != 3 || r.LabelledUpTo != 6 || r.Rounds[2].Baseline == nil || len(r.Rounds[1].AccuracyByDifficulty) != 3 {
		t.Errorf("report input: %d rounds, labelled up to %d, %+v", len(r.Rounds), r.LabelledUpTo, r.Rounds)
	}

	again, err := cli(dir, nil, "demo", "--set", tinyDemo, "--json").CombinedOutput()
	if err != nil {
		t.Fatalf("rerun: %v\n%s", err, again)
	}
	if n := strings.Count(string(again), "(finished earlier)"); n != 5 {
		t.Errorf("rerun reports %d rounds finished earlier, want 5 (3 filtered, 2 baseline)\n%s", n, again)
	}
	if strings.Contains(string(again), `"step":"train"`) {
		t.Errorf("rerun trained again\n%s", again)
	}
}

func TestDemoBadPreset(t *testing.T) {
	out, err := cli(t.TempDir(), nil, "demo", "--preset", "nope").CombinedOutput()
	if exitCode(err) != 2 || !strings.Contains(string(out), `--preset "nope"`) {
		t.Errorf("bad preset: exit %d\n%s", exitCode(err), out)
	}
}
