package trainjob

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/synthloop/synthloop/engine/chat"
	"github.com/synthloop/synthloop/engine/checkpoint"
	"github.com/synthloop/synthloop/engine/llama"
	"github.com/synthloop/synthloop/engine/tokenizer"
)

func TestParseLine(t *testing.T) {
	tests := []struct {
		in      string
		wantErr string
		turns   int
		dpo     bool
	}{
		{`{"instruction":"Add","input":"1 2","output":"3"}`, "", 2, false},
		{`{"messages":[{"role":"user","content":"hi"},{"role":"assistant","content":"yo"}]}`, "", 2, false},
		{`{"conversations":[{"from":"system","value":"s"},{"from":"human","value":"hi"},{"from":"gpt","value":"yo"}]}`, "", 3, false},
		{`{"prompt":"p","chosen":"a","rejected":"b"}`, "", 1, true},
		{`{"prompt":[{"role":"user","content":"p"}],"chosen":"a","rejected":"b"}`, "", 1, true},
		{`{"prompt":"p","chosen":"a"}`, "prompt, chosen and rejected", 0, false},
		{`{"messages":[{"role":"user","content":"hi"}]}`, "no assistant turn", 0, false},
		{`{"messages":[{"role":"bot","content":"hi"}]}`, "unknown role", 0, false},
		{`{"conversations":[{"from":"alien","value":"x"}]}`, "unknown speaker", 0, false},
		{`{"text":"x"}`, "unknown format", 0, false},
		{`[1,2]`, "not a JSON object", 0, false},
	}
	for _, tt := range tests {
		c, err := parseLine([]byte(tt.in))
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("parseLine(%s) = %v, want error containing %q", tt.in, err, tt.wantErr)
			}
			continue
		}
		if err != nil || len(c.Messages) != tt.turns || (c.Chosen != "") != tt.dpo {
			t.Errorf("parseLine(%s) = %+v, %v; want %d turns, dpo %v", tt.in, c, err, tt.turns, tt.dpo)
		}
	}
}

func TestParseJSONLNamesTheLine(t *testing.T) {
	_, err := parseJSONL("d.jsonl", strings.NewReader(`{"instruction":"a","output":"b"}`+"\n\n"+`{"oops":1}`+"\n"))
	if err == nil || !strings.Contains(err.Error(), "d.jsonl:3") {
		t.Errorf("error %v, want it to name d.jsonl:3", err)
	}
}

