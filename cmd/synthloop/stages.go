package main

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/synthloop/synthloop/internal/confkit"
	"github.com/synthloop/synthloop/internal/prompt"
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
			fmt.Fprintf(out, "%s\n\n%s\n\nSettings (with:):\n", t.Name, strings.TrimSpace(t.Doc))
			writeSettings(out, t.Config(), "  ")
			for _, set := range prompt.Declared(t.Name) {
				var names []string
				for _, k := range set.Kinds {
					names = append(names, k.Name)
				}
				fmt.Fprintf(out, "\nPrompt templates (%s: KIND: FILE replaces one; docs/PROMPTS.md lists their fields):\n  %s\n", set.Key, strings.Join(names, ", "))
			}
			if t.Example != "" {
				fmt.Fprintf(out, "\nExample:\n%s\n", strings.TrimRight(t.Example, "\n"))
			}
			return nil
		},
	}
}

// writeSettings prints a table of the settings of cfg, a config struct
// holding its defaults: key, type, default and the field's doc tag.
func writeSettings(w io.Writer, cfg any, indent string) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "%sKEY\tTYPE\tDEFAULT\tDESCRIPTION\n", indent)
	for _, f := range confkit.Fields(cfg) {
		def := f.Default
		if def == "" {
			def = "-"
		}
		fmt.Fprintf(tw, "%s%s\t%s\t%s\t%s\n", indent, f.Key, f.Type, def, f.Doc)
	}
	tw.Flush()
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
