package main

import (
	"bytes"
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

// streamConfig mixes streaming stages (generate, reject, judge) with one
// that waits for its whole input (dedup) in the middle.
const streamConfig = `name: streamed
seed: 5
concurrency: 4
models:
  teacher:
    ref: openai-compatible/scripted-teacher
    base_url: %s
stages:
  - name: faq
    type: load
    with: {path: faq.jsonl}
  - name: replies
    type: generate
    with:
      model: teacher
      prompt: "A customer asks: {{.instruction}} Our policy: {{.output}} Write the reply."
      output: reply
      n: 2
  - name: best
    type: reject
    with: {model: teacher, n: 2, judge_model: teacher, samples: 1, threshold: 1}
  - name: unique
    type: dedup
  - name: judged
    type: judge
    with: {judge_model: teacher, samples: 1, filter: true, threshold: 2}
`

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
	for _, f := range []string{"alpaca", "openai", "sharegpt"} {
		for _, rej := range []string{"", "--include-rejected"} {
			exp := func(run string) []byte {
				args := []string{"export", run, "--format", f, "--out", "-"}
				if rej != "" {
					args = append(args, rej)
				}
				cmd := cli(dir, nil, args...)
				var stdout, stderr bytes.Buffer
				cmd.Stdout, cmd.Stderr = &stdout, &stderr
				if err := cmd.Run(); err != nil {
					t.Fatalf("export %s: %v\n%s", run, err, stderr.String())
				}
				return stdout.Bytes()
			}
			want, got := exp("staged"), exp("streamed")
			if len(want) == 0 {
				t.Fatalf("%s %s: the export is empty; the test compares nothing", f, rej)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("%s %s: the streamed export (%d bytes) differs from the staged one (%d bytes)", f, rej, len(got), len(want))
			}
		}
	}
	want, got := dumpRun(t, filepath.Join(dir, "staged")), dumpRun(t, filepath.Join(dir, "streamed"))
	if len(got) != len(want) {
		t.Fatalf("the streamed run has %d records, the staged one %d", len(got), len(want))
	}
	for i := range got {
		if got[i] != want[i] {
			t.Fatalf("record %d differs:\n got %s\nwant %s", i, got[i], want[i])
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
	want, got := dumpRun(t, filepath.Join(dir, "staged")), dumpRun(t, filepath.Join(dir, "streamed"))
	if len(want) < 120 {
		t.Fatalf("the staged run stored %d records; the test compares too little", len(want))
	}
	if len(got) != len(want) {
		t.Fatalf("the streamed run has %d records, the staged one %d", len(got), len(want))
	}
	for i := range got {
		if got[i] != want[i] {
			t.Fatalf("record %d differs:\n got %s\nwant %s", i, got[i], want[i])
		}
	}
}