func FuzzParseJSONL(f *testing.F) {
	f.Add([]byte(`{"instruction":"a","input":"","output":"b"}`))
	f.Add([]byte(`{"prompt":[{"role":"user","content":"p"}],"chosen":"a","rejected":"b"}`))
	f.Add([]byte(`{"conversations":[{"from":"human","value":"x"},{"from":"gpt","value":"y"}]}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		convs, err := parseJSONL("f", bytes.NewReader(b))
		if err == nil && len(convs) == 0 {
			t.Fatal("no error and no examples")
		}
	})
}

// reverseData writes n Alpaca examples of reversing short strings.
func reverseData(t *testing.T, n int) string {
	t.Helper()
	rng := rand.New(rand.NewPCG(5, 6))
	var b bytes.Buffer
	for range n {
		s := make([]byte, 2+rng.IntN(4))
		for i := range s {
			s[i] = "abcdef"[rng.IntN(6)]
		}
		r := make([]byte, len(s))
		for i := range s {
			r[i] = s[len(s)-1-i]
		}
		line, _ := json.Marshal(map[string]string{"instruction": "reverse " + string(s), "output": string(r)})
		b.Write(append(line, '\n'))
	}
	p := filepath.Join(t.TempDir(), "rev.jsonl")
	if err := os.WriteFile(p, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func small(data, out string) Options {
	return Options{Data: []DataFile{{Path: data}}, Out: out, Preset: "tiny", Steps: 40, Batch: 8, Seq: 32, LR: 3e-3, Warmup: 4, Seed: 1}
}

func TestTrainLearnsAndServes(t *testing.T) {
	data := reverseData(t, 300)
	out := filepath.Join(t.TempDir(), "m")
	res, err := Run(context.Background(), small(data, out))
	if err != nil {
		t.Fatal(err)
	}
	if res.Examples != 300 || res.Steps != 40 || !(res.LastLoss < res.FirstLoss*0.6) {
		t.Errorf("result %+v: want 300 examples, 40 steps, loss falling below 60%% of its start", res)
	}
	m, err := chat.Load(out)
	if err != nil {
		t.Fatalf("the trained model does not load for serving: %v", err)
	}
	if m.Name() != "m" {
		t.Errorf("name %q", m.Name())
	}
}

// TestResumeIsExact stops a job half-way (as Ctrl-C would), runs it again,
// and expects weights identical to an uninterrupted job's.
func TestResumeIsExact(t *testing.T) {
	data := reverseData(t, 100)
	dir := t.TempDir()
	straight := filepath.Join(dir, "straight")
	if _, err := Run(context.Background(), small(data, straight)); err != nil {
		t.Fatal(err)
	}
	resumed := filepath.Join(dir, "resumed")
	ctx, cancel := context.WithCancel(context.Background())
	o := small(data, resumed)
	o.Progress = func(p Progress) {
		if p.Step == 17 {
			cancel()
		}
	}
	if _, err := Run(ctx, o); !errors.Is(err, context.Canceled) {
		t.Fatalf("interrupted job: %v, want context.Canceled", err)
	}
	res, err := Run(context.Background(), small(data, resumed))
	if err != nil {
		t.Fatal(err)
	}
	if !res.Resumed || res.ResumeStep != 17 {
		t.Errorf("result %+v: want a resume from step 17", res)
	}
	a, _ := os.ReadFile(filepath.Join(straight, checkpoint.WeightsFile))
	b, _ := os.ReadFile(filepath.Join(resumed, checkpoint.WeightsFile))
	if len(a) == 0 || !bytes.Equal(a, b) {
		t.Errorf("resumed weights differ from an uninterrupted run's (%d vs %d bytes)", len(a), len(b))
	}
}

func TestDPONeedsInitAndPairs(t *testing.T) {
	data := reverseData(t, 20)
	if _, err := Run(context.Background(), Options{Data: []DataFile{{Path: data}}, Out: t.TempDir(), Method: "dpo"}); err == nil {
		t.Error("dpo without an initial model succeeded")
	}
	out := filepath.Join(t.TempDir(), "m")
	o := small(data, out)
	o.Steps = 5
	if _, err := Run(context.Background(), o); err != nil {
		t.Fatal(err)
	}
	_, err := Run(context.Background(), Options{Data: []DataFile{{Path: data}}, Out: t.TempDir(), Method: "dpo", Init: out, Steps: 2, Batch: 2})
	if err == nil || !strings.Contains(err.Error(), "not a DPO pair") {
		t.Errorf("dpo on SFT data: %v, want a clear refusal", err)
	}
	pairs := filepath.Join(t.TempDir(), "pairs.jsonl")
	var b strings.Builder
	for i := range 10 {
		fmt.Fprintf(&b, `{"prompt":"reverse ab%c","chosen":"%cba","rejected":"ab%c"}`+"\n", 'a'+i%3, 'a'+i%3, 'a'+i%3)
	}
	os.WriteFile(pairs, []byte(b.String()), 0o644)
	res, err := Run(context.Background(), Options{Data: []DataFile{{Path: pairs}}, Out: filepath.Join(t.TempDir(), "d"), Method: "dpo", Init: out, Steps: 6, Batch: 2, Seq: 32, LR: 1e-3})
	if err != nil {
		t.Fatal(err)
	}
	if !(res.LastLoss < res.FirstLoss) {
		t.Errorf("DPO loss did not fall: %+v", res)
	}
}

// TestSeqDefaultsToLongestExample: without Seq a job pads to its longest
// example, not to the model's whole context.
func TestSeqDefaultsToLongestExample(t *testing.T) {
	data := reverseData(t, 50)
	convs, err := ReadJSONL(data)
	if err != nil {
		t.Fatal(err)
	}
	o := small(data, filepath.Join(t.TempDir(), "m"))
	o.Seq, o.Steps, o.Warmup = 0, 2, 0
	res, err := Run(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := checkpoint.LoadTokenizer(o.Out)
	if err != nil {
		t.Fatal(err)
	}
	longest := 0
	for _, c := range convs {
		ids, _, err := tokenizer.EncodeChat(tok, c.Messages, false)
		if err != nil {
			t.Fatal(err)
		}
		longest = max(longest, len(ids))
	}
	if res.Seq != longest || longest >= Presets["tiny"].MaxSeq {
		t.Errorf("Seq = %d, want the longest example's %d tokens (context %d)", res.Seq, longest, Presets["tiny"].MaxSeq)
	}
	// ShortSeq drops the last position, whose token is only a target.
	o.Out, o.ShortSeq = filepath.Join(t.TempDir(), "short"), true
	if res, err = Run(context.Background(), o); err != nil {
		t.Fatal(err)
	}
	if res.Seq != longest-1 {
		t.Errorf("ShortSeq: Seq = %d, want %d", res.Seq, longest-1)
	}
}

// TestProbeKeepsBest probes every 10 steps with a made-up score that peaks
// at step 20 and is highest before the first step: Best holds the
// checkpoint of step 20 (the start is probed for the record only), ties go
// to the later step, and the job's own output is the last step's.
func TestProbeKeepsBest(t *testing.T) {
	data := reverseData(t, 100)
	dir := t.TempDir()
	score := map[int]float64{0: 9, 10: 0.5, 20: 0.8, 30: 0.2, 40: 0.8}
	var seen []int
	o := small(data, filepath.Join(dir, "out"))
	o.Best, o.ProbeEvery, o.ProbeStart = filepath.Join(dir, "best"), 10, true
	o.Probe = func(_ context.Context, _ *llama.Model, step int) (float64, error) {
		seen = append(seen, step)
		return score[step], nil
	}
	res, err := Run(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(seen) != "[0 10 20 30 40]" {
		t.Errorf("probed at steps %v, want 0 10 20 30 40", seen)
	}
	if res.Best != (Best{Step: 40, Score: 0.8}) {
		t.Errorf("best %+v, want step 40 (the later of two 0.8s), not the start", res.Best)
	}
	b, err := readBest(o.Best)
	if err != nil || b == nil || *b != res.Best {
		t.Errorf("best.json %+v, %v; want %+v", b, err, res.Best)
	}
	if _, err := checkpoint.LoadModel(o.Best); err != nil {
		t.Errorf("best checkpoint: %v", err)
	}
	o.Best = o.Out
	if _, err := Run(context.Background(), o); err == nil {
		t.Error("a best directory equal to out was accepted")
	}
}

// TestStopDuringProbe: a stop that arrives while a step's probe runs lets
// the probe finish and saves the checkpoint of that step, so a resumed job
// neither trains the step again nor probes it twice (its log would repeat
// lines otherwise).
func TestStopDuringProbe(t *testing.T) {
	data := reverseData(t, 100)
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var seen []int
	o := small(data, filepath.Join(dir, "out"))
	o.Best, o.ProbeEvery, o.SaveEvery = filepath.Join(dir, "best"), 10, 1000
	o.Probe = func(pctx context.Context, _ *llama.Model, step int) (float64, error) {
		seen = append(seen, step)
		if step == 20 {
			cancel()
		}
		return float64(step), pctx.Err()
	}
	if _, err := Run(ctx, o); !errors.Is(err, context.Canceled) {
		t.Fatalf("Run after a stop in the probe of step 20: %v, want context.Canceled", err)
	}
	o.Probe = func(_ context.Context, _ *llama.Model, step int) (float64, error) {
		seen = append(seen, step)
		return float64(step), nil
	}
	res, err := Run(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(seen) != "[10 20 30 40]" || res.ResumeStep != 20 {
		t.Errorf("probed at steps %v, resumed at step %d; want 10 20 30 40, resumed at 20", seen, res.ResumeStep)
	}
}
