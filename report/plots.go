package report

import (
	"bytes"
	"fmt"
	"image/color"
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
)

// figure is one plot of the report: drawn into File, or skipped with the
// reason the page gives.
type figure struct {
	File    string
	Title   string
	Caption string
	Skip    string
	// optional figures are for some runs only: skipped, the page and
	// Files.Skipped leave them out rather than say why.
	optional bool
	draw     func() ([]byte, error)
}

// figures plans the report's plots, in page order. Planning needs only the
// numbers, so the page can say which plots exist without drawing any.
func figures(r Run) []figure {
	figs := []figure{
		{File: AccuracyPlot, Title: "Accuracy by difficulty",
			Caption: "Held-out accuracy of each round's student by problem difficulty, one line per round, coloured from purple (first round) to green (last)."},
		{File: BaselinePlot, Title: "Filtered run and unfiltered baseline",
			Caption: "Left: the run, whose students trained on filtered data. Middle: the baseline, trained on the same rounds without filtering. Right: mean accuracy on " + r.HarderLabel() + " per round, both side by side."},
		{File: YieldPlot, Title: "Filter yield",
			Caption: "Share of the teacher's generated examples that the filter kept, per round (kept / generated above each bar when there are at most a dozen)."},
		{File: MetricPlot, Title: "Main metric per round",
			Caption: "The metric that decides promotion, per round, for the student and the teacher it was compared with; a triangle marks a student promoted to teacher, a cross one that was not."},
		{File: PassPlot, Title: "pass@1 and pass@k per round", optional: true,
			Caption: "Share of the evaluator's target problems solved by one sampled answer (pass@1, solid) and by any of k sampled answers (pass@k, dashed), per round, for the student (blue) and the teacher it was compared with (grey)."},
	}
	has := func(f func(Round) bool) bool {
		for _, rd := range r.Rounds {
			if f(rd) {
				return true
			}
		}
		return false
	}
	// Promise the teacher's line only where drawAccuracy draws it.
	if len(r.Rounds) > 0 && len(r.Rounds[0].TeacherAccuracyByDifficulty) > 0 {
		figs[0].Caption = strings.TrimSuffix(figs[0].Caption, ".") + "; the grey dotted line is the first round's teacher, where the loop started."
	}
	metric := r.MainMetric()
	if metric != "" {
		figs[3].Title = "Main metric per round: " + metricLabel(r, metric)
	}
	if firstFromLabels(r) {
		figs[0].Caption += " Round 1 had no teacher: it trained on true labels"
		if r.Rounds[0].Promoted {
			figs[0].Caption += ", and its student became the teacher"
		}
		figs[0].Caption += "."
	}
	switch {
	case !has(func(rd Round) bool { return len(rd.AccuracyByDifficulty) > 0 }):
		figs[0].Skip = "no round reports accuracy by difficulty"
	default:
		figs[0].draw = func() ([]byte, error) { return drawAccuracy(r) }
	}
	switch {
	case !r.HasBaseline():
		figs[1].Skip = "the run has no unfiltered baseline"
	default:
		figs[1].draw = func() ([]byte, error) { return drawBaseline(r) }
	}
	switch {
	case !has(func(rd Round) bool { return rd.Generated > 0 }):
		figs[2].Skip = "no round reports how many examples it generated"
	case !has(yielding):
		figs[2].Skip = "only labelled rounds generated examples, and they keep them all"
	default:
		if has(labelled) {
			figs[2].Caption += " Labelled rounds (metric gen_labelled = 1) keep every example and are left out, so as not to flatten the others."
		}
		figs[2].draw = func() ([]byte, error) { return drawYield(r) }
	}
	switch names := r.MetricNames(); {
	case len(names) == 0 && metric == "":
		figs[3].Skip = "no round reports any metric"
	case metric == "":
		figs[3].Skip = "the run names no main metric and its rounds report several (" + strings.Join(names, ", ") + ")"
	case !has(func(rd Round) bool { _, ok := r.Score(rd); return ok }):
		figs[3].Skip = fmt.Sprintf("no round reports the main metric %q", metric)
	default:
		figs[3].draw = func() ([]byte, error) { return drawMetric(r, metric) }
	}
	switch {
	case !has(func(rd Round) bool {
		return slices.ContainsFunc(passKeys, func(k string) bool { _, ok := rd.Metrics[k]; return ok })
	}):
		figs[4].Skip = "no round reports pass@1 or pass@k"
	default:
		figs[4].draw = func() ([]byte, error) { return drawPass(r) }
	}
	return figs
}

