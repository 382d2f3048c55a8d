package main

import (
	"fmt"
	"log/slog"
	"os"

	"github.com/spf13/cobra"

	"github.com/synthloop/synthloop/engine/chat"
	"github.com/synthloop/synthloop/serve"
)

func newServeCmd() *cobra.Command {
	var (
		addr      string
		apiKeyEnv string
		batch     int
	)
	cmd := &cobra.Command{
		Use:   "serve MODEL_DIR...",
		Short: "Serve built-in models over an OpenAI-compatible HTTP API",
		Long: `Serve one or more built-in model directories (written by synthloop train) at
/v1/models, /v1/models/{id} and /v1/chat/completions, with n, temperature, top_p,
max_tokens, stop, seed, logprobs and top_logprobs, streaming (server-sent events),
usage counts, and structured output: response_format json_object, or json_schema with a
schema, constrains decoding so replies are JSON valid for it (see the README for the
supported schema subset). Each model is named by its directory's base name. Any OpenAI client, and synthloop itself, can use it:

  models:
    student:
      ref: openai-compatible/MODEL_NAME
      base_url: http://127.0.0.1:8080/v1

It listens on loopback by default. Binding any other address requires an API key, read
from the environment variable named by --api-key-env, which clients send as a bearer token.
The same model is also reachable in-process, without a server, as ref local/MODEL_DIR.

Concurrent requests are decoded together (continuous batching): up to --batch sequences
share each step through the model, a request joining between steps and leaving when its
replies end, each with its own sampling parameters, stop strings and seed, and each gets
the replies it gets alone. --batch 0 serves one request at a time.`,
		Example: `  synthloop serve runs/demo/model
  MY_KEY=secret synthloop serve runs/demo/model --addr 0.0.0.0:8080 --api-key-env MY_KEY`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if batch < 0 {
				return fmt.Errorf("%w: --batch must not be negative, got %d", errUsage, batch)
			}
			var models []serve.Completer
			for _, dir := range args {
				m, err := chat.Load(dir)
				if err != nil {
					return err
				}
				if batch > 0 {
					if err := m.Batch(batch); err != nil {
						return err
					}
					defer m.Close()
				}
				models = append(models, m)
			}
			key := ""
			if apiKeyEnv != "" {
				if key = os.Getenv(apiKeyEnv); key == "" {
					return fmt.Errorf("%w: --api-key-env %s names an empty or unset variable", errUsage, apiKeyEnv)
				}
			}
			h, err := serve.New(models, serve.Options{APIKey: key, Log: slog.New(slog.NewTextHandler(cmd.ErrOrStderr(), nil))})
			if err != nil {
				return err
			}
			ln, err := serve.Listen(addr, key)
			if err != nil {
				return err
			}
			// The printed address is the bound one, so --addr 127.0.0.1:0
			// (a free port) tells scripts and tests where to connect.
			for _, m := range models {
				fmt.Fprintf(cmd.ErrOrStderr(), "serving %s at http://%s/v1\n", m.Name(), ln.Addr())
			}
			return serve.Serve(cmd.Context(), ln, h)
		},
	}
	cmd.Flags().StringVar(&addr, "addr", "127.0.0.1:8080", "address to listen on")
	cmd.Flags().StringVar(&apiKeyEnv, "api-key-env", "", "environment variable holding the API key clients must send")
	cmd.Flags().IntVar(&batch, "batch", 32, "sequences decoded together across concurrent requests (continuous batching); 0 serves one request at a time")
	return cmd
}
