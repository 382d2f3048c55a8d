// Command scale measures load → dedup → export over a large prompt file in one process, phase by phase, with profiles.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"runtime/pprof"
	"syscall"
	"time"

	"github.com/synthloop/synthloop/export"
	"github.com/synthloop/synthloop/pipeline"
	_ "github.com/synthloop/synthloop/stage/dedup"
	_ "github.com/synthloop/synthloop/stage/load"
	"github.com/synthloop/synthloop/store"
)

func main() {
	in := flag.String("in", "", "prompt file (JSONL), as written by bench/dedup -jsonl")
	dir := flag.String("dir", "", "run directory; phases resume what an earlier invocation left there")
	phase := flag.String("phase", "all", "load, dedup, export or all: one phase per process gives each its own peak RSS")
	out := flag.String("out", "", "export file (parquet); default DIR/export.parquet")
	cpuprof := flag.String("cpuprofile", "", "write a CPU profile of the phases run here")
	memprof := flag.String("memprofile", "", "write a heap profile at the end")
	flag.Parse()
	if *in == "" || *dir == "" {
		fmt.Fprintln(os.Stderr, "usage: scale -in prompts.jsonl -dir RUN_DIR [-phase load|dedup|export|all]")
		os.Exit(2)
	}
	if *out == "" {
		*out = filepath.Join(*dir, "export.parquet")
	}
	if *cpuprof != "" {
		f, err := os.Create(*cpuprof)
		if err == nil {
			err = pprof.StartCPUProfile(f)
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "bench/scale:", err)
			os.Exit(1)
		}
		defer pprof.StopCPUProfile()
	}
	err := run(context.Background(), *in, *dir, *phase, *out)
	if err == nil && *memprof != "" {
		var f *os.File
		if f, err = os.Create(*memprof); err == nil {
			err = pprof.WriteHeapProfile(f)
			f.Close()
		}
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench/scale:", err)
		pprof.StopCPUProfile()
		os.Exit(1)
	}
}

// The pipeline: the dedup stage with its defaults.
const config = `name: scale
seed: 1
stages:
  - name: load
    type: load
    with:
      path: %q
      chunk: 5000
  - name: clean
    type: dedup
`

func run(ctx context.Context, in, dir, phase, out string) error {
	abs, err := filepath.Abs(in)
	if err != nil {
		return err
	}
	cfg, err := pipeline.ParseConfig("scale.yaml", fmt.Appendf(nil, config, abs))
	if err != nil {
		return err
	}
	for _, p := range []string{"load", "dedup", "export"} {
		if phase != "all" && phase != p {
			continue
		}
		start, cpu0 := time.Now(), cpuSeconds()
		n, err := runPhase(ctx, cfg, dir, p, out)
		if err != nil {
			return fmt.Errorf("%s: %w", p, err)
		}
		wall, cpu := time.Since(start).Seconds(), cpuSeconds()-cpu0
		fmt.Printf("%-6s %9d records  %7.1f s wall  %7.1f CPU-s  %8.0f records/s wall  %8.0f records/CPU-s\n",
			p, n, wall, cpu, float64(n)/wall, float64(n)/cpu)
	}
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	fmt.Printf("peak RSS %.0f MB\n", float64(ru.Maxrss)/1e3)
	return nil
}

// runPhase runs one phase and returns the records it read.
func runPhase(ctx context.Context, cfg *pipeline.Config, dir, phase, out string) (int, error) {
	if phase == "export" {
		st, err := store.OpenReadOnly(ctx, dir)
		if err != nil {
			return 0, err
		}
		defer st.Close()
		c, err := export.Write(ctx, st, export.Options{Format: "parquet", Stage: "clean"}, out)
		return c.Written + c.Skipped, err
	}
	st, err := store.Open(ctx, dir)
	if err != nil {
		return 0, err
	}
	defer st.Close()
	stage := map[string]string{"load": "load", "dedup": "clean"}[phase]
	if err := pipeline.Run(ctx, cfg, pipeline.Options{Store: st, Cache: st, Stages: []string{stage}}); err != nil {
		return 0, err
	}
	return st.Count(ctx, stage, "")
}

func cpuSeconds() float64 {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()).Seconds()
}
