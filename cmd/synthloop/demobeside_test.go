package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/synthloop/synthloop/loop"
)

// TestReasoningDemoBeside runs the tiny reasoning demo with its RFT
// baseline after the GRPO run (--sequential-baseline) and beside it (the
// default on 2+ CPUs, a child process): the tables, summary.json and every
// data file and model must be the same. Then the beside run is killed with
// SIGKILL at random moments, its baseline child must die with it, and the
// resumed runs must come out the same again.
func TestReasoningDemoBeside(t *testing.T) {
	dir := t.TempDir()
	demo := func(runDir string, flags ...string) string {
		t.Helper()
		out, err := cli(dir, nil, append([]string{"demo", "reasoning", "--set", tinyReasoning, "--json", "--run-dir", runDir}, flags...)...).Output()
		if err != nil {
			t.Fatalf("demo reasoning --run-dir %s %v: %v\n%s", runDir, flags, err, out)
		}
		return string(out)
	}
	after := demo("run-seq", "--sequential-baseline")
	began := time.Now()
	beside := demo("run-par")
	wall := time.Since(began)
	if a, b := masked(after, "run-seq"), masked(beside, "run-par"); a != b {
		t.Errorf("the output differs:\n%s", lineDiff(a, b))
	}
	if !strings.Contains(after, "== baseline: RFT") || strings.Count(after, "(shared with") != 1 {
		t.Errorf("the output lacks the baseline's table\n%s", after)
	}
	sameRuns(t, filepath.Join(dir, "run-seq"), filepath.Join(dir, "run-par"))

	// A kill at a random moment of the first part, then kills at random
	// moments after the baseline child started (the part that is short
	// here). A run that finishes before any kill beside starts over.
	rng := rand.New(rand.NewPCG(10, 5))
	kills, killedBeside, finished := 0, 0, false
	args := []string{"demo", "reasoning", "--set", tinyReasoning, "--json", "--run-dir", "killed-beside"}
	killed := filepath.Join(dir, "killed-beside")
	baseline := filepath.Join(killed, loop.BaselineDir)
	for attempt := 0; attempt < 12 && !finished; attempt++ {
		if attempt == 0 {
			finished = runOrKill(t, dir, time.Duration(float64(wall)*(0.05+0.3*rng.Float64())), args...)
		} else {
			finished = killAfter(t, dir, baseline, time.Duration(float64(wall)*(0.02+0.1*rng.Float64())), args...)
		}
		if finished && killedBeside == 0 {
			if err := os.RemoveAll(killed); err != nil {
				t.Fatal(err)
			}
			finished = false
			continue
		}
		if finished {
			break
		}
		kills++
		if _, err := os.Stat(baseline); err == nil {
			killedBeside++
		}
		noBaselineChild(t, dir, "killed-beside")
	}
	if killedBeside == 0 {
		t.Fatalf("no kill while the baseline ran beside (%d kills); the test exercised nothing", kills)
	}
	if !finished {
		demo("killed-beside")
	}
	t.Logf("killed %d times, %d with the baseline beside", kills, killedBeside)
	again := demo("killed-beside")
	if n := strings.Count(again, "(finished earlier)") + strings.Count(again, "(shared with"); n != 6 {
		t.Errorf("the last rerun reports %d rounds done before, want 6\n%s", n, again)
	}
	sameRuns(t, filepath.Join(dir, "run-seq"), filepath.Join(dir, "killed-beside"))
}

// killAfter runs the CLI with args in dir and kills it with SIGKILL delay
// after the path appears; it returns true when the command finished first.
func killAfter(t *testing.T, dir, path string, delay time.Duration, args ...string) (finished bool) {
	t.Helper()
	kill := make(chan time.Time, 1)
	done := make(chan struct{})
	var wg sync.WaitGroup
	defer wg.Wait()
	defer close(done)
	wg.Go(func() {
		for {
			if _, err := os.Stat(path); err == nil {
				break
			}
			select {
			case <-done:
				return
			case <-time.After(10 * time.Millisecond):
			}
		}
		select {
		case <-done:
		case now := <-time.After(delay):
			kill <- now
		}
	})
	return runUntil(t, dir, nil, kill, args...)
}

