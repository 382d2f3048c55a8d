package main

import (
	"fmt"
	"os"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/synthloop/synthloop/model"
	"github.com/synthloop/synthloop/pipeline"
)

func newModelsCmd() *cobra.Command {
	var noCheck bool
	cmd := &cobra.Command{
		Use:   "models PIPELINE.yaml",
		Short: "List a pipeline's configured models and check that each one answers",
		Long: `List the models section of a pipeline file: provider, model, base URL, limits and price,
then send each one a tiny request (no cache, no retries) and report its latency or error.
API keys are read from the environment (OPENAI_API_KEY, ANTHROPIC_API_KEY, or the variable
named by api_key_env) and are never printed.`,
		Example: `  synthloop models examples/selfinstruct-openai.yaml
  synthloop models pipeline.yaml --no-check`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, err := pipeline.LoadConfig(args[0])
			if err != nil {
				return configFile(err)
			}
			names := make([]string, 0, len(cfg.Models))
			for n := range cfg.Models {
				names = append(names, n)
			}
			sort.Strings(names)
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 0, 2, ' ', 0)
			fmt.Fprintln(tw, "name\tprovider\tmodel\tbase url\tconcurrency\tprice in/out per Mtok\tcheck")
			failed := 0
			for _, n := range names {
				b, info, err := model.Open(cmd.Context(), n, cfg.Models[n], model.Options{Getenv: os.Getenv})
				if err != nil {
					failed++
					fmt.Fprintf(tw, "%s\t\t\t\t\t\tERROR: %v\n", n, err)
					continue
				}
				price := "unknown"
				switch {
				case info.Free:
					price = "free"
				case info.PriceKnown:
					price = fmt.Sprintf("$%.2f / $%.2f", info.Price.Input, info.Price.Output)
				}
				check := "not checked"
				if !noCheck {
					res := model.Check(cmd.Context(), b)
					if res.Err != nil {
						failed++
						check = "ERROR: " + res.Err.Error()
					} else {
						check = "ok in " + res.Latency.Round(time.Millisecond).String()
					}
				}
				where := info.BaseURL
				if info.Endpoints > 1 {
					where = fmt.Sprintf("%s (+%d more)", where, info.Endpoints-1)
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%s\t%s\n", n, info.Provider, info.Model, where, info.MaxConcurrency, price, check)
				if !noCheck {
					for _, e := range model.CheckEndpoints(cmd.Context(), b) {
						state := "ok in " + e.Latency.Round(time.Millisecond).String()
						if e.Err != nil {
							if !strings.HasPrefix(check, "ERROR") {
								failed++ // the model counts once, however many endpoints fail
								check = "ERROR"
							}
							state = "ERROR: " + e.Err.Error()
						}
						fmt.Fprintf(tw, "\t\t\t  %s\t\t\t%s\n", e.BaseURL, state)
					}
				}
			}
			tw.Flush()
			if failed > 0 {
				return fmt.Errorf("%d of %d models failed", failed, len(names))
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&noCheck, "no-check", false, "only list, do not send a test request")
	return cmd
}
