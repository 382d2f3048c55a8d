package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/synthloop/synthloop/model/modeltest"
	"github.com/synthloop/synthloop/record"
	"github.com/synthloop/synthloop/store"
)

// TestBatchKilledCreatesOneBatch runs examples/generate-batch.yaml against
// the OpenAI and the Anthropic stand-ins. It kills the run with SIGKILL at
// each step of a batch's life (OpenAI's file uploaded, batch created but
// its id not yet stored, while polling, while reading results), interrupts
// it once with SIGINT while polling, and reruns the same command each
// time. The stand-in must see exactly one batch for the stage's one
// request set, every request in it once, and the run must end with every
// record.
func TestBatchKilledCreatesOneBatch(t *testing.T) {
	for _, p := range []struct {
		name, ref, keyEnv, ended string
		server                   func(modeltest.Responder, ...modeltest.Option) *modeltest.Server
		steps                    []string
		modelLevel               bool // batch: true on the model rather than the stage
	}{
		{"openai", "openai/gpt-4o-mini", "OPENAI_API_KEY", "completed", modeltest.NewServer,
			[]string{"create-file", "create-batch", "get-batch", "get-batch", "results"}, false},
		{"anthropic", "anthropic/claude-haiku-4-5", "ANTHROPIC_API_KEY", "ended", modeltest.NewAnthropicServer,
			[]string{"create-batch", "get-batch", "get-batch", "results"}, false},
		{"openai-model-level", "openai/gpt-4o-mini", "OPENAI_API_KEY", "completed", modeltest.NewServer,
			[]string{"create-batch", "get-batch", "results"}, true},
	} {
		t.Run(p.name, func(t *testing.T) {
			testBatchKilled(t, p.ref, p.keyEnv, p.ended, p.server, p.steps, p.modelLevel)
		})
	}
}

func testBatchKilled(t *testing.T, ref, keyEnv, ended string, server func(modeltest.Responder, ...modeltest.Option) *modeltest.Server, steps []string, modelLevel bool) {
	dir := t.TempDir()
	var (
		mu     sync.Mutex
		child  *exec.Cmd
		stopAt string
		sig    os.Signal
		hit    bool
		exited chan struct{} // closed when the child is gone
	)
	hold := func(route string) {
		mu.Lock()
		if route != stopAt || child == nil || hit {
			mu.Unlock()
			return
		}
		hit = true
		child.Process.Signal(sig)
		gone, kill := exited, sig == syscall.SIGKILL
		mu.Unlock()
		if kill {
			// Answer only once the child is dead, so that it cannot
			// act on the answer: the kill is at this very step.
			<-gone
		}
	}
	srv := server(modeltest.Echo, modeltest.WithBatches(modeltest.BatchOptions{Polls: 3, Hold: hold}))
	defer srv.Close()
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	example, err := os.ReadFile(filepath.Join(root, "examples", "generate-batch.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	cfg := strings.Replace(string(example), "    batch_poll: 2m\n", "    base_url: "+srv.URL+"\n    batch_poll: 5ms\n", 1)
	cfg = strings.Replace(cfg, "ref: openai/gpt-4o-mini", "ref: "+ref, 1)
	if modelLevel {
		cfg = strings.Replace(cfg, "    batch: true\n", "", 1)
		cfg = strings.Replace(cfg, "    batch_poll: 5ms\n", "    batch_poll: 5ms\n    batch: true\n", 1)
		if strings.Count(cfg, "\n    batch: true\n") != 1 {
			t.Fatal("could not move batch: true from the stage to the model")
		}
	}
	if !strings.Contains(cfg, srv.URL) || !strings.Contains(cfg, ref) {
		t.Fatal("the example has no ref or batch_poll line to point at the stand-in")
	}
	if err := os.WriteFile(filepath.Join(dir, "p.yaml"), []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	const records = 6 // examples/faq/acme.jsonl
	type step struct {
		route string
		sig   os.Signal
	}
	var plan []step
	for i, route := range steps {
		sig := os.Signal(syscall.SIGKILL)
		if i == len(steps)-3 {
			sig = syscall.SIGINT // the first stop while polling is a Ctrl-C
		}
		plan = append(plan, step{route, sig})
	}
	plan = append(plan, step{"", nil}) // to the end
	for _, s := range plan {
		cmd := cli(root, []string{keyEnv + "=sk-test"}, "run", filepath.Join(dir, "p.yaml"), "--run-dir", filepath.Join(dir, "x"), "--json")
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		mu.Lock()
		stopAt, sig, hit, child, exited = s.route, s.sig, false, cmd, make(chan struct{})
		err := cmd.Start()
		mu.Unlock()
		if err != nil {
			t.Fatal(err)
		}
		err = cmd.Wait()
		close(exited)
		mu.Lock()
		child = nil
		stopped := hit
		mu.Unlock()
		if s.route == "" && err != nil {
			t.Fatalf("the last run: %v\n%s", err, out.String())
		}
		if s.route != "" && !stopped {
			t.Fatalf("the run never reached %s: %v\n%s", s.route, err, out.String())
		}
		if s.route == "get-batch" {
			// Stopped while the batch runs: status says so, and how to go on.
			st, err := store.OpenReadOnly(context.Background(), filepath.Join(dir, "x"))
			if err != nil {
				t.Fatal(err)
			}
			var status bytes.Buffer
			err = writeStatus(context.Background(), &status, st, "x", 3)
			st.Close()
			if err != nil || !strings.Contains(status.String(), "running") || !strings.Contains(status.String(), "not collected yet") {
				t.Errorf("status of a run stopped while its batch runs (%v):\n%s", err, status.String())
			}
		}
	}
	if n := srv.BatchesCreated(); n != 1 {
		t.Errorf("%d batches created, want exactly 1 for the one request set", n)
	}
	subs := srv.BatchSubmissions()
	if len(subs) != 2*records {
		t.Errorf("%d distinct requests submitted, want %d", len(subs), 2*records)
	}
	for id, n := range subs {
		if n != 1 {
			t.Errorf("request %s submitted %d times", id, n)
		}
	}
	st, err := store.OpenReadOnly(context.Background(), filepath.Join(dir, "x"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	kept := 0
	for r, err := range st.Records(context.Background(), "replies", "") {
		if err != nil {
			t.Fatal(err)
		}
		if r.Status != record.Kept || !strings.HasPrefix(fmt.Sprint(r.Fields()["reply"]), "echo: ") {
			t.Errorf("record %s: %s %q", r.ID, r.Status, r.Fields()["reply"])
		}
		kept++
	}
	if kept != 2*records {
		t.Errorf("%d replies, want %d", kept, 2*records)
	}
	var status bytes.Buffer
	if err := writeStatus(context.Background(), &status, st, "x", 3); err != nil {
		t.Fatal(err)
	}
	if s := status.String(); !strings.Contains(s, "batches (1):") || !strings.Contains(s, "finished") || !strings.Contains(s, ended) {
		t.Errorf("status does not show the finished batch:\n%s", s)
	}
}
