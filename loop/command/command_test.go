package command_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/synthloop/synthloop/loop"
	_ "github.com/synthloop/synthloop/loop/command"
	_ "github.com/synthloop/synthloop/loop/evaluate"
	"github.com/synthloop/synthloop/model/modeltest"
	_ "github.com/synthloop/synthloop/model/openai"
)

// TestMain lets the test binary act as a model server for the serve
// command: `LOOPTEST_SERVE=1 test-binary PORT MODEL_DIR` answers every chat
// request with MODEL_DIR/answer.txt, like a server loading a trained model.
func TestMain(m *testing.M) {
	if os.Getenv("LOOPTEST_SERVE") == "1" {
		serveFake(os.Args[1], os.Args[2])
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func serveFake(port, dir string) {
	answer, err := os.ReadFile(filepath.Join(dir, "answer.txt"))
	if err != nil {
		fmt.Fprintln(os.Stderr, "no trained model:", err)
		os.Exit(3)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/models", func(w http.ResponseWriter, r *http.Request) {
		json.NewEncoder(w).Encode(map[string]any{"object": "list", "data": []any{map[string]any{"id": dir, "object": "model"}}})
	})
	mux.HandleFunc("POST /v1/chat/completions", func(w http.ResponseWriter, r *http.Request) {
		var req struct{ Model string }
		json.NewDecoder(r.Body).Decode(&req)
		if req.Model != dir {
			w.WriteHeader(404)
			json.NewEncoder(w).Encode(map[string]any{"error": map[string]any{"message": "no model " + req.Model}})
			return
		}
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]any{
			"id": "x", "object": "chat.completion", "created": 1, "model": dir,
			"choices": []any{map[string]any{"index": 0, "message": map[string]any{"role": "assistant", "content": strings.TrimSpace(string(answer))}, "finish_reason": "stop"}},
			"usage":   map[string]any{"prompt_tokens": 3, "completion_tokens": 1, "total_tokens": 4},
		})
	})
	ln, err := net.Listen("tcp", "127.0.0.1:"+port)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(3)
	}
	srv := &http.Server{Handler: mux}
	go func() {
		ch := make(chan os.Signal, 1)
		signal.Notify(ch, syscall.SIGTERM)
		<-ch
		srv.Close()
	}()
	srv.Serve(ln)
}

type staticConfig struct{}

type static struct{}

func (static) Generate(ctx context.Context, r *loop.Round) (loop.Data, error) {
	p := filepath.Join(r.Dir, "data.jsonl")
	line := `{"messages":[{"role":"user","content":"2+2="},{"role":"assistant","content":"4"}]}` + "\n"
	if err := os.WriteFile(p, []byte(strings.Repeat(line, 4)), 0o644); err != nil {
		return loop.Data{}, err
	}
	return loop.Data{Path: p, Format: "sft", Generated: 4, Kept: 4}, nil
}

func init() {
	loop.RegisterGenerator(loop.Type[loop.Generator]{Name: "static", Config: func() any { return &staticConfig{} },
		New: func(any) (loop.Generator, error) { return static{}, nil }})
}

// fakeTrainer is a shell script standing in for TRL: it prints a loss per
// step the way the Hugging Face Trainer logs, and writes the "model".
const fakeTrainer = `#!/bin/sh
set -e
data="$1"; out="$2"; method="$3"
test -s "$data"
echo "training on $(wc -l < "$data") examples with $method"
echo "{'loss': 0.3, 'learning_rate': 1e-05, 'epoch': 0.3, 'step': 1}"
echo "{'loss': 0.2, 'learning_rate': 1e-05, 'epoch': 0.6, 'step': 2}"
echo "{'loss': 0.1, 'learning_rate': 1e-05, 'epoch': 1.0, 'step': 3}"
if [ -n "$FAIL" ]; then echo "CUDA out of memory" >&2; exit 1; fi
mkdir -p "$out"
echo 4 > "$out/answer.txt"
`

func setup(t *testing.T, train string) (*loop.Config, string) {
	t.Helper()
	dir := t.TempDir()
	script := filepath.Join(dir, "train.sh")
	if err := os.WriteFile(script, []byte(fakeTrainer), 0o755); err != nil {
		t.Fatal(err)
	}
	teacher := modeltest.NewServer(modeltest.Texts("5"))
	t.Cleanup(teacher.Close)
	text := fmt.Sprintf(`name: cmd
rounds: 2
models:
  teacher: {ref: openai-compatible/base, base_url: %q}
teacher: teacher
generate: {type: static}
train:
%s
evaluate:
  type: verifier
  with: {items: [{prompt: "2+2=", answer: "4"}], max_tokens: 8}
`, teacher.URL, train)
	path := filepath.Join(dir, "loop.yaml")
	os.WriteFile(path, []byte(text), 0o644)
	cfg, err := loop.LoadConfig(path)
	if err != nil {
		t.Fatal(err)
	}
	return cfg, dir
}

