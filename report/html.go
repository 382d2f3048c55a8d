package report

import (
	_ "embed"
	"fmt"
	"html/template"
	"io"
	"maps"
	"math"
	"slices"
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
	Metrics     *table
	// Headline is the first plot drawn, shown right after the summary so
	// that the reader sees the result before the long tables; Figures are
	// the others, in order.
	Headline *figView
	Figures  []figView
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
		Summary:     summaryItems(r),
		Rounds:      roundsTable(r),
	}
	if p.Name == "" {
		p.Name = "loop run"
	}
	if len(r.MetricNames()) > 0 {
		t := metricsTable(r)
		p.Metrics = &t
	}
	for _, k := range slices.Sorted(maps.Keys(r.Settings)) {
		p.Settings = append(p.Settings, item{k, r.Settings[k]})
	}
	for _, f := range figs {
		if f.optional && f.Skip != "" {
			continue
		}
		v := figView{File: f.File, Title: f.Title, Caption: f.Caption, Skip: f.Skip}
		if f.Skip == "" {
			t := figureTable(r, f.File)
			v.Table = &t
		}
		if p.Headline == nil && f.Skip == "" {
			p.Headline = &v
			continue
		}
		p.Figures = append(p.Figures, v)
	}
	if err := pageTmpl.Execute(w, p); err != nil {
		return fmt.Errorf("report: render page: %w", err)
	}
	return nil
}

// stopReasons spells out the loop's stop codes.
var stopReasons = map[string]string{
	"rounds":   "all configured rounds ran",
	"patience": "no student was promoted for the configured number of rounds (patience)",
	"budget":   "the budget (max_cost_usd) was spent",
}

func summaryItems(r Run) []item {
	var s itemList
	if r.Config != "" {
		s.add("Config", "%s", r.Config)
	}
	n := len(r.Rounds)
	if n == 0 {
		s.add("Rounds", "none yet")
		return s
	}
	first, last := r.Rounds[0], r.Rounds[n-1]
	rounds := fmt.Sprintf("%d (round %d to %d)", n, first.Index, last.Index)
	if n == 1 {
		rounds = fmt.Sprintf("1 (round %d)", first.Index)
	}
	if !last.Done() {
		rounds += fmt.Sprintf("; round %d is at step %q", last.Index, last.Status)
	}
	s.add("Rounds", "%s", rounds)
	if m := r.MainMetric(); m != "" {
		v := m
		if r.Margin != 0 {
			v += ", promotion margin " + num(r.Margin)
		}
		s.add("Promotion metric", "%s", v)
	}
	if first.Teacher != "" {
		s.add("Initial teacher", "%s", first.Teacher)
	}
	s.promotions(r)
	s.metric(r)
	s.accuracy(r)
	s.totals(r)
	return s
}

// itemList collects a summary's rows in the order the page shows them.
type itemList []item

func (s *itemList) add(k, format string, args ...any) {
	*s = append(*s, item{k, fmt.Sprintf(format, args...)})
}

// promotions says which rounds' students were promoted and who teaches now.
func (s *itemList) promotions(r Run) {
	var promoted []string
	teacher := r.Rounds[0].Teacher
	decided := 0
	for _, rd := range r.Rounds {
		if rd.Done() {
			decided++
		}
		if rd.Promoted {
			promoted = append(promoted, strconv.Itoa(rd.Index))
			if rd.Student != "" {
				teacher = rd.Student
			}
		}
	}
	if r.Teacher != "" {
		teacher = r.Teacher
	}
	students := plural(decided, "student")
	switch len(promoted) {
	case 0:
		s.add("Promotions", "none of %s", students)
	case 1:
		s.add("Promotions", "1 of %s (round %s)", students, promoted[0])
	default:
		s.add("Promotions", "%d of %s (rounds %s)", len(promoted), students, strings.Join(promoted, ", "))
	}
	if teacher != "" {
		s.add("Current teacher", "%s", teacher)
	}
}

