// Package report renders a self-learning loop run as a self-contained HTML page with PNG plots.
package report

import (
	"bytes"
	"errors"
	"fmt"
	"github.com/synthloop/synthloop/summary"
	"io"
	"os"
	"path/filepath"
	"strings"
)

// Run is a loop run's summary, the one type the loop writes and the report
// renders; Round and Baseline are its parts.
type (
	Run      = summary.Run
	Round    = summary.Round
	Baseline = summary.Baseline
)

// The files Write puts into the output directory. Plots that a run has no
// data for are not written, and an older copy of them is removed.
const (
	HTMLFile     = "report.html"
	AccuracyPlot = "accuracy-by-difficulty.png"
	BaselinePlot = "baseline.png"
	YieldPlot    = "filter-yield.png"
	MetricPlot   = "metric.png"
	// PassPlot is drawn only for runs whose evaluator samples answers
	// (pass_at_1, pass_at_k); the page does not mention it otherwise.
	PassPlot = "pass-at-k.png"
)

// RunFile is the name under which a run directory may hold its Run as JSON
// (see Save and Load); SummaryFile is where the loop keeps its summary,
// which Load reads as well.
const (
	RunFile     = "report.json"
	SummaryFile = "summary.json"
)

// ErrNoRun means there is no loop run to report on: the file holding it is
// missing or holds no rounds.
var ErrNoRun = errors.New("no loop run")

// Load reads a run's summary from the JSON file at path. A missing file or
// one with no rounds yields an error wrapping ErrNoRun.
func Load(path string) (Run, error) {
	run, err := summary.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return Run{}, fmt.Errorf("report: %s does not exist: %w", path, ErrNoRun)
	}
	if err != nil {
		return Run{}, err
	}
	if len(run.Rounds) == 0 {
		return Run{}, fmt.Errorf("report: %s has no rounds: %w", path, ErrNoRun)
	}
	return run, nil
}

// Save writes r as indented JSON to path, the form Load reads.
func Save(path string, r Run) error {
	if err := r.Validate(); err != nil {
		return err
	}
	return r.WriteFile(path)
}

// Files lists what Write wrote.
type Files struct {
	HTML  string   // path of the HTML page
	Plots []string // paths of the PNG plots drawn
	// Skipped names each plot not drawn, with the reason the page gives.
	Skipped []string
}

// Write renders r into dir (created if missing): HTMLFile and the PNG plots
// it links to. The page is a pure function of r; the PNGs are drawn from the
// same numbers but their bytes may vary with the plotting library's version.
func Write(dir string, r Run) (Files, error) {
	if err := r.Validate(); err != nil {
		return Files{}, err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return Files{}, fmt.Errorf("report: %w", err)
	}
	var files Files
	figs := figures(r)
	for _, f := range figs {
		path := filepath.Join(dir, f.File)
		if f.Skip != "" {
			// A plot from an earlier report of the same run would otherwise
			// sit beside a page that says it was not drawn.
			if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
				return Files{}, fmt.Errorf("report: remove stale plot: %w", err)
			}
			if !f.optional {
				files.Skipped = append(files.Skipped, f.Title+": "+f.Skip)
			}
			continue
		}
		png, err := f.draw()
		if err != nil {
			return Files{}, fmt.Errorf("report: plot %s: %w", f.File, err)
		}
		if err := writeFile(path, png); err != nil {
			return Files{}, err
		}
		files.Plots = append(files.Plots, path)
	}
	var page bytes.Buffer
	if err := renderHTML(&page, r, figs); err != nil {
		return Files{}, err
	}
	files.HTML = filepath.Join(dir, HTMLFile)
	if err := writeFile(files.HTML, page.Bytes()); err != nil {
		return Files{}, err
	}
	return files, nil
}

// HTML writes the report page for r to w, the same page Write writes.
func HTML(w io.Writer, r Run) error {
	if err := r.Validate(); err != nil {
		return err
	}
	return renderHTML(w, r, figures(r))
}

// writeFile replaces path through a rename, so a browser never shows a page
// or plot half written.
func writeFile(path string, data []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return fmt.Errorf("report: %w", err)
	}
	defer os.Remove(tmp.Name()) // fails harmlessly after the rename
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return fmt.Errorf("report: write %s: %w", path, err)
	}
	if err := tmp.Chmod(0o644); err != nil {
		tmp.Close()
		return fmt.Errorf("report: write %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("report: write %s: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("report: write %s: %w", path, err)
	}
	return nil
}

// oneLine folds s onto one line for plot labels, which cannot wrap.
func oneLine(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if r := []rune(s); len(r) > n {
		return string(r[:n-1]) + "…"
	}
	return s
}
