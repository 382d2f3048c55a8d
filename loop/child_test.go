package loop_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/synthloop/synthloop/internal/cputime"
	"github.com/synthloop/synthloop/loop"
)

// TestMain lets the test binary act as a baseline child (BaselineChild),
// with the fake plugins registered.
func TestMain(m *testing.M) {
	if dir := os.Getenv("LOOP_TEST_BASELINE_CHILD"); dir != "" {
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
		err := loop.BaselineChild(ctx, dir)
		stop()
		switch {
		case errors.Is(err, loop.ErrStopped):
			os.Exit(130)
		case err != nil:
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// besideCommand starts this test binary as a baseline child.
func besideCommand(dir string) *exec.Cmd {
	c := exec.Command(os.Args[0])
	c.Env = append(os.Environ(), "LOOP_TEST_BASELINE_CHILD="+dir)
	return c
}

// spin burns seconds of this process's CPU time, or stops when ctx ends.
func spin(ctx context.Context, seconds float64) error {
	end := cputime.Process() + time.Duration(seconds*float64(time.Second))
	for cputime.Process() < end {
		if err := ctx.Err(); err != nil {
			return err
		}
		for i := 0; i < 1e5; i++ {
			_ = i * i
		}
	}
	return nil
}

// besideLoop's main rounds burn 0.3 CPU seconds from round 2 on and its
// baseline's 0.6, so that the runs overlap when side by side.
var besideLoop = fmt.Sprintf(fakeLoop, 3, 0, 0.0, 0.0, 0, 0.0, 0, "0.6, 0.7, 0.8") + `
baseline: {title: spins, shared_rounds: 1, generate: {spin: 0.6}, train: {fail_rounds: [3]}}
`

// runBeside runs besideLoop in dir, its baseline beside it when beside is
// set, and returns the summary and the order of the report hooks' calls.
func runBeside(t *testing.T, ctx context.Context, dir string, beside bool, onRound func(loop.RoundSummary)) (*loop.Summary, []string, error) {
	t.Helper()
	cfg := parse(t, besideLoop)
	var hooks []string
	run := "main"
	opts := loop.Options{
		RunDir: dir,
		OnRound: func(r loop.RoundSummary) {
			hooks = append(hooks, fmt.Sprintf("%s %d", run, r.Index))
			if onRound != nil {
				onRound(r)
			}
		},
		OnBaseline: func(title string) { run = "baseline"; hooks = append(hooks, "baseline: "+title) },
	}
	if beside {
		opts.BaselineCommand = besideCommand
	}
	sum, err := loop.Run(ctx, cfg, opts)
	return sum, hooks, err
}

// timeless is s without what depends on the clocks and the run directory.
func timeless(s *loop.Summary) *loop.Summary {
	c := *s
	c.RunDir, c.CPUSeconds = "", 0
	c.Rounds = nil
	for _, r := range s.Rounds {
		r.CPUSeconds, r.Started, r.Finished = 0, time.Time{}, time.Time{}
		c.Rounds = append(c.Rounds, r)
	}
	if s.Baseline != nil {
		c.Baseline = timeless(s.Baseline)
	}
	return &c
}

// TestBaselineBeside runs a loop with its baseline beside it in a child
// process and checks that the summary, the run directory's summary.json
// and the order of the report hooks are those of the same loop with its
// baseline after it; that each run's rounds count only their own CPU time;
// and that a stop while both run stops both, and a rerun finishes them the
// same way.
func TestBaselineBeside(t *testing.T) {
	ref, refHooks, err := runBeside(t, context.Background(), t.TempDir(), false, nil)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	got, hooks, err := runBeside(t, context.Background(), dir, true, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(timeless(got), timeless(ref)) {
		t.Errorf("beside:\n%+v\nafter:\n%+v", timeless(got), timeless(ref))
	}
	if want := []string{"main 1", "main 2", "main 3", "baseline: spins", "baseline 1", "baseline 2", "baseline 3"}; !reflect.DeepEqual(hooks, want) || !reflect.DeepEqual(refHooks, want) {
		t.Errorf("hooks beside %q, after %q; want %q", hooks, refHooks, want)
	}
	loaded, err := loop.Load(context.Background(), dir)
	if err != nil || loaded.Baseline == nil || !reflect.DeepEqual(timeless(loaded), timeless(ref)) {
		t.Errorf("summary loaded from the run directory: %v\n%+v", err, loaded)
	}
	// The main rounds after the first burn ~0.3 CPU-s and the baseline's
	// 0.6 at the same time; a shared clock would give each both.
	for _, r := range got.Rounds[1:] {
		if r.CPUSeconds > 0.5 {
			t.Errorf("main round %d: %.2f CPU-s, want its own ~0.3", r.Index, r.CPUSeconds)
		}
	}
	if r := got.Baseline.Rounds[1]; r.CPUSeconds < 0.6 {
		t.Errorf("baseline round 2: %.2f CPU-s, want at least its own 0.6", r.CPUSeconds)
	}

	// Stopped while the baseline spins (the main run's round 2 is done,
	// the baseline's is under way), both stop, cleanly; a rerun finishes.
	stopped := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	_, _, err = runBeside(t, ctx, stopped, true, func(r loop.RoundSummary) {
		if r.Index == 2 {
			cancel()
		}
	})
	if !errors.Is(err, loop.ErrStopped) {
		t.Fatalf("stopped run: %v, want ErrStopped", err)
	}
	if b, err := loop.Load(context.Background(), filepath.Join(stopped, loop.BaselineDir)); err != nil || b.Stopped != "" {
		t.Errorf("the baseline after the stop: %v, %+v; want it started and not finished", err, b)
	}
	again, _, err := runBeside(t, context.Background(), stopped, true, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(timeless(again), timeless(ref)) {
		t.Errorf("stopped and resumed:\n%+v\nuninterrupted:\n%+v", timeless(again), timeless(ref))
	}
}

// TestStoppedWhileOpening: a run stopped before it has opened its store (as
// the baseline child can be, the moment it starts) ends as a clean stop, not
// as a failure.
func TestStoppedWhileOpening(t *testing.T) {
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := loop.Run(ctx, parse(t, besideLoop), loop.Options{RunDir: dir}); !errors.Is(err, loop.ErrStopped) {
		t.Fatalf("Run with a stopped context: %v, want ErrStopped", err)
	}
}
