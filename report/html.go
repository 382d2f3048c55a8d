package report

import (
	_ "embed"
	"fmt"
	"html/template"
	"io"
	"math"
	"strconv"
	"strings"
	"time"
)

//go:embed report.html.tmpl
var pageTemplate string

// The template is parsed once; html/template escapes every value it is
// given by context, which matters because model names, reasons and settings
// come from users.
var pageTmpl = template.Must(template.New("report").Parse(pageTemplate))

// page is what the template shows: every number already formatted, so the
// template only lays out text.
type page struct {
	Name        string
	Description string
	Settings    []item
	Summary     []item
	Rounds      table
	Figures     []figView
}

type item struct{ Key, Value string }

type table struct {
	Header []cell
	Rows   [][]cell
	Foot   []cell
	Note   string
}

// cell is one table cell; Class is "num" for right-aligned numbers, "yes" or
// "no" for promotion decisions.
type cell struct{ Text, Class string }

type figView struct {
	File, Title, Caption, Skip string
	Table                      *table
}

func renderHTML(w io.Writer, r Run, figs []figure) error {
	p := page{
		Name:        r.Name,
		Description: r.Description,
		Summary:     summary(r),
		Rounds:      roundsTable(r),
	}
	if p.Name == "" {
		p.Name = "loop run"
	}
	for _, k := range sortedKeys(r.Settings) {
		p.Settings = append(p.Settings, item{k, r.Settings[k]})
	}
	for _, f := range figs {
		v := figView{File: f.File, Title: f.Title, Caption: f.Caption, Skip: f.Skip}
		if f.Skip == "" {
			t := figureTable(r, f.File)
			v.Table = &t
		}
		p.Figures = append(p.Figures, v)
	}
	if err := pageTmpl.Execute(w, p); err != nil {
		return fmt.Errorf("report: render page: %w", err)
	}
	return nil
}

func summary(r Run) []item {
	var s []item
	add := func(k, format string, args ...any) { s = append(s, item{k, fmt.Sprintf(format, args...)}) }
	n := len(r.Rounds)
	if n == 0 {
		add("Rounds", "none yet")
		return s
	}
	first, last := r.Rounds[0], r.Rounds[n-1]
	add("Rounds", "%d (round %d to %d)", n, first.Index, last.Index)
	var promoted []string
	teacher := r.InitialTeacher
	if teacher == "" {
		teacher = first.Teacher
	}
	if teacher != "" {
		add("Initial teacher", "%s", teacher)
	}
	for _, rd := range r.Rounds {
		if rd.Promoted {
			promoted = append(promoted, strconv.Itoa(rd.Index))
			if rd.Student != "" {
				teacher = rd.Student
			}
		}
	}
	switch len(promoted) {
	case 0:
		add("Promotions", "none of %d students", n)
	default:
		which := "round "
		if len(promoted) > 1 {
			which = "rounds "
		}
		add("Promotions", "%d of %d students (%s%s)", len(promoted), n, which, strings.Join(promoted, ", "))
	}
	if teacher != "" {
		add("Final teacher", "%s", teacher)
	}
	if m := r.mainMetric(); m != "" {
		var firstV, lastV, bestV float64
		firstR, lastR, bestR := -1, -1, -1
		for _, rd := range r.Rounds {
			v, ok := rd.Metrics[m]
			if !ok {
				continue
			}
			if firstR < 0 {
				firstV, firstR = v, rd.Index
			}
			lastV, lastR = v, rd.Index
			if bestR < 0 || v > bestV {
				bestV, bestR = v, rd.Index
			}
		}
		if firstR >= 0 {
			v := fmt.Sprintf("%s: %s in round %d", m, num(firstV), firstR)
			if lastR != firstR {
				v += fmt.Sprintf(" → %s in round %d (highest %s, round %d)", num(lastV), lastR, num(bestV), bestR)
			}
			add("Main metric", "%s", v)
		}
	}
	var firstAcc, lastAcc, lastBase string
	for _, rd := range r.Rounds {
		if v, ok := r.harderMean(rd.AccuracyByDifficulty); ok {
			lastAcc = fmt.Sprintf("%s in round %d", pct(v), rd.Index)
			if firstAcc == "" {
				firstAcc = lastAcc
			}
		}
		if rd.Baseline != nil {
			if v, ok := r.harderMean(rd.Baseline.AccuracyByDifficulty); ok {
				lastBase = fmt.Sprintf("%s in round %d", pct(v), rd.Index)
			}
		}
	}
	if firstAcc != "" {
		v := firstAcc
		if lastAcc != firstAcc {
			v += " → " + lastAcc
		}
		if lastBase != "" {
			v += "; unfiltered baseline " + lastBase
		}
		add("Mean accuracy, "+r.harderLabel(), "%s", v)
	}
	t := totals(r)
	if t.generated > 0 {
		add("Data", "%d examples generated, %d kept (%s)", t.generated, t.kept, pct(float64(t.kept)/float64(t.generated)))
	}
	if t.steps > 0 {
		add("Training", "%d steps", t.steps)
	}
	add("Cost", "%s", usd(t.cost))
	add("CPU time", "%s (user+sys)", cpu(t.cpu))
	if !r.Started.IsZero() {
		add("Started", "%s", r.Started.UTC().Format(time.RFC3339))
	}
	if !r.Finished.IsZero() {
		v := r.Finished.UTC().Format(time.RFC3339)
		if !r.Started.IsZero() && r.Finished.After(r.Started) {
			v += " (" + r.Finished.Sub(r.Started).Round(time.Second).String() + " wall time)"
		}
		add("Finished", "%s", v)
	}
	if r.Stopped != "" {
		add("Stopped", "%s", r.Stopped)
	} else if r.Finished.IsZero() {
		add("Stopped", "not yet: the loop may still be running")
	}
	return s
}

