// Package command is the loop's `command` trainer: any external trainer (TRL, axolotl, LLaMA-Factory) run as a templated command, its result served over an OpenAI-compatible endpoint.
package command

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"text/template"
	"time"

	"github.com/synthloop/synthloop/loop"
	"github.com/synthloop/synthloop/loop/mixfile"
	"github.com/synthloop/synthloop/model"
	_ "github.com/synthloop/synthloop/model/openai" // opens the served students (openai-compatible)
)

func init() {
	loop.RegisterTrainer(loop.Type[loop.Trainer]{
		Name: "command",
		Doc: `Runs an external trainer as a command. The round's data mixture is written to
round-NNN/train.jsonl ({"messages": [...]} lines, or {"prompt", "chosen", "rejected"}
pairs for DPO) and the command gets it with the output directory through templates:
{{.Data}}, {{.Out}} (round-NNN/student), {{.Method}} (sft or dpo), {{.Round}}, {{.Seed}},
{{.Teacher}} (the teacher's ref), {{.TeacherDir}} and {{.PreviousDir}} (model directories
when built-in), {{.RoundDir}}, {{.RunDir}}. Its output goes to round-NNN/train.log, where
"loss" and "step" values are picked up. Exit status 0 means trained; a killed loop runs the
command again (make it resume from its checkpoints).

serve: says how the student is reached: url: an OpenAI-compatible endpoint that serves it
(e.g. a vLLM server loading adapters from the output directory), or command: a command that
serves it, started when the student is needed, health-checked at url + health, and stopped
when it is no longer needed; {{.Port}} is a free port. model: is the model name requested.`,
		Example: `train:
  type: command
  with:
    command: [python, train_sft.py, --data, "{{.Data}}", --out, "{{.Out}}", --base, "{{.TeacherDir}}"]
    serve:
      command: [vllm, serve, "{{.Out}}", --port, "{{.Port}}"]
      model: "{{.Out}}"`,
		Config: func() any {
			return &Config{Style: mixfile.TRL, Serve: ServeConfig{Health: "/models", Model: "{{.Out}}"}}
		},
		New: func(c any) (loop.Trainer, error) { return New(c.(*Config)) },
	})
}

// Config is the `with:` block of the command trainer.
type Config struct {
	Command []string `yaml:"command" doc:"The trainer's argv, each argument a template"`
	Env     []string `yaml:"env" doc:"Adds KEY=VALUE templates to the command's environment"`
	Dir     string   `yaml:"dir" doc:"The working directory (default: the loop config's directory)"`
	// Style of DPO lines in the data file: trl (prompt, chosen, rejected;
	// default) or openai (the fine-tuning API's preference format).
	Style    string         `yaml:"style" doc:"Format of DPO lines in the data file: trl or openai"`
	Examples int            `yaml:"examples" doc:"The size of the mixture (0: the newest round's examples divided by its weight)"`
	Timeout  model.Duration `yaml:"timeout" doc:"Bounds a training run (0: none)"`
	Serve    ServeConfig    `yaml:"serve" doc:"How the trained student is served for evaluation"`

	dir string
}

// ServeConfig says how the trained student is served.
type ServeConfig struct {
	// URL is the OpenAI-compatible base URL (template). With command it
	// defaults to http://127.0.0.1:{{.Port}}/v1.
	URL            string         `yaml:"url" doc:"OpenAI-compatible base URL (template; with command: http://127.0.0.1:{{.Port}}/v1)"`
	Model          string         `yaml:"model" doc:"Model name to request (template)"`
	Command        []string       `yaml:"command" doc:"Starts a server for the student (templates; {{.Port}} is a free port chosen at start)"`
	Env            []string       `yaml:"env" doc:"KEY=VALUE templates added to the server's environment"`
	Health         string         `yaml:"health" doc:"Path under url polled until it answers 2xx"`
	StartupTimeout model.Duration `yaml:"startup_timeout" doc:"How long the server may take to answer its health check"`
	APIKeyEnv      string         `yaml:"api_key_env" doc:"Names the variable with the server's key, if it needs one"`
}

// SetLoop implements the loop's config hook.
func (c *Config) SetLoop(l *loop.Config) { c.dir = l.Dir() }