// passKeys are the metrics of an evaluator that samples several answers per
// problem (lab-accuracy with samples, as RFT uses), in plot and table
// order; passNames label them.
var (
	passKeys  = []string{"pass_at_1", "pass_at_k", "teacher_pass_at_1", "teacher_pass_at_k"}
	passNames = map[string]string{"pass_at_1": "pass@1", "pass_at_k": "pass@k",
		"teacher_pass_at_1": "teacher pass@1", "teacher_pass_at_k": "teacher pass@k"}
)

// line is how addLine draws a series: a line 1.5 points wide with a glyph
// at each point.
type line struct {
	color  color.Color
	dashes []vg.Length      // nil: solid
	glyph  draw.GlyphDrawer // nil: a circle
	radius vg.Length
}

// addLine draws xys on p as st says, named in the legend unless name is "".
func addLine(p *plot.Plot, xys plotter.XYs, name string, st line) error {
	l, s, err := plotter.NewLinePoints(xys)
	if err != nil {
		return err
	}
	l.Color, s.Color = st.color, st.color
	l.Width = vg.Points(1.5)
	if st.dashes != nil {
		l.Dashes = st.dashes
	}
	s.Shape, s.Radius = st.glyph, st.radius
	if s.Shape == nil {
		s.Shape = draw.CircleGlyph{}
	}
	p.Add(l, s)
	if name != "" {
		p.Legend.Add(name, l, s)
	}
	return nil
}

func drawPass(r Run) ([]byte, error) {
	p := newPlot("pass@1 and pass@k per round", "round", "solved (fraction of target problems)")
	for _, k := range passKeys {
		var xys plotter.XYs
		for _, rd := range r.Rounds {
			if v, ok := rd.Metrics[k]; ok {
				xys = append(xys, plotter.XY{X: float64(rd.Index), Y: v})
			}
		}
		if len(xys) == 0 {
			continue
		}
		st := line{color: runColor, radius: vg.Points(2.5)}
		if strings.HasPrefix(k, "teacher_") {
			st.color = labelledColor
		}
		if strings.HasSuffix(k, "_k") {
			st.dashes, st.glyph = []vg.Length{vg.Points(5), vg.Points(3)}, draw.SquareGlyph{}
		}
		if err := addLine(p, xys, passNames[k], st); err != nil {
			return nil, err
		}
	}
	roundAxis(p, r)
	p.Y.Min, p.Y.Max = 0, 1
	return renderPNG(plotW, plotH, [][]*plot.Plot{{p}})
}

const dpi = 96

var (
	plotW = 8 * vg.Inch
	plotH = 4.5 * vg.Inch

	gridColor     = color.Gray{Y: 225}
	labelledColor = color.Gray{Y: 120}
	baselineColor = color.RGBA{R: 230, G: 120, B: 20, A: 255}
	runColor      = color.RGBA{R: 33, G: 102, B: 172, A: 255}
	promotedColor = color.RGBA{R: 26, G: 152, B: 80, A: 255}
	rejectedColor = color.RGBA{R: 215, G: 48, B: 39, A: 255}
)

// viridis anchors; roundColor interpolates them so that later rounds are
// further along the scale and the eye reads the progression.
var viridis = []color.RGBA{
	{68, 1, 84, 255}, {65, 68, 135, 255}, {42, 120, 142, 255},
	{34, 168, 132, 255}, {122, 209, 81, 255}, {253, 231, 37, 255},
}

// roundColor is the colour of round i of n. It stops short of viridis'
// yellow end, which is hard to see on white.
func roundColor(i, n int) color.Color {
	t := 0.0
	if n > 1 {
		t = 0.85 * float64(i) / float64(n-1)
	}
	x := t * float64(len(viridis)-1)
	k := min(int(x), len(viridis)-2)
	f := x - float64(k)
	a, b := viridis[k], viridis[k+1]
	mix := func(p, q uint8) uint8 { return uint8(math.Round(float64(p)*(1-f) + float64(q)*f)) }
	return color.RGBA{mix(a.R, b.R), mix(a.G, b.G), mix(a.B, b.B), 255}
}

