package loopplug

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"

	"github.com/synthloop/synthloop/engine/tokenizer"
	"github.com/synthloop/synthloop/lab"
	"github.com/synthloop/synthloop/lab/methods"
	"github.com/synthloop/synthloop/lab/task"
	"github.com/synthloop/synthloop/loop"
)

// ProposerPrompt is the user turn that asks a lab model for a new problem
// instead of an answer: "=" is in every task's alphabet and is no problem
// of any task.
const ProposerPrompt = "="

// ProposeConfig is the `with:` block of lab-propose.
type ProposeConfig struct {
	Task   string  `yaml:"task" doc:"Lab task: reverse-addition, copy, reverse, multiplication or long-multiplication"`
	Labels *Labels `yaml:"labels" doc:"Labelled problems that train the first model to solve and to propose (count, from, to)"`
	// Count problems are proposed a round by the teacher itself, prompted
	// with ProposerPrompt at ProposerTemperature.
	Count               int     `yaml:"count" doc:"Problems the teacher proposes a round"`
	ProposerTemperature float64 `yaml:"proposer_temperature" doc:"Temperature of the proposals"`
	K                   int     `yaml:"k" doc:"Answers the teacher samples to each proposed problem"`
	Temperature         float64 `yaml:"temperature" doc:"Temperature of the answers"`
	// TrainProposer adds proposer examples ("=" → the problem) for every
	// learnable problem, one for each wrong answer (Absolute Zero's proposer
	// reward, 1 − solve rate), so the next teacher proposes more like the
	// hardest of them.
	TrainProposer bool `yaml:"train_proposer" doc:"Train the proposer on the learnable problems it proposed"`
	// ProposerLabels caps the proposer examples of the labelled round: they
	// stay in the mixture of every later round and hold the proposals to the
	// labelled range, so fewer of them let the proposer follow its own
	// learnable problems sooner.
	ProposerLabels int `yaml:"proposer_labels" doc:"Proposer examples in the labelled round (0: one per labelled problem)"`

	loop *loop.Config
}

// SetLoop implements the loop's config hook.
func (c *ProposeConfig) SetLoop(l *loop.Config) { c.loop = l }

// Validate implements the loop's config hook.
func (c *ProposeConfig) Validate() error {
	if _, err := lookup(c.Task); err != nil {
		return fmt.Errorf("lab-propose: %w", err)
	}
	if c.Labels == nil {
		return errors.New("lab-propose: a labels block is required: it trains the first model to solve and to propose")
	}
	if c.ProposerLabels < 0 {
		return fmt.Errorf("lab-propose: proposer_labels %d is negative", c.ProposerLabels)
	}
	if c.Count < 1 || c.K < 2 || !(c.Temperature > 0) || !(c.ProposerTemperature > 0) {
		return fmt.Errorf("lab-propose: count %d ≥ 1, k %d ≥ 2 (a solve rate strictly between 0 and 1 needs two answers) and positive temperatures", c.Count, c.K)
	}
	return c.Labels.check()
}

func (c *ProposeConfig) labTask() string { return c.Task }

func (c *ProposeConfig) hardest() int { return c.Labels.hardest() }

// proposerLine is an SFT example that teaches proposing p.
func proposerLine(p task.Problem) sftLine {
	return sftLine{Messages: []tokenizer.Message{{Role: "user", Content: ProposerPrompt}, {Role: "assistant", Content: p.Prompt}}}
}

type proposeGen struct{ c *ProposeConfig }

// proposal is one line of labels.jsonl for lab-propose: a proposed problem,
// the solver's answers and verdicts, and whether it was kept.
type proposal struct {
	task.Problem
	Answers []lab.Answer `json:"answers"`
	Right   []bool       `json:"right"`
	Kept    bool         `json:"kept"`
}

