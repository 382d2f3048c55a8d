package loopplug

import (
	"context"
	"errors"
	"fmt"

	"github.com/synthloop/synthloop/lab"
	"github.com/synthloop/synthloop/lab/task"
	"github.com/synthloop/synthloop/loop"
)

// SelfLabelConfig is the `with:` block of lab-selflabel.
type SelfLabelConfig struct {
	Problems `yaml:",inline"`
	Labels   *Labels `yaml:"labels" doc:"Labelled problems that train the first teacher (count, from, to)"`
	// Filter keeps labels without looking at the true answer; the zero
	// filter keeps the teacher's greedy answer to every problem (the
	// unfiltered baseline, or plain distillation).
	Filter Filter `yaml:"filter" doc:"Keeps labels without looking at the true answer; zero keeps every greedy answer"`
	// Advance is the yield (kept / labelled, which needs no true answer)
	// below which a round labels the previous round's difficulties again
	// instead of moving step on: a round whose labels were mostly dropped
	// taught little about its difficulties. 0 always moves on, as Lee et
	// al. do.
	Advance float64 `yaml:"advance" doc:"Yield below which the next round labels the same difficulties again (0: always move on)"`
	// AdvanceProbe moves on to the next difficulties only when the
	// teacher's label-free probe at them (lab-train's probe, measured while
	// it trained) reached this score; otherwise the round labels the
	// previous round's difficulties again. It applies with Advance (both
	// must pass) and is skipped for a teacher trained without a probe.
	AdvanceProbe float64 `yaml:"advance_probe" doc:"Probe score at the next difficulty (lab-train probe) below which the round labels the same difficulties again (0: off)"`
}

// Filter is lab.Filter in the loop config.
type Filter struct {
	// Length keeps an answer only when it ends with <|end|> and has a length
	// a true answer at its difficulty can have.
	Length      bool    `yaml:"length" doc:"Keeps an answer only when it ends with <|end|> and has a plausible length"`
	Samples     int     `yaml:"samples" doc:"Answers the teacher gives to each problem; 1 decodes greedily"`
	Temperature float64 `yaml:"temperature" doc:"Temperature of the samples"`
	Agree       float64 `yaml:"agree" doc:"Share of the samples that must give the majority answer (0: any majority)"`
}

func (f Filter) lab() lab.Filter {
	return lab.Filter{Length: f.Length, Samples: f.Samples, Temperature: f.Temperature, Agree: f.Agree}
}

// Validate implements the loop's config hook.
func (c *SelfLabelConfig) Validate() error {
	if err := c.check("lab-selflabel"); err != nil {
		return err
	}
	f := c.Filter
	switch {
	case f.Samples < 0 || f.Agree < 0 || f.Agree > 1 || f.Temperature < 0:
		return errors.New("lab-selflabel: filter: samples and temperature must not be negative, agree in [0, 1]")
	case f.Samples > 1 && !(f.Temperature > 0):
		return errors.New("lab-selflabel: filter: samples > 1 need a temperature > 0 (greedy samples all agree)")
	case c.Advance < 0 || c.Advance > 1:
		return fmt.Errorf("lab-selflabel: advance %g: want a yield in [0, 1]", c.Advance)
	case c.AdvanceProbe < 0 || c.AdvanceProbe > 1:
		return fmt.Errorf("lab-selflabel: advance_probe %g: want a score in [0, 1]", c.AdvanceProbe)
	}
	return c.Labels.check()
}

func (c *SelfLabelConfig) hardest() int { return c.Labels.hardest() }

// nextDifficulty is the hardest difficulty the round after r labels when it
// moves on: after a round on true labels, that of the first self-labelled
// range; else r's own range (as its generator drew it) moved Step on.
func (c *SelfLabelConfig) nextDifficulty(r *loop.Round) int {
	labelled := c.Labels != nil
	if !hasTeacher(r) && labelled {
		_, hi := c.Range(max(r.Index+1, c.first(labelled)), labelled)
		return hi
	}
	_, hi := c.difficulties(r.Index, r.Earlier(), teacherProbe(r))
	return hi + c.Step
}

type selfLabelGen struct{ c *SelfLabelConfig }

// label is one line of labels.jsonl.
type label struct {
	task.Problem
	Answers []lab.Answer `json:"answers"`
	Agree   float64      `json:"agree"`
	Kept    bool         `json:"kept"`
	// Correct is the verifier's verdict on the label, for the report only:
	// it chose nothing.
	Correct bool `json:"correct"`
}

func (g *selfLabelGen) Generate(ctx context.Context, r *loop.Round) (loop.Data, error) {
	return teacherRound(ctx, r, &g.c.Problems, g.c.Labels, func() (loop.Data, error) { return g.label(ctx, r) })
}

