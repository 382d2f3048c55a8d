package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/synthloop/synthloop/report"
)

// loadLoopRun reads the loop run held in runDir for `synthloop report`. When
// runDir holds no loop run it returns an error wrapping report.ErrNoRun, which
// the command turns into exit code 2. By default it reads report.RunFile (a
// report.Run as JSON, which may carry a baseline and settings) or else the
// loop's own report.SummaryFile, whose JSON report.Run mirrors.
var loadLoopRun = func(ctx context.Context, runDir string) (report.Run, error) {
	for _, name := range []string{report.RunFile, report.SummaryFile} {
		p := filepath.Join(runDir, name)
		if _, err := os.Stat(p); err == nil {
			return report.Load(p)
		}
	}
	return report.Run{}, fmt.Errorf("neither %s nor %s is there: %w", report.RunFile, report.SummaryFile, report.ErrNoRun)
}

func newReportCmd() *cobra.Command {
	var out string
	cmd := &cobra.Command{
		Use:   "report RUN_DIR",
		Short: "Write the HTML report and PNG plots of a self-learning loop run",
		Long: `Render a loop run as one self-contained HTML page, report.html, with PNG plots beside it:
held-out accuracy by difficulty per round, the filtered run beside its unfiltered baseline,
the filter's yield per round, and the main metric per round with the promotion decisions.
The page also holds every number as a table (rounds, promotion decisions and reasons,
metrics, data generated and kept, training steps, cost, CPU time), so it reads without
the images. A plot whose data the run lacks is not drawn, and the page says why.

It only reads the run, so it is safe while the loop is going on; run it again to refresh.`,
		Example: `  synthloop report runs/demo
  synthloop report runs/lab-reverse-addition --out /tmp/report`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			runDir := args[0]
			if fi, err := os.Stat(runDir); err != nil || !fi.IsDir() {
				return fmt.Errorf("%w: %s is not a run directory", errUsage, runDir)
			}
			run, err := loadLoopRun(cmd.Context(), runDir)
			if errors.Is(err, report.ErrNoRun) || errors.Is(err, fs.ErrNotExist) {
				return fmt.Errorf("%w: %s holds no loop run; report shows runs of 'synthloop loop' and 'synthloop demo' (%v)", errUsage, runDir, err)
			}
			if err != nil {
				return err
			}
			if out == "" {
				out = runDir
			}
			files, err := report.Write(out, run)
			if err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			fmt.Fprintf(w, "wrote %s with %d plot(s)\n", files.HTML, len(files.Plots))
			for _, s := range files.Skipped {
				fmt.Fprintf(w, "  not drawn: %s\n", s)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&out, "out", "", "directory to write report.html and the plots into (default RUN_DIR)")
	return cmd
}
