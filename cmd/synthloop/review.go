package main

import (
	"errors"
	"fmt"
	"os"
	"os/user"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/synthloop/synthloop/review"
	"github.com/synthloop/synthloop/review/web"
	"github.com/synthloop/synthloop/store"
)

func newReviewCmd() *cobra.Command {
	var (
		addr, reviewer, tokenEnv, stage string
		lsExport, lsImport              string
		sample, perReason               int
		seed                            int64
		loopAnswers                     bool
	)
	cmd := &cobra.Command{
		Use:   "review RUN_DIR [--addr ADDR] [--reviewer NAME]",
		Short: "Review a run's records in the browser: accept, reject, edit, comment; measure quality",
		Long: `Serve a web app (assets built into the binary, nothing from the internet) for people to
review a finished run's records: a queue per stage with filters (status, the filter that
rejected, judge score range, a meta field such as a language or source, parent record)
and sorts (pipeline order, judge score, nearest the keep threshold first, a judge panel's
disagreement counting as nearness, or the widest panel disagreement first), and a view of
everything that decided a record: its texts, conversation turns or DPO pair, the evidence
quote highlighted in its chunk, scores, filter decisions, judgments and provenance.

Keys: j/k move, a accepts, r rejects with a reason tag (1-6), e edits (the original is
kept and the change shown as a diff), c comments, u undoes your last decision. A record
with a chosen/rejected pair shows the two blind as A and B: 1, 2 or t (a tie) says which
is better. A record with candidates (a reject stage's samples) shows two of them the same
way, the best scored against each other in turn; export --format dpo makes a pair of each
two candidates the reviewers preferred one of.
Each decision is committed to the run store (run.db) before the page is told it is saved,
with the reviewer's name and the time, so nothing is lost if the server is killed.
Several people can review at once through one server: each page sets its reviewer name.

Afterwards 'synthloop export' honours the decisions (a human reject removes a record the
judges kept; an edit replaces the text, the original and the editor kept in
meta.human_edit; a pair the reviewers prefer the other way round is swapped, a tied one
dropped) and 'synthloop status' shows the review's progress and measurements.

--sample N draws a stratified random sample before serving: N kept records of --stage (by
default the last), and --sample-rejected M records rejected by each filter. Once the sample
is reviewed (tick "sample only"), the summary page and status report the share of
acceptable records with a 95% confidence interval per stratum, and Cohen's kappa between
reviewers and between each reviewer and the pipeline's verdict. The Insight page charts a
stage (lengths, judge scores, rejections per filter, languages, distinct-n, the root verbs
and direct objects of English and Japanese instructions, near-duplicate clusters of kept
records with links to them) over a reproducible sample of at most 20,000 of its records.

A loop's rounds: with --loop-answers, RUN_DIR is a loop run, and each round's student and
teacher answers to the held-out prompts (round-NNN/eval.jsonl) are imported into the run
RUN_DIR/loop-answers (rounds already imported are skipped), which is then reviewed: each
prompt's two answers are compared blind as A and B, and 'synthloop export
RUN_DIR/loop-answers --format dpo' writes the preferred answer as chosen.

Label Studio: --export-labelstudio FILE writes the sample (or the stage's kept records) as
Label Studio tasks, and FILE.config.xml the labeling interface to paste into the project;
--import-labelstudio FILE reads Label Studio's JSON export of those tasks back as decisions
(reviewer "labelstudio:" and the annotator). Neither starts the server.

It listens on loopback by default. Any other address needs a token, read from the
environment variable named by --token-env; open the printed address, which carries it
once as ?token= and leaves it in a cookie. Pointed at a run that is still being written, it
shows the run live and read-only: new records appear as they commit; decisions, samples and
Label Studio imports wait until the run has finished, since the writer holds the store.`,
		Example: `  synthloop review runs/demo
  synthloop review runs/demo --sample 300 --sample-rejected 50 --reviewer ann
  synthloop review runs/demo --export-labelstudio tasks.json      # then, after labelling there:
  synthloop review runs/demo --import-labelstudio project-export.json
  synthloop review runs/loop --loop-answers                        # student vs teacher, per round
  REVIEW_TOKEN=$(openssl rand -hex 16) synthloop review runs/demo --addr 0.0.0.0:8090 --token-env REVIEW_TOKEN`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if sample < 0 || perReason < 0 {
				return fmt.Errorf("%w: --sample and --sample-rejected must not be negative", errUsage)
			}
			token := ""
			if tokenEnv != "" {
				if token = os.Getenv(tokenEnv); token == "" {
					return fmt.Errorf("%w: --token-env %s names an empty or unset variable", errUsage, tokenEnv)
				}
			}
			if reviewer == "" {
				reviewer = "reviewer"
				if u, err := user.Current(); err == nil && u.Username != "" {
					reviewer = u.Username
				}
			}
			ctx := cmd.Context()
			if _, err := os.Stat(args[0]); err != nil {
				return fmt.Errorf("review: %w", err)
			}
			if loopAnswers {
				dir, err := importLoopAnswers(cmd, args[0])
				if err != nil {
					return err
				}
				args = []string{dir}
			}
			// Writable: decisions go into the run's own store, next to the records.
			st, err := store.Open(ctx, args[0])
			live := errors.Is(err, store.ErrLocked)
			if live {
				// The run is being written: show it as it grows, read-only.
				if sample > 0 || perReason > 0 || lsExport != "" || lsImport != "" {
					return fmt.Errorf("review: %w; sampling and Label Studio write to the run store: wait until the run has finished", err)
				}
				st, err = store.OpenReadOnly(ctx, args[0])
			}
			if err != nil {
				return err
			}
			defer st.Close()
			if sample > 0 || perReason > 0 {
				if stage == "" {
					stages, err := st.Stages(ctx)
					if err != nil {
						return err
					}
					if len(stages) == 0 {
						return fmt.Errorf("review: %s holds no records to sample", args[0])
					}
					stage = stages[len(stages)-1]
				}
				p, err := review.Draw(ctx, st, stage, sample, perReason, seed)
				if err != nil {
					return err
				}
				for _, s := range p.Strata {
					fmt.Fprintf(cmd.ErrOrStderr(), "sampled %d of %d records of %s (%s)\n", s.Drawn, s.Population, stage, s.Name)
				}
			}
			if lsExport != "" || lsImport != "" {
				return labelStudio(cmd, st, stage, lsExport, lsImport)
			}
			if !live {
				if err := st.IndexScores(ctx); err != nil { // once per run: seconds on a million records
					return err
				}
			}
			h, err := web.New(st, web.Options{Reviewer: reviewer, Token: token, ReadOnly: live})
			if err != nil {
				return err
			}
			ln, err := web.Listen(addr, token)
			if err != nil {
				return err
			}
			url := fmt.Sprintf("http://%s/", ln.Addr())
			if token != "" {
				url += "?token=" + token
			}
			if live {
				fmt.Fprintf(cmd.ErrOrStderr(), "the run is still being written: showing it live, read-only; decisions wait until it has finished\n")
			}
			fmt.Fprintf(cmd.ErrOrStderr(), "reviewing %s as %s at %s\n", args[0], reviewer, url)
			return web.Serve(ctx, ln, h)
		},
	}
	cmd.Flags().StringVar(&addr, "addr", "127.0.0.1:8090", "address to listen on")
	cmd.Flags().StringVar(&reviewer, "reviewer", "", "name decisions are made under unless the page sets another (default: the OS user)")
	cmd.Flags().StringVar(&tokenEnv, "token-env", "", "environment variable holding the token a non-loopback address requires")
	cmd.Flags().IntVar(&sample, "sample", 0, "draw a random sample of this many kept records to review and measure (replaces the stage's earlier sample)")
	cmd.Flags().IntVar(&perReason, "sample-rejected", 0, "with a sample: also draw this many records rejected by each filter")
	cmd.Flags().StringVar(&stage, "stage", "", "stage to sample (default: the run's last stage)")
	cmd.Flags().Int64Var(&seed, "seed", 1, "seed of the sample draw")
	cmd.Flags().StringVar(&lsExport, "export-labelstudio", "", "write the sample (or the stage's kept records) as Label Studio tasks to this file, and its labeling config beside it, instead of serving")
	cmd.Flags().StringVar(&lsImport, "import-labelstudio", "", "read a Label Studio JSON export of those tasks as decisions, instead of serving")
	cmd.Flags().BoolVar(&loopAnswers, "loop-answers", false, "RUN_DIR is a loop run: import its rounds' student and teacher answers (round-NNN/eval.jsonl) into RUN_DIR/loop-answers and review that")
	return cmd
}