type sums struct {
	generated, kept, steps int
	cost, cpu              float64
}

func totals(r Run) sums {
	var t sums
	for _, rd := range r.Rounds {
		t.generated += rd.DataGenerated
		t.kept += rd.DataKept
		t.steps += rd.TrainSteps
		t.cost += rd.CostUSD
		t.cpu += rd.CPUSeconds
	}
	return t
}

func roundsTable(r Run) table {
	metrics := r.metricNames()
	var t table
	t.Header = []cell{{"round", "num"}, {"teacher", ""}, {"student", ""}, {"promoted", ""}, {"reason", ""}}
	for _, m := range metrics {
		t.Header = append(t.Header, cell{m, "num"})
	}
	for _, h := range []string{"generated", "kept", "yield", "train steps", "train loss", "cost", "CPU time"} {
		t.Header = append(t.Header, cell{h, "num"})
	}
	for _, rd := range r.Rounds {
		row := []cell{{strconv.Itoa(rd.Index), "num"}, {rd.Teacher, ""}, {rd.Student, ""}, decision(rd.Promoted), {rd.Reason, "reason"}}
		for _, m := range metrics {
			v, ok := rd.Metrics[m]
			row = append(row, cell{opt(ok, func() string { return num(v) }), "num"})
		}
		row = append(row,
			cell{count(rd.DataGenerated), "num"},
			cell{opt(rd.DataGenerated > 0, func() string { return strconv.Itoa(rd.DataKept) }), "num"},
			cell{yield(rd.DataKept, rd.DataGenerated), "num"},
			cell{count(rd.TrainSteps), "num"},
			cell{opt(rd.TrainSteps > 0, func() string { return strconv.FormatFloat(rd.TrainLoss, 'f', 4, 64) }), "num"},
			cell{usd(rd.CostUSD), "num"},
			cell{cpu(rd.CPUSeconds), "num"},
		)
		t.Rows = append(t.Rows, row)
	}
	s := totals(r)
	t.Foot = []cell{{"total", ""}, {}, {}, {}, {}}
	for range metrics {
		t.Foot = append(t.Foot, cell{})
	}
	t.Foot = append(t.Foot,
		cell{count(s.generated), "num"},
		cell{opt(s.generated > 0, func() string { return strconv.Itoa(s.kept) }), "num"},
		cell{yield(s.kept, s.generated), "num"},
		cell{count(s.steps), "num"},
		cell{},
		cell{usd(s.cost), "num"},
		cell{cpu(s.cpu), "num"},
	)
	return t
}

