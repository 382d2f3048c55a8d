package judge

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/synthloop/synthloop/engine/checkpoint"
	"github.com/synthloop/synthloop/engine/llama"
	"github.com/synthloop/synthloop/engine/tokenizer"
	llm "github.com/synthloop/synthloop/judge"
	"github.com/synthloop/synthloop/model"
	_ "github.com/synthloop/synthloop/model/local"
	"github.com/synthloop/synthloop/pipeline"
	"github.com/synthloop/synthloop/pipeline/pipelinetest"
	"github.com/synthloop/synthloop/record"
	"github.com/synthloop/synthloop/stage/internal/stagetest"
)

// untrainedJudge saves an untrained built-in model whose characters spell
// the judge prompts and any ASCII JSON, and returns its directory. Left
// alone it writes noise: it never ends a reply with "Score: N".
func untrainedJudge(t *testing.T) string {
	t.Helper()
	var ascii strings.Builder
	ascii.WriteString("\n")
	for c := ' '; c <= '~'; c++ {
		ascii.WriteRune(c)
	}
	tok, err := tokenizer.NewChar(ascii.String(), tokenizer.DefaultSpecials)
	if err != nil {
		t.Fatal(err)
	}
	m, err := llama.New(llama.Config{Vocab: tok.VocabSize(), Dim: 32, Layers: 2, Heads: 4, KVHeads: 2, Hidden: 64, MaxSeq: 4096, NormEps: 1e-5}, 11)
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "tiny")
	if err := checkpoint.SaveModel(dir, m); err != nil {
		t.Fatal(err)
	}
	if err := checkpoint.SaveTokenizer(dir, tok); err != nil {
		t.Fatal(err)
	}
	return dir
}

// TestStructuredJudgeOnEngine: a judge stage on an untrained built-in model
// scores every record with structured native, because the engine decodes
// under the judge's schema; with structured off the same model scores none.
func TestStructuredJudgeOnEngine(t *testing.T) {
	if testing.Short() {
		t.Skip("runs an engine model")
	}
	dir := untrainedJudge(t)
	for _, setting := range []string{"native", "off"} {
		st := pipelinetest.NewMemStore()
		var recs []*record.Record
		for i := range 4 {
			recs = append(recs, &record.Record{Instruction: fmt.Sprintf("Add %d and %d.", i, i+2), Output: fmt.Sprint(2*i + 2)})
		}
		seed(t, st, recs...)
		cfg := DefaultConfig()
		cfg.Config.Model, cfg.Config.Structured, cfg.Config.Samples, cfg.Config.MaxTokens = "tiny", setting, 2, 700
		s, err := New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		env := &pipeline.Env{Name: "judged", Input: "gen", Store: st, Seed: 7, Concurrency: 2, Round: 1, Clock: stagetest.Clock,
			Backend: func(name string) (model.Backend, pipeline.ModelInfo, error) {
				b, info, err := model.Open(context.Background(), name, model.Config{Ref: "local/" + dir}, model.Options{})
				return b, pipeline.ModelInfo{Backend: info.Provider, Model: info.Model}, err
			}}
		if err := s.Run(context.Background(), env); err != nil {
			t.Fatal(err)
		}
		scored := 0
		for _, r := range st.All("judged") {
			if _, ok := r.Scores["judge"]; ok {
				scored++
			}
			if setting != "native" {
				continue
			}
			var j llm.Result
			b, _ := json.Marshal(r.Meta["judgment"])
			if err := json.Unmarshal(b, &j); r.Status == record.Failed || err != nil || j.Structured != "native" || len(j.Samples) != 2 {
				t.Errorf("structured native: record %s %s: %s (judgment %v)", r.ID, r.Status, r.Error, r.Meta["judgment"])
				continue
			}
			for _, smp := range j.Samples {
				if !smp.Valid {
					t.Errorf("structured native: record %s: a reply without a valid score: %s", r.ID, smp.Reason)
				}
			}
		}
		switch {
		case setting == "native" && scored != len(recs):
			t.Errorf("structured native: %d of %d records scored, want all", scored, len(recs))
		case setting == "off" && scored != 0:
			t.Errorf("structured off: the untrained model scored %d of %d records; the test no longer shows what the constraint does", scored, len(recs))
		}
		t.Logf("structured %s: %d of %d records scored", setting, scored, len(recs))
	}
}
