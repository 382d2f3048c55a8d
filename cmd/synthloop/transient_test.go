package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/synthloop/synthloop/model/modeltest"
	"github.com/synthloop/synthloop/record"
	"github.com/synthloop/synthloop/store"
)

// flakyConfig is the run of issue 14: 40 Self-Instruct instructions, then
// best-of-2 reject sampling judged by the same model, with one retry per
// request.
const flakyConfig = `name: flaky
seed: 4
concurrency: 4
models:
  teacher:
    ref: openai-compatible/scripted-teacher
    base_url: %s
    max_retries: 1
stages:
  - name: instructions
    type: selfinstruct
    with:
      model: teacher
      target: 40
  - name: best
    type: reject
    with:
      model: teacher
      n: 2
`

// serverError is an HTTP 500 whose Retry-After of a millisecond keeps the
// layer's backoff, and so the test, short.
var serverError = modeltest.Fault{Kind: modeltest.Status, Status: 500, RetryAfter: "0.001", Message: "internal error"}

// outage fails the requests arriving after the first `after` with 503 for
// the next `length` of them, then answers normally: a server that goes down
// mid-stage and comes back.
func outage(after, length int) modeltest.Schedule {
	down := modeltest.Fault{Kind: modeltest.Status, Status: 503, RetryAfter: "0.001", Message: "overloaded"}
	return func(req *modeltest.Request) modeltest.Fault {
		if req.Number > after && req.Number <= after+length {
			return down
		}
		return modeltest.Fault{}
	}
}

// TestTransientFailuresAreRetriedNotLost runs the same pipeline against a
// server that fails transiently and reruns the same command until it exits
// 0: the final run store and the exported dataset must equal a clean run's,
// record for record, and no record may carry a transient failure.
func TestTransientFailuresAreRetriedNotLost(t *testing.T) {
	dir, write, ref := cleanFlakyRun(t)
	want := dumpRun(t, filepath.Join(dir, "ref"))
	wantData := exportAlpaca(t, dir, "ref")
	if len(want) == 0 || len(wantData) == 0 {
		t.Fatal("the clean run stored or exported nothing")
	}

	for _, tc := range []struct {
		name     string
		schedule modeltest.Schedule
	}{
		// With one retry, 9% of calls fail for good: in a run of some
		// 150 calls a dozen units are hit.
		{"max_retries 1 and 30% HTTP 500", modeltest.Randomly(0.3, 11, serverError)},
		// 80 requests in a row fail from the 30th on, in the reject stage:
		// the breaker stops each run after 10 failed calls, until the
		// server is back.
		{"outage then recovery", outage(30, 80)},
		// The same in the Self-Instruct stage, whose batches are
		// committed in order, each filtered against those before it.
		{"outage in the ordered stage", outage(4, 40)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := modeltest.NewServer(mixedTeacher(), modeltest.WithFaults(tc.schedule))
			t.Cleanup(srv.Close)
			runDir := strings.ReplaceAll(tc.name, " ", "-")
			cfg := write(runDir+".yaml", srv.URL)
			failedRuns := 0
			for attempt := 1; ; attempt++ {
				if attempt > 20 {
					t.Fatalf("still failing after %d runs", attempt-1)
				}
				out, err := cli(dir, nil, "run", cfg, "--run-dir", runDir, "--json").CombinedOutput()
				code := exitCode(err)
				if code == 0 {
					break
				}
				failedRuns++
				if code != exitTempFail || !bytes.Contains(out, []byte("run the same command")) {
					t.Fatalf("run %d: exit %d, want %d and a message saying to run again\n%s", attempt, code, exitTempFail, lastLines(out, 5))
				}
				t.Logf("run %d: exit %d: %s", attempt, code, lastLines(out, 1))
				checkNoTransientFailures(t, filepath.Join(dir, runDir))
				status, err := cli(dir, nil, "status", runDir).CombinedOutput()
				if err != nil || !bytes.Contains(status, []byte("in the last run and w")) {
					t.Errorf("status after run %d does not show the units to retry: %v\n%s", attempt, err, status)
				}
			}
			if status, _ := cli(dir, nil, "status", runDir).CombinedOutput(); bytes.Contains(status, []byte("transient")) {
				t.Errorf("status after the complete run still shows units to retry:\n%s", status)
			}
			if failedRuns == 0 {
				t.Fatal("every run succeeded at once: the faults did not reach the pipeline")
			}
			t.Logf("%d failed runs before exit 0; %d requests (clean run %d)", failedRuns, srv.Requests(), ref.Requests())

			checkNoTransientFailures(t, filepath.Join(dir, runDir))
			got := dumpRun(t, filepath.Join(dir, runDir))
			if len(got) != len(want) {
				t.Errorf("%d records, the clean run has %d", len(got), len(want))
			}
			for i := range min(len(got), len(want)) {
				if got[i] != want[i] {
					t.Errorf("record %d differs from the clean run's:\n got %s\nwant %s", i, got[i], want[i])
					break
				}
			}
			if data := exportAlpaca(t, dir, runDir); !bytes.Equal(data, wantData) {
				t.Errorf("the exported dataset differs from the clean run's (%d bytes, want %d)", len(data), len(wantData))
			}
		})
	}
}