// intTicks labels whole numbers only (difficulties, rounds), at most about a
// dozen of them.
type intTicks struct{}

func (intTicks) Ticks(lo, hi float64) []plot.Tick {
	lo, hi = math.Ceil(lo), math.Floor(hi)
	step := 1.0
	for i := 0; (hi-lo)/step > 12; i++ {
		step *= []float64{2, 2.5, 2}[i%3] // 1, 2, 5, 10, 20, 50, ...
	}
	var ticks []plot.Tick
	for v := math.Ceil(lo/step) * step; v <= hi; v += step {
		ticks = append(ticks, plot.Tick{Value: v, Label: strconv.Itoa(int(v))})
	}
	return ticks
}

func newPlot(title, xlabel, ylabel string) *plot.Plot {
	p := plot.New()
	p.Title.Text = title
	p.X.Label.Text = xlabel
	p.Y.Label.Text = ylabel
	p.Legend.TextStyle.Font.Size = vg.Points(9)
	p.Legend.ThumbnailWidth = vg.Points(18)
	g := plotter.NewGrid()
	g.Vertical.Color, g.Horizontal.Color = gridColor, gridColor
	p.Add(g)
	return p
}

// percentAxis fixes the y axis to 0–100 % so that plots of different rounds
// and runs compare at a glance.
func percentAxis(p *plot.Plot) {
	p.Y.Min, p.Y.Max = 0, 100
}

// difficultyAxis sets the x axis to the run's difficulties with half a step
// of room on each side.
func difficultyAxis(p *plot.Plot, ds []int) {
	p.X.Min, p.X.Max = float64(ds[0])-0.5, float64(ds[len(ds)-1])+0.5
	p.X.Tick.Marker = intTicks{}
}

// addAccuracyLines draws one line per round of get(round) in percent.
func addAccuracyLines(p *plot.Plot, r Run, get func(Round) map[int]float64, legend bool) error {
	for i, rd := range r.Rounds {
		acc := get(rd)
		if len(acc) == 0 {
			continue
		}
		var xys plotter.XYs
		for _, d := range slices.Sorted(maps.Keys(acc)) {
			xys = append(xys, plotter.XY{X: float64(d), Y: 100 * acc[d]})
		}
		name := ""
		if legend && labelRound(i, len(r.Rounds)) {
			name = roundName(r, i)
		}
		if err := addLine(p, xys, name, line{color: roundColor(i, len(r.Rounds)), radius: vg.Points(2.5)}); err != nil {
			return err
		}
	}
	return nil
}

// metricLabel names what the plots of metric show. The lab's evaluator
// reports "accuracy" as the mean over its target difficulties, which the
// summary does not record, so a bare "accuracy" would pass for the
// accuracy on every problem.
func metricLabel(r Run, metric string) string {
	if metric == "accuracy" && len(r.Difficulties()) > 1 {
		return "mean held-out accuracy (promotion metric)"
	}
	return metric
}

// firstFromLabels reports whether the run's first round had no teacher: it
// trained on true labels (the lab's distillation and self-improvement
// loops start so).
func firstFromLabels(r Run) bool {
	return len(r.Rounds) > 0 && (r.Rounds[0].Teacher == "" || labelled(r.Rounds[0]))
}

// roundName is round i's legend entry, which says so when the first round
// learnt from true labels rather than from a teacher.
func roundName(r Run, i int) string {
	name := "round " + strconv.Itoa(r.Rounds[i].Index)
	if i == 0 && firstFromLabels(r) {
		if r.Rounds[0].Promoted {
			return name + ": the teacher, from labels"
		}
		return name + ": from labels"
	}
	return name
}

// labelRound says whether round i of n gets a legend entry: all of them up
// to a dozen, else evenly spaced ones and the last, since the colour scale
// shows the order anyway.
func labelRound(i, n int) bool {
	const most = 12
	if n <= most {
		return true
	}
	step := (n - 1 + most - 2) / (most - 1)
	return i%step == 0 || i == n-1
}

