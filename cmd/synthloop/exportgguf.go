package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/synthloop/synthloop/engine/gguf"
)

func newExportGGUFCmd() *cobra.Command {
	var out string
	cmd := &cobra.Command{
		Use:   "export-gguf MODEL_DIR --out model.gguf",
		Short: "Export a built-in model to GGUF (F32) for llama.cpp and Ollama",
		Long: `Write a built-in model directory (from synthloop train) as a GGUF file with the llama
architecture, F32 weights, the tokenizer and the chat template, which llama.cpp and Ollama
load. Models without RoPE (NoPE) are refused: llama.cpp cannot run them faithfully.
See docs/GGUF.md for an Ollama Modelfile and llama.cpp usage.`,
		Example: `  synthloop export-gguf runs/demo/model --out demo.gguf
  ollama create demo -f Modelfile     # with FROM ./demo.gguf, see docs/GGUF.md`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if out == "" {
				return fmt.Errorf("%w: export-gguf needs --out", errUsage)
			}
			if err := gguf.Export(args[0], out); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "wrote %s\n", out)
			return nil
		},
	}
	cmd.Flags().StringVar(&out, "out", "", "GGUF file to write")
	return cmd
}
