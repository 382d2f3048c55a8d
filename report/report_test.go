package report

import (
	"bytes"
	"errors"
	"flag"
	"github.com/synthloop/synthloop/summary"
	"image/png"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

func loadTestRun(t *testing.T, name string) Run {
	t.Helper()
	r, err := Load(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// TestHTMLGolden renders fixed runs and compares the page byte for byte with
// testdata/*.html. After an intended change, run `go test ./report -update`
// and read the diff. summary.json was written by loop.Summary.WriteJSON (loop
// at commit 40d4821): Load reads the loop's own file as it is.
func TestHTMLGolden(t *testing.T) {
	for _, name := range []string{"run", "partial", "summary"} {
		t.Run(name, func(t *testing.T) {
			r := loadTestRun(t, name+".json")
			var got bytes.Buffer
			if err := HTML(&got, r); err != nil {
				t.Fatal(err)
			}
			golden := filepath.Join("testdata", name+".html")
			if *update {
				if err := os.WriteFile(golden, got.Bytes(), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run with -update to create it)", err)
			}
			if !bytes.Equal(got.Bytes(), want) {
				t.Errorf("HTML for %s differs from %s; run with -update and read the diff", name, golden)
			}
			// The same page again: map order must not leak into the output.
			var again bytes.Buffer
			HTML(&again, r)
			if !bytes.Equal(got.Bytes(), again.Bytes()) {
				t.Error("two renderings of the same run differ")
			}
		})
	}
}

// TestWrite checks the files of a full report: the page, and four PNGs that
// decode at the expected pixel size. The bytes of the PNGs are not compared,
// since they depend on the plotting library's rasteriser.
func TestWrite(t *testing.T) {
	dir := t.TempDir()
	files, err := Write(dir, loadTestRun(t, "run.json"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files.Skipped) != 0 {
		t.Errorf("skipped %v, want every plot drawn", files.Skipped)
	}
	want := map[string][2]int{ // file: width, height in pixels at 96 dpi
		AccuracyPlot: {768, 432},
		BaselinePlot: {1584, 432},
		YieldPlot:    {768, 432},
		MetricPlot:   {768, 432},
	}
	if len(files.Plots) != len(want) {
		t.Errorf("wrote plots %v, want %d", files.Plots, len(want))
	}
	page, err := os.ReadFile(files.HTML)
	if err != nil {
		t.Fatal(err)
	}
	for name, size := range want {
		f, err := os.Open(filepath.Join(dir, name))
		if err != nil {
			t.Error(err)
			continue
		}
		st, _ := f.Stat()
		img, err := png.Decode(f)
		f.Close()
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if b := img.Bounds(); b.Dx() != size[0] || b.Dy() != size[1] {
			t.Errorf("%s is %dx%d, want %dx%d", name, b.Dx(), b.Dy(), size[0], size[1])
		}
		// A blank canvas compresses to a few hundred bytes; a drawn plot is
		// several kilobytes.
		if st.Size() < 5000 {
			t.Errorf("%s is %d bytes: nothing drawn?", name, st.Size())
		}
		if !bytes.Contains(page, []byte(`<img src="`+name+`"`)) {
			t.Errorf("page does not show %s", name)
		}
	}
	left, _ := filepath.Glob(filepath.Join(dir, ".*"))
	if len(left) > 0 {
		t.Errorf("temporary files left behind: %v", left)
	}
}

// TestWriteSkips writes a run with part of its data missing over a full
// report: the plots it cannot draw are removed, and the page says why.
func TestWriteSkips(t *testing.T) {
	dir := t.TempDir()
	if _, err := Write(dir, loadTestRun(t, "run.json")); err != nil {
		t.Fatal(err)
	}
	files, err := Write(dir, loadTestRun(t, "partial.json"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files.Plots) != 2 || len(files.Skipped) != 2 {
		t.Fatalf("plots %v, skipped %v; want 2 of each", files.Plots, files.Skipped)
	}
	page, _ := os.ReadFile(files.HTML)
	for _, gone := range []string{BaselinePlot, MetricPlot} {
		if _, err := os.Stat(filepath.Join(dir, gone)); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("stale %s still there (%v)", gone, err)
		}
		if bytes.Contains(page, []byte(gone)) {
			t.Errorf("page links the skipped %s", gone)
		}
	}
	for _, why := range []string{"Not drawn: the run has no unfiltered baseline.", "Not drawn: the run names no main metric and its rounds report several (gen_filter_yield, loss, win_rate)."} {
		if !bytes.Contains(page, []byte(why)) {
			t.Errorf("page does not say %q", why)
		}
	}
}

func TestWriteEmptyRun(t *testing.T) {
	dir := t.TempDir()
	files, err := Write(dir, Run{Name: "nothing yet"})
	if err != nil {
		t.Fatal(err)
	}
	if len(files.Plots) != 0 || len(files.Skipped) != 4 {
		t.Errorf("plots %v, skipped %v; want none drawn, 4 skipped", files.Plots, files.Skipped)
	}
	page, _ := os.ReadFile(files.HTML)
	if !bytes.Contains(page, []byte("none yet")) {
		t.Error("page of a run without rounds does not say so")
	}
}

// TestEscaping feeds markup through every user-supplied field and checks
// none of it reaches the page as markup.
func TestEscaping(t *testing.T) {
	const evil = `<script>alert(1)</script><img src=x onerror="alert(2)">`
	r := Run{
		Name:        evil,
		Config:      evil,
		Description: evil,
		Settings:    map[string]string{evil: evil},
		Metric:      evil,
		Teacher:     evil,
		Stopped:     evil,
		Rounds: []Round{{
			Index: 1, Status: evil, Teacher: evil, Student: evil, Reason: evil, Promoted: true,
			Metrics:   map[string]float64{evil: 0.5},
			Generated: 10, Kept: 5, Data: evil, TrainLog: evil,
		}},
	}
	var b bytes.Buffer
	if err := HTML(&b, r); err != nil {
		t.Fatal(err)
	}
	page := b.String()
	for _, bad := range []string{"<script", "<img src=x", `onerror="`} {
		if strings.Contains(page, bad) {
			t.Errorf("page contains %q unescaped", bad)
		}
	}
	if n := strings.Count(page, "&lt;script&gt;alert(1)&lt;/script&gt;"); n < 12 {
		t.Errorf("escaped text appears %d times, want it in every field (12+)", n)
	}
	// The plots draw user text too (the metric name); it must not break them.
	if _, err := Write(t.TempDir(), r); err != nil {
		t.Fatal(err)
	}
}

// TestPhaseColumn: the rounds table names the phase each round ran, only
// for a run that had phases.
func TestPhaseColumn(t *testing.T) {
	for _, tc := range []struct {
		rounds []Round
		want   []string
		absent []string
	}{
		{[]Round{{Index: 1}, {Index: 2, Phase: 1, PhaseTitle: "RFT"}, {Index: 3, Phase: 2}},
			[]string{"<th>phase</th>", "<td>loop</td>", "<td>1: RFT</td>", "<td>2</td>"}, nil},
		{[]Round{{Index: 1}, {Index: 2}}, nil, []string{"<th>phase</th>", "<td>loop</td>"}},
	} {
		var b bytes.Buffer
		if err := HTML(&b, Run{Name: "x", Rounds: tc.rounds}); err != nil {
			t.Fatal(err)
		}
		page := b.String()
		for _, w := range tc.want {
			if !strings.Contains(page, w) {
				t.Errorf("page lacks %q", w)
			}
		}
		for _, w := range tc.absent {
			if strings.Contains(page, w) {
				t.Errorf("page of a run without phases has %q", w)
			}
		}
	}
}

func TestValidate(t *testing.T) {
	for _, tc := range []struct {
		name string
		run  Run
		want string // substring of the error; "" means valid
	}{
		{"empty", Run{}, ""},
		{"ok", Run{Rounds: []Round{{Index: 0}, {Index: 1, AccuracyByDifficulty: map[int]float64{3: 1, 4: 0}}}}, ""},
		{"out of order", Run{Rounds: []Round{{Index: 2}, {Index: 1}}}, "round 1 follows round 2"},
		{"repeated", Run{Rounds: []Round{{Index: 1}, {Index: 1}}}, "round 1 follows round 1"},
		{"percent", Run{Rounds: []Round{{Index: 1, AccuracyByDifficulty: map[int]float64{12: 87}}}}, "accuracy at difficulty 12 is 87, want a fraction"},
		{"baseline percent", Run{Rounds: []Round{{Index: 1, Baseline: &Baseline{AccuracyByDifficulty: map[int]float64{3: -0.1}}}}}, "baseline accuracy at difficulty 3"},
		{"kept more", Run{Rounds: []Round{{Index: 1, Generated: 3, Kept: 4}}}, "kept 4 examples of 3"},
		{"teacher percent", Run{Rounds: []Round{{Index: 1, TeacherAccuracyByDifficulty: map[int]float64{3: 2}}}}, "teacher accuracy at difficulty 3"},
		{"negative", Run{Rounds: []Round{{Index: 1, TrainSteps: -1}}}, "negative count"},
		{"negative cost", Run{Rounds: []Round{{Index: 1, CostUSD: -1}}}, "negative cost"},
		{"labelled", Run{LabelledUpTo: -1}, "labelled_up_to"},
	} {
		err := tc.run.Validate()
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%s: Validate() = %v, want nil", tc.name, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("%s: Validate() = %v, want an error containing %q", tc.name, err, tc.want)
		}
	}
}

func TestLoad(t *testing.T) {
	dir := t.TempDir()
	write := func(name, text string) string {
		p := filepath.Join(dir, name)
		os.WriteFile(p, []byte(text), 0o644)
		return p
	}
	for _, tc := range []struct {
		name, path string
		noRun      bool   // the error must wrap ErrNoRun
		want       string // substring of the error
	}{
		{"missing", filepath.Join(dir, "nope.json"), true, "does not exist"},
		{"no rounds", write("empty.json", `{"name":"x","rounds":[]}`), true, "has no rounds"},
		{"only unknown fields", write("other.json", `{"name":"x","round":[{"index":1}]}`), true, "has no rounds"},
		{"bad json", write("bad.json", `{"name":`), false, "bad.json"},
		{"invalid", write("invalid.json", `{"rounds":[{"index":1,"accuracy_by_difficulty":{"5":50}}]}`), false, "want a fraction"},
	} {
		_, err := Load(tc.path)
		if err == nil || !strings.Contains(err.Error(), tc.want) || errors.Is(err, ErrNoRun) != tc.noRun {
			t.Errorf("%s: Load = %v, want an error containing %q (ErrNoRun: %v)", tc.name, err, tc.want, tc.noRun)
		}
	}
}

func TestFormat(t *testing.T) {
	for _, tc := range []struct {
		name string
		f    func(float64) string
		in   float64
		want string
	}{
		{"num", num, 0.742, "0.742"},
		{"num", num, 0.12345678, "0.1235"},
		{"num", num, 3, "3"},
		{"num", num, -0.5, "-0.5"},
		{"num", num, 1.5e7, "15000000"},
		{"num", num, 1234567.5, "1.235e+06"},
		{"num", num, 2e-5, "2e-05"},
		{"pct", pct, 0.955, "95.5%"},
		{"pct", pct, 1, "100.0%"},
		{"usd", usd, 0, "$0"},
		{"usd", usd, 0.00123, "$0.0012"},
		{"usd", usd, 12.345, "$12.35"},
		{"cpu", cpu, 0, "–"},
		{"cpu", cpu, 0.25, "250ms"},
		{"cpu", cpu, 61.5, "1m2s"},
		{"cpu", cpu, 12.34, "12.3s"},
	} {
		if got := tc.f(tc.in); got != tc.want {
			t.Errorf("%s(%v) = %q, want %q", tc.name, tc.in, got, tc.want)
		}
	}
}

func TestIntTicks(t *testing.T) {
	for _, tc := range []struct {
		lo, hi float64
		want   string
	}{
		{0.5, 4.5, "1 2 3 4"},
		{5.5, 16.5, "6 7 8 9 10 11 12 13 14 15 16"},
		{-0.5, 30.5, "0 5 10 15 20 25 30"},
		{0.5, 200.5, "20 40 60 80 100 120 140 160 180 200"},
		{2.2, 2.8, ""},
	} {
		var got []string
		for _, tk := range (intTicks{}).Ticks(tc.lo, tc.hi) {
			got = append(got, tk.Label)
		}
		if strings.Join(got, " ") != tc.want {
			t.Errorf("intTicks(%v, %v) = %q, want %q", tc.lo, tc.hi, strings.Join(got, " "), tc.want)
		}
	}
}

// FuzzDecode checks that no input makes Decode panic, and that whatever it
// accepts renders as a page.
func FuzzDecode(f *testing.F) {
	for _, name := range []string{"run.json", "partial.json"} {
		b, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte(`{"rounds":[{"index":1,"accuracy_by_difficulty":{"-3":0.5}}]}`))
	f.Add([]byte(`{"labelled_up_to":3,"rounds":[{"index":1,"data_generated":1,"data_kept":1,"baseline":{}}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := summary.Decode(bytes.NewReader(data))
		if err != nil {
			return
		}
		var b bytes.Buffer
		if err := HTML(&b, r); err != nil {
			t.Fatalf("decoded run does not render: %v", err)
		}
	})
}

func TestSaveLoad(t *testing.T) {
	want := loadTestRun(t, "run.json")
	p := filepath.Join(t.TempDir(), RunFile)
	if err := Save(p, want); err != nil {
		t.Fatal(err)
	}
	got, err := Load(p)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Load(Save(run)) = %+v, want %+v", got, want)
	}
	if err := Save(p, Run{Rounds: []Round{{Index: 2}, {Index: 1}}}); err == nil {
		t.Error("Save accepted rounds out of order")
	}
}
