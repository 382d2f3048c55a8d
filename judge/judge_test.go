package judge

import (
	"context"
	"encoding/json"
	"errors"
	"math"
	"strings"
	"testing"

	"github.com/synthloop/synthloop/model"
)

func TestPointwise(t *testing.T) {
	srv := judgeServer(t)
	j, err := NewPointwise(openBackend(t, srv, "critic"), Rubric{}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for _, tc := range []struct {
		answer   string
		ok       bool
		score    float64
		samples  int // replies recorded, unusable ones included
		errors   int
		requests int
	}{
		// Three samples, 3 + 4 + 5, averaged.
		{"A fine answer.", true, 4, 3, 0, 1},
		// Every sample out of range: the first two get a follow-up (budget 2)
		// and are restated as 3; the third stays unusable and is left out.
		{"RANGE answer", true, 3, 5, 3, 3},
		// The wrong language, with no score line: the same.
		{"JA answer", true, 3, 5, 3, 3},
		// Never a usable reply: no score, and the error says why.
		{"ALWAYSBAD answer", false, 0, 5, 5, 3},
	} {
		res, err := j.Score(ctx, Item{Prompt: "Name three primary colours.", Answer: tc.answer})
		if err != nil {
			t.Fatalf("%s: %v", tc.answer, err)
		}
		if res.OK() != tc.ok || res.Score != tc.score || len(res.Samples) != tc.samples || res.Usage.Errors != tc.errors || res.Usage.Requests != tc.requests {
			t.Errorf("%s: ok %v score %v samples %d errors %d requests %d; want %v %v %d %d %d (%+v)", tc.answer,
				res.OK(), res.Score, len(res.Samples), res.Usage.Errors, res.Usage.Requests, tc.ok, tc.score, tc.samples, tc.errors, tc.requests, res)
		}
		if !tc.ok && !strings.Contains(res.Err, "no valid score") {
			t.Errorf("%s: Err = %q, want the parse error", tc.answer, res.Err)
		}
		if len(res.RequestKeys) < tc.requests || len(res.Template) != 64 {
			t.Errorf("%s: provenance keys %d template %q", tc.answer, len(res.RequestKeys), res.Template)
		}
	}
	// The retry quotes the problem, so the judge knows what to fix.
	var sawRetry bool
	for _, r := range srv.Log() {
		if len(r.Messages) == 3 && strings.Contains(r.Messages[2].Content, "outside 0..5") {
			sawRetry = true
		}
	}
	if !sawRetry {
		t.Error("no follow-up quoted the out-of-range problem")
	}
}

func TestPointwiseScaleRubric(t *testing.T) {
	srv := judgeServer(t)
	j, err := NewPointwise(openBackend(t, srv, "critic"), Rubric{Kind: Scale, Min: 1, Max: 10, Criteria: []string{"correct"}}, Options{Samples: 1})
	if err != nil {
		t.Fatal(err)
	}
	res, err := j.Score(context.Background(), Item{Prompt: "q", Answer: "RANGE"})
	if err != nil || !res.OK() || res.Score != 7 {
		t.Errorf("scale 1..10: 7 is in range; got %+v, %v", res, err)
	}
	if _, err := NewPointwise(openBackend(t, srv, "critic"), Rubric{Kind: "stars"}, Options{}); err == nil {
		t.Error("unknown rubric kind accepted")
	}
	if _, err := NewPointwise(openBackend(t, srv, "critic"), Rubric{Kind: Additive, Max: 10}, Options{}); err == nil {
		t.Error("additive rubric with a max unlike its criteria count accepted")
	}
}

func TestPairwiseBothOrders(t *testing.T) {
	srv := judgeServer(t)
	p, err := NewPairwise(openBackend(t, srv, "critic"), nil, Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for _, tc := range []struct {
		prompt, a, b string
		want         Winner
		fwd, bwd     Winner
	}{
		{"q", "GOOD answer", "weak answer", WinnerA, WinnerA, WinnerA},
		{"q", "weak answer", "GOOD answer", WinnerB, WinnerB, WinnerB},
		// A judge that always prefers the first answer shown agrees with
		// itself in neither order: a tie, not a win.
		{"BIASED q", "one", "two", WinnerTie, WinnerA, WinnerB},
	} {
		got, err := p.Compare(ctx, tc.prompt, tc.a, tc.b)
		if err != nil {
			t.Fatal(err)
		}
		if got.Winner != tc.want || got.Forward != tc.fwd || got.Backward != tc.bwd || got.Usage.Requests != 2 {
			t.Errorf("Compare(%q, %q) = %+v, want %s (%s, %s) in 2 requests", tc.a, tc.b, got, tc.want, tc.fwd, tc.bwd)
		}
	}
	// Greedy by default: one sample per order.
	for _, r := range srv.Log() {
		if r.Temperature == nil || *r.Temperature != 0 {
			t.Fatalf("pairwise request temperature %v, want 0", r.Temperature)
		}
	}
	// No verdict line: retried once per order from the shared budget, then
	// the follow-up answers "Winner: B" in both orders, which is B then A: a tie.
	got, err := p.Compare(ctx, "NOVERDICT", "x", "y")
	if err != nil || got.Winner != WinnerTie || got.Usage.Errors != 2 {
		t.Errorf("no verdict then restated: %+v, %v", got, err)
	}
	got, err = p.Compare(ctx, "ALWAYSBAD", "x", "y")
	if err != nil || got.OK() || got.Winner != "" {
		t.Errorf("never a verdict: %+v, %v; want Err and no winner", got, err)
	}
}

func TestPanel(t *testing.T) {
	fixed := func(name string, s float64, ok bool) Judge {
		return judgeFunc(func(context.Context, Item) (Result, error) {
			r := Result{Judge: name, Score: s}
			if !ok {
				r.Score, r.Err = 0, "judge: no valid score"
			}
			return r, nil
		})
	}
	ctx := context.Background()
	for _, tc := range []struct {
		agg    string
		judges []Judge
		score  float64
		agree  float64
		spread float64
		ok     bool
	}{
		{Mean, []Judge{fixed("a", 4, true), fixed("b", 5, true), fixed("c", 3, true)}, 4, 1.0 / 3, 2, true},
		{Majority, []Judge{fixed("a", 4, true), fixed("b", 4.2, true), fixed("c", 2, true)}, 4, 2.0 / 3, 2.2, true},
		// A split panel goes to the lower score.
		{Majority, []Judge{fixed("a", 5, true), fixed("b", 2, true)}, 2, 0.5, 3, true},
		// A member without a score is left out, never counted as 0.
		{Mean, []Judge{fixed("a", 4, true), fixed("b", 0, false)}, 4, 1, 0, true},
		{Mean, []Judge{fixed("a", 0, false)}, 0, 0, 0, false},
	} {
		p, err := NewPanel(tc.agg, tc.judges, nil)
		if err != nil {
			t.Fatal(err)
		}
		got, err := p.Score(ctx, Item{})
		if err != nil || got.OK() != tc.ok || !near(got.Score, tc.score) || !near(got.Agreement, tc.agree) || !near(got.Spread, tc.spread) {
			t.Errorf("%s panel: %+v, %v; want score %v agreement %v spread %v ok %v", tc.agg, got, err, tc.score, tc.agree, tc.spread, tc.ok)
		}
	}
	// A panel on two real backends through a config.
	srv := judgeServer(t)
	cfg := Config{Panel: []string{"critic", "other"}, Aggregate: Majority}
	pj, err := cfg.NewJudge(func(n string) (Backend, error) { return openBackend(t, srv, n), nil }, "")
	if err != nil {
		t.Fatal(err)
	}
	res, err := pj.Score(ctx, Item{Prompt: "q", Answer: "fine"})
	if err != nil || !res.OK() || res.Score != 4 || len(res.Members) != 2 || res.Agreement != 1 {
		t.Errorf("config panel: %+v, %v", res, err)
	}
	pc, err := cfg.NewComparer(func(n string) (Backend, error) { return openBackend(t, srv, n), nil }, "")
	if err != nil {
		t.Fatal(err)
	}
	pref, err := pc.Compare(ctx, "q", "weak", "GOOD")
	if err != nil || pref.Winner != WinnerB || pref.Agreement != 1 {
		t.Errorf("config comparer panel: %+v, %v", pref, err)
	}
	if err := (&Config{Model: "a", Panel: []string{"b"}}).Validate(); err == nil {
		t.Error("judge_model and panel together accepted")
	}
}

type judgeFunc func(context.Context, Item) (Result, error)

func (f judgeFunc) Score(ctx context.Context, it Item) (Result, error) { return f(ctx, it) }

type downBackend struct{}

func (downBackend) Generate(context.Context, model.Request) (*model.Response, error) {
	return nil, errors.New("connection refused")
}

func TestModelFailureIsAnError(t *testing.T) {
	j, _ := NewPointwise(Backend{Backend: downBackend{}, Name: "x"}, Rubric{}, Options{})
	if _, err := j.Score(context.Background(), Item{}); err == nil || !strings.HasPrefix(err.Error(), "judge: ") {
		t.Errorf("Score on a failing model = %v, want a judge: error for the caller to classify", err)
	}
}

func TestCalibrate(t *testing.T) {
	in := `{"prompt":"p1","answer":"a","score":1}
{"prompt":"p2","answer":"b","score":2}

{"prompt":"p3","answer":"c","score":3}
{"prompt":"p4","answer":"ALWAYSBAD","score":4}
{"prompt":"p5","answer_a":"GOOD","answer_b":"weak","preference":"a"}
{"prompt":"p6","answer_a":"weak","answer_b":"GOOD","preference":"a"}
`
	labels, err := ReadLabels(strings.NewReader(in))
	if err != nil || len(labels) != 6 {
		t.Fatalf("ReadLabels = %d, %v", len(labels), err)
	}
	// A judge that scores by a table: 1, 3, 2 for the scorable three.
	table := map[string]float64{"a": 1, "b": 3, "c": 2}
	j := judgeFunc(func(_ context.Context, it Item) (Result, error) {
		s, ok := table[it.Answer]
		if !ok {
			return Result{Err: "judge: no valid score"}, nil
		}
		return Result{Score: s}, nil
	})
	srv := judgeServer(t)
	c, _ := NewPairwise(openBackend(t, srv, "critic"), nil, Options{})
	cal, err := Calibrate(context.Background(), labels, j, c, 2)
	if err != nil {
		t.Fatal(err)
	}
	// Human 1,2,3 vs judge 1,3,2: ρ = 1 − 6·2/(3·8) = 0.5; τ = (2−1)/3; 2 of 3 pairs.
	if cal.Scored != 3 || cal.ScoreErrors != 1 || !near(cal.Spearman, 0.5) || !near(cal.KendallTau, 1.0/3) ||
		!near(cal.PairAccuracy, 2.0/3) || cal.Pairs != 3 || cal.Preferences != 2 || !near(cal.PreferenceAccuracy, 0.5) {
		t.Errorf("Calibrate = %+v", cal)
	}
	if !strings.Contains(cal.String(), "spearman 0.500") {
		t.Errorf("String() = %q", cal.String())
	}
	for _, bad := range []string{`{"prompt":"p"}`, `{"prompt":"p","answer":"a","score":1,"extra":1}`, `{"prompt":"p","preference":"a"}`, `not json`} {
		if _, err := ReadLabels(strings.NewReader(bad)); err == nil || !strings.Contains(err.Error(), "line 1") {
			t.Errorf("ReadLabels(%s) = %v, want an error naming line 1", bad, err)
		}
	}
	if math.IsNaN(cal.Spearman) {
		t.Error("NaN")
	}
}

func TestCalibrationJSON(t *testing.T) {
	b, err := json.Marshal(Calibration{Scored: 1, Spearman: math.NaN(), KendallTau: 0.5, PairAccuracy: math.NaN(), PreferenceAccuracy: math.NaN()})
	if err != nil || !strings.Contains(string(b), `"spearman":null`) || !strings.Contains(string(b), `"kendall_tau":0.5`) || !strings.Contains(string(b), `"scored":1`) {
		t.Errorf("Marshal = %s, %v", b, err)
	}
}

// FuzzReadLabels checks that no calibration file crashes the reader and that
// every label it accepts is usable.
func FuzzReadLabels(f *testing.F) {
	f.Add(`{"prompt":"p","answer":"a","score":4}`)
	f.Add(`{"prompt":"p","answer_a":"x","answer_b":"y","preference":"B"}` + "\n\n" + `{"prompt":"q","answer":"b","score":1.5}`)
	f.Add(`{"score":1e999}`)
	f.Fuzz(func(t *testing.T, in string) {
		labels, err := ReadLabels(strings.NewReader(in))
		if err != nil {
			return
		}
		for _, l := range labels {
			if l.Score == nil && l.Preference != "a" && l.Preference != "b" && l.Preference != "tie" {
				t.Fatalf("accepted a label with neither score nor preference: %+v", l)
			}
			if l.Score != nil && (math.IsNaN(*l.Score) || math.IsInf(*l.Score, 0)) {
				t.Fatalf("accepted a non-finite score")
			}
		}
	})
}

func TestCalibrateConfig(t *testing.T) {
	srv := judgeServer(t)
	open := func(n string) (Backend, error) { return openBackend(t, srv, n), nil }
	in := `{"prompt":"p","answer":"fine","score":4}
{"prompt":"p","answer_a":"GOOD","answer_b":"weak","preference":"a"}
{"prompt":"p","answer_a":"weak","answer_b":"GOOD","preference":"b"}
`
	cal, err := CalibrateConfig(context.Background(), strings.NewReader(in), &Config{Model: "critic"}, open, 2)
	if err != nil || cal.Scored != 1 || cal.Preferences != 2 || cal.PreferenceAccuracy != 1 || !math.IsNaN(cal.Spearman) {
		t.Errorf("CalibrateConfig = %+v, %v", cal, err)
	}
	if _, err := CalibrateConfig(context.Background(), strings.NewReader(in), &Config{}, open, 1); err == nil {
		t.Error("no judge configured, yet calibration ran")
	}
}

type emptyBackend struct{ calls int }

func (b *emptyBackend) Generate(_ context.Context, req model.Request) (*model.Response, error) {
	b.calls++
	return &model.Response{Choices: make([]model.Choice, max(req.N, 1))}, nil
}

func TestEmptyReplyIsNotQuotedBack(t *testing.T) {
	b := &emptyBackend{}
	j, _ := NewPointwise(Backend{Backend: b, Name: "x"}, Rubric{}, Options{Samples: 2})
	res, err := j.Score(context.Background(), Item{Prompt: "q", Answer: "a"})
	if err != nil || res.OK() || b.calls != 1 || len(res.Samples) != 2 {
		t.Errorf("empty replies: %+v, %v after %d calls; want an error, 2 samples, 1 call", res, err, b.calls)
	}
	p, _ := NewPairwise(Backend{Backend: b, Name: "x"}, nil, Options{})
	pref, err := p.Compare(context.Background(), "q", "a", "b")
	if err != nil || pref.OK() || b.calls != 2 {
		t.Errorf("empty verdicts: %+v, %v after %d calls", pref, err, b.calls)
	}
}
