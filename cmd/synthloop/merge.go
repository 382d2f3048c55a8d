package main

import (
	"fmt"
	"log/slog"
	"os"

	"github.com/spf13/cobra"

	"github.com/synthloop/synthloop/merge"
	"github.com/synthloop/synthloop/store"
)

func newMergeCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "merge OUT SHARD_DIR...",
		Short: "Merge the run stores of a sharded run into one run directory",
		Long: `Combine the shards of a sharded run (synthloop run --shard I/N or --shards N) into one
new run directory OUT, which status and export then read like any run. A SHARD_DIR is a
shard's run directory, or the directory holding shard-I-of-N run directories.

The merge refuses, naming the shard and what is wrong: shards run with different configs,
a shard whose run did not finish, a missing shard, and two shards of the same index
(overlapping partitions). It reads shards in index order and records in their pipeline
order, never in the order shards finished, so the result is the same every time. For a
pipeline of per-record stages (load, generate, reject, judge, ...) the merged run's export
equals a single process's byte for byte. Whole-input stages (dedup: exact and MinHash
duplicates, decontamination, the ROUGE-L novelty filter) are run again over the merged
records; records that later stages made from inputs this rerun rejects are marked
rejected (filter "merge"). Self-Instruct shards bootstrap independently, so their
instructions are compared across shards only by a dedup stage in the pipeline.

Merging again into an OUT that holds a finished merge of the same config does nothing,
and one that stopped halfway starts over, so a scheduler may retry the merge job.
The merge reads the config the shards recorded, so the files its whole-input stages name
(dedup's eval sets) must be where the config says. Response caches are not copied.`,
		Example: `  synthloop merge runs/x-merged runs/x/shard-0-of-3 runs/x/shard-1-of-3 runs/x/shard-2-of-3
  synthloop merge runs/x-merged runs/x          # every runs/x/shard-I-of-N
  synthloop export runs/x-merged --format alpaca --out data.jsonl`,
		Args: cobra.MinimumNArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			dirs, err := merge.Dirs(args[1:])
			if err != nil {
				return err
			}
			warn := &warnings{w: cmd.ErrOrStderr()}
			res, err := merge.Shards(cmd.Context(), args[0], dirs, merge.Options{
				Log: slog.New(warn.handler()), Getenv: os.Getenv, Version: version,
			})
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if res.Already {
				fmt.Fprintf(out, "%s holds this merge already; nothing to do\n", args[0])
			} else {
				fmt.Fprintf(out, "merged %d shards into %s\n", res.Shards, args[0])
			}
			for _, s := range res.Stages {
				line := fmt.Sprintf("  %-16s %d records", s.Name, s.Records)
				if s.Rerun {
					line += ", run again over the merged input"
				}
				if s.Dropped > 0 {
					line += fmt.Sprintf(", %d rejected as their input was", s.Dropped)
				}
				if s.Unmade > 0 {
					line += fmt.Sprintf(", %d kept inputs never reached this stage", s.Unmade)
				}
				fmt.Fprintln(out, line)
			}
			st, err := store.OpenReadOnly(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			defer st.Close()
			return printStatus(cmd, st, args[0])
		},
	}
	return cmd
}
