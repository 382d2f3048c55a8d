package judge

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"strings"

	"golang.org/x/sync/errgroup"
)

// Label is one line of a labelled calibration set (JSONL). A line holds
// either a human score for one answer:
//
//	{"prompt": "...", "answer": "...", "score": 4}
//
// or a human preference between two answers:
//
//	{"prompt": "...", "answer_a": "...", "answer_b": "...", "preference": "a"}
//
// where preference is "a", "b" or "tie".
type Label struct {
	Prompt     string   `json:"prompt"`
	Answer     string   `json:"answer,omitempty"`
	Score      *float64 `json:"score,omitempty"`
	AnswerA    string   `json:"answer_a,omitempty"`
	AnswerB    string   `json:"answer_b,omitempty"`
	Preference string   `json:"preference,omitempty"`
}

// ReadLabels parses a calibration set; an error names the line.
func ReadLabels(r io.Reader) ([]Label, error) {
	var out []Label
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 64*1024*1024)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" {
			continue
		}
		var l Label
		dec := json.NewDecoder(strings.NewReader(line))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&l); err != nil {
			return nil, fmt.Errorf("judge: calibration line %d: %w", n, err)
		}
		l.Preference = strings.ToLower(l.Preference)
		switch {
		case l.Score != nil && l.Preference == "":
			if math.IsNaN(*l.Score) || math.IsInf(*l.Score, 0) {
				return nil, fmt.Errorf("judge: calibration line %d: score is not a number", n)
			}
		case l.Score == nil && (l.Preference == "a" || l.Preference == "b" || l.Preference == "tie"):
			if l.AnswerA == "" || l.AnswerB == "" {
				return nil, fmt.Errorf("judge: calibration line %d: a preference needs answer_a and answer_b", n)
			}
		default:
			return nil, fmt.Errorf("judge: calibration line %d: want either score (with answer) or preference a, b or tie (with answer_a and answer_b)", n)
		}
		out = append(out, l)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("judge: calibration: %w", err)
	}
	return out, nil
}

// Calibration is how well a judge agrees with human labels. Statistics that
// have no data (no scored items, a constant side) are NaN.
type Calibration struct {
	// Pointwise labels: items scored by the judge, and those it failed to score
	// (left out of the statistics, never given a made-up score).
	Scored      int     `json:"scored"`
	ScoreErrors int     `json:"score_errors"`
	Spearman    float64 `json:"spearman"`
	KendallTau  float64 `json:"kendall_tau"` // τ-b
	// PairAccuracy is over all pairs of scored items whose human scores
	// differ: the share the judge orders the same way (a judge tie counts half).
	PairAccuracy float64 `json:"pair_accuracy"`
	Pairs        int     `json:"pairs"`
	// Preference labels: the share where the judge's verdict in both orders
	// (a win only when both agree) equals the human one.
	Preferences        int     `json:"preferences"`
	PreferenceErrors   int     `json:"preference_errors"`
	PreferenceAccuracy float64 `json:"preference_accuracy"`
	Usage              Usage   `json:"-"`
}

// MarshalJSON writes undefined statistics as null: JSON has no NaN.
func (c Calibration) MarshalJSON() ([]byte, error) {
	type plain Calibration
	nullable := func(x float64) *float64 {
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return nil
		}
		return &x
	}
	return json.Marshal(struct {
		plain
		Spearman           *float64 `json:"spearman"`
		KendallTau         *float64 `json:"kendall_tau"`
		PairAccuracy       *float64 `json:"pair_accuracy"`
		PreferenceAccuracy *float64 `json:"preference_accuracy"`
	}{plain(c), nullable(c.Spearman), nullable(c.KendallTau), nullable(c.PairAccuracy), nullable(c.PreferenceAccuracy)})
}