func (g *proposeGen) Generate(ctx context.Context, r *loop.Round) (loop.Data, error) {
	if d, ok, err := restoreData(r); ok || err != nil {
		return d, err
	}
	c := g.c
	t, _ := lookup(c.Task)
	held := (&Problems{loop: c.loop}).heldOut()
	if !hasTeacher(r) {
		l := c.Labels
		ps := draw(t, roundRNG(r, forProblems), l.Count, l.From, max(l.To, l.From), held, equal)
		var lines []sftLine
		for i, p := range ps {
			lines = append(lines, sft(p))
			if c.ProposerLabels == 0 || i < c.ProposerLabels {
				lines = append(lines, proposerLine(p))
			}
		}
		path := filepath.Join(r.Dir, DataFile)
		if err := writeJSONL(path, lines); err != nil {
			return loop.Data{}, err
		}
		return finish(ctx, r, loop.Data{Path: path, Format: "sft", Generated: len(lines), Kept: len(lines), Metrics: map[string]float64{
			"labelled": 1, "from": float64(l.From), "to": float64(max(l.To, l.From)), "kept_difficulty": difficultyMean(ps),
		}})
	}
	m, err := teacher(r)
	if err != nil {
		return loop.Data{}, err
	}
	// The proposals: Count samples of the proposer prompt, in calls of
	// their own seeds (samples of one call share a random stream per index).
	const per = 256
	var raw []lab.Answer
	for call := 0; len(raw) < c.Count; call++ {
		r.Progress(len(raw), c.Count, "proposing")
		as, err := lab.Answers(ctx, m, []task.Problem{{Prompt: ProposerPrompt}}, lab.Decode{N: min(per, c.Count-len(raw)),
			Temperature: c.ProposerTemperature, Seed: uint64(r.Seed)<<16 | uint64(call), MaxTokens: m.LM.Config.MaxSeq / 2})
		if err != nil {
			return loop.Data{}, err
		}
		raw = append(raw, as[0]...)
	}
	var ps []task.Problem
	seen := map[string]bool{}
	invalid, repeated := 0, 0
	sh := t.(task.Shape)
	for _, a := range raw {
		p, err := task.Parse(t, a.Text)
		_, hi := sh.AnswerLen(p.Difficulty)
		switch {
		case !a.Stopped || err != nil:
			invalid++
		case len(p.Prompt)+hi+8 > m.LM.Config.MaxSeq:
			invalid++ // its answer would not fit the context
		case seen[p.Prompt] || held[p.Prompt]:
			repeated++ // a held-out problem counts as a repeat: never trained on
		default:
			seen[p.Prompt] = true
			ps = append(ps, p)
		}
	}
	if len(ps) == 0 {
		return loop.Data{}, fmt.Errorf("lab-propose: round %d: none of %d proposals is a new problem of %s (%d malformed)", r.Index, len(raw), c.Task, invalid)
	}
	// Answers that fit the hardest proposal must not overflow the context.
	as, err := answers(ctx, r, m, ps, sampling(r, t, ps, c.K, c.Temperature), "solving")
	if err != nil {
		return loop.Data{}, err
	}
	var lines []sftLine
	var kept []task.Problem
	out := make([]proposal, len(ps))
	pass1 := 0.0
	for i, p := range ps {
		o := &out[i]
		o.Problem, o.Answers, o.Right = p, as[i], make([]bool, len(as[i]))
		right := 0
		for j, a := range as[i] {
			o.Right[j] = a.Stopped && t.Verify(p, a.Text)
			if o.Right[j] {
				right++
			}
		}
		pass1 += methods.PassAtK(len(as[i]), right, 1)
		// Learnable: solved sometimes, not always (Absolute Zero's filter).
		if right == 0 || right == len(as[i]) {
			continue
		}
		o.Kept = true
		kept = append(kept, p)
		done := map[string]bool{}
		for j, a := range as[i] {
			if o.Right[j] && !done[a.Text] {
				done[a.Text] = true
				lines = append(lines, sft(task.Problem{Prompt: p.Prompt, Answer: a.Text, Difficulty: p.Difficulty}))
			}
		}
		if c.TrainProposer {
			// Absolute Zero rewards the proposer with 1 − solve rate for a
			// learnable problem; rejection sampling weighs the proposer
			// example the same way, once for every wrong answer, so the
			// next teacher proposes the hardest problems it can still solve.
			for range len(as[i]) - right {
				lines = append(lines, proposerLine(p))
			}
		}
	}
	path, err := writeRound(r, lines, out)
	if err != nil {
		return loop.Data{}, err
	}
	ds := make([]int, len(ps))
	for i, p := range ps {
		ds[i] = p.Difficulty
	}
	r.Log.Info("lab: proposals", "proposed", len(raw), "new", len(ps), "malformed", invalid, "learnable", len(kept))
	return finish(ctx, r, loop.Data{Path: path, Format: "sft", Generated: len(raw), Kept: len(lines), Metrics: map[string]float64{
		"proposed":            float64(len(raw)),
		"malformed":           float64(invalid) / float64(len(raw)),
		"repeated":            float64(repeated) / float64(len(raw)),
		"learnable":           float64(len(kept)) / float64(len(ps)),
		"proposed_difficulty": difficultyMean(ps),
		"proposed_max":        float64(slices.Max(ds)),
		"kept_difficulty":     difficultyMean(kept),
		"pass_at_1":           pass1 / float64(len(ps)),
	}})
}

// difficultyMean is the mean difficulty of ps, 0 for none.
func difficultyMean(ps []task.Problem) float64 {
	s := 0.0
	for _, p := range ps {
		s += float64(p.Difficulty)
	}
	return s / float64(max(len(ps), 1))
}
