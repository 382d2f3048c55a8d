package lab

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
)

// Baseline runs cfg.Unfiltered() in dir. Round 0 does not depend on the
// filter, so when filtered (the run directory of cfg) has finished round 0,
// its model 0, data and result are copied instead of trained again, and the
// copied RoundResult says where from. The two arms then differ only in what
// their later rounds keep.
func Baseline(ctx context.Context, dir, filtered string, cfg Config, obs Observer) (Result, error) {
	ucfg := cfg.Unfiltered()
	if err := ucfg.check(); err != nil {
		return Result{}, err
	}
	if err := claim(dir, ucfg); err != nil {
		return Result{}, err
	}
	if _, done, err := readRound(dir, 0); err != nil || done {
		if err != nil {
			return Result{}, err
		}
		return SelfImprove(ctx, dir, ucfg, obs)
	}
	rr, done, err := readRound(filtered, 0)
	if err != nil {
		return Result{}, err
	}
	if done {
		if err := copyRound0(filtered, dir, ucfg, rr); err != nil {
			return Result{}, err
		}
	}
	return SelfImprove(ctx, dir, ucfg, obs)
}

// copyRound0 copies round 0's model 0, data and result from src to dst
// through a partial directory, like a round that ran.
func copyRound0(src, dst string, cfg Config, rr RoundResult) error {
	var old Config
	if err := readJSON(filepath.Join(src, ConfigFile), &old); err != nil {
		return err
	}
	if !sameRound0(old, cfg) {
		return fmt.Errorf("lab: %s: round 0 was trained with another config", src)
	}
	final := RoundDir(dst, 0)
	tmp := final + ".partial"
	if err := os.RemoveAll(tmp); err != nil {
		return fmt.Errorf("lab: %w", err)
	}
	from, to := RoundDir(src, 0), tmp
	for _, f := range []string{DataFile, "model/config.json", "model/model.safetensors", "model/tokenizer.json"} {
		if err := copyFile(filepath.Join(from, f), filepath.Join(to, f)); err != nil {
			return err
		}
	}
	rr.CopiedFrom = from
	if err := writeJSON(filepath.Join(tmp, ResultFile), rr); err != nil {
		return err
	}
	if err := os.Rename(tmp, final); err != nil {
		return fmt.Errorf("lab: %w", err)
	}
	return nil
}

func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return fmt.Errorf("lab: %w", err)
	}
	defer in.Close()
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return fmt.Errorf("lab: %w", err)
	}
	out, err := os.Create(dst)
	if err != nil {
		return fmt.Errorf("lab: %w", err)
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return fmt.Errorf("lab: copy %s: %w", src, err)
	}
	if err := out.Close(); err != nil {
		return fmt.Errorf("lab: %w", err)
	}
	return nil
}

// sameRound0 reports whether a and b train and evaluate model 0 of round 0
// alike.
func sameRound0(a, b Config) bool {
	type round0 struct {
		task                          string
		arch                          Arch
		seed                          uint64
		lo, hi, supervised, evalCount int
		pretrain                      TrainConfig
	}
	key := func(c Config) round0 {
		return round0{c.Task, c.Arch, c.Seed, c.LabelMin, c.LabelMax, c.Supervised, c.EvalCount, c.Pretrain}
	}
	return key(a) == key(b) && slices.Equal(a.Eval, b.Eval)
}

func readJSON(path string, v any) error {
	raw, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("lab: %w", err)
	}
	if err := json.Unmarshal(raw, v); err != nil {
		return fmt.Errorf("lab: %s: %w", path, err)
	}
	return nil
}
