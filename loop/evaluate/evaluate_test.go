package evaluate

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/synthloop/synthloop/loop"
	"github.com/synthloop/synthloop/model"
	"github.com/synthloop/synthloop/model/modeltest"
	_ "github.com/synthloop/synthloop/model/openai"
)

func TestParseItems(t *testing.T) {
	tests := []struct {
		in         string
		needAnswer bool
		want       int
		err        string
	}{
		{`{"prompt":"1+1=","answer":"2","difficulty":1}` + "\n\n" + `{"prompt":"x","answer":"y","system":"s"}`, true, 2, ""},
		{`{"prompt":"only a prompt"}`, false, 1, ""},
		{`{"prompt":"only a prompt"}`, true, 0, "h.jsonl:1: no answer"},
		{`{"prompt":"a","answer":"b"}` + "\n" + `{"prompt":"","answer":"b"}`, true, 0, "h.jsonl:2: empty prompt"},
		{`{"prompt":"a","answr":"b"}`, false, 0, `h.jsonl:1: json: unknown field "answr"`},
		{`{"prompt":"a","difficulty":-1}`, false, 0, "negative difficulty"},
		{`{"prompt":"a"} {"prompt":"b"}`, false, 0, "more than one JSON value"},
		{`[1]`, false, 0, "h.jsonl:1"},
		{"", false, 0, "no items"},
		{"\xef\xbb\xbf" + `{"prompt":"a"}`, false, 1, ""},
		{"{\"prompt\":\"a\xff\"}", false, 0, "h.jsonl: line 1: not valid UTF-8"},
	}
	for _, tt := range tests {
		got, err := parseItems("h.jsonl", strings.NewReader(tt.in), tt.needAnswer)
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("parseItems(%q) error %v, want %q", tt.in, err, tt.err)
			}
			continue
		}
		if err != nil || len(got) != tt.want {
			t.Errorf("parseItems(%q) = %d items, %v; want %d", tt.in, len(got), err, tt.want)
		}
	}
}

