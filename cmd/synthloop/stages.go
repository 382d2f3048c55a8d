package main

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/synthloop/synthloop/pipeline"
)

func newStagesCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "stages [TYPE]",
		Short: "List the stage types a pipeline can use, or show one with its options",
		Example: `  synthloop stages
  synthloop stages selfinstruct`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			out := cmd.OutOrStdout()
			if len(args) == 0 {
				for _, t := range pipeline.Types() {
					fmt.Fprintf(out, "%-24s %s\n", t.Name, firstLine(t.Doc))
				}
				return nil
			}
			t, ok := pipeline.Lookup(args[0])
			if !ok {
				return fmt.Errorf("%w: unknown stage type %q; run `synthloop stages` for the list", errUsage, args[0])
			}
			fmt.Fprintf(out, "%s\n\n%s\n", t.Name, strings.TrimSpace(t.Doc))
			if t.Example != "" {
				fmt.Fprintf(out, "\nExample:\n%s\n", strings.TrimRight(t.Example, "\n"))
			}
			return nil
		},
	}
}

// firstLine shortens a stage's doc for the list: its first line, cut at a
// word boundary to fit a terminal.
func firstLine(s string) string {
	s, _, _ = strings.Cut(strings.TrimSpace(s), "\n")
	r := []rune(s)
	if len(r) <= 100 {
		return s
	}
	cut := strings.LastIndexByte(string(r[:100]), ' ')
	if cut < 0 {
		cut = len(string(r[:100]))
	}
	return string(r[:100])[:cut] + " …"
}