// Validate checks the settings and parses the templates.
func (c *Config) Validate() error {
	if len(c.Command) == 0 {
		return errors.New("command: required (the trainer's argv)")
	}
	if c.Serve.URL == "" && len(c.Serve.Command) == 0 {
		return errors.New("serve: set url (an endpoint that serves the trained model) or command (one that starts it)")
	}
	if c.Style != mixfile.TRL && c.Style != mixfile.OpenAI {
		return fmt.Errorf("style %q: want trl or openai", c.Style)
	}
	if c.Examples < 0 || c.Timeout < 0 {
		return errors.New("examples and timeout must not be negative")
	}
	all := append(append(append(append([]string{}, c.Command...), c.Env...), c.Serve.Command...), c.Serve.Env...)
	all = append(all, c.Serve.URL, c.Serve.Model)
	for _, a := range all {
		// Executing with empty values catches unknown names like {{.Dta}}.
		if _, err := expand(a, Vars{}); err != nil {
			return err
		}
	}
	return nil
}

func parse(s string) (*template.Template, error) {
	t, err := template.New("arg").Option("missingkey=error").Parse(s)
	if err != nil {
		return nil, fmt.Errorf("template %q: %w", s, err)
	}
	return t, nil
}

// Vars are what the templates can use.
type Vars struct {
	Data, Out, Method, Teacher, TeacherDir, PreviousDir, RoundDir, RunDir string
	Round                                                                 int
	Seed                                                                  int64
	// Port stays "{{.Port}}" here: the server's port is chosen when it starts.
	Port string
}

func expand(s string, v Vars) (string, error) {
	t, err := parse(s)
	if err != nil {
		return "", err
	}
	var b strings.Builder
	if err := t.Execute(&b, v); err != nil {
		return "", fmt.Errorf("template %q: %w", s, err)
	}
	return b.String(), nil
}

