package dedup

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/synthloop/synthloop/export"
	"github.com/synthloop/synthloop/store"
)

// killEnv names the run directory of TestKill9Resumes's child process.
const killEnv = "SYNTHLOOP_DEDUP_KILL_DIR"

const (
	killRecords = 15000
	killChunk   = 250
)

// killRun runs the stage over the run in dir, as the child of
// TestKill9Resumes and as its uninterrupted reference.
func killRun(dir string) error {
	ctx := context.Background()
	st, err := store.Open(ctx, dir)
	if err != nil {
		return err
	}
	defer st.Close()
	cfg := DefaultConfig()
	cfg.PII = PIIScrub
	cfg.Chunk = killChunk
	cfg.SpillDir = dir
	s, err := New(cfg)
	if err != nil {
		return err
	}
	return s.Run(ctx, runEnv(st, 0))
}

func seedRun(t *testing.T, dir string) {
	t.Helper()
	st, err := store.Open(context.Background(), dir)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	seedMany(t, st, manyInputs(killRecords))
}

// readOnly opens the run in dir for reading; the caller closes it.
func readOnly(t *testing.T, dir string) *store.Store {
	t.Helper()
	st, err := store.OpenReadOnly(context.Background(), dir)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func exportRun(t *testing.T, dir string) []byte {
	t.Helper()
	st := readOnly(t, dir)
	defer st.Close()
	var b bytes.Buffer
	if _, err := export.WriteTo(context.Background(), st, export.Options{Format: "parquet", Stage: "clean", IncludeRejected: true}, &b); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func doneParts(t *testing.T, dir string) int {
	t.Helper()
	st := readOnly(t, dir)
	defer st.Close()
	done, err := st.DoneUnits(context.Background(), "clean")
	if err != nil {
		t.Fatal(err)
	}
	return len(done)
}

// TestKill9Resumes kills the stage with SIGKILL while it commits its parts,
// again and again, resumes it each time, and wants an export byte for byte
// that of a run never interrupted.
func TestKill9Resumes(t *testing.T) {
	if dir := os.Getenv(killEnv); dir != "" {
		// A parent that died must not leave an orphan running.
		time.AfterFunc(60*time.Second, func() { os.Exit(3) })
		if err := killRun(dir); err != nil {
			fmt.Fprintln(os.Stderr, "child:", err)
			os.Exit(2)
		}
		os.Exit(0)
	}
	if testing.Short() {
		t.Skip("runs the stage several times in child processes")
	}
	ref, killed := filepath.Join(t.TempDir(), "ref"), filepath.Join(t.TempDir(), "killed")
	seedRun(t, ref)
	seedRun(t, killed)
	if err := killRun(ref); err != nil {
		t.Fatal(err)
	}
	parts := (killRecords + killChunk - 1) / killChunk
	kills := 0
	for round := 0; ; round++ {
		if round > 30 {
			t.Fatal("the stage never finished")
		}
		before := doneParts(t, killed)
		cmd := exec.Command(os.Args[0], "-test.run=^TestKill9Resumes$", "-test.count=1")
		cmd.Env = append(os.Environ(), killEnv+"="+killed)
		cmd.Stderr = os.Stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		exited := make(chan error, 1)
		go func() { exited <- cmd.Wait() }()
		// Kill once the child has committed a few more parts, or let it
		// finish in the last rounds.
		target := min(before+5, parts)
		var err error
	wait:
		for {
			select {
			case err = <-exited:
				break wait
			case <-time.After(10 * time.Millisecond):
				if round < 4 && doneParts(t, killed) >= target && target < parts {
					cmd.Process.Kill() // SIGKILL on Unix
					<-exited
					kills++
					break wait
				}
			}
		}
		if err != nil {
			t.Fatalf("round %d: child: %v", round, err)
		}
		after := doneParts(t, killed)
		t.Logf("round %d: %d → %d of %d parts", round, before, after, parts)
		if after == parts {
			break
		}
	}
	if kills < 2 {
		t.Errorf("killed the stage %d times, want at least 2: make it slower or the parts smaller", kills)
	}
	got, want := exportRun(t, killed), exportRun(t, ref)
	if !bytes.Equal(got, want) {
		t.Errorf("export after %d kills differs from the uninterrupted run's (%d bytes, want %d)", kills, len(got), len(want))
	}
}
