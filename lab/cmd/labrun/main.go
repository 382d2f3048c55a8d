// Command labrun runs a lab self-improvement preset, filtered and (with
// -baseline) unfiltered, printing a table per round: the reproduction
// command for the figures in BENCHMARKS.md.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"os"
	"os/signal"
	"path/filepath"
	"sort"
	"strings"

	"github.com/synthloop/synthloop/lab"
)

func main() {
	preset := flag.String("preset", "demo", "configuration: "+strings.Join(presetNames(), ", "))
	dir := flag.String("dir", "", "run directory (resumed if it exists); default /tmp/labrun-PRESET")
	baseline := flag.Bool("baseline", true, "also run the unfiltered baseline, in DIR/unfiltered")
	override := flag.String("set", "", "JSON merged over the preset, e.g. '{\"rounds\":2}'")
	flag.Parse()
	cfg, ok := lab.Presets[*preset]
	if !ok {
		log.Fatalf("labrun: unknown preset %q (known: %s)", *preset, strings.Join(presetNames(), ", "))
	}
	if *override != "" {
		if err := json.Unmarshal([]byte(*override), &cfg); err != nil {
			log.Fatalf("labrun: -set: %v", err)
		}
	}
	if *dir == "" {
		*dir = filepath.Join(os.TempDir(), "labrun-"+*preset)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	js, _ := json.Marshal(cfg)
	fmt.Printf("config %s\n", js)
	type arm struct {
		name, dir string
		run       func(lab.Observer) (lab.Result, error)
	}
	fdir, udir := filepath.Join(*dir, "filtered"), filepath.Join(*dir, "unfiltered")
	arms := []arm{{"filtered", fdir, func(o lab.Observer) (lab.Result, error) { return lab.SelfImprove(ctx, fdir, cfg, o) }}}
	if *baseline {
		arms = append(arms, arm{"unfiltered", udir, func(o lab.Observer) (lab.Result, error) { return lab.Baseline(ctx, udir, fdir, cfg, o) }})
	}
	total := 0.0
	for _, arm := range arms {
		fmt.Printf("\n== %s (%s)\n", arm.name, arm.dir)
		fmt.Printf("%-5s %-7s %6s %6s %6s %7s %8s  %s\n", "round", "digits", "labels", "kept", "yield", "correct", "cpu-s", "accuracy by difficulty")
		res, err := arm.run(func(e lab.Event) {
			if e.Phase != "done" {
				return
			}
			r := e.Result
			var acc []string
			for _, p := range r.Accuracy {
				acc = append(acc, fmt.Sprintf("%d:%.2f", p.Difficulty, p.Accuracy))
			}
			note := ""
			if r.Resumed {
				note = " (resumed)"
			}
			if r.CopiedFrom != "" {
				note = " (copied from " + r.CopiedFrom + ")"
			}
			fmt.Printf("%-5d %-7s %6d %6d %6.2f %7.2f %8.1f  %s%s\n", r.Round, span(r.Difficulties), r.Labels, r.Kept, r.Yield, r.KeptCorrect, r.CPUSeconds, strings.Join(acc, " "), note)
		})
		if err != nil {
			log.Fatalf("labrun: %s: %v", arm.name, err)
		}
		fmt.Printf("%s: %.1f CPU-s (%.2f CPU-min), model %s\n", arm.name, res.CPUSeconds, res.CPUSeconds/60, res.Model)
		total += res.CPUSeconds
		if len(res.Rounds) > 0 && res.Rounds[0].CopiedFrom != "" {
			total -= res.Rounds[0].CPUSeconds
		}
	}
	fmt.Printf("\ntotal %.1f CPU-s (%.2f CPU-min)\n", total, total/60)
}

func span(ds []int) string {
	if len(ds) == 0 {
		return "-"
	}
	if len(ds) == 1 {
		return fmt.Sprint(ds[0])
	}
	return fmt.Sprintf("%d-%d", ds[0], ds[len(ds)-1])
}

func presetNames() []string {
	var out []string
	for n := range lab.Presets {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}