// figureTable holds the numbers a plot draws, for readers without images.
func figureTable(r Run, file string) table {
	switch file {
	case AccuracyPlot:
		return accuracyTable(r, func(rd Round) map[int]float64 { return rd.AccuracyByDifficulty })
	case BaselinePlot:
		t := accuracyTable(r, func(rd Round) map[int]float64 {
			if rd.Baseline == nil {
				return nil
			}
			return rd.Baseline.AccuracyByDifficulty
		})
		t.Header = append(t.Header, cell{"filtered mean", "num"}, cell{"unfiltered mean", "num"})
		for i, rd := range r.Rounds {
			f, okF := r.harderMean(rd.AccuracyByDifficulty)
			var u float64
			okU := false
			if rd.Baseline != nil {
				u, okU = r.harderMean(rd.Baseline.AccuracyByDifficulty)
			}
			t.Rows[i] = append(t.Rows[i], cell{opt(okF, func() string { return pct(f) }), "num"}, cell{opt(okU, func() string { return pct(u) }), "num"})
		}
		t.Note = "Accuracy of the unfiltered baseline by difficulty; the last two columns are the mean accuracy on " + r.harderLabel() + " of the run and of the baseline. " + t.Note
		return t
	case YieldPlot:
		t := table{Header: []cell{{"round", "num"}, {"generated", "num"}, {"kept", "num"}, {"yield", "num"}}}
		for _, rd := range r.Rounds {
			t.Rows = append(t.Rows, []cell{{strconv.Itoa(rd.Index), "num"}, {count(rd.DataGenerated), "num"},
				{opt(rd.DataGenerated > 0, func() string { return strconv.Itoa(rd.DataKept) }), "num"}, {yield(rd.DataKept, rd.DataGenerated), "num"}})
		}
		return t
	case MetricPlot:
		m := r.mainMetric()
		t := table{Header: []cell{{"round", "num"}, {m, "num"}, {"unfiltered baseline", "num"}, {"promoted", ""}}}
		for _, rd := range r.Rounds {
			v, ok := rd.Metrics[m]
			var b float64
			okB := false
			if rd.Baseline != nil {
				b, okB = rd.Baseline.Metrics[m]
			}
			t.Rows = append(t.Rows, []cell{{strconv.Itoa(rd.Index), "num"},
				{opt(ok, func() string { return num(v) }), "num"}, {opt(okB, func() string { return num(b) }), "num"}, decision(rd.Promoted)})
		}
		return t
	}
	return table{}
}

// accuracyTable is rounds × difficulties of get(round), in percent.
func accuracyTable(r Run, get func(Round) map[int]float64) table {
	ds := r.difficulties()
	t := table{Header: []cell{{"round", "num"}}}
	marked := false
	for _, d := range ds {
		h := strconv.Itoa(d)
		if r.LabelledUpTo > 0 && d > r.LabelledUpTo {
			h += "*"
			marked = true
		}
		t.Header = append(t.Header, cell{h, "num"})
	}
	for _, rd := range r.Rounds {
		acc := get(rd)
		row := []cell{{strconv.Itoa(rd.Index), "num"}}
		for _, d := range ds {
			a, ok := acc[d]
			row = append(row, cell{opt(ok, func() string { return pct(a) }), "num"})
		}
		t.Rows = append(t.Rows, row)
	}
	if marked {
		t.Note = fmt.Sprintf("Columns are difficulties; * marks those above %d, the highest with true labels.", r.LabelledUpTo)
	} else {
		t.Note = "Columns are difficulties."
	}
	return t
}

func decision(promoted bool) cell {
	if promoted {
		return cell{"yes", "yes"}
	}
	return cell{"no", "no"}
}

const absent = "–"

func opt(ok bool, f func() string) string {
	if !ok {
		return absent
	}
	return f()
}

func count(n int) string {
	if n == 0 {
		return absent
	}
	return strconv.Itoa(n)
}

func yield(kept, generated int) string {
	if generated == 0 {
		return absent
	}
	return pct(float64(kept) / float64(generated))
}

func pct(f float64) string { return strconv.FormatFloat(100*f, 'f', 1, 64) + "%" }

// num formats a metric: whole numbers as such, others with up to four
// decimals, very large or small ones in exponent form.
func num(v float64) string {
	switch a := math.Abs(v); {
	case v == math.Trunc(v) && a < 1e15:
		return strconv.FormatFloat(v, 'f', 0, 64)
	case a >= 1e6 || a < 1e-4:
		return strconv.FormatFloat(v, 'g', 4, 64)
	default:
		s := strconv.FormatFloat(v, 'f', 4, 64)
		return strings.TrimRight(strings.TrimRight(s, "0"), ".")
	}
}

func usd(v float64) string {
	switch {
	case v == 0:
		return "$0"
	case v < 0.01:
		return "$" + strconv.FormatFloat(v, 'f', 4, 64)
	default:
		return "$" + strconv.FormatFloat(v, 'f', 2, 64)
	}
}

func cpu(sec float64) string {
	if sec == 0 {
		return absent
	}
	d := time.Duration(sec * float64(time.Second))
	switch {
	case d < time.Second:
		return d.Round(time.Millisecond).String()
	case d < time.Minute:
		return d.Round(100 * time.Millisecond).String()
	default:
		return d.Round(time.Second).String()
	}
}
