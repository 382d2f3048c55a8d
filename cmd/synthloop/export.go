package main

import (
	"fmt"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/synthloop/synthloop/export"
	"github.com/synthloop/synthloop/store"
)

func newExportCmd() *cobra.Command {
	var opts export.Options
	var out string
	var formats []string
	for _, f := range export.Formats() {
		formats = append(formats, fmt.Sprintf("  %-10s %s", f.Name, f.Doc))
	}
	cmd := &cobra.Command{
		Use:   "export RUN_DIR --format FORMAT --out PATH",
		Short: "Write a run's records in a format trainers read",
		Long: `Write the kept records of one stage (by default the run's last stage) to PATH.
Rejected and failed records stay in the run store; --include-rejected exports them too,
with their status, the filters' reasons and errors, for audit.

Formats:
` + strings.Join(formats, "\n"),
		Example: `  synthloop export runs/demo --format alpaca --out demo.jsonl
  synthloop export runs/demo --format hf --out demo-dataset      # data/*.parquet + README.md card
  synthloop export runs/demo --stage instructions --include-rejected --format openai --out audit.jsonl
  synthloop export runs/demo --format openai --out - | head               # JSONL on stdout
  synthloop export runs/reasoning --format stratos --out sft.jsonl        # verified traces, think tags
  synthloop export runs/reasoning --format dpo --think-format think --out pairs.jsonl
  synthloop export runs/reasoning --format verl --out rl.parquet          # problems for RLVR
  synthloop export runs/demo --format alpaca --vary-templates --out varied.jsonl  # varied prompt layouts`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if opts.Format == "" || out == "" {
				return fmt.Errorf("%w: export needs --format and --out", errUsage)
			}
			if err := export.CheckOptions(opts); err != nil {
				return err
			}
			st, err := store.OpenReadOnly(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			defer st.Close()
			c, err := export.Write(cmd.Context(), st, opts, out)
			if err != nil {
				return err
			}
			// With the data on stdout, the summary must not mix into it.
			msg := cmd.OutOrStdout()
			if out == "-" || filepath.Clean(out) == "/dev/stdout" {
				msg = cmd.ErrOrStderr()
			}
			fmt.Fprintf(msg, "wrote %d records of stage %s to %s (%d kept, %d rejected, %d failed; %d left out)\n",
				c.Written, c.Stage, out, c.Kept, c.Rejected, c.Failed, c.Skipped)
			if c.NoAnswer > 0 {
				fmt.Fprintf(cmd.ErrOrStderr(), "warning: %d records have no answer; did you mean a later stage?\n", c.NoAnswer)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&opts.Format, "format", "", "output format: "+strings.Join(formatNames(), ", "))
	cmd.Flags().StringVar(&out, "out", "", "output file (or folder for hf); - is stdout. A symlink's target is replaced; a FIFO or character device is written as a stream")
	cmd.Flags().StringVar(&opts.Stage, "stage", "", "stage to export (default: the run's last stage)")
	cmd.Flags().BoolVar(&opts.IncludeRejected, "include-rejected", false, "also export rejected and failed records with their reasons")
	cmd.Flags().StringVar(&opts.ThinkFormat, "think-format", "", "write a record's reasoning into its answers: "+strings.Join(export.ThinkFormats(), ", ")+" (default none; stratos for --format stratos)")
	cmd.Flags().BoolVar(&opts.VaryTemplates, "vary-templates", false, "lay out each instruction and input in one of several prompt layouts, picked by the record id (alpaca, sharegpt, openai, dpo)")
	cmd.Flags().StringVar(&opts.TemplateLang, "template-lang", "", "language of the varied layouts: "+strings.Join(export.TemplateLangs, " or ")+" (default: each record's own)")
	return cmd
}

func formatNames() []string {
	var out []string
	for _, f := range export.Formats() {
		out = append(out, f.Name)
	}
	return out
}