func FuzzParseItems(f *testing.F) {
	f.Add([]byte(`{"prompt":"1+1=","answer":"2","difficulty":1}`))
	f.Add([]byte(`{"prompt":"p","system":"s"}` + "\n" + `{"prompt":"q"}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		items, err := parseItems("f", bytes.NewReader(b), true)
		if err == nil {
			for _, it := range items {
				if it.Prompt == "" || it.Answer == "" || it.Difficulty < 0 {
					t.Fatalf("accepted %+v", it)
				}
			}
		}
	})
}

// The evaluators are plugins of a loop; this runs them in a one-round loop
// whose generator and trainer hand over a fixed student.
type fixedGen struct{}

func (fixedGen) Generate(ctx context.Context, r *loop.Round) (loop.Data, error) {
	p := filepath.Join(r.Dir, "d.jsonl")
	os.WriteFile(p, []byte(`{"messages":[{"role":"user","content":"a"},{"role":"assistant","content":"b"}]}`+"\n"), 0o644)
	return loop.Data{Path: p, Format: "sft", Kept: 1, Generated: 1}, nil
}

type fixedTrainer struct{ url string }

func (f fixedTrainer) Train(ctx context.Context, r *loop.Round, in loop.TrainInput) (loop.Trained, error) {
	return loop.Trained{Student: loop.Model{Config: model.Config{Ref: "openai-compatible/student", BaseURL: f.url}}}, nil
}

type fixedConfig struct {
	URL string `yaml:"url"`
}

func init() {
	loop.RegisterGenerator(loop.Type[loop.Generator]{Name: "eval-test-gen", Config: func() any { return &struct{}{} },
		New: func(any) (loop.Generator, error) { return fixedGen{}, nil }})
	loop.RegisterTrainer(loop.Type[loop.Trainer]{Name: "eval-test-train", Config: func() any { return &fixedConfig{} },
		New: func(c any) (loop.Trainer, error) { return fixedTrainer{c.(*fixedConfig).URL}, nil }})
}

// arith answers "a+b=" prompts: the student right up to 2 digits, the
// teacher right only on 1 digit.
func arith(req *modeltest.Request) modeltest.Reply {
	p := req.LastUser()
	var a, b int
	for i, part := range strings.Split(strings.TrimSuffix(p, "="), "+") {
		n := 0
		for _, c := range part {
			n = n*10 + int(c-'0')
		}
		if i == 0 {
			a = n
		} else {
			b = n
		}
	}
	sum := a + b
	digits := len(strings.Split(p, "+")[0])
	if strings.Contains(req.Model, "student") && digits <= 2 || digits <= 1 {
		return modeltest.Reply{Choices: []modeltest.Choice{{Text: itoa(sum)}}}
	}
	return modeltest.Reply{Choices: []modeltest.Choice{{Text: "?"}}}
}

func itoa(n int) string {
	if n == 0 {
		return "0"
	}
	s := ""
	for ; n > 0; n /= 10 {
		s = string(rune('0'+n%10)) + s
	}
	return s
}

func TestVerifierByDifficulty(t *testing.T) {
	srv := modeltest.NewServer(arith)
	defer srv.Close()
	dir := t.TempDir()
	held := filepath.Join(dir, "held.jsonl")
	os.WriteFile(held, []byte(`{"prompt":"1+2=","answer":"3","difficulty":1}
{"prompt":"4+4=","answer":"8","difficulty":1}
{"prompt":"12+30=","answer":"42","difficulty":2}
{"prompt":"55+11=","answer":"66","difficulty":2}
{"prompt":"100+200=","answer":"300","difficulty":3}
`), 0o644)
	text := `name: v
models:
  teacher: {ref: openai-compatible/teacher, base_url: "` + srv.URL + `"}
teacher: teacher
rounds: 1
generate: {type: eval-test-gen}
train: {type: eval-test-train, with: {url: "` + srv.URL + `"}}
evaluate: {type: verifier, with: {data: held.jsonl, verifier: {kind: numeric}}}
`
	p := filepath.Join(dir, "loop.yaml")
	os.WriteFile(p, []byte(text), 0o644)
	cfg, err := loop.LoadConfig(p)
	if err != nil {
		t.Fatal(err)
	}
	sum, err := loop.Run(context.Background(), cfg, loop.Options{RunDir: filepath.Join(dir, "run")})
	if err != nil {
		t.Fatal(err)
	}
	r := sum.Rounds[0]
	if r.Score != 0.8 || r.TeacherScore != 0.4 || !r.Promoted {
		t.Errorf("accuracy %v vs teacher %v, promoted %v; want 0.8 vs 0.4, promoted", r.Score, r.TeacherScore, r.Promoted)
	}
	wantS, wantT := map[int]float64{1: 1, 2: 1, 3: 0}, map[int]float64{1: 1, 2: 0, 3: 0}
	for d := 1; d <= 3; d++ {
		if r.AccuracyByDifficulty[d] != wantS[d] || r.TeacherAccuracyByDifficulty[d] != wantT[d] {
			t.Errorf("difficulty %d: student %v teacher %v; want %v %v", d, r.AccuracyByDifficulty[d], r.TeacherAccuracyByDifficulty[d], wantS[d], wantT[d])
		}
	}
	ev, _ := os.ReadFile(filepath.Join(dir, "run", "round-001", "eval.jsonl"))
	if !bytes.Contains(ev, []byte(`"student":"42","student_pass":true`)) || bytes.Count(ev, []byte("\n")) != 5 {
		t.Errorf("eval.jsonl:\n%s", ev)
	}
	// A second evaluation of the same models is served from the cache.
	before := srv.Requests()
	if _, err := loop.Run(context.Background(), cfg, loop.Options{RunDir: filepath.Join(dir, "run")}); err != nil {
		t.Fatal(err)
	}
	if srv.Requests() != before {
		t.Errorf("rerunning a finished loop sent %d requests", srv.Requests()-before)
	}
}

func TestJudgeWinRate(t *testing.T) {
	// The judge prefers the answer "good", wherever it is shown; the student
	// says "good" to prompts with an even number, the teacher always "ok".
	srv := modeltest.NewServer(func(req *modeltest.Request) modeltest.Reply {
		p := req.LastUser()
		if i := strings.Index(p, "<answer_a>\n"); i >= 0 {
			a := p[i+len("<answer_a>\n"):]
			a = a[:strings.Index(a, "\n")]
			b := p[strings.Index(p, "<answer_b>\n")+len("<answer_b>\n"):]
			b = b[:strings.Index(b, "\n")]
			w := "tie"
			if a == "good" && b != "good" {
				w = "A"
			} else if b == "good" && a != "good" {
				w = "B"
			}
			return modeltest.Reply{Choices: []modeltest.Choice{{Text: "Reasons.\nWinner: " + w}}}
		}
		if strings.Contains(req.Model, "student") && strings.ContainsAny(p, "02468") {
			return modeltest.Reply{Choices: []modeltest.Choice{{Text: "good"}}}
		}
		return modeltest.Reply{Choices: []modeltest.Choice{{Text: "ok"}}}
	})
	defer srv.Close()
	text := `name: j
rounds: 1
margin: 0.1
models:
  teacher: {ref: openai-compatible/teacher, base_url: "` + srv.URL + `"}
  critic: {ref: openai-compatible/critic, base_url: "` + srv.URL + `"}
teacher: teacher
generate: {type: eval-test-gen}
train: {type: eval-test-train, with: {url: "` + srv.URL + `"}}
evaluate:
  type: judge
  with:
    judge_model: critic
    items: [{prompt: "p1"}, {prompt: "p2"}, {prompt: "p3"}, {prompt: "p4"}, {prompt: "p6"}]
`
	cfg, err := loop.ParseConfig("j.yaml", []byte(text))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	sum, err := loop.Run(context.Background(), cfg, loop.Options{RunDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	r := sum.Rounds[0]
	// 3 wins, 2 ties: (3 + 1) / 5.
	if r.Score != 0.8 || r.TeacherScore != 0.5 || r.Metrics["wins"] != 3 || r.Metrics["ties"] != 2 || !r.Promoted || sum.Metric != "win_rate" {
		t.Errorf("round: %+v", r)
	}
}

func TestJudgeConfigNeedsAJudge(t *testing.T) {
	text := `name: j
models:
  teacher: {ref: openai-compatible/teacher, base_url: "http://127.0.0.1:1/v1"}
generate: {type: eval-test-gen}
train: {type: eval-test-train}
evaluate: {type: judge, with: {items: [{prompt: p}]}}
`
	if _, err := loop.ParseConfig("j.yaml", []byte(text)); err == nil || !strings.Contains(err.Error(), "judge_model (or panel) is required") {
		t.Errorf("judge without a judge model: %v", err)
	}
	text = strings.Replace(text, "{items: [{prompt: p}]}", "{judge_model: critc, items: [{prompt: p}]}", 1)
	if _, err := loop.ParseConfig("j.yaml", []byte(text)); err == nil || !strings.Contains(err.Error(), `no model named "critc"`) {
		t.Errorf("judge with an unknown model: %v", err)
	}
}
