package main

import (
	"fmt"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/synthloop/synthloop/export"
	"github.com/synthloop/synthloop/hfhub"
	"github.com/synthloop/synthloop/review"
	"github.com/synthloop/synthloop/store"
)

func newExportCmd() *cobra.Command {
	var opts export.Options
	var out, push string
	var public bool
	var formats []string
	for _, f := range export.Formats() {
		formats = append(formats, fmt.Sprintf("  %-10s %s", f.Name, f.Doc))
	}
	cmd := &cobra.Command{
		Use:   "export RUN_DIR --format FORMAT --out PATH [--push ORG/NAME]",
		Short: "Write a run's records in a format trainers read",
		Long: `Write the kept records of one stage (by default the run's last stage) to PATH.
Rejected and failed records stay in the run store; --include-rejected exports them too,
with their status, the filters' reasons and errors, for audit. Decisions made in
'synthloop review' apply: a record a reviewer rejected is rejected, an edit replaces
the text (the original and the editor in meta.human_edit), and a preference pair the
reviewers prefer the other way round is swapped (a tied one is dropped).

--push ORG/NAME (with --format hf) uploads the dataset folder to the Hugging Face Hub
in one commit, creating the dataset repo private unless --public (an existing repo is
committed to and keeps its visibility). The token is read from HF_TOKEN and is never
written or printed; HF_ENDPOINT overrides https://huggingface.co. Without --out the
folder is written to a temporary directory and removed after the push.

Formats:
` + strings.Join(formats, "\n"),
		Example: `  synthloop export runs/demo --format alpaca --out demo.jsonl
  synthloop export runs/demo --format hf --out demo-dataset      # data/*.parquet + README.md card
  HF_TOKEN=hf_... synthloop export runs/demo --format hf --push my-org/demo    # private dataset on the Hub
  synthloop export runs/demo --stage instructions --include-rejected --format openai --out audit.jsonl
  synthloop export runs/demo --format openai --out - | head               # JSONL on stdout
  synthloop export runs/reasoning --format stratos --out sft.jsonl        # verified traces, think tags
  synthloop export runs/reasoning --format dpo --think-format think --out pairs.jsonl
  synthloop export runs/reasoning --format verl --out rl.parquet          # problems for RLVR
  synthloop export runs/demo --format alpaca --vary-templates --out varied.jsonl  # varied prompt layouts`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if push != "" {
				if opts.Format != "hf" {
					return fmt.Errorf("%w: --push needs --format hf", errUsage)
				}
				if err := hfhub.CheckRepoID(push); err != nil {
					return fmt.Errorf("%w: --push: %v", errUsage, err)
				}
				if os.Getenv("HF_TOKEN") == "" {
					return fmt.Errorf("%w: --push needs a Hugging Face token with write access in HF_TOKEN", errUsage)
				}
				if out == "-" {
					return fmt.Errorf("%w: --push writes a folder; --out - is a stream", errUsage)
				}
				if out == "" {
					tmp, err := os.MkdirTemp("", "synthloop-hf-")
					if err != nil {
						return err
					}
					defer os.RemoveAll(tmp)
					// The card's title is the folder's name: make it the repo's.
					out = filepath.Join(tmp, path.Base(push))
				}
			} else if public {
				return fmt.Errorf("%w: --public only means something with --push", errUsage)
			}
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
			// Through the reviewed view: human rejects and edits apply, and a
			// preference export gets the pairs reviewers made between candidates.
			c, err := export.Write(cmd.Context(), review.Reviewed{Run: st, HumanPairs: opts.Format == "dpo"}, opts, out)
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
			if push == "" {
				return nil
			}
			hub := hfhub.New(os.Getenv("HF_ENDPOINT"), os.Getenv("HF_TOKEN"))
			if err := hub.CreateRepo(cmd.Context(), push, public); err != nil {
				return err
			}
			commit, err := hub.UploadFolder(cmd.Context(), push, out,
				fmt.Sprintf("synthloop export of stage %s (%d records)", c.Stage, c.Written))
			if err != nil {
				return err
			}
			fmt.Fprintf(msg, "pushed to %s (commit %s)\n", hub.DatasetURL(push), commit.OID)
			return nil
		},
	}
	cmd.Flags().StringVar(&opts.Format, "format", "", "output format: "+strings.Join(formatNames(), ", "))
	cmd.Flags().StringVar(&out, "out", "", "output file (or folder for hf); - is stdout. A symlink's target is replaced; a FIFO or character device is written as a stream")
	cmd.Flags().StringVar(&opts.Stage, "stage", "", "stage to export (default: the run's last stage)")
	cmd.Flags().BoolVar(&opts.IncludeRejected, "include-rejected", false, "also export rejected and failed records with their reasons")
	cmd.Flags().StringVar(&opts.ThinkFormat, "think-format", "", "write a record's reasoning into its answers: "+strings.Join(export.ThinkFormats(), ", ")+" (default none; stratos for --format stratos; field: a reasoning key on openai and trl messages)")
	cmd.Flags().BoolVar(&opts.VaryTemplates, "vary-templates", false, "lay out each instruction and input in one of several prompt layouts, picked by the record id (alpaca, sharegpt, openai, dpo)")
	cmd.Flags().StringVar(&opts.TemplateLang, "template-lang", "", "language of the varied layouts: "+strings.Join(export.TemplateLangs, " or ")+" (default: each record's own)")
	cmd.Flags().StringVar(&push, "push", "", "with --format hf: upload the folder to this Hugging Face dataset repo, ORG/NAME (token from HF_TOKEN; HF_ENDPOINT overrides the Hub's address)")
	cmd.Flags().BoolVar(&public, "public", false, "with --push: create the dataset repo public (default private)")
	return cmd
}

func formatNames() []string {
	var out []string
	for _, f := range export.Formats() {
		out = append(out, f.Name)
	}
	return out
}
