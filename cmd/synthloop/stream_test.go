package main

import (
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/synthloop/synthloop/model/modeltest"
	"github.com/synthloop/synthloop/model/scripted"
)

// streamConfig is shardConfig with a stage that waits for its whole input
// (dedup) between the streaming ones (generate, reject, judge).
var streamConfig = strings.Replace(shardConfig, "  - name: judged\n", "  - name: unique\n    type: dedup\n  - name: judged\n", 1)

// TestStreamKilledExportsEqualStaged runs a pipeline stage after stage
// (--staged), then streaming, killed with SIGKILL at random moments and
// resumed until it finishes, and checks that every export of the two runs
// is the same byte for byte, and so is every record.
func TestStreamKilledExportsEqualStaged(t *testing.T) {
	dir := t.TempDir()
	srv := modeltest.NewServer(shardTeacher, modeltest.WithLatency(4*time.Millisecond))
	defer srv.Close()
	var input strings.Builder
	for i := range 96 {
		fmt.Fprintf(&input, `{"question": "Can I return order %d after %d days?", "answer": "Yes, within 30 days of delivery."}`+"\n", i, i%35)
	}
	// Two copies of one question: dedup has something to reject.
	input.WriteString(`{"question": "Can I return order 1 after 1 days?", "answer": "Yes, within 30 days of delivery."}` + "\n")
	for name, text := range map[string]string{"faq.jsonl": input.String(), "p.yaml": fmt.Sprintf(streamConfig, srv.URL)} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	began := time.Now()
	if out, err := cli(dir, nil, "run", "p.yaml", "--run-dir", "staged", "--staged", "--json").CombinedOutput(); err != nil {
		t.Fatalf("staged run: %v\n%s", err, out)
	}
	wall := time.Since(began)

	rng := rand.New(rand.NewPCG(5, 6))
	kills, finished := 0, false
	args := []string{"run", "p.yaml", "--run-dir", "streamed", "--json"}
	scale := 1.0
	for attempt := 0; attempt < 12 && !finished; attempt++ {
		delay := time.Duration(float64(wall) * scale * (0.05 + 0.35*rng.Float64()))
		if finished = runOrKill(t, dir, delay, args...); !finished {
			kills++
		} else if kills < 2 {
			// Streaming ran faster than the kills came: start over with
			// shorter delays, so that the run is killed more than once.
			if err := os.RemoveAll(filepath.Join(dir, "streamed")); err != nil {
				t.Fatal(err)
			}
			finished, kills, scale = false, 0, scale/2
		}
	}
	if !finished {
		if out, err := cli(dir, nil, args...).CombinedOutput(); err != nil {
			t.Fatalf("last resume: %v\n%s", err, out)
		}
	}
	if kills == 0 {
		t.Fatal("the streaming run finished before any kill; the test exercised nothing")
	}
	t.Logf("killed the streaming run %d times; the staged run took %v", kills, wall.Round(time.Millisecond))
	sameExports(t, dir, "staged", "streamed")
	sameRecords(t, filepath.Join(dir, "staged"), filepath.Join(dir, "streamed"))
}

// sameRecords checks that the run in got holds the records of the run in want,
// in the same order, creation times aside.
func sameRecords(t *testing.T, want, got string) {
	t.Helper()
	w, g := dumpRun(t, want), dumpRun(t, got)
	if len(g) != len(w) {
		t.Fatalf("%s has %d records, %s %d", got, len(g), want, len(w))
	}
	for i := range g {
		if g[i] != w[i] {
			t.Fatalf("record %d differs:\n got %s\nwant %s", i, g[i], w[i])
		}
	}
}

// TestStreamSelfInstructSameAsStaged: Self-Instruct's bootstrap, whose
// prompts depend on the pool the batches before left, does not stream; the
// instances stage after it does. Streamed, the run stores exactly the
// records of a staged run, in the same order.
func TestStreamSelfInstructSameAsStaged(t *testing.T) {
	dir := t.TempDir()
	srv := modeltest.NewServer(scripted.New(9).Responder(), modeltest.WithLatency(2*time.Millisecond))
	defer srv.Close()
	if err := os.WriteFile(filepath.Join(dir, "p.yaml"), []byte(fmt.Sprintf(killConfig, srv.URL)), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, run := range [][]string{{"--run-dir", "staged", "--staged"}, {"--run-dir", "streamed"}} {
		if out, err := cli(dir, nil, append([]string{"run", "p.yaml", "--json"}, run...)...).CombinedOutput(); err != nil {
			t.Fatalf("%v: %v\n%s", run, err, out)
		}
	}
	if n := len(dumpRun(t, filepath.Join(dir, "staged"))); n < 120 {
		t.Fatalf("the staged run stored %d records; the test compares too little", n)
	}
	sameRecords(t, filepath.Join(dir, "staged"), filepath.Join(dir, "streamed"))
}