func (g *selfLabelGen) label(ctx context.Context, r *loop.Round) (loop.Data, error) {
	c := g.c
	ms, err := teachers(r)
	if err != nil {
		return loop.Data{}, err
	}
	lo, hi := c.difficulties(r.Index, r.Earlier(), teacherProbe(r))
	t, ps := c.fresh(r, lo, hi)
	sh := t.(task.Shape)
	f := c.Filter.lab()
	dec := sampling(r, t, ps, max(f.Samples, 1), 0)
	if dec.N > 1 {
		dec.Temperature = f.Temperature
	}
	if !f.On() {
		// Unfiltered, the teacher's greedy answer is the label: its voters
		// have nothing to say.
		dec, ms = lab.Decode{MaxTokens: dec.MaxTokens}, ms[:1]
	}
	r.Log.Info("lab: teacher labels", "problems", len(ps), "from", lo, "to", hi, "voters", len(ms), "samples", dec.N, "filtered", f.On())
	as := make([][]lab.Answer, len(ps))
	for k, m := range ms {
		d := dec
		d.Seed += uint64(k) * voterSeed
		note := "labelling"
		if len(ms) > 1 {
			note = fmt.Sprintf("labelling, voter %d of %d", k+1, len(ms))
		}
		vs, err := answers(ctx, r, m, ps, d, note)
		if err != nil {
			return loop.Data{}, err
		}
		for i := range as {
			as[i] = append(as[i], vs[i]...)
		}
	}
	labels := make([]label, len(ps))
	var kept []sftLine
	right, keptRight, agree := 0, 0, 0.0
	for i, p := range ps {
		l := &labels[i]
		l.Problem, l.Answers = p, as[i]
		l.Answer, l.Agree, l.Kept = f.Pick(sh, p, as[i])
		// An empty answer teaches nothing (and is no SFT example); only the
		// unfiltered pick can keep one.
		l.Kept = l.Kept && l.Answer != ""
		l.Correct = t.Verify(p, l.Answer)
		agree += l.Agree
		if l.Correct {
			right++
		}
		if l.Kept {
			kept = append(kept, sft(l.Problem))
			if l.Correct {
				keptRight++
			}
		}
	}
	path, err := writeRound(r, kept, labels)
	if err != nil {
		return loop.Data{}, err
	}
	n := float64(max(len(ps), 1))
	d := loop.Data{Path: path, Format: "sft", Generated: len(ps), Kept: len(kept), Metrics: map[string]float64{
		"yield":         float64(len(kept)) / n,
		"kept_correct":  float64(keptRight) / float64(max(len(kept), 1)),
		"label_correct": float64(right) / n,
		"agree":         agree / n,
		"from":          float64(lo),
		"to":            float64(hi),
	}}
	if score, known := teacherProbe(r)(lo); known {
		// The teacher's probe at the difficulty it labels: how ready it was.
		d.Metrics["teacher_probe"] = score
	}
	return d, nil
}

// difficulties returns the round's range: Range, or with Advance or
// AdvanceProbe, from the round after the first one drawing From..To on, the
// previous round's range again when it kept less than Advance of its labels
// or when the teacher's probe at the range moved on (probe(next)) was below
// AdvanceProbe, else that range moved Step on. earlier is the loop's history
// (Round.Earlier), and the probe is read from the teacher's directory, so a
// resumed round or a baseline draws the same.
func (c *SelfLabelConfig) difficulties(round int, earlier []loop.Data, probe func(next int) (float64, bool)) (lo, hi int) {
	labelled := c.Labels != nil
	lo, hi = c.Range(round, labelled)
	if (c.Advance == 0 && c.AdvanceProbe == 0) || round <= c.first(labelled) || len(earlier) == 0 {
		return lo, hi
	}
	m := earlier[len(earlier)-1].Metrics
	from, ok1 := m["from"]
	to, ok2 := m["to"]
	if !ok1 || !ok2 || m["labelled"] == 1 {
		return lo, hi
	}
	lo, hi = int(from), int(to)
	on := m["yield"] >= c.Advance
	if c.AdvanceProbe > 0 && probe != nil {
		if score, known := probe(hi + c.Step); known {
			on = on && score >= c.AdvanceProbe
		}
	}
	if on {
		lo, hi = lo+c.Step, hi+c.Step
	}
	return lo, hi
}

// teacherProbe returns the mean probe score of r's teacher and its voters
// at difficulty next (lab-train's probe.json in their directories): known
// is false when they were trained without a probe, and a probe of another
// difficulty scores 0 (the teacher has not shown it is ready for next).
func teacherProbe(r *loop.Round) func(next int) (float64, bool) {
	return func(next int) (float64, bool) {
		ms := append([]loop.Model{r.Teacher}, r.Teacher.Voters...)
		sum, n := 0.0, 0
		for _, m := range ms {
			if m.Dir == "" {
				continue
			}
			rec, ok, err := readProbe(m.Dir)
			if err != nil || !ok {
				if err != nil {
					r.Log.Warn("lab: the teacher's probe cannot be read", "err", err)
				}
				continue
			}
			if rec.Difficulty == next {
				sum += rec.Score
			}
			n++
		}
		if n == 0 {
			return 0, false
		}
		return sum / float64(n), true
	}
}
