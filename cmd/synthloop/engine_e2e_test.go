package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestPipelineThroughBuiltinEngine is the end-to-end path with no stand-in:
// `synthloop train` trains a tiny model from JSONL, `synthloop serve` serves
// it over the OpenAI-compatible API, and `synthloop run` drives a pipeline
// (load → reject sampling with a verifier) against that server through the
// same openai-go client that talks to vLLM or OpenAI. Then status and export
// read the run. The task (copy a string) is one a 0.5M-parameter model learns
// in a few hundred steps, so the verifier has real work: most prompts keep a
// correct candidate, and the test fails if the served model answers nonsense.
func TestPipelineThroughBuiltinEngine(t *testing.T) {
	dir := t.TempDir()
	rng := rand.New(rand.NewPCG(1, 2))
	word := func() string {
		b := make([]byte, 3+rng.IntN(4))
		for i := range b {
			b[i] = "abcdefghij"[rng.IntN(10)]
		}
		return string(b)
	}
	var train, prompts strings.Builder
	for range 2000 {
		w := word()
		line, _ := json.Marshal(map[string]any{"messages": []map[string]string{
			{"role": "user", "content": "copy " + w}, {"role": "assistant", "content": w}}})
		train.Write(append(line, '\n'))
	}
	const heldOut = 8
	for range heldOut {
		w := word()
		line, _ := json.Marshal(map[string]string{"prompt": "copy " + w, "answer": w})
		prompts.Write(append(line, '\n'))
	}
	os.WriteFile(filepath.Join(dir, "train.jsonl"), []byte(train.String()), 0o644)
	os.WriteFile(filepath.Join(dir, "prompts.jsonl"), []byte(prompts.String()), 0o644)

	if out, err := cli(dir, nil, "train", "--data", "train.jsonl", "--out", "copier",
		"--steps", "300", "--batch", "32", "--lr", "3e-3", "--seq", "64", "--json").CombinedOutput(); err != nil {
		t.Fatalf("train: %v\n%s", err, out)
	}

	// sample --json speaks snake_case, as the OpenAI API does.
	out, err := cli(dir, nil, "sample", "copier", "abc", "--json", "--max-tokens", "4").CombinedOutput()
	if err != nil {
		t.Fatalf("sample: %v\n%s", err, out)
	}
	var rep struct {
		Choices []struct {
			Text   string `json:"text"`
			Finish string `json:"finish_reason"`
		} `json:"choices"`
		Completion int `json:"completion_tokens"`
	}
	if err := json.Unmarshal(out, &rep); err != nil || len(rep.Choices) != 1 || rep.Choices[0].Finish == "" || rep.Completion == 0 {
		t.Errorf("sample --json: %v\n%s", err, out)
	}

	srv := cli(dir, nil, "serve", "copier", "--addr", "127.0.0.1:0")
	stderr, err := srv.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		srv.Process.Signal(os.Interrupt)
		srv.Wait()
	}()
	urlc := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		re := regexp.MustCompile(`serving copier at (http://\S+/v1)`)
		for sc.Scan() {
			if m := re.FindStringSubmatch(sc.Text()); m != nil {
				urlc <- m[1]
			}
		}
	}()
	var url string
	select {
	case url = <-urlc:
	case <-time.After(30 * time.Second):
		t.Fatal("synthloop serve did not print its address")
	}

	cfg := fmt.Sprintf(`name: engine-e2e
seed: 7
models:
  student:
    ref: openai-compatible/copier
    base_url: %s
stages:
  - name: prompts
    type: load
    with:
      path: prompts.jsonl
  - name: best
    type: reject
    with:
      model: student
      n: 4
      max_tokens: 12
      verifier: {kind: exact, reference: output}
`, url)
	os.WriteFile(filepath.Join(dir, "e2e.yaml"), []byte(cfg), 0o644)
	if out, err := cli(dir, nil, "run", "e2e.yaml", "--run-dir", "run", "--json").CombinedOutput(); err != nil {
		t.Fatalf("run: %v\n%s", err, out)
	}
	status, err := cli(dir, nil, "status", "run").CombinedOutput()
	if err != nil {
		t.Fatalf("status: %v\n%s", err, status)
	}
	if !strings.Contains(string(status), "best") || !strings.Contains(string(status), "accepted") {
		t.Errorf("status does not report the reject stage:\n%s", status)
	}
	if out, err := cli(dir, nil, "export", "run", "--format", "openai", "--out", "kept.jsonl").CombinedOutput(); err != nil {
		t.Fatalf("export: %v\n%s", err, out)
	}
	data, err := os.ReadFile(filepath.Join(dir, "kept.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	kept := 0
	for line := range strings.Lines(string(data)) {
		var ex struct {
			Messages []struct{ Role, Content string }
		}
		if err := json.Unmarshal([]byte(line), &ex); err != nil || len(ex.Messages) != 2 {
			t.Fatalf("export line %q: %v", line, err)
		}
		// Every kept answer passed the exact verifier: it is the prompt's word.
		if want := strings.TrimPrefix(ex.Messages[0].Content, "copy "); ex.Messages[1].Content != want {
			t.Errorf("kept %q for %q", ex.Messages[1].Content, ex.Messages[0].Content)
		}
		kept++
	}
	if kept < heldOut/2 {
		t.Errorf("%d of %d held-out prompts kept a verified answer; the served model did not learn to copy\n%s", kept, heldOut, status)
	}
}
