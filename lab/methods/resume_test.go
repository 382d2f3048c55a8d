package methods

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"

	"github.com/synthloop/synthloop/lab"
	"github.com/synthloop/synthloop/lab/task"
)

// recorder is a log handler that keeps (message, round) of every record
// and calls hook on each.
type recorder struct {
	mu     sync.Mutex
	events []string
	hook   func(msg string, round, step int64)
}

func (h *recorder) Enabled(context.Context, slog.Level) bool { return true }
func (h *recorder) WithAttrs([]slog.Attr) slog.Handler       { return h }
func (h *recorder) WithGroup(string) slog.Handler            { return h }

func (h *recorder) Handle(_ context.Context, r slog.Record) error {
	round, step := int64(-1), int64(-1)
	r.Attrs(func(a slog.Attr) bool {
		switch a.Key {
		case "round":
			round = a.Value.Int64()
		case "step":
			step = a.Value.Int64()
		}
		return true
	})
	h.mu.Lock()
	h.events = append(h.events, r.Message+" "+string(rune('0'+round)))
	h.mu.Unlock()
	if h.hook != nil {
		h.hook(r.Message, round, step)
	}
	return nil
}

// touched lists the rounds below from that a rerun logged work for.
func (h *recorder) touched(from int) []string {
	var out []string
	for _, e := range h.events {
		msg, r, _ := strings.Cut(e, " ")
		if r != "" && r[0] >= '0' && int(r[0]-'0') < from && msg != "round done" {
			out = append(out, e)
		}
	}
	return out
}

// withoutCPU zeroes what legitimately differs between a run and its
// resumption: CPU time, and the losses a resumed training job reports only
// for the steps it took itself.
func withoutCPU[R any, P interface {
	*R
	base() *Round
}](rs []R) []R {
	out := append([]R(nil), rs...)
	for i := range out {
		b := P(&out[i]).base()
		b.CPUSeconds, b.FirstLoss, b.LastLoss = 0, 0, 0
	}
	return out
}

func sameFile(t *testing.T, a, b string) {
	t.Helper()
	x, errX := os.ReadFile(a)
	y, errY := os.ReadFile(b)
	if errX != nil || errY != nil {
		t.Fatalf("%v, %v", errX, errY)
	}
	if !bytes.Equal(x, y) {
		t.Errorf("%s and %s differ", a, b)
	}
}

// A run cancelled halfway through round 2's training resumes from the
// trainjob checkpoint and ends exactly where an uninterrupted run does,
// without touching rounds 0 and 1.
func TestRFTResumesAfterCancel(t *testing.T) {
	t.Parallel()
	wantDir := t.TempDir()
	want, err := RFT(context.Background(), wantDir, tinyRFT(t))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	cfg := tinyRFT(t)
	cfg.Log = slog.New(&recorder{hook: func(msg string, round, step int64) {
		if msg == "train" && round == 2 && step >= 5 {
			cancel()
		}
	}})
	if _, err := RFT(ctx, dir, cfg); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled run returned %v", err)
	}
	r1 := filepath.Join(lab.RoundDir(dir, 1), "model", "model.safetensors")
	before, err := os.Stat(r1)
	if err != nil {
		t.Fatal(err)
	}
	rec := &recorder{}
	cfg.Log = slog.New(rec)
	got, err := RFT(context.Background(), dir, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if w := rec.touched(2); len(w) > 0 {
		t.Errorf("the rerun redid finished rounds: %q", w)
	}
	if after, err := os.Stat(r1); err != nil || !after.ModTime().Equal(before.ModTime()) {
		t.Errorf("round 1's model was rewritten (%v)", err)
	}
	if !reflect.DeepEqual(withoutCPU(got), withoutCPU(want)) {
		t.Errorf("resumed run:\n%+v\nuninterrupted:\n%+v", got, want)
	}
	final := func(dir string) string { return filepath.Join(lab.RoundDir(dir, 2), "model", "model.safetensors") }
	sameFile(t, final(dir), final(wantDir))
}

