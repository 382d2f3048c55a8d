package lab

import (
	"context"
	"encoding/json"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"github.com/synthloop/synthloop/engine/chat"
	"github.com/synthloop/synthloop/lab/task"
	"github.com/synthloop/synthloop/trainjob"
)

// TestModelWorksWithTheEngine: a lab model, saved, is served by the engine
// with the lab's answers, and trainjob continues it on the lab's messages,
// which is what the loop plugins rely on.
func TestModelWorksWithTheEngine(t *testing.T) {
	ctx := context.Background()
	m, err := NewModel(task.Copy{}, Arch{Dim: 16, Layers: 1, Heads: 2, Hidden: 32, MaxSeq: 32}, 3)
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	var set []Conversation
	for range 50 {
		set = append(set, Messages(task.Copy{}.Generate(rng, 1+rng.IntN(2))))
	}
	if _, err := Train(ctx, m, [][]Conversation{set}, TrainConfig{Steps: 6, Batch: 4, LR: 1e-2, Warmup: 1}, 3, nil); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	mdir := filepath.Join(dir, "model")
	if err := m.Save(mdir); err != nil {
		t.Fatal(err)
	}
	served, err := chat.Load(mdir)
	if err != nil {
		t.Fatal(err)
	}
	for _, set := range HeldOut(task.Copy{}, []int{1, 3}, 4, 9) {
		want, err := Answers(ctx, m, set, Decode{MaxTokens: 8})
		if err != nil {
			t.Fatal(err)
		}
		for i, p := range set {
			r, err := served.Complete(ctx, Messages(task.Problem{Prompt: p.Prompt}), chat.Params{MaxTokens: 8})
			if err != nil {
				t.Fatal(err)
			}
			if got := r.Choices[0].Text; got != want[i][0].Text {
				t.Errorf("%q: served answer %q, lab answer %q", p.Prompt, got, want[i][0].Text)
			}
		}
	}
	data := filepath.Join(dir, "data.jsonl")
	f, err := os.Create(data)
	if err != nil {
		t.Fatal(err)
	}
	enc := json.NewEncoder(f)
	for _, c := range set {
		if err := enc.Encode(map[string]any{"messages": c}); err != nil {
			t.Fatal(err)
		}
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	res, err := trainjob.Run(ctx, trainjob.Options{Data: []trainjob.DataFile{{Path: data}},
		Out: filepath.Join(dir, "more"), Init: mdir, Steps: 2, Batch: 4, LR: 1e-3})
	if err != nil || res.Steps != 2 {
		t.Fatalf("trainjob on the lab's messages: %+v, %v", res, err)
	}
}