func TestCommandTrainerWithServeCommand(t *testing.T) {
	cfg, dir := setup(t, fmt.Sprintf(`  type: command
  with:
    command: [./train.sh, "{{.Data}}", "{{.Out}}", "{{.Method}}"]
    serve:
      command: [%q, "{{.Port}}", "{{.Out}}"]
      env: [LOOPTEST_SERVE=1]
      startup_timeout: 20s`, os.Args[0]))
	runDir := filepath.Join(dir, "run")
	sum, err := loop.Run(context.Background(), cfg, loop.Options{RunDir: runDir})
	if err != nil {
		t.Fatal(err)
	}
	r1, r2 := sum.Rounds[0], sum.Rounds[1]
	out1, _ := filepath.Abs(filepath.Join(runDir, "round-001", "student"))
	if !r1.Promoted || r1.Student != "openai-compatible/"+out1 || r1.Score != 1 || r1.TeacherScore != 0 {
		t.Errorf("round 1: %+v; want the served student %s promoted", r1, out1)
	}
	if r1.TrainSteps != 3 || r1.FirstLoss != 0.3 || r1.TrainLoss != 0.1 {
		t.Errorf("round 1 training: %d steps, loss %v → %v; want the script's 3 steps, 0.3 → 0.1", r1.TrainSteps, r1.FirstLoss, r1.TrainLoss)
	}
	// Round 2 was evaluated against the round-1 student, served again.
	if r2.Teacher != r1.Student || r2.TeacherScore != 1 || r2.Promoted {
		t.Errorf("round 2: %+v", r2)
	}
	log, _ := os.ReadFile(filepath.Join(runDir, r1.TrainLog))
	if !strings.Contains(string(log), "training on 4 examples with sft") {
		t.Errorf("train.log:\n%s", log)
	}
	// Every server the loop started is stopped.
	logs, _ := filepath.Glob(filepath.Join(runDir, "servers", "server-*.log"))
	if len(logs) == 0 {
		t.Fatal("no server was started")
	}
	for _, l := range logs {
		port := strings.TrimSuffix(strings.TrimPrefix(filepath.Base(l), "server-"), ".log")
		if c, err := net.DialTimeout("tcp", "127.0.0.1:"+port, 200*time.Millisecond); err == nil {
			c.Close()
			t.Errorf("the server on port %s still runs after the loop ended", port)
		}
	}
}

func TestCommandTrainerWithURL(t *testing.T) {
	served := modeltest.NewServer(modeltest.Texts("4"))
	defer served.Close()
	cfg, dir := setup(t, fmt.Sprintf(`  type: command
  with:
    command: [./train.sh, "{{.Data}}", "{{.Out}}", "{{.Method}}"]
    serve: {url: %q, model: "student-r{{.Round}}"}`, served.URL))
	sum, err := loop.Run(context.Background(), cfg, loop.Options{RunDir: filepath.Join(dir, "run")})
	if err != nil {
		t.Fatal(err)
	}
	if r := sum.Rounds[0]; !r.Promoted || r.Student != "openai-compatible/student-r1" {
		t.Errorf("round 1: %+v", r)
	}
}

func TestCommandTrainerFailure(t *testing.T) {
	cfg, dir := setup(t, `  type: command
  with:
    command: [./train.sh, "{{.Data}}", "{{.Out}}", "{{.Method}}"]
    env: [FAIL=1]
    serve: {url: "http://127.0.0.1:1/v1"}`)
	_, err := loop.Run(context.Background(), cfg, loop.Options{RunDir: filepath.Join(dir, "run")})
	if err == nil || !strings.Contains(err.Error(), "exit status 1") || !strings.Contains(err.Error(), "CUDA out of memory") {
		t.Errorf("failing trainer: %v; want its exit status and the end of its output", err)
	}
}

func TestCommandConfigErrors(t *testing.T) {
	tests := []struct{ with, want string }{
		{`{serve: {url: "http://x/v1"}}`, "command: required"},
		{`{command: [x]}`, "serve: set url"},
		{`{command: ["{{.Dta}}"], serve: {url: "http://x/v1"}}`, "can't evaluate field Dta"},
		{`{command: ["{{.Data}}"], serve: {command: [s, "{{.Port}}"], model: "{{.Out}}"}}`, ""},
		{`{command: ["{{.Data"], serve: {url: "http://x/v1"}}`, "template"},
		{`{command: [x], style: yaml, serve: {url: "http://x/v1"}}`, "style"},
	}
	for _, tt := range tests {
		text := `name: x
generate: {type: static}
train: {type: command, with: ` + tt.with + `}
evaluate: {type: verifier, with: {items: [{prompt: a, answer: b}]}}
`
		_, err := loop.ParseConfig("c.yaml", []byte(text))
		switch {
		case tt.want == "" && err != nil:
			t.Errorf("%s: %v", tt.with, err)
		case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
			t.Errorf("%s: %v, want an error containing %q", tt.with, err, tt.want)
		}
	}
}
