package loop

import (
	"context"
	"errors"
	"fmt"
	"github.com/synthloop/synthloop/summary"
	"os"
	"path/filepath"

	"github.com/synthloop/synthloop/store"
)

// Summary is what a loop run did, round by round (summary.Run: the one
// type the loop writes to summary.json and reports render), and
// RoundSummary one of its rounds. Load reads it from a run directory at any
// time, also while the loop is running (the last round then has Status
// other than "done").
type (
	Summary      = summary.Run
	RoundSummary = summary.Round
)

// ErrNoLoop is returned (wrapped) by Load for a directory that holds no loop run.
var ErrNoLoop = errors.New("loop: no loop run in this directory")

// Load reads the Summary of the loop run in dir. It opens the run store
// read-only, so it may be called while the loop runs.
func Load(ctx context.Context, dir string) (*Summary, error) {
	if _, err := os.Stat(filepath.Join(dir, store.FileName)); err != nil {
		return nil, fmt.Errorf("loop: load %s: %w", dir, ErrNoLoop)
	}
	st, err := store.OpenReadOnly(ctx, dir)
	if err != nil {
		return nil, fmt.Errorf("loop: load %s: %w", dir, err)
	}
	defer st.Close()
	s, ok, err := readState(ctx, st)
	if err != nil {
		return nil, fmt.Errorf("loop: load %s: %w", dir, err)
	}
	if !ok {
		return nil, fmt.Errorf("loop: load %s: %w", dir, ErrNoLoop)
	}
	sum := s.summary()
	sum.RunDir = dir
	if b, err := Load(ctx, filepath.Join(dir, BaselineDir)); err == nil {
		sum.Baseline = b
	} else if !errors.Is(err, ErrNoLoop) {
		return nil, err
	}
	return sum, nil
}