func expandAll(ss []string, v Vars) ([]string, error) {
	out := make([]string, len(ss))
	for i, s := range ss {
		var err error
		if out[i], err = expand(s, v); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// Trainer runs the command.
type Trainer struct{ c *Config }

// New returns the trainer of a config.
func New(c *Config) (*Trainer, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return &Trainer{c: c}, nil
}

func abs(p string) string {
	if a, err := filepath.Abs(p); err == nil {
		return a
	}
	return p
}

// Train implements loop.Trainer.
func (t *Trainer) Train(ctx context.Context, r *loop.Round, in loop.TrainInput) (loop.Trained, error) {
	c := t.c
	data := filepath.Join(r.Dir, "train.jsonl")
	total := c.Examples
	if total == 0 {
		total = mixfile.Total(in.Data)
	}
	if _, err := mixfile.Write(data, in.Data, total, r.Seed, c.Style); err != nil {
		return loop.Trained{}, err
	}
	out := filepath.Join(r.Dir, "student")
	if err := os.MkdirAll(out, 0o755); err != nil {
		return loop.Trained{}, fmt.Errorf("command: %w", err)
	}
	method := "sft"
	if in.Format == "dpo" {
		method = "dpo"
	}
	v := Vars{
		Data: abs(data), Out: abs(out), Method: method, Teacher: r.Teacher.Ref(), TeacherDir: r.Teacher.Dir,
		PreviousDir: in.Previous.Dir, RoundDir: abs(r.Dir), RunDir: abs(r.RunDir), Round: r.Index, Seed: r.Seed,
		Port: loop.PortPlaceholder,
	}
	args, err := expandAll(c.Command, v)
	if err != nil {
		return loop.Trained{}, fmt.Errorf("command: %w", err)
	}
	env, err := expandAll(c.Env, v)
	if err != nil {
		return loop.Trained{}, fmt.Errorf("command: %w", err)
	}
	dir := c.Dir
	if dir == "" {
		dir = c.dir
	} else if !filepath.IsAbs(dir) && c.dir != "" {
		dir = filepath.Join(c.dir, dir)
	}
	logPath := filepath.Join(r.Dir, "train.log")
	steps, first, last, err := run(ctx, r, args, env, dir, logPath, c.Timeout.Std())
	if err != nil {
		return loop.Trained{}, err
	}
	student, err := t.student(v, dir)
	if err != nil {
		return loop.Trained{}, err
	}
	return loop.Trained{Student: student, Steps: steps, FirstLoss: first, LastLoss: last, Log: logPath}, nil
}

// student is the Model of the trained student as serve: describes it.
func (t *Trainer) student(v Vars, dir string) (loop.Model, error) {
	s := t.c.Serve
	name, err := expand(s.Model, v)
	if err != nil {
		return loop.Model{}, fmt.Errorf("command: serve.model: %w", err)
	}
	url := s.URL
	if url == "" {
		url = "http://127.0.0.1:" + loop.PortPlaceholder + "/v1"
	}
	if url, err = expand(url, v); err != nil {
		return loop.Model{}, fmt.Errorf("command: serve.url: %w", err)
	}
	m := loop.Model{Config: model.Config{Ref: "openai-compatible/" + name, BaseURL: url, APIKeyEnv: s.APIKeyEnv}}
	if len(s.Command) > 0 {
		args, err := expandAll(s.Command, v)
		if err != nil {
			return loop.Model{}, fmt.Errorf("command: serve.command: %w", err)
		}
		env, err := expandAll(s.Env, v)
		if err != nil {
			return loop.Model{}, fmt.Errorf("command: serve.env: %w", err)
		}
		m.Serve = &loop.ServeSpec{Command: args, Env: env, Dir: dir, Health: s.Health, StartupTimeout: s.StartupTimeout.Std()}
	}
	return m, nil
}

var (
	// "loss: 0.5", "loss=0.5", `"loss": 0.5` and "step 1 loss 0.5"; the word
	// boundary keeps eval_loss and val_loss out.
	lossRe = regexp.MustCompile(`(?i)\b(?:train_)?loss["']?(?:\s*[:=]\s*|\s+)([-+]?[0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?)`)
	stepRe = regexp.MustCompile(`(?i)\b(?:global_)?step["']?(?:\s*[:=]\s*|\s+)([0-9]+)`)
)

// run runs the trainer, appending its output to logPath and following the
// loss it prints. On ctx's end the command's process group gets SIGTERM,
// then SIGKILL.
func run(ctx context.Context, r *loop.Round, args, env []string, dir, logPath string, timeout time.Duration) (steps int, first, last float64, err error) {
	if timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, timeout)
		defer cancel()
	}
	lf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return 0, 0, 0, fmt.Errorf("command: %w", err)
	}
	defer lf.Close()
	fmt.Fprintf(lf, "# %s round %d: %s\n", time.Now().UTC().Format(time.RFC3339), r.Index, strings.Join(args, " "))
	cmd := exec.CommandContext(ctx, args[0], args[1:]...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM) }
	cmd.WaitDelay = 10 * time.Second
	pr, pw := io.Pipe()
	cmd.Stdout, cmd.Stderr = pw, pw
	if err := cmd.Start(); err != nil {
		return 0, 0, 0, fmt.Errorf("command: start %s: %w", args[0], err)
	}
	var tail bytes.Buffer
	scanned := make(chan struct{})
	go func() {
		defer close(scanned)
		sc := bufio.NewScanner(pr)
		sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
		seen := false
		for sc.Scan() {
			line := sc.Text()
			fmt.Fprintln(lf, line)
			if tail.Len() > 2000 {
				tail.Reset()
			}
			tail.WriteString(line + "\n")
			m := lossRe.FindStringSubmatch(line)
			if m == nil {
				continue
			}
			loss, err := strconv.ParseFloat(m[1], 64)
			if err != nil {
				continue
			}
			if !seen {
				first, seen = loss, true
			}
			last = loss
			if s := stepRe.FindStringSubmatch(line); s != nil {
				steps, _ = strconv.Atoi(s[1])
			} else {
				steps++
			}
			r.Progress(steps, 0, fmt.Sprintf("loss %.4f", loss))
		}
		io.Copy(io.Discard, pr)
	}()
	err = cmd.Wait()
	pw.Close()
	<-scanned
	if err != nil {
		if ctx.Err() != nil {
			return 0, 0, 0, fmt.Errorf("command: %s stopped: %w", args[0], ctx.Err())
		}
		t := strings.TrimSpace(tail.String())
		if len(t) > 500 {
			t = t[len(t)-500:]
		}
		return 0, 0, 0, fmt.Errorf("command: %s: %w (log %s): %s", args[0], err, logPath, t)
	}
	return steps, first, last, nil
}