// A process killed outright leaves a round half done: no result.json, and a torn checkpoint, a model without weights, or data without
// gen.json. The rerun redoes that round alone and reaches the results of an
// uninterrupted run.
func TestResumeAfterKill(t *testing.T) {
	t.Parallel()
	type method struct {
		name string
		run  func(t *testing.T, dir string, log *slog.Logger) (any, error)
		tear func(round string) error
	}
	for _, m := range []method{
		{"rft-torn-checkpoint", func(t *testing.T, dir string, log *slog.Logger) (any, error) {
			cfg := tinyRFT(t)
			cfg.Log = log
			rs, err := RFT(context.Background(), dir, cfg)
			return withoutCPU(rs), err
		}, func(round string) error {
			return os.WriteFile(filepath.Join(round, "model", "trainer_state.json"), []byte(`{"step": 3, "files": {}}`), 0o644)
		}},
		{"self-consistency-no-weights", func(t *testing.T, dir string, log *slog.Logger) (any, error) {
			cfg := tinySelfConsistency(t, task.Copy{})
			cfg.Log = log
			rs, err := SelfConsistency(context.Background(), dir, cfg)
			return withoutCPU(rs), err
		}, func(round string) error {
			return os.Remove(filepath.Join(round, "model", "model.safetensors"))
		}},
		{"distill-no-gen", func(t *testing.T, dir string, log *slog.Logger) (any, error) {
			cfg := tinyDistill(t)
			cfg.Log = log
			rs, err := Distill(context.Background(), dir, cfg)
			return withoutCPU(rs), err
		}, func(round string) error {
			return os.Remove(filepath.Join(round, "gen.json"))
		}},
	} {
		t.Run(m.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			want, err := m.run(t, dir, testLog(t))
			if err != nil {
				t.Fatal(err)
			}
			keepRounds(t, dir, 2)
			if err := m.tear(lab.RoundDir(dir, 2)); err != nil {
				t.Fatal(err)
			}
			rec := &recorder{}
			got, err := m.run(t, dir, slog.New(rec))
			if err != nil {
				t.Fatal(err)
			}
			if w := rec.touched(2); len(w) > 0 {
				t.Errorf("the rerun redid finished rounds: %q", w)
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("resumed run:\n%+v\nuninterrupted:\n%+v", got, want)
			}
		})
	}
}

// keepRounds removes the result.json of dir's rounds from n on, as if the
// process had died before finishing them.
func keepRounds(t *testing.T, dir string, n int) {
	t.Helper()
	for i := n; ; i++ {
		err := os.Remove(filepath.Join(lab.RoundDir(dir, i), lab.ResultFile))
		if errors.Is(err, os.ErrNotExist) {
			return
		}
		if err != nil {
			t.Fatal(err)
		}
	}
}

func TestConfigMismatch(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	cfg := tinyRFT(t)
	cfg.Rounds = 0
	if _, err := RFT(context.Background(), dir, cfg); err != nil {
		t.Fatal(err)
	}
	cfg.Temperature = 0.5
	if _, err := RFT(context.Background(), dir, cfg); err == nil || !strings.Contains(err.Error(), "another config") {
		t.Errorf("rerun with another temperature: %v, want a config mismatch", err)
	}
	// Asking for more rounds is fine.
	cfg.Temperature, cfg.Rounds = 1, 1
	if rs, err := RFT(context.Background(), dir, cfg); err != nil || len(rs) != 2 {
		t.Errorf("extending to 1 round: %d rounds, %v", len(rs), err)
	}
}

func tinyDistill(t *testing.T) DistillConfig {
	return DistillConfig{Task: task.Copy{}, Seed: 5, Teacher: tinyStart(), Student: lab.Arch{Dim: 8, Layers: 1, Heads: 2, Hidden: 16, MaxSeq: 16},
		Rounds: 2, Problems: 32, MinDifficulty: 1, MaxDifficulty: 2, Train: TrainConfig{Steps: 12, Batch: 8, LR: 1e-2, Warmup: 1},
		Eval: tinyEval(), Log: testLog(t)}
}