// addLabelledMark draws the boundary between labelled and unlabelled
// difficulties, the line the demo's accuracy climbs past.
func addLabelledMark(p *plot.Plot, r Run, ds []int) error {
	if r.LabelledUpTo <= 0 || r.LabelledUpTo < ds[0] || r.LabelledUpTo >= ds[len(ds)-1] {
		return nil
	}
	x := float64(r.LabelledUpTo) + 0.5
	l, err := plotter.NewLine(plotter.XYs{{X: x, Y: 0}, {X: x, Y: 100}})
	if err != nil {
		return err
	}
	l.Color = labelledColor
	l.Dashes = []vg.Length{vg.Points(4), vg.Points(3)}
	p.Add(l)
	p.Legend.Add("labels up to "+strconv.Itoa(r.LabelledUpTo), l)
	return nil
}

func drawAccuracy(r Run) ([]byte, error) {
	ds := r.Difficulties()
	p := newPlot("Held-out accuracy by difficulty", "difficulty", "accuracy (%)")
	if start := r.Rounds[0].TeacherAccuracyByDifficulty; len(start) > 0 {
		var xys plotter.XYs
		for _, d := range slices.Sorted(maps.Keys(start)) {
			xys = append(xys, plotter.XY{X: float64(d), Y: 100 * start[d]})
		}
		st := line{color: labelledColor, dashes: []vg.Length{vg.Points(2), vg.Points(2)}, radius: vg.Points(2)}
		if err := addLine(p, xys, "start (teacher)", st); err != nil {
			return nil, err
		}
	}
	if err := addAccuracyLines(p, r, func(rd Round) map[int]float64 { return rd.AccuracyByDifficulty }, true); err != nil {
		return nil, err
	}
	if err := addLabelledMark(p, r, ds); err != nil {
		return nil, err
	}
	percentAxis(p)
	difficultyAxis(p, ds)
	return renderPNG(plotW, plotH, [][]*plot.Plot{{p}})
}

func drawBaseline(r Run) ([]byte, error) {
	ds := r.Difficulties()
	run := newPlot("Filtered (the run)", "difficulty", "accuracy (%)")
	base := newPlot("Unfiltered baseline", "difficulty", "accuracy (%)")
	if err := addAccuracyLines(run, r, func(rd Round) map[int]float64 { return rd.AccuracyByDifficulty }, true); err != nil {
		return nil, err
	}
	if err := addAccuracyLines(base, r, func(rd Round) map[int]float64 {
		if rd.Baseline == nil {
			return nil
		}
		return rd.Baseline.AccuracyByDifficulty
	}, true); err != nil {
		return nil, err
	}
	row := []*plot.Plot{run, base}
	for _, p := range row {
		if err := addLabelledMark(p, r, ds); err != nil {
			return nil, err
		}
		percentAxis(p)
		difficultyAxis(p, ds)
	}

	// The per-round view of the same numbers: where the filtered run climbs
	// and the unfiltered one collapses under its own wrong labels.
	var filtered, unfiltered plotter.XYs
	for _, rd := range r.Rounds {
		if m, ok := r.HarderMean(rd.AccuracyByDifficulty); ok {
			filtered = append(filtered, plotter.XY{X: float64(rd.Index), Y: 100 * m})
		}
		if rd.Baseline != nil {
			if m, ok := r.HarderMean(rd.Baseline.AccuracyByDifficulty); ok {
				unfiltered = append(unfiltered, plotter.XY{X: float64(rd.Index), Y: 100 * m})
			}
		}
	}
	if len(filtered)+len(unfiltered) > 0 {
		p := newPlot("Mean accuracy, "+r.HarderLabel(), "round", "accuracy (%)")
		for _, s := range []struct {
			name string
			xys  plotter.XYs
			c    color.Color
			dash bool
		}{{"filtered", filtered, runColor, false}, {"unfiltered baseline", unfiltered, baselineColor, true}} {
			if len(s.xys) == 0 {
				continue
			}
			st := line{color: s.c, radius: vg.Points(2.5)}
			if s.dash {
				st.dashes = []vg.Length{vg.Points(5), vg.Points(3)}
			}
			if err := addLine(p, s.xys, s.name, st); err != nil {
				return nil, err
			}
		}
		percentAxis(p)
		roundAxis(p, r)
		row = append(row, p)
	}
	return renderPNG(vg.Length(len(row))*5.5*vg.Inch, plotH, [][]*plot.Plot{row})
}