// checkNoTransientFailures fails the test for every record of the run
// that failed for a transient cause: a server error, or a call that ran
// out of retries.
func checkNoTransientFailures(t *testing.T, runDir string) {
	t.Helper()
	for _, r := range failedRecords(t, runDir) {
		for _, w := range []string{"HTTP 5", "HTTP 429", "gave up after", "not answering", "timeout"} {
			if strings.Contains(r.Error, w) {
				t.Errorf("record %s failed for a transient cause: %s", r.ID, r.Error)
				break
			}
		}
	}
}

func failedRecords(t *testing.T, runDir string) []*record.Record {
	t.Helper()
	ctx := context.Background()
	st, err := store.OpenReadOnly(ctx, runDir)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	stages, err := st.Stages(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var out []*record.Record
	for _, s := range stages {
		for r, err := range st.Records(ctx, s, record.Failed) {
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, r)
		}
	}
	return out
}

func exportAlpaca(t *testing.T, dir, runDir string) []byte {
	t.Helper()
	out := filepath.Join(dir, runDir+".jsonl")
	if b, err := cli(dir, nil, "export", runDir, "--format", "alpaca", "--out", out).CombinedOutput(); err != nil {
		t.Fatalf("export %s: %v\n%s", runDir, err, b)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// lastLines returns the last n lines of out, for failure messages.
func lastLines(out []byte, n int) string {
	lines := strings.Split(strings.TrimRight(string(out), "\n"), "\n")
	return strings.Join(lines[max(len(lines)-n, 0):], "\n")
}

// TestRetryFailedRedoesPermanentFailures refuses a quarter of the judge's
// requests with HTTP 400, a permanent failure: the run completes with those
// records failed, and a plain rerun leaves them so. Once the server accepts
// them, a run with --retry-failed redoes their units, after which the
// dataset is a clean run's.
func TestRetryFailedRedoesPermanentFailures(t *testing.T) {
	dir, write, _ := cleanFlakyRun(t)
	var refusing atomic.Bool
	refusing.Store(true)
	refused := func(req *modeltest.Request) modeltest.Fault {
		if refusing.Load() && strings.Contains(req.LastUser(), `"Score: N"`) && req.Key[0]%4 == 0 {
			return modeltest.Fault{Kind: modeltest.Status, Status: 400, Message: "refused"}
		}
		return modeltest.Fault{}
	}
	srv := modeltest.NewServer(mixedTeacher(), modeltest.WithFaults(refused))
	t.Cleanup(srv.Close)
	cfg := write("p.yaml", srv.URL)
	failed := func() int { return len(failedRecords(t, filepath.Join(dir, "r"))) }

	for run := 1; run <= 2; run++ {
		if out, err := cli(dir, nil, "run", cfg, "--run-dir", "r", "--json").CombinedOutput(); err != nil {
			t.Fatalf("run %d: %v\n%s", run, err, lastLines(out, 3))
		}
		if failed() == 0 {
			t.Fatalf("run %d: no record failed; the refusals did not reach the pipeline", run)
		}
	}
	status, _ := cli(dir, nil, "status", "r").CombinedOutput()
	if !bytes.Contains(status, []byte("failed    ")) || !bytes.Contains(status, []byte("--retry-failed")) {
		t.Errorf("status does not show the permanent failures and how to retry them:\n%s", status)
	}
	n := failed()
	refusing.Store(false)
	out, err := cli(dir, nil, "run", cfg, "--run-dir", "r", "--json", "--retry-failed").CombinedOutput()
	if err != nil {
		t.Fatalf("run --retry-failed: %v\n%s", err, lastLines(out, 3))
	}
	if !bytes.Contains(out, []byte("--retry-failed: redoing")) {
		t.Errorf("run --retry-failed does not say what it redoes:\n%s", lastLines(out, 5))
	}
	if left := failed(); left != 0 {
		t.Errorf("%d of %d failed records are still failed after --retry-failed", left, n)
	}
	want, got := dumpRun(t, filepath.Join(dir, "ref")), dumpRun(t, filepath.Join(dir, "r"))
	if len(got) != len(want) {
		t.Fatalf("%d records after --retry-failed, the clean run has %d", len(got), len(want))
	}
	for i := range got {
		if got[i] != want[i] {
			t.Fatalf("record %d differs from the clean run's:\n got %s\nwant %s", i, got[i], want[i])
		}
	}
}

// TestGiveUpTransientFinishes makes a quarter of the judge's requests fail
// with HTTP 500 every time: every plain run exits 75. With
// --give-up-transient the run finishes with those records failed for what
// they met; once the server is healthy, --retry-failed gives a clean run's
// dataset.
func TestGiveUpTransientFinishes(t *testing.T) {
	dir, write, _ := cleanFlakyRun(t)
	var broken atomic.Bool
	broken.Store(true)
	always := func(req *modeltest.Request) modeltest.Fault {
		if broken.Load() && strings.Contains(req.LastUser(), `"Score: N"`) && req.Key[0]%4 == 0 {
			return serverError
		}
		return modeltest.Fault{}
	}
	srv := modeltest.NewServer(mixedTeacher(), modeltest.WithFaults(always))
	t.Cleanup(srv.Close)
	cfg := write("p.yaml", srv.URL)

	out, err := cli(dir, nil, "run", cfg, "--run-dir", "r", "--json").CombinedOutput()
	if code := exitCode(err); code != exitTempFail || !bytes.Contains(out, []byte("--give-up-transient")) {
		t.Fatalf("plain run: exit %d, want %d and a word about --give-up-transient\n%s", code, exitTempFail, lastLines(out, 3))
	}
	if out, err := cli(dir, nil, "run", cfg, "--run-dir", "r", "--json", "--give-up-transient").CombinedOutput(); err != nil {
		t.Fatalf("run --give-up-transient: %v\n%s", err, lastLines(out, 3))
	}
	failed := failedRecords(t, filepath.Join(dir, "r"))
	if len(failed) == 0 {
		t.Fatal("no record failed: the broken requests did not reach the pipeline")
	}
	for _, r := range failed {
		if !strings.Contains(r.Error, "HTTP 500") {
			t.Errorf("record %s failed for %q, want the HTTP 500 it met", r.ID, r.Error)
		}
	}
	broken.Store(false)
	if out, err := cli(dir, nil, "run", cfg, "--run-dir", "r", "--json", "--retry-failed").CombinedOutput(); err != nil {
		t.Fatalf("run --retry-failed: %v\n%s", err, lastLines(out, 3))
	}
	want, got := dumpRun(t, filepath.Join(dir, "ref")), dumpRun(t, filepath.Join(dir, "r"))
	if len(got) != len(want) {
		t.Fatalf("%d records after --retry-failed, the clean run has %d", len(got), len(want))
	}
	for i := range got {
		if got[i] != want[i] {
			t.Fatalf("record %d differs from the clean run's:\n got %s\nwant %s", i, got[i], want[i])
		}
	}
}

// cleanFlakyRun runs flakyConfig against a healthy teacher into DIR/ref,
// the reference the fault tests compare with, and returns DIR, a writer
// of flakyConfig files pointed at another server, and the healthy server.
func cleanFlakyRun(t *testing.T) (dir string, write func(name, url string) string, ref *modeltest.Server) {
	t.Helper()
	dir = t.TempDir()
	write = func(name, url string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, fmt.Appendf(nil, flakyConfig, url), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	ref = modeltest.NewServer(mixedTeacher())
	t.Cleanup(ref.Close)
	if out, err := cli(dir, nil, "run", write("ref.yaml", ref.URL), "--run-dir", "ref", "--json").CombinedOutput(); err != nil {
		t.Fatalf("clean run: %v\n%s", err, out)
	}
	return dir, write, ref
}