// String renders the report for a terminal.
func (c Calibration) String() string {
	f := func(x float64) string {
		if math.IsNaN(x) {
			return "n/a"
		}
		return fmt.Sprintf("%.3f", x)
	}
	return fmt.Sprintf("scored %d (judge errors %d): spearman %s, kendall tau-b %s, pairwise accuracy %s over %d pairs; preferences %d (judge errors %d): accuracy %s",
		c.Scored, c.ScoreErrors, f(c.Spearman), f(c.KendallTau), f(c.PairAccuracy), c.Pairs,
		c.Preferences, c.PreferenceErrors, f(c.PreferenceAccuracy))
}

// Calibrate runs j over the scored labels and c over the preference labels
// (either may be nil when the set has no labels of that kind), at most
// concurrency at a time, and reports agreement. A model failure stops it.
func Calibrate(ctx context.Context, labels []Label, j Judge, c Comparer, concurrency int) (Calibration, error) {
	type outcome struct {
		score float64
		ok    bool
		usage Usage
	}
	res := make([]outcome, len(labels))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(max(concurrency, 1))
	for i, l := range labels {
		if l.Score != nil && j == nil {
			return Calibration{}, errors.New("judge: calibration: the set has scored answers but no pointwise judge was given")
		}
		if l.Score == nil && c == nil {
			return Calibration{}, errors.New("judge: calibration: the set has preferences but no pairwise judge was given")
		}
		g.Go(func() error {
			if l.Score != nil {
				r, err := j.Score(gctx, Item{Prompt: l.Prompt, Answer: l.Answer})
				res[i] = outcome{score: r.Score, ok: r.OK(), usage: r.Usage}
				return err
			}
			p, err := c.Compare(gctx, l.Prompt, l.AnswerA, l.AnswerB)
			res[i] = outcome{ok: p.OK() && string(p.Winner) != "", usage: p.Usage}
			if res[i].ok && strings.EqualFold(string(p.Winner), l.Preference) {
				res[i].score = 1
			}
			return err
		})
	}
	if err := g.Wait(); err != nil {
		return Calibration{}, err
	}
	var cal Calibration
	var human, judged []float64
	var prefHits float64
	for i, l := range labels {
		o := res[i]
		cal.Usage.Add(o.usage)
		if l.Score != nil {
			if !o.ok {
				cal.ScoreErrors++
				continue
			}
			cal.Scored++
			human = append(human, *l.Score)
			judged = append(judged, o.score)
			continue
		}
		if !o.ok {
			cal.PreferenceErrors++
			continue
		}
		cal.Preferences++
		prefHits += o.score
	}
	cal.Spearman = Spearman(human, judged)
	cal.KendallTau = KendallTau(human, judged)
	cal.PairAccuracy, cal.Pairs = PairAccuracy(human, judged)
	cal.PreferenceAccuracy = math.NaN()
	if cal.Preferences > 0 {
		cal.PreferenceAccuracy = prefHits / float64(cal.Preferences)
	}
	return cal, nil
}

// CalibrateConfig reads a labelled JSONL set from r and calibrates the judge
// that cfg describes: its pointwise judge on the scored lines and its
// pairwise judge on the preferences, each built only when the set needs it.
// It is what `synthloop judge calibrate` runs.
func CalibrateConfig(ctx context.Context, r io.Reader, cfg *Config, open Opener, concurrency int) (Calibration, error) {
	labels, err := ReadLabels(r)
	if err != nil {
		return Calibration{}, err
	}
	var scores, prefs bool
	for _, l := range labels {
		scores = scores || l.Score != nil
		prefs = prefs || l.Score == nil
	}
	var j Judge
	var c Comparer
	if scores {
		if j, err = cfg.NewJudge(open, ""); err != nil {
			return Calibration{}, err
		}
	}
	if prefs {
		if c, err = cfg.NewComparer(open, ""); err != nil {
			return Calibration{}, err
		}
	}
	return Calibrate(ctx, labels, j, c, concurrency)
}