// labelled reports whether rd's data came with true labels (the lab's
// first round), which the filter keeps whole: a 100% bar beside yields of
// a few percent would flatten them.
func labelled(rd Round) bool { return rd.Metrics["gen_labelled"] == 1 }

// yielding reports whether rd belongs in the yield plot: it generated
// examples and they were filtered.
func yielding(rd Round) bool { return rd.Generated > 0 && !labelled(rd) }

// roundAxis sets the x axis to the run's round indices.
func roundAxis(p *plot.Plot, r Run) {
	first, last := r.Rounds[0].Index, r.Rounds[len(r.Rounds)-1].Index
	p.X.Min, p.X.Max = float64(first)-0.5, float64(last)+0.5
	p.X.Tick.Marker = intTicks{}
}

func drawYield(r Run) ([]byte, error) {
	var (
		values plotter.Values
		names  []string
		labels plotter.XYLabels
	)
	for _, rd := range r.Rounds {
		if !yielding(rd) {
			continue
		}
		y := 100 * float64(rd.Kept) / float64(rd.Generated)
		labels.XYs = append(labels.XYs, plotter.XY{X: float64(len(values)), Y: y})
		labels.Labels = append(labels.Labels, fmt.Sprintf("%d/%d", rd.Kept, rd.Generated))
		values = append(values, y)
		names = append(names, strconv.Itoa(rd.Index))
	}
	p := newPlot("Filter yield per round", "round", "kept (% of generated)")
	bars, err := plotter.NewBarChart(values, vg.Points(min(40, 400/float64(len(values)))))
	if err != nil {
		return nil, err
	}
	bars.Color = runColor
	bars.LineStyle.Width = 0
	p.Add(bars)
	// Past a dozen bars the counts would overlap; the page's table has them.
	if len(values) <= 12 {
		lab, err := plotter.NewLabels(labels)
		if err != nil {
			return nil, err
		}
		for i := range lab.TextStyle {
			lab.TextStyle[i].XAlign = draw.XCenter
			lab.TextStyle[i].Font.Size = vg.Points(8)
		}
		lab.Offset = vg.Point{Y: vg.Points(3)}
		p.Add(lab)
	}
	if step := (len(names) + 24) / 25; step > 1 {
		for i := range names {
			if i%step != 0 {
				names[i] = ""
			}
		}
	}
	p.NominalX(names...)
	p.X.Min, p.X.Max = -0.5, float64(len(values))-0.5
	p.Y.Min, p.Y.Max = 0, 110 // room for the labels above a full bar
	p.Y.Tick.Marker = plot.ConstantTicks([]plot.Tick{{Value: 0, Label: "0"}, {Value: 25, Label: "25"}, {Value: 50, Label: "50"}, {Value: 75, Label: "75"}, {Value: 100, Label: "100"}})
	return renderPNG(plotW, plotH, [][]*plot.Plot{{p}})
}

