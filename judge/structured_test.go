package judge

import (
	"context"
	"encoding/json"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/synthloop/synthloop/model"
	_ "github.com/synthloop/synthloop/model/anthropic"
	"github.com/synthloop/synthloop/model/modeltest"
	"github.com/synthloop/synthloop/model/scripted"
)

// shapedReply answers as a structured judge would: JSON when the schema was
// sent natively or written into the prompt, the text verdict line
// otherwise. BADJSON gets a score outside the scale first, a valid reply
// after the follow-up.
func shapedReply(req *modeltest.Request) modeltest.Reply {
	native := len(req.JSONSchema) > 0
	inPrompt := strings.Contains(req.LastUser(), "JSON Schema")
	pairwise := strings.Contains(req.Messages[0].Content, "<answer_a>")
	text := "Fine.\nScore: 2"
	switch {
	case (native || inPrompt) && strings.Contains(req.Messages[0].Content, "BADJSON") && len(req.Messages) == 1:
		text = `{"rationale":"too good","score":9}`
	case (native || inPrompt) && pairwise:
		text = `{"rationale":"A is right.","winner":"A"}`
	case native || inPrompt:
		text = "```json\n{\"rationale\": \"Correct and clear.\", \"score\": 4}\n```"
	case pairwise:
		text = "A.\nWinner: A"
	}
	var rep modeltest.Reply
	for range max(req.N, 1) {
		rep.Choices = append(rep.Choices, modeltest.Choice{Text: text})
	}
	return rep
}

func TestStructuredPointwise(t *testing.T) {
	for _, tc := range []struct {
		setting, refuse string
		score           float64
		label           string
		native, prompts int // requests with the schema sent natively, in the prompt
	}{
		{"", "", 2, "", 0, 0},
		{"native", "", 4, "native", 1, 0},
		{"prompt", "", 4, "prompt", 0, 1},
		{"auto", "", 4, "native", 1, 0},
		// A backend that refuses schemas: auto falls back to the text line.
		{"auto", "refuse", 2, "text", 1, 0},
	} {
		var native, prompts atomic.Int32
		var schema atomic.Value
		opts := []modeltest.Option{modeltest.WithFaults(func(req *modeltest.Request) modeltest.Fault {
			if len(req.JSONSchema) > 0 {
				native.Add(1)
				schema.Store(string(req.JSONSchema))
				if tc.refuse != "" {
					return modeltest.HTTPStatus(400)
				}
			}
			if strings.Contains(req.LastUser(), "JSON Schema") {
				prompts.Add(1)
			}
			return modeltest.Fault{}
		})}
		srv := modeltest.NewServer(shapedReply, opts...)
		defer srv.Close()
		j, err := NewPointwise(openBackend(t, srv, "critic"), Rubric{}, Options{Samples: 2, Structured: tc.setting})
		if err != nil {
			t.Fatal(err)
		}
		res, err := j.Score(context.Background(), Item{Prompt: "2+2?", Answer: "4"})
		if err != nil {
			t.Fatal(err)
		}
		if !res.OK() || res.Score != tc.score || res.Structured != tc.label || int(native.Load()) != tc.native || int(prompts.Load()) != tc.prompts {
			t.Errorf("structured %q %s: score %g %q, label %q, %d native %d in the prompt; want %g %q %d %d",
				tc.setting, tc.refuse, res.Score, res.Err, res.Structured, native.Load(), prompts.Load(), tc.score, tc.label, tc.native, tc.prompts)
		}
		if tc.native > 0 {
			var s struct {
				Properties map[string]struct {
					Type    string  `json:"type"`
					Minimum float64 `json:"minimum"`
					Maximum float64 `json:"maximum"`
				} `json:"properties"`
			}
			json.Unmarshal([]byte(schema.Load().(string)), &s)
			if sc := s.Properties["score"]; sc.Type != "integer" || sc.Minimum != 0 || sc.Maximum != 5 {
				t.Errorf("the schema sent asks for score %+v, want an integer from 0 to 5", sc)
			}
		}
		if tc.label != "" && (res.Template == j.p.Hash || res.Template != j.TemplateHash()) {
			t.Errorf("structured %q: template hash %s does not cover the schema", tc.setting, res.Template)
		}
		if tc.label == "" && res.Template != j.p.Hash {
			t.Errorf("structured off changed the template hash")
		}
	}
}

// TestStructuredRestate: a reply that does not validate is asked again
// with the schema's problem, and the follow-up keeps the schema.
func TestStructuredRestate(t *testing.T) {
	var followUps atomic.Int32
	srv := modeltest.NewServer(func(req *modeltest.Request) modeltest.Reply {
		if len(req.Messages) > 1 {
			if len(req.JSONSchema) > 0 && strings.Contains(req.LastUser(), "does not validate") && strings.Contains(req.LastUser(), "maximum") {
				followUps.Add(1)
			}
		}
		return shapedReply(req)
	})
	defer srv.Close()
	j, err := NewPointwise(openBackend(t, srv, "critic"), Rubric{}, Options{Samples: 1, Structured: "native"})
	if err != nil {
		t.Fatal(err)
	}
	res, err := j.Score(context.Background(), Item{Prompt: "BADJSON", Answer: "x"})
	if err != nil {
		t.Fatal(err)
	}
	if !res.OK() || res.Score != 4 || followUps.Load() != 1 || len(res.Samples) != 2 || res.Samples[0].Valid {
		t.Errorf("score %g %q, %d follow-ups, samples %+v", res.Score, res.Err, followUps.Load(), res.Samples)
	}
}

