package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/synthloop/synthloop/report"
)

// reportRunDir makes a run directory holding one of the report package's
// sample files under the name given.
func reportRunDir(t *testing.T, sample, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "report", "testdata", sample))
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "run")
	os.MkdirAll(dir, 0o755)
	if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

// execReport runs the report command in process, as the root command would.
func execReport(args ...string) (string, error) {
	cmd := newReportCmd()
	var out bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetErr(&out)
	cmd.SetArgs(args)
	cmd.SilenceUsage, cmd.SilenceErrors = true, true
	err := cmd.ExecuteContext(context.Background())
	return out.String(), err
}

func TestReportCommand(t *testing.T) {
	runDir := reportRunDir(t, "run.json", report.RunFile)
	loopDir := reportRunDir(t, "summary.json", report.SummaryFile)
	other := filepath.Join(t.TempDir(), "elsewhere")
	all := []string{report.HTMLFile, report.AccuracyPlot, report.BaselinePlot, report.YieldPlot, report.MetricPlot}
	for _, tc := range []struct {
		name  string
		args  []string
		dir   string   // where the report must land
		files []string // what must be there
		out   string   // what the command must say
	}{
		{"into the run dir", []string{runDir}, runDir, all, "with 4 plot(s)"},
		{"--out", []string{runDir, "--out", other}, other, all, "with 4 plot(s)"},
		{"the loop's summary.json", []string{loopDir}, loopDir,
			[]string{report.HTMLFile, report.AccuracyPlot, report.YieldPlot, report.MetricPlot},
			"not drawn: Filtered run and unfiltered baseline: the run has no unfiltered baseline"},
	} {
		out, err := execReport(tc.args...)
		if err != nil {
			t.Fatalf("%s: %v\n%s", tc.name, err, out)
		}
		for _, want := range []string{"wrote " + filepath.Join(tc.dir, report.HTMLFile), tc.out} {
			if !strings.Contains(out, want) {
				t.Errorf("%s: output %q lacks %q", tc.name, out, want)
			}
		}
		for _, f := range tc.files {
			if _, err := os.Stat(filepath.Join(tc.dir, f)); err != nil {
				t.Errorf("%s: %v", tc.name, err)
			}
		}
	}
}

// TestReportNoRun checks that a directory without a loop run is a usage
// error (exit code 2) with a message that says what is missing.
func TestReportNoRun(t *testing.T) {
	empty := t.TempDir()
	for _, tc := range []struct {
		name, dir, want string
	}{
		{"empty dir", empty, "holds no loop run; report shows runs of 'synthloop loop' and 'synthloop demo' (neither report.json nor summary.json is there"},
		{"missing dir", filepath.Join(empty, "nope"), "is not a run directory"},
	} {
		_, err := execReport(tc.dir)
		if !errors.Is(err, errUsage) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err %v, want a usage error containing %q", tc.name, err, tc.want)
		}
	}
	// A run file that is there but broken is an error of the run, not of usage.
	broken := t.TempDir()
	os.WriteFile(filepath.Join(broken, report.RunFile), []byte(`{"rounds":[{"index":1,"accuracy_by_difficulty":{"4":95}}]}`), 0o644)
	if _, err := execReport(broken); err == nil || errors.Is(err, errUsage) || !strings.Contains(err.Error(), "want a fraction") {
		t.Errorf("broken run file: err %v, want a non-usage error about the accuracy", err)
	}
}

// TestReportLoader checks the seam the loop plugs into: whatever loadLoopRun
// returns is what the report shows.
func TestReportLoader(t *testing.T) {
	saved := loadLoopRun
	t.Cleanup(func() { loadLoopRun = saved })
	var asked string
	loadLoopRun = func(ctx context.Context, runDir string) (report.Run, error) {
		asked = runDir
		return report.Run{Name: "from the loop", Rounds: []report.Round{{Index: 1, Metrics: map[string]float64{"accuracy": 0.5}}}}, nil
	}
	dir := t.TempDir()
	out, err := execReport(dir)
	if err != nil {
		t.Fatal(err)
	}
	if asked != dir {
		t.Errorf("loader asked for %q, want %q", asked, dir)
	}
	if !strings.Contains(out, "with 1 plot(s)") || !strings.Contains(out, "not drawn: Accuracy by difficulty: no round reports accuracy by difficulty") {
		t.Errorf("output %q does not list the one plot drawn and the ones skipped", out)
	}
	page, _ := os.ReadFile(filepath.Join(dir, report.HTMLFile))
	if !bytes.Contains(page, []byte("<h1>from the loop</h1>")) {
		t.Error("page does not show the loader's run")
	}

	loadLoopRun = func(ctx context.Context, runDir string) (report.Run, error) {
		return report.Run{}, fmt.Errorf("loop: %s has no summary: %w", runDir, report.ErrNoRun)
	}
	if _, err := execReport(dir); !errors.Is(err, errUsage) {
		t.Errorf("loader without a run: err %v, want a usage error", err)
	}
}

// TestReportExitCode runs the command as a process.
func TestReportExitCode(t *testing.T) {
	dir := t.TempDir()
	out, err := cli(dir, nil, "report", dir).CombinedOutput()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 2 {
		t.Fatalf("report on an empty dir: err %v, want exit code 2\n%s", err, out)
	}
	if !strings.Contains(string(out), "holds no loop run") {
		t.Errorf("output %q does not say the directory holds no loop run", out)
	}
	runDir := reportRunDir(t, "run.json", report.RunFile)
	if out, err := cli(dir, nil, "report", runDir).CombinedOutput(); err != nil {
		t.Fatalf("report: %v\n%s", err, out)
	}
}
