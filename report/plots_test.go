package report

import (
	"bytes"
	"errors"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func figureByFile(t *testing.T, r Run, file string) figure {
	t.Helper()
	for _, f := range figures(r) {
		if f.File == file {
			return f
		}
	}
	t.Fatalf("no figure %s", file)
	return figure{}
}

// TestAccuracyCaptionTeacher checks that the caption promises the first
// round's teacher line only when the plot draws it.
func TestAccuracyCaptionTeacher(t *testing.T) {
	const promise = "grey dotted line is the first round's teacher"
	r := loadTestRun(t, "run.json")
	if len(r.Rounds[0].TeacherAccuracyByDifficulty) == 0 {
		t.Fatal("run.json's first round has no teacher accuracy")
	}
	if c := figureByFile(t, r, AccuracyPlot).Caption; !strings.Contains(c, promise) {
		t.Errorf("caption with a first-round teacher = %q, want it to mention the teacher's line", c)
	}
	r.Rounds[0].TeacherAccuracyByDifficulty = nil
	if c := figureByFile(t, r, AccuracyPlot).Caption; strings.Contains(c, "teacher") {
		t.Errorf("caption without a first-round teacher = %q, want no teacher's line", c)
	}
}

// TestYieldLeavesOutLabelled checks that a labelled round (gen_labelled = 1),
// which keeps all it generates, is neither drawn nor tabled in the yield
// plot, and that the caption says so.
func TestYieldLeavesOutLabelled(t *testing.T) {
	r := loadTestRun(t, "run.json")
	if f := figureByFile(t, r, YieldPlot); strings.Contains(f.Caption, "gen_labelled") {
		t.Errorf("caption without labelled rounds = %q, want no word of them", f.Caption)
	}
	r.Rounds[0].Metrics = map[string]float64{"gen_labelled": 1}
	r.Rounds[0].Generated, r.Rounds[0].Kept = 50, 50
	f := figureByFile(t, r, YieldPlot)
	if f.Skip != "" || !strings.Contains(f.Caption, "gen_labelled = 1") {
		t.Errorf("yield figure with a labelled round = %+v, want it drawn and its caption to say the round is left out", f)
	}
	tab := figureTable(r, YieldPlot)
	for _, row := range tab.Rows {
		if row[0].Text == "1" {
			t.Errorf("yield table has the labelled round 1: %v", row)
		}
	}
	if len(tab.Rows) != len(r.Rounds)-1 {
		t.Errorf("yield table has %d rows, want %d", len(tab.Rows), len(r.Rounds)-1)
	}
	if _, err := f.draw(); err != nil {
		t.Fatal(err)
	}

	only := r
	only.Rounds = r.Rounds[:1]
	if f := figureByFile(t, only, YieldPlot); f.Skip == "" {
		t.Error("yield figure of a run with only a labelled round is drawn, want it skipped")
	}
}

// TestLayout checks the page's order and the rounds table's box: the
// headline plot comes before the long rounds table, tables scroll within
// their own box, and the reason column has room for its words.
func TestLayout(t *testing.T) {
	var b strings.Builder
	if err := HTML(&b, loadTestRun(t, "run.json")); err != nil {
		t.Fatal(err)
	}
	page := b.String()
	img := strings.Index(page, `<img src="`+AccuracyPlot+`"`)
	rounds := strings.Index(page, "<h2>Rounds</h2>")
	if img < 0 || rounds < 0 || img > rounds {
		t.Errorf("headline plot at %d, rounds table at %d: want the plot first", img, rounds)
	}
	if n := strings.Count(page, `<img src="`+AccuracyPlot+`"`); n != 1 {
		t.Errorf("headline plot shown %d times, want once", n)
	}
	for _, rule := range []string{".scroll { overflow-x: auto;", "min-width: 16rem"} {
		if !strings.Contains(page, rule) {
			t.Errorf("page has no %q", rule)
		}
	}
	if strings.Count(page, `<div class="scroll">`) != strings.Count(page, "<table>") {
		t.Error("a table is not inside its own scrolling box")
	}
}

// TestPassPlot checks that pass@1 and pass@k are plotted and tabled when
// the rounds report them, and that otherwise the page says nothing of them
// and an older plot is removed.
func TestPassPlot(t *testing.T) {
	dir := t.TempDir()
	r := loadTestRun(t, "run.json")
	for i := range r.Rounds {
		rd := &r.Rounds[i]
		rd.Metrics = maps.Clone(rd.Metrics)
		if rd.Metrics == nil {
			rd.Metrics = map[string]float64{}
		}
		rd.Metrics["pass_at_1"], rd.Metrics["pass_at_k"] = 0.25+0.1*float64(i), 0.5+0.1*float64(i)
		rd.Metrics["teacher_pass_at_1"], rd.Metrics["teacher_pass_at_k"] = 0.2, 0.45
	}
	files, err := Write(dir, r)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(files.Plots, filepath.Join(dir, PassPlot)) {
		t.Errorf("plots %v lack %s", files.Plots, PassPlot)
	}
	page, err := os.ReadFile(files.HTML)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`<img src="` + PassPlot + `"`, "<th class=\"num\">teacher pass@k</th>", "<td class=\"num\">0.55</td>"} {
		if !bytes.Contains(page, []byte(want)) {
			t.Errorf("page lacks %s", want)
		}
	}

	files, err = Write(dir, loadTestRun(t, "run.json"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files.Skipped) != 0 {
		t.Errorf("skipped %v: a run without pass@k should not list the plot", files.Skipped)
	}
	if _, err := os.Stat(filepath.Join(dir, PassPlot)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("stale %s left behind: %v", PassPlot, err)
	}
	page, _ = os.ReadFile(files.HTML)
	if bytes.Contains(page, []byte("pass@")) {
		t.Error("page of a run without pass@k mentions it")
	}
}

// TestMetricLabel checks that the lab's "accuracy", a mean over the
// evaluator's target difficulties, is not titled as plain accuracy.
func TestMetricLabel(t *testing.T) {
	r := loadTestRun(t, "run.json")
	tests := []struct {
		r      Run
		metric string
		want   string
	}{
		{r, "accuracy", "mean held-out accuracy (promotion metric)"},
		{r, "win_rate", "win_rate"},
		{Run{Rounds: []Round{{AccuracyByDifficulty: map[int]float64{3: 0.5}}}}, "accuracy", "accuracy"},
	}
	for _, tt := range tests {
		if got := metricLabel(tt.r, tt.metric); got != tt.want {
			t.Errorf("metricLabel(%q) = %q, want %q", tt.metric, got, tt.want)
		}
	}
	if f := figureByFile(t, r, MetricPlot); !strings.Contains(f.Title, "mean held-out accuracy") {
		t.Errorf("metric figure title = %q, want it to say it is a mean", f.Title)
	}
}

// TestFirstRoundTeacherLabel checks that a first round without a teacher
// (trained on true labels, as in distillation) is named so in the legend
// and the caption.
func TestFirstRoundTeacherLabel(t *testing.T) {
	r := loadTestRun(t, "run.json")
	r.Rounds[0].TeacherAccuracyByDifficulty = nil
	if got := roundName(r, 0); got != "round 1" {
		t.Errorf("roundName with a first-round teacher = %q, want %q", got, "round 1")
	}
	r.Rounds[0].Teacher = ""
	r.Rounds[0].Promoted = true
	if got, want := roundName(r, 0), "round 1: the teacher, from labels"; got != want {
		t.Errorf("roundName of a promoted labelled first round = %q, want %q", got, want)
	}
	if got := roundName(r, 1); got != "round 2" {
		t.Errorf("roundName(1) = %q, want %q", got, "round 2")
	}
	if c := figureByFile(t, r, AccuracyPlot).Caption; !strings.Contains(c, "Round 1 had no teacher") || !strings.Contains(c, "became the teacher") {
		t.Errorf("caption = %q, want it to say round 1 is the teacher", c)
	}
	r.Rounds[0].Promoted = false
	if got, want := roundName(r, 0), "round 1: from labels"; got != want {
		t.Errorf("roundName of an unpromoted labelled first round = %q, want %q", got, want)
	}
	if _, err := drawAccuracy(r); err != nil {
		t.Fatal(err)
	}
}