// lineDiff shows the first line where a and b differ.
func lineDiff(a, b string) string {
	al, bl := strings.Split(a, "\n"), strings.Split(b, "\n")
	for i := range max(len(al), len(bl)) {
		var x, y string
		if i < len(al) {
			x = al[i]
		}
		if i < len(bl) {
			y = bl[i]
		}
		if x != y {
			return fmt.Sprintf("line %d:\n%q\n%q", i+1, x, y)
		}
	}
	return ""
}

// cpuFigure is a table's CPU seconds (one decimal) or a CPU total.
var cpuFigure = regexp.MustCompile(`\b\d+\.\d\b`)

// masked is a demo's output without its CPU figures and run directory.
func masked(out, runDir string) string {
	out = cpuFigure.ReplaceAllString(out, "#")
	return regexp.MustCompile(`\b`+regexp.QuoteMeta(runDir)+`\b`).ReplaceAllString(out, "RUN")
}

// sameRuns checks that two run directories hold the same summaries, apart
// from times and CPU figures, and the same data and models.
func sameRuns(t *testing.T, want, got string) {
	t.Helper()
	w, err := loop.Load(context.Background(), want)
	if err != nil {
		t.Fatal(err)
	}
	g, err := loop.Load(context.Background(), got)
	if err != nil {
		t.Fatal(err)
	}
	if g.Baseline == nil || len(g.Baseline.Rounds) != len(w.Baseline.Rounds) {
		t.Fatalf("%s: baseline %+v", got, g.Baseline)
	}
	if a, b := timeless(t, w, want), timeless(t, g, got); a != b {
		t.Errorf("the summaries of %s and %s differ at %s", want, got, lineDiff(a, b))
	}
	wf, gf := roundFiles(t, want), roundFiles(t, got)
	if !slices.Equal(wf, gf) {
		t.Fatalf("files differ:\n%s: %v\n%s: %v", want, wf, got, gf)
	}
	for _, f := range wf {
		a, _ := os.ReadFile(filepath.Join(want, f))
		b, _ := os.ReadFile(filepath.Join(got, f))
		if !bytes.Equal(a, b) {
			t.Errorf("%s differs", f)
		}
	}
}

// timeless is s as JSON without what depends on clocks, with its run
// directory dir written RUN.
func timeless(t *testing.T, s *loop.Summary, dir string) string {
	t.Helper()
	b, err := json.MarshalIndent(withoutTimes(s), "", " ")
	if err != nil {
		t.Fatal(err)
	}
	abs, _ := filepath.Abs(dir)
	return strings.ReplaceAll(string(b), abs, "RUN")
}

func withoutTimes(s *loop.Summary) *loop.Summary {
	c := *s
	c.RunDir, c.CPUSeconds, c.Rounds = "", 0, nil
	for _, r := range s.Rounds {
		r.CPUSeconds, r.Started, r.Finished = 0, time.Time{}, time.Time{}
		m := map[string]float64{}
		for k, v := range r.Metrics {
			if !strings.Contains(k, "cpu") {
				m[k] = v
			}
		}
		r.Metrics = m
		c.Rounds = append(c.Rounds, r)
	}
	if s.Baseline != nil {
		c.Baseline = withoutTimes(s.Baseline)
	}
	return &c
}

// noBaselineChild fails unless the baseline child of the loop killed in
// dir/runDir dies within seconds: a child left running would race the
// resumed one.
func noBaselineChild(t *testing.T, dir, runDir string) {
	t.Helper()
	want := "--baseline-child\x00" + filepath.Join(runDir, loop.BaselineDir) + "\x00"
	for end := time.Now().Add(20 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		pid := ""
		procs, _ := filepath.Glob("/proc/[0-9]*")
		for _, p := range procs {
			cmdline, err := os.ReadFile(filepath.Join(p, "cmdline"))
			if err != nil || !bytes.Contains(cmdline, []byte(want)) {
				continue
			}
			if cwd, err := os.Readlink(filepath.Join(p, "cwd")); err == nil && cwd == dir {
				pid = filepath.Base(p)
			}
		}
		if pid == "" {
			return
		}
		if time.Now().After(end) {
			t.Fatalf("the baseline child (pid %s) outlived its killed parent", pid)
		}
	}
}
