package selfinstruct

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"testing"

	"github.com/synthloop/synthloop/internal/golden"
	"github.com/synthloop/synthloop/model"
	"github.com/synthloop/synthloop/model/scripted"
	"github.com/synthloop/synthloop/pipeline"
)

func TestGoldenPrompts(t *testing.T) {
	env := &pipeline.Env{Name: "instructions", Seed: 42}
	pool := []pooled{
		{id: "m1", alpacaTask: alpacaTask{Instruction: "Suggest a name for a bakery that opens at dawn.", Output: "Sunrise Loaves"}},
		{id: "m2", alpacaTask: alpacaTask{Instruction: "List three ways to save water at home:", Output: "Shorter showers..."}},
		{id: "m3", alpacaTask: alpacaTask{Instruction: "Explain  why\nleaves change color.", Output: "Chlorophyll breaks down..."}},
	}
	for _, tc := range []struct {
		name string
		mut  func(*Config)
		kind string
	}{
		{"bootstrap.en", nil, scripted.KindBootstrap},
		{"bootstrap.ja", func(c *Config) { c.Seeds = "ja" }, scripted.KindBootstrap},
		{"bootstrap_clf.en", func(c *Config) { c.ClassificationOnly = true }, scripted.KindBootstrap},
		{"bootstrap_clf.ja", func(c *Config) { c.ClassificationOnly = true; c.Seeds = "ja" }, scripted.KindBootstrap},
		{"alpaca.en", func(c *Config) { c.Mode = ModeAlpaca }, scripted.KindAlpaca},
		{"alpaca.ja", func(c *Config) { c.Mode = ModeAlpaca; c.Seeds = "ja" }, scripted.KindAlpaca},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := mustNew(t, cfg(tc.mut))
			for _, b := range []struct {
				suffix string
				batch  int
				pool   []pooled
			}{{".empty-pool", 0, nil}, {".with-pool", 5, pool}} {
				rq, err := s.buildRequest(env, b.batch, b.pool)
				if err != nil {
					t.Fatal(err)
				}
				golden.Text(t, tc.name+b.suffix, rq.req.Messages[0].Content)
				if k := scripted.Kind(rq.req.Messages); k != tc.kind {
					t.Errorf("scripted.Kind = %q, want %q: the scripted teacher no longer recognises this prompt", k, tc.kind)
				}
				// Same batch, same pool: the same prompt, whatever process builds it.
				again, _ := s.buildRequest(env, b.batch, b.pool)
				if again.req.Messages[0].Content != rq.req.Messages[0].Content {
					t.Error("buildRequest is not deterministic")
				}
				if s.cfg.Mode == ModeSelfInstruct && b.pool != nil && len(rq.parentIDs) != 2 {
					t.Errorf("with a pool of 3, %d machine tasks shown, want 2", len(rq.parentIDs))
				}
			}
		})
	}
	for _, lang := range []string{"en", "ja"} {
		s, err := NewInstances(&InstancesConfig{Model: "teacher", Language: lang, MaxInstances: 5, ClassifyExamples: 16, InstanceExamples: 8,
			TopP: f64(0), PresencePenalty: f64(1.5), MaxTokensClassify: 300, MaxTokensGenerate: 350, ClassifyMaxTokens: 3})
		if err != nil {
			t.Fatal(err)
		}
		task := "Decide whether the given tweet is sarcastic or sincere:"
		if lang == "ja" {
			task = "与えられたツイートが皮肉かどうかを判定してください。"
		}
		creq, _ := s.classifyRequest(task)
		golden.Text(t, "classify."+lang, creq.Messages[0].Content)
		if k := scripted.Kind(creq.Messages); k != scripted.KindClassify {
			t.Errorf("classify.%s: scripted.Kind = %q", lang, k)
		}
		for _, clf := range []bool{true, false} {
			req, p, _ := s.instancesRequest(task, clf)
			name, kind := "instances_gen."+lang, scripted.KindGenerateInstances
			if clf {
				name, kind = "instances_clf."+lang, scripted.KindClassInstances
			}
			golden.Text(t, name, req.Messages[0].Content)
			if k := scripted.Kind(req.Messages); k != kind {
				t.Errorf("%s: scripted.Kind = %q, want %q", name, k, kind)
			}
			if !strings.HasSuffix(p.Name, name+".tmpl") {
				t.Errorf("%s rendered from %s", name, p.Name)
			}
		}
	}
}

// TestTemplateHash checks that the hash on records is the file's sha256.
func TestTemplateHash(t *testing.T) {
	p, err := loadPrompt(nil, kindBootstrap, "en")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := templateFS.ReadFile("templates/bootstrap.en.tmpl")
	sum := sha256.Sum256(b)
	if p.Hash != hex.EncodeToString(sum[:]) {
		t.Errorf("hash %s is not the file's sha256", p.Hash)
	}
	if _, err := loadPrompt(nil, kindBootstrap, "fr"); err == nil {
		t.Error("loadPrompt(fr) succeeded")
	}
}

func TestBootstrapRequestParams(t *testing.T) {
	s := mustNew(t, cfg(nil))
	rq, err := s.buildRequest(&pipeline.Env{Name: "x", Seed: 1}, 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	r := rq.req
	if *r.Temperature != 0.7 || *r.TopP != 0.5 || *r.PresencePenalty != 2 || r.MaxTokens != 1024 || r.Stop[0] != "\n16." || rq.next != 9 {
		t.Errorf("request = %+v (next %d), want the paper's decoding", r, rq.next)
	}
	if !strings.HasSuffix(r.Messages[0].Content, "\n9.") {
		t.Errorf("prompt must end with the open item 9.: %q", r.Messages[0].Content)
	}
	// Different batches and different seeds give different prompts.
	other, _ := s.buildRequest(&pipeline.Env{Name: "x", Seed: 1}, 1, nil)
	reseeded, _ := s.buildRequest(&pipeline.Env{Name: "x", Seed: 2}, 0, nil)
	if other.req.Messages[0].Content == r.Messages[0].Content || reseeded.req.Messages[0].Content == r.Messages[0].Content {
		t.Error("prompts do not vary with batch and seed")
	}
	var _ model.Request = r
}
