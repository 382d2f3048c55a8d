package loop

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/synthloop/synthloop/model"
)

// ServeSpec is a command that serves a model over an OpenAI-compatible
// endpoint (vLLM, llama.cpp's server, `synthloop serve`). In Command, Env and
// the model's base_url, {{.Port}} stands for a free local port chosen at
// start.
type ServeSpec struct {
	Command []string `json:"command"`
	Env     []string `json:"env,omitempty"`
	Dir     string   `json:"dir,omitempty"`
	// Health is the path under the base URL polled until it answers 2xx
	// (default "/models").
	Health string `json:"health,omitempty"`
	// StartupTimeout bounds the wait for the first healthy answer (default 10m).
	StartupTimeout time.Duration `json:"startup_timeout,omitempty"`
}

// PortPlaceholder is replaced by the server's port in a ServeSpec and the
// served model's base_url.
const PortPlaceholder = "{{.Port}}"

// servers runs the serve commands of the models in use. Every process it
// starts is stopped by stop or stopAll; on Linux a server also dies with
// the loop's process (a kill -9 of the loop leaves no server behind).
type servers struct {
	log    *slog.Logger
	logDir string
	mu     sync.Mutex
	m      map[string]*server
}

type server struct {
	cmd  *exec.Cmd
	cfg  model.Config
	done chan struct{}
	err  error
	log  string
}

func newServers(log *slog.Logger, logDir string) *servers {
	return &servers{log: log, logDir: logDir, m: map[string]*server{}}
}

func serveKey(m Model) string {
	return m.Config.Ref + "\x00" + strings.Join(m.Serve.Command, "\x00")
}

// ensure starts m's server unless it runs, and returns m's config with the
// port filled in.
func (s *servers) ensure(ctx context.Context, m Model) (model.Config, error) {
	key := serveKey(m)
	s.mu.Lock()
	defer s.mu.Unlock()
	if sv, ok := s.m[key]; ok {
		select {
		case <-sv.done:
			delete(s.m, key) // it died: start it again
		default:
			return sv.cfg, nil
		}
	}
	spec := m.Serve
	if len(spec.Command) == 0 {
		return model.Config{}, fmt.Errorf("loop: model %s: empty serve command", m.Ref())
	}
	port, err := freePort()
	if err != nil {
		return model.Config{}, fmt.Errorf("loop: serve %s: %w", m.Ref(), err)
	}
	p := strconv.Itoa(port)
	sub := func(x string) string { return strings.ReplaceAll(x, PortPlaceholder, p) }
	args := make([]string, len(spec.Command))
	for i, a := range spec.Command {
		args[i] = sub(a)
	}
	cfg := m.Config
	cfg.BaseURL = strings.TrimRight(sub(cfg.BaseURL), "/")
	if cfg.BaseURL == "" {
		cfg.BaseURL = "http://127.0.0.1:" + p + "/v1"
	}
	if err := os.MkdirAll(s.logDir, 0o755); err != nil {
		return model.Config{}, fmt.Errorf("loop: serve: %w", err)
	}
	logPath := filepath.Join(s.logDir, fmt.Sprintf("server-%s.log", p))
	lf, err := os.Create(logPath)
	if err != nil {
		return model.Config{}, fmt.Errorf("loop: serve: %w", err)
	}
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Dir = spec.Dir
	cmd.Env = os.Environ()
	for _, e := range spec.Env {
		cmd.Env = append(cmd.Env, sub(e))
	}
	cmd.Stdout, cmd.Stderr = lf, lf
	cmd.SysProcAttr = serverProcAttr()
	if err := cmd.Start(); err != nil {
		lf.Close()
		return model.Config{}, fmt.Errorf("loop: serve %s: start %s: %w", m.Ref(), args[0], err)
	}
	sv := &server{cmd: cmd, cfg: cfg, done: make(chan struct{}), log: logPath}
	go func() {
		sv.err = cmd.Wait()
		lf.Close()
		close(sv.done)
	}()
	s.log.Info("loop: started model server", "model", m.Ref(), "url", cfg.BaseURL, "pid", cmd.Process.Pid, "log", logPath)
	timeout := spec.StartupTimeout
	if timeout <= 0 {
		timeout = 10 * time.Minute
	}
	health := spec.Health
	if health == "" {
		health = "/models"
	}
	if err := waitHealthy(ctx, cfg.BaseURL+health, timeout, sv); err != nil {
		terminate(sv)
		return model.Config{}, fmt.Errorf("loop: serve %s: %w (server log: %s)", m.Ref(), err, logPath)
	}
	s.m[key] = sv
	return cfg, nil
}

// stop stops m's server if one runs.
func (s *servers) stop(m Model) {
	if m.Serve == nil {
		return
	}
	s.mu.Lock()
	sv, ok := s.m[serveKey(m)]
	delete(s.m, serveKey(m))
	s.mu.Unlock()
	if ok {
		terminate(sv)
	}
}

func (s *servers) stopAll() {
	s.mu.Lock()
	all := s.m
	s.m = map[string]*server{}
	s.mu.Unlock()
	for _, sv := range all {
		terminate(sv)
	}
}

// terminate stops a server's process group: SIGTERM, then SIGKILL after 10s.
func terminate(sv *server) {
	pid := sv.cmd.Process.Pid
	syscall.Kill(-pid, syscall.SIGTERM)
	select {
	case <-sv.done:
	case <-time.After(10 * time.Second):
		syscall.Kill(-pid, syscall.SIGKILL)
		<-sv.done
	}
}

func waitHealthy(ctx context.Context, url string, timeout time.Duration, sv *server) error {
	deadline := time.Now().Add(timeout)
	client := &http.Client{Timeout: 5 * time.Second}
	var last error
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		resp, err := client.Do(req)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode/100 == 2 {
				return nil
			}
			err = fmt.Errorf("GET %s: %s", url, resp.Status)
		}
		last = err
		select {
		case <-sv.done:
			tail := ""
			if b, err := os.ReadFile(sv.log); err == nil {
				b = bytes.TrimSpace(b)
				if len(b) > 500 {
					b = b[len(b)-500:]
				}
				tail = ": " + string(b)
			}
			return fmt.Errorf("the server exited before it was healthy (%v)%s", sv.err, tail)
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("not healthy after %s: %w", timeout, last)
		}
	}
}

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	addr, ok := ln.Addr().(*net.TCPAddr)
	if !ok {
		return 0, errors.New("no TCP port")
	}
	return addr.Port, nil
}