func drawMetric(r Run, metric string) ([]byte, error) {
	var all, promoted, rejected, teacher, baseline plotter.XYs
	for _, rd := range r.Rounds {
		x := float64(rd.Index)
		if v, ok := r.Score(rd); ok {
			xy := plotter.XY{X: x, Y: v}
			all = append(all, xy)
			if rd.Promoted {
				promoted = append(promoted, xy)
			} else {
				rejected = append(rejected, xy)
			}
		}
		if v, ok := r.TeacherScore(rd); ok {
			teacher = append(teacher, plotter.XY{X: x, Y: v})
		}
		if v, ok := r.BaselineScore(rd); ok {
			baseline = append(baseline, plotter.XY{X: x, Y: v})
		}
	}
	label := metricLabel(r, metric)
	p := newPlot(oneLine(label, 60)+" per round", "round", oneLine(label, 40))
	l, err := plotter.NewLine(all)
	if err != nil {
		return nil, err
	}
	l.Color, l.Width = runColor, vg.Points(1.5)
	p.Add(l)
	p.Legend.Add("student", l)
	for _, o := range []struct {
		name string
		xys  plotter.XYs
		c    color.Color
		dash []vg.Length
	}{
		{"teacher", teacher, labelledColor, []vg.Length{vg.Points(2), vg.Points(2)}},
		{"unfiltered baseline", baseline, baselineColor, []vg.Length{vg.Points(5), vg.Points(3)}},
	} {
		if len(o.xys) == 0 {
			continue
		}
		if err := addLine(p, o.xys, o.name, line{color: o.c, dashes: o.dash, radius: vg.Points(2)}); err != nil {
			return nil, err
		}
	}
	for _, m := range []struct {
		name  string
		xys   plotter.XYs
		shape draw.GlyphDrawer
		c     color.Color
	}{{"promoted", promoted, draw.PyramidGlyph{}, promotedColor}, {"not promoted", rejected, boldCross{}, rejectedColor}} {
		if len(m.xys) == 0 {
			continue
		}
		s, err := plotter.NewScatter(m.xys)
		if err != nil {
			return nil, err
		}
		s.Shape, s.Color, s.Radius = m.shape, m.c, vg.Points(5)
		s.GlyphStyle.Color = m.c
		p.Add(s)
		p.Legend.Add(m.name, s)
	}
	roundAxis(p, r)
	// A fraction (accuracy, win rate) reads best against its whole range.
	lo, hi := math.Inf(1), math.Inf(-1)
	for _, xy := range append(append(all, teacher...), baseline...) {
		lo, hi = min(lo, xy.Y), max(hi, xy.Y)
	}
	if lo >= 0 && hi <= 1 {
		p.Y.Min, p.Y.Max = 0, 1
	}
	return renderPNG(plotW, plotH, [][]*plot.Plot{{p}})
}

// boldCross is draw.CrossGlyph with a stroke thick enough to see beside
// the filled triangles of promoted rounds.
type boldCross struct{}

func (boldCross) DrawGlyph(c *draw.Canvas, sty draw.GlyphStyle, pt vg.Point) {
	c.SetLineStyle(draw.LineStyle{Color: sty.Color, Width: vg.Points(2)})
	r := sty.Radius * 0.8
	var p vg.Path
	p.Move(vg.Point{X: pt.X - r, Y: pt.Y - r})
	p.Line(vg.Point{X: pt.X + r, Y: pt.Y + r})
	p.Move(vg.Point{X: pt.X - r, Y: pt.Y + r})
	p.Line(vg.Point{X: pt.X + r, Y: pt.Y - r})
	c.Stroke(p)
}

// drawLegendRight draws p with its legend in a column to the right of the
// data rather than over it: with many rounds, no corner of the plot is free.
func drawLegendRight(p *plot.Plot, c draw.Canvas) {
	leg := p.Legend
	p.Legend = plot.NewLegend()
	w := leg.Rectangle(c).Size().X
	if w == 0 {
		p.Draw(c)
		return
	}
	gap := vg.Points(8)
	p.Draw(draw.Crop(c, 0, -(w + gap), 0, 0))
	leg.Top, leg.Left = true, true
	// Level with the top of the data area, below the title.
	top := p.Title.TextStyle.Rectangle(p.Title.Text).Size().Y + p.Title.Padding
	leg.Draw(draw.Crop(c, c.Size().X-w, 0, 0, -top))
}

// renderPNG draws a grid of plots, aligned, on one white PNG.
func renderPNG(w, h vg.Length, grid [][]*plot.Plot) ([]byte, error) {
	img := vgimg.NewWith(vgimg.UseWH(w, h), vgimg.UseDPI(dpi))
	dc := draw.New(img)
	tiles := draw.Tiles{
		Rows: len(grid), Cols: len(grid[0]),
		PadX: vg.Points(18), PadY: vg.Points(12),
		PadTop: vg.Points(6), PadBottom: vg.Points(6), PadLeft: vg.Points(6), PadRight: vg.Points(12),
	}
	canvases := plot.Align(grid, tiles, dc)
	for i, row := range grid {
		for j, p := range row {
			drawLegendRight(p, canvases[i][j])
		}
	}
	var buf bytes.Buffer
	if _, err := (vgimg.PngCanvas{Canvas: img}).WriteTo(&buf); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