func TestStructuredPairwise(t *testing.T) {
	var native atomic.Int32
	srv := modeltest.NewServer(shapedReply, modeltest.WithFaults(func(req *modeltest.Request) modeltest.Fault {
		if strings.Contains(string(req.JSONSchema), `"winner"`) {
			native.Add(1)
		}
		return modeltest.Fault{}
	}))
	defer srv.Close()
	j, err := NewPairwise(openBackend(t, srv, "critic"), nil, Options{Structured: "native"})
	if err != nil {
		t.Fatal(err)
	}
	// The scripted judge always prefers the first answer: a tie.
	p, err := j.Compare(context.Background(), "q", "one", "two")
	if err != nil {
		t.Fatal(err)
	}
	if !p.OK() || p.Forward != WinnerA || p.Backward != WinnerB || p.Winner != WinnerTie || p.Structured != "native" || native.Load() != 2 ||
		len(p.Reasons) != 2 || p.Reasons[0] != "A is right." {
		t.Errorf("preference %+v, %d native requests", p, native.Load())
	}
}

func TestStructuredSetting(t *testing.T) {
	if err := (&Config{Model: "m", Structured: "json"}).Validate(); err == nil || !strings.Contains(err.Error(), "structured") {
		t.Errorf("Validate(structured: json) = %v", err)
	}
	for _, s := range []string{"", "off", "auto", "native", "prompt"} {
		if err := (&Config{Model: "m", Structured: s}).Validate(); err != nil {
			t.Errorf("Validate(structured: %s) = %v", s, err)
		}
	}
}

func FuzzParseStructuredScore(f *testing.F) {
	for _, s := range []string{`{"rationale":"ok","score":4}`, `{"rationale":"","score":0}`, "```json\n{\"rationale\":\"x\",\"score\":5}\n```",
		`{"score":4}`, `{"rationale":"x","score":4.5}`, `{"rationale":"x","score":6}`, `Score: 4`, `{"rationale":"x","score":4,"y":1}`} {
		f.Add(s)
	}
	sc := scoreSchema(Rubric{Kind: Additive, Min: 0, Max: 5})
	f.Fuzz(func(t *testing.T, reply string) {
		s, _, err := ParseStructuredScore(sc, reply)
		if err != nil {
			return
		}
		if s < 0 || s > 5 || s != float64(int(s)) {
			t.Errorf("ParseStructuredScore(%q) = %g, outside the whole points 0..5", reply, s)
		}
		if _, err := sc.Check(reply); err != nil {
			t.Errorf("ParseStructuredScore(%q) accepted a reply the schema refuses: %v", reply, err)
		}
	})
}

func FuzzParseStructuredWinner(f *testing.F) {
	for _, s := range []string{`{"rationale":"ok","winner":"A"}`, `{"rationale":"ok","winner":"tie"}`, `{"rationale":"ok","winner":"C"}`, `Winner: A`, `{}`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, reply string) {
		w, _, err := ParseStructuredWinner(reply)
		if err == nil && w != WinnerA && w != WinnerB && w != WinnerTie {
			t.Errorf("ParseStructuredWinner(%q) = %q", reply, w)
		}
	})
}

// TestStructuredAnthropic: through Anthropic's wire the score schema is a
// forced tool whose input comes back as the reply the judge validates.
func TestStructuredAnthropic(t *testing.T) {
	srv := modeltest.NewAnthropicServer(scripted.New(1).Responder())
	defer srv.Close()
	b, info, err := model.Open(context.Background(), "critic", model.Config{Ref: "anthropic/claude-sonnet-4-5", BaseURL: srv.URL, MaxRetries: -1},
		model.Options{Getenv: func(string) string { return "ak-test-1234" }})
	if err != nil {
		t.Fatal(err)
	}
	j, err := NewPointwise(Backend{Backend: b, Name: "critic", Provider: info.Provider, Model: info.Model}, Rubric{}, Options{Samples: 2, Structured: "native"})
	if err != nil {
		t.Fatal(err)
	}
	res, err := j.Score(context.Background(), Item{Prompt: "Name a primary colour.", Answer: "Red."})
	if err != nil || !res.OK() || res.Structured != "native" || len(res.Samples) != 2 {
		t.Fatalf("Score = %+v, %v", res, err)
	}
	for _, s := range res.Samples {
		if !s.Valid || s.Score != float64(int(s.Score)) || s.Score < 0 || s.Score > 5 {
			t.Errorf("sample %+v", s)
		}
	}
	for _, req := range srv.Log() {
		if !strings.Contains(string(req.JSONSchema), `"rationale"`) {
			t.Errorf("a request without the score schema as its forced tool: %s", req.JSONSchema)
		}
	}
}
