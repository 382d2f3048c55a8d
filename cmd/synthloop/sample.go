package main

import (
	"encoding/json"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/synthloop/synthloop/engine/chat"
	"github.com/synthloop/synthloop/engine/tokenizer"
)

func newSampleCmd() *cobra.Command {
	var (
		p      chat.Params
		system string
		asJSON bool
	)
	cmd := &cobra.Command{
		Use:   "sample MODEL_DIR PROMPT",
		Short: "Sample replies from a built-in model",
		Long: `Render PROMPT as a user turn with the chat template (after an optional system turn),
sample -n replies from the model in MODEL_DIR and print them, one per line, or as JSON with
finish reasons and token counts.`,
		Example: `  synthloop sample runs/demo/model "12+34="
  synthloop sample runs/demo/model "12+34=" -n 5 --temperature 0.7 --seed 3 --json`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			m, err := chat.Load(args[0])
			if err != nil {
				return err
			}
			var msgs []tokenizer.Message
			if system != "" {
				msgs = append(msgs, tokenizer.Message{Role: "system", Content: system})
			}
			msgs = append(msgs, tokenizer.Message{Role: "user", Content: args[1]})
			r, err := m.Complete(cmd.Context(), msgs, p)
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if asJSON {
				enc := json.NewEncoder(out)
				enc.SetIndent("", "  ")
				return enc.Encode(r)
			}
			for _, c := range r.Choices {
				fmt.Fprintln(out, c.Text)
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.IntVarP(&p.N, "n", "n", 1, "number of samples")
	f.Float64Var(&p.Temperature, "temperature", 0, "sampling temperature (0 = greedy)")
	f.Float64Var(&p.TopP, "top-p", 1, "nucleus sampling mass")
	f.IntVar(&p.TopK, "top-k", 0, "keep only the k most likely tokens (0 = all)")
	f.IntVar(&p.MaxTokens, "max-tokens", 0, "most tokens per reply (0 = up to the context length)")
	f.StringSliceVar(&p.Stop, "stop", nil, "stop strings (repeatable)")
	f.Uint64Var(&p.Seed, "seed", 0, "random seed")
	f.StringVar(&system, "system", "", "system message")
	f.BoolVar(&asJSON, "json", false, "print replies as JSON with finish reasons and token counts")
	return cmd
}