// metric follows the promotion metric from its first to its last round.
func (s *itemList) metric(r Run) {
	m := r.MainMetric()
	if m == "" {
		return
	}
	var firstV, lastV, bestV float64
	firstR, lastR, bestR := -1, -1, -1
	for _, rd := range r.Rounds {
		v, ok := r.Score(rd)
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
	if firstR < 0 {
		return
	}
	v := fmt.Sprintf("%s in round %d", num(firstV), firstR)
	if lastR != firstR {
		v += fmt.Sprintf(" → %s in round %d (highest %s, round %d)", num(lastV), lastR, num(bestV), bestR)
	}
	if t, ok := r.TeacherScore(r.Rounds[0]); ok {
		v = fmt.Sprintf("%s at the start (initial teacher) → %s", num(t), v)
	}
	s.add(m, "%s", v)
}

// accuracy follows the mean accuracy on the harder difficulties, with the
// unfiltered baseline's last figure beside it.
func (s *itemList) accuracy(r Run) {
	var steps []string
	if v, ok := r.HarderMean(r.Rounds[0].TeacherAccuracyByDifficulty); ok {
		steps = append(steps, fmt.Sprintf("%s at the start", pct(v)))
	}
	var firstAcc, lastAcc, lastBase string
	for _, rd := range r.Rounds {
		if v, ok := r.HarderMean(rd.AccuracyByDifficulty); ok {
			lastAcc = fmt.Sprintf("%s in round %d", pct(v), rd.Index)
			if firstAcc == "" {
				firstAcc = lastAcc
			}
		}
		if rd.Baseline != nil {
			if v, ok := r.HarderMean(rd.Baseline.AccuracyByDifficulty); ok {
				lastBase = fmt.Sprintf("%s in round %d", pct(v), rd.Index)
			}
		}
	}
	if firstAcc != "" {
		steps = append(steps, firstAcc)
		if lastAcc != firstAcc {
			steps = append(steps, lastAcc)
		}
	}
	if len(steps) == 0 {
		return
	}
	v := strings.Join(steps, " → ")
	if lastBase != "" {
		v += "; unfiltered baseline " + lastBase
	}
	s.add("Mean accuracy, "+r.HarderLabel(), "%s", v)
}

// totals adds the data, training, cost and time of all rounds, and why the loop stopped.
func (s *itemList) totals(r Run) {
	first, last := r.Rounds[0], r.Rounds[len(r.Rounds)-1]
	t := totals(r)
	if t.generated > 0 {
		s.add("Data", "%d examples generated, %d kept (%s)", t.generated, t.kept, pct(float64(t.kept)/float64(t.generated)))
	}
	if t.steps > 0 {
		s.add("Training", "%d steps", t.steps)
	}
	s.add("Cost", "%s", usd(t.cost))
	s.add("CPU time", "%s (user+sys)", cpu(t.cpu))
	if !first.Started.IsZero() {
		v := first.Started.UTC().Format(time.RFC3339)
		if end := last.Finished; last.Done() && end.After(first.Started) {
			v += " to " + end.UTC().Format(time.RFC3339) + " (" + end.Sub(first.Started).Round(time.Second).String() + " wall time)"
		}
		s.add("Time", "%s", v)
	}
	switch {
	case r.Stopped == "":
		s.add("Stopped", "not yet: the loop has rounds left to run")
	case stopReasons[r.Stopped] != "":
		s.add("Stopped", "%s", stopReasons[r.Stopped])
	default:
		s.add("Stopped", "%s", r.Stopped)
	}
}

// phaseName names the loop phase a round ran: its number and title, or
// "loop" for the loop's own steps.
func phaseName(rd Round) string {
	switch {
	case rd.Phase == 0:
		return "loop"
	case rd.PhaseTitle != "":
		return fmt.Sprintf("%d: %s", rd.Phase, rd.PhaseTitle)
	}
	return strconv.Itoa(rd.Phase)
}

type sums struct {
	generated, kept, steps int
	cost, cpu              float64
}

func totals(r Run) sums {
	var t sums
	for _, rd := range r.Rounds {
		t.generated += rd.Generated
		t.kept += rd.Kept
		t.steps += rd.TrainSteps
		t.cost += rd.CostUSD
		t.cpu += rd.CPUSeconds
	}
	return t
}

func roundsTable(r Run) table {
	m := r.MainMetric()
	var t table
	t.Header = []cell{{"round", "num"}}
	phased := slices.ContainsFunc(r.Rounds, func(rd Round) bool { return rd.Phase > 0 })
	if phased {
		t.Header = append(t.Header, cell{"phase", ""})
	}
	t.Header = append(t.Header, cell{"teacher", ""}, cell{"student", ""}, cell{"promoted", ""}, cell{"reason", ""})
	if m != "" {
		t.Header = append(t.Header, cell{m, "num"}, cell{"teacher " + m, "num"})
	}
	for _, h := range []string{"generated", "kept", "yield", "train steps", "train loss", "cost", "CPU time"} {
		t.Header = append(t.Header, cell{h, "num"})
	}
	t.Header = append(t.Header, cell{"files", ""})
	for _, rd := range r.Rounds {
		row := []cell{{strconv.Itoa(rd.Index), "num"}}
		if phased {
			row = append(row, cell{phaseName(rd), ""})
		}
		row = append(row, cell{rd.Teacher, ""}, cell{rd.Student, ""}, decision(rd), cell{rd.Reason, "reason"})
		if m != "" {
			v, ok := r.Score(rd)
			tv, tok := r.TeacherScore(rd)
			row = append(row, cell{opt(ok, func() string { return num(v) }), "num"}, cell{opt(tok, func() string { return num(tv) }), "num"})
		}
		row = append(row,
			cell{count(rd.Generated), "num"},
			cell{opt(rd.Generated > 0, func() string { return strconv.Itoa(rd.Kept) }), "num"},
			cell{yield(rd.Kept, rd.Generated), "num"},
			cell{count(rd.TrainSteps), "num"},
			cell{opt(rd.TrainSteps > 0, func() string { return loss(rd.FirstLoss, rd.TrainLoss) }), "num"},
			cell{usd(rd.CostUSD), "num"},
			cell{cpu(rd.CPUSeconds), "num"},
			cell{strings.Join(nonEmpty(rd.Data, rd.TrainLog), " "), "files"},
		)
		t.Rows = append(t.Rows, row)
	}
	s := totals(r)
	t.Foot = []cell{{"total", ""}, {}, {}, {}, {}}
	if phased {
		t.Foot = append(t.Foot, cell{})
	}
	if m != "" {
		t.Foot = append(t.Foot, cell{}, cell{})
	}
	t.Foot = append(t.Foot,
		cell{count(s.generated), "num"},
		cell{opt(s.generated > 0, func() string { return strconv.Itoa(s.kept) }), "num"},
		cell{yield(s.kept, s.generated), "num"},
		cell{count(s.steps), "num"},
		cell{},
		cell{usd(s.cost), "num"},
		cell{cpu(s.cpu), "num"},
		cell{},
	)
	t.Note = "Train loss is the loss at the first → the last optimizer step; files are relative to the run directory."
	return t
}

// metricsTable lists every metric the rounds reported, one row per metric
// and one column per round, since runs report many more metrics than rounds.
func metricsTable(r Run) table {
	t := table{Header: []cell{{"metric", ""}}}
	for _, rd := range r.Rounds {
		t.Header = append(t.Header, cell{"round " + strconv.Itoa(rd.Index), "num"})
	}
	for _, m := range r.MetricNames() {
		row := []cell{{m, ""}}
		for _, rd := range r.Rounds {
			v, ok := rd.Metrics[m]
			row = append(row, cell{opt(ok, func() string { return num(v) }), "num"})
		}
		t.Rows = append(t.Rows, row)
	}
	return t
}

// figureTable holds the numbers a plot draws, for readers without images.
func figureTable(r Run, file string) table {
	switch file {
	case AccuracyPlot:
		t := accuracyTable(r, func(rd Round) map[int]float64 { return rd.AccuracyByDifficulty })
		if start := r.Rounds[0].TeacherAccuracyByDifficulty; len(start) > 0 {
			row := []cell{{"start", "num"}}
			for _, d := range r.Difficulties() {
				a, ok := start[d]
				row = append(row, cell{opt(ok, func() string { return pct(a) }), "num"})
			}
			t.Rows = append([][]cell{row}, t.Rows...)
			t.Note += " The start row is the first round's teacher."
		}
		return t
	case BaselinePlot:
		t := accuracyTable(r, func(rd Round) map[int]float64 {
			if rd.Baseline == nil {
				return nil
			}
			return rd.Baseline.AccuracyByDifficulty
		})
		t.Header = append(t.Header, cell{"filtered mean", "num"}, cell{"unfiltered mean", "num"})
		for i, rd := range r.Rounds {
			f, okF := r.HarderMean(rd.AccuracyByDifficulty)
			var u float64
			okU := false
			if rd.Baseline != nil {
				u, okU = r.HarderMean(rd.Baseline.AccuracyByDifficulty)
			}
			t.Rows[i] = append(t.Rows[i], cell{opt(okF, func() string { return pct(f) }), "num"}, cell{opt(okU, func() string { return pct(u) }), "num"})
		}
		t.Note = "Accuracy of the unfiltered baseline by difficulty; the last two columns are the mean accuracy on " + r.HarderLabel() + " of the run and of the baseline. " + t.Note
		return t
	case YieldPlot:
		t := table{Header: []cell{{"round", "num"}, {"generated", "num"}, {"kept", "num"}, {"yield", "num"}}}
		for _, rd := range r.Rounds {
			if labelled(rd) {
				t.Note = "Labelled rounds are left out, as in the plot; the rounds table has them."
				continue
			}
			t.Rows = append(t.Rows, []cell{{strconv.Itoa(rd.Index), "num"}, {count(rd.Generated), "num"},
				{opt(rd.Generated > 0, func() string { return strconv.Itoa(rd.Kept) }), "num"}, {yield(rd.Kept, rd.Generated), "num"}})
		}
		return t
	case PassPlot:
		t := table{Header: []cell{{"round", "num"}}}
		for _, k := range passKeys {
			t.Header = append(t.Header, cell{passNames[k], "num"})
		}
		for _, rd := range r.Rounds {
			row := []cell{{strconv.Itoa(rd.Index), "num"}}
			for _, k := range passKeys {
				v, ok := rd.Metrics[k]
				row = append(row, cell{opt(ok, func() string { return num(v) }), "num"})
			}
			t.Rows = append(t.Rows, row)
		}
		t.Note = "Fractions of the target problems solved by one sampled answer (pass@1) and by any of k (pass@k)."
		return t
	case MetricPlot:
		m := r.MainMetric()
		t := table{Header: []cell{{"round", "num"}, {"student", "num"}, {"teacher", "num"}, {"unfiltered baseline", "num"}, {"promoted", ""}}}
		for _, rd := range r.Rounds {
			v, ok := r.Score(rd)
			tv, tok := r.TeacherScore(rd)
			b, bok := r.BaselineScore(rd)
			t.Rows = append(t.Rows, []cell{{strconv.Itoa(rd.Index), "num"},
				{opt(ok, func() string { return num(v) }), "num"}, {opt(tok, func() string { return num(tv) }), "num"},
				{opt(bok, func() string { return num(b) }), "num"}, decision(rd)})
		}
		t.Note = "Values of " + m + "."
		return t
	}
	return table{}
}

// accuracyTable is rounds × difficulties of get(round), in percent.
func accuracyTable(r Run, get func(Round) map[int]float64) table {
	ds := r.Difficulties()
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

func decision(rd Round) cell {
	switch {
	case !rd.Done():
		return cell{"in progress (" + rd.Status + ")", "pending"}
	case rd.Promoted:
		return cell{"yes", "yes"}
	default:
		return cell{"no", "no"}
	}
}

func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return strconv.Itoa(n) + " " + noun + "s"
}

func loss(first, last float64) string {
	s := strconv.FormatFloat(last, 'f', 4, 64)
	if first != 0 {
		s = strconv.FormatFloat(first, 'f', 4, 64) + " → " + s
	}
	return s
}

func nonEmpty(ss ...string) []string {
	var out []string
	for _, s := range ss {
		if s != "" {
			out = append(out, s)
		}
	}
	return out
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