// importLoopAnswers imports the loop run's answers into its loop-answers
// run and returns that run's directory.
func importLoopAnswers(cmd *cobra.Command, loopDir string) (string, error) {
	if evals, _ := filepath.Glob(filepath.Join(loopDir, "round-*", "eval.jsonl")); len(evals) == 0 {
		return "", fmt.Errorf("review: %s has no evaluated loop round (round-NNN/eval.jsonl)", loopDir)
	}
	dir := filepath.Join(loopDir, review.LoopAnswers)
	st, err := store.Open(cmd.Context(), dir)
	if err != nil {
		return "", err
	}
	defer st.Close()
	n, err := review.ImportLoopAnswers(cmd.Context(), st, loopDir)
	if err != nil {
		return "", err
	}
	total, err := st.Count(cmd.Context(), review.LoopAnswers, "")
	if err != nil {
		return "", err
	}
	if total == 0 {
		return "", fmt.Errorf("review: %s has no round with both a student's and a teacher's answers (round-NNN/eval.jsonl) to compare", loopDir)
	}
	fmt.Fprintf(cmd.ErrOrStderr(), "imported %d new held-out answers of %s into %s (%d in all); export its pairs with: synthloop export %s --format dpo\n",
		n, loopDir, dir, total, dir)
	return dir, nil // the deferred Close frees the store for the caller to open
}

// labelStudio exports the review tasks for Label Studio or imports its
// annotations, in place of serving the app.
func labelStudio(cmd *cobra.Command, st *store.Store, stage, export, imp string) error {
	ctx, out := cmd.Context(), cmd.OutOrStdout()
	if imp != "" {
		f, err := os.Open(imp)
		if err != nil {
			return err
		}
		defer f.Close()
		n, err := review.ImportAnnotations(ctx, st, f)
		if err != nil {
			return err
		}
		fmt.Fprintf(out, "imported %d decisions from %s\n", n, imp)
	}
	if export == "" {
		return nil
	}
	if stage == "" {
		stages, err := st.Stages(ctx)
		if err != nil {
			return err
		}
		if len(stages) == 0 {
			return fmt.Errorf("review: %s holds no records", st.Dir())
		}
		stage = stages[len(stages)-1]
	}
	f, err := os.Create(export)
	if err != nil {
		return err
	}
	n, err := review.ExportTasks(ctx, st, stage, f)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	if err := os.WriteFile(export+".config.xml", []byte(review.LabelStudioConfig), 0o644); err != nil {
		return err
	}
	fmt.Fprintf(out, "wrote %d tasks of stage %s to %s and the labeling config to %s.config.xml\n", n, stage, export, export)
	return nil
}
