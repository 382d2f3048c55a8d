package loopplug

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"

	"github.com/synthloop/synthloop/engine/tokenizer"
	"github.com/synthloop/synthloop/engine/train"
	"github.com/synthloop/synthloop/lab"
	"github.com/synthloop/synthloop/lab/task"
	"github.com/synthloop/synthloop/loop"
	"github.com/synthloop/synthloop/trainjob"
)

// PromptsFormat is the data format of lab-prompts: one problem a line,
// without its answer, for a trainer that rewards answers with the task's
// verifier.
const PromptsFormat = "prompts"

// PromptsConfig is the `with:` block of lab-prompts.
type PromptsConfig struct {
	Problems `yaml:",inline"`
	Labels   *Labels `yaml:"labels" doc:"Labelled problems that train the first model (count, from, to)"`
}

// Validate implements the loop's config hook.
func (c *PromptsConfig) Validate() error {
	if err := c.check("lab-prompts"); err != nil {
		return err
	}
	return c.Labels.check()
}

func (c *PromptsConfig) hardest() int { return c.Labels.hardest() }

type promptsGen struct{ c *PromptsConfig }

// promptLine is one line of a prompts file: a problem, or (with Messages)
// a worked example that GRPO's replay trains by cross-entropy, such as
// lab-propose's proposer examples, or (with Messages and Reward) a
// completion sampled before, with its reward, that GRPO trains in its
// policy term (lab.RLConfig.Scored), such as lab-propose's proposals with
// their learnability reward.
type promptLine struct {
	Prompt     string              `json:"prompt,omitempty"`
	Difficulty int                 `json:"difficulty,omitempty"`
	Messages   []tokenizer.Message `json:"messages,omitempty"`
	Reward     *float64            `json:"reward,omitempty"`
}

func (g *promptsGen) Generate(ctx context.Context, r *loop.Round) (loop.Data, error) {
	return teacherRound(ctx, r, &g.c.Problems, g.c.Labels, func() (loop.Data, error) { return g.prompts(r) })
}

// prompts writes the round's problems without their answers.
func (g *promptsGen) prompts(r *loop.Round) (loop.Data, error) {
	c := g.c
	lo, hi := c.Range(r.Index, c.Labels != nil)
	_, ps := c.fresh(r, lo, hi)
	lines := make([]promptLine, len(ps))
	for i, p := range ps {
		lines[i] = promptLine{Prompt: p.Prompt, Difficulty: p.Difficulty}
	}
	path := filepath.Join(r.Dir, DataFile)
	if err := writeJSONL(path, lines); err != nil {
		return loop.Data{}, err
	}
	r.Log.Info("lab: prompts", "problems", len(ps), "from", lo, "to", hi)
	return loop.Data{Path: path, Format: PromptsFormat, Generated: len(ps), Kept: len(ps),
		Metrics: map[string]float64{"from": float64(lo), "to": float64(hi)}}, nil
}

// GRPO is lab-train's reinforcement learning on prompts (lab-prompts'
// data): Phase.Steps sampling steps of Phase.Batch problems, Group answers
// each, rewarded by the task's verifier.
type GRPO struct {
	Group       int     `yaml:"group" doc:"Answers sampled per problem (G)"`
	Minibatches int     `yaml:"minibatches" doc:"Optimizer steps per pass over a step's answers, each on a slice of them"`
	Epochs      int     `yaml:"epochs" doc:"Passes over a step's answers (PPO's epochs; the clip bounds the reuse)"`
	Micro       int     `yaml:"micro" doc:"Answers per forward pass (memory, not results)"`
	ClipLow     float64 `yaml:"clip_low" doc:"Policy ratio clipped below at 1 − clip_low"`
	ClipHigh    float64 `yaml:"clip_high" doc:"Policy ratio clipped above at 1 + clip_high (DAPO's clip-higher: 0.28)"`
	KL          float64 `yaml:"kl" doc:"Weight of the k3 KL term to the starting model (0: none, as Dr. GRPO and DAPO)"`
	StdScale    bool    `yaml:"std_scale" doc:"Divide advantages by the group's reward deviation (the original GRPO; off, as Dr. GRPO)"`
	ConstNorm   int     `yaml:"const_norm" doc:"Divide the summed token losses by answers × this (Dr. GRPO) instead of by the tokens (DAPO); 0: tokens"`
	Dynamic     bool    `yaml:"dynamic" doc:"Sample up to max_draws batches a step and train on the groups whose rewards differ (DAPO's dynamic sampling)"`
	MaxDraws    int     `yaml:"max_draws" doc:"Batches a step samples at most with dynamic"`
	SFT         float64 `yaml:"sft" doc:"Weight of a cross-entropy term on the verified answers and the replayed examples (0: none)"`
	Replay      int     `yaml:"replay" doc:"Worked examples of the earlier rounds' SFT data added to each step (cross-entropy only; needs sft)"`
	Reuse       int     `yaml:"reuse" doc:"Verified answers of earlier steps added to each step (cross-entropy only; needs sft)"`
	ReuseKeep   int     `yaml:"reuse_keep" doc:"The most recent distinct verified answers reuse draws from (0: 1024)"`
	Carry       bool    `yaml:"carry" doc:"Start a round's reuse buffer with the previous GRPO round's (reuse then draws from earlier rounds' verified answers too, as RFT's data mixes all rounds')"`
	Wrong       int     `yaml:"wrong" doc:"Wrong answers trained per right one in a group, drawn at random and weighted up to stand for all (0: all)"`
	Merge       bool    `yaml:"merge" doc:"Train identical answers of a group once, weighted by their copies (same loss and gradient, fewer rows)"`
	SFTDistinct bool    `yaml:"sft_distinct" doc:"Count each distinct verified answer of a group once in the cross-entropy term, as RFT keeps it once (off: by its copies, as the policy term)"`
	Decay       bool    `yaml:"decay" doc:"Lower the learning rate along a cosine to lr/10 by the round's last step (off: constant after warmup)"`
	Late        *Late   `yaml:"late" doc:"From round from on, batch problems a step with group answers each, and at most max_draws batches with dynamic (from, batch, group, max_draws)"`
	TrimTail    bool    `yaml:"trim_tail" doc:"Run a minibatch's last micro-batch on its own rows instead of padding it to micro (the same loss and gradient up to the order of float sums, for less CPU)"`
	Select      string  `yaml:"select" doc:"How a step picks its problems: uniform (at random), or learnable (in proportion to the posterior mean of p(1−p), p the problem's pass rate, from the verdicts on the answers drawn to it so far in the round: a group all right or all wrong teaches nothing)"`
	Solved      bool    `yaml:"solved" doc:"With dynamic, train the groups whose answers are all right by the cross-entropy term (merged, weighted by their copies) instead of dropping them: verified answers already sampled, as RFT trains them (needs sft; off: dropped)"`
	SolvedAdv   float64 `yaml:"solved_adv" doc:"With dynamic, train the groups whose answers are all right in the policy term too, with this advantage (0: dropped)"`
	FirstError  bool    `yaml:"first_error" doc:"Train each wrong answer of a mixed group only up to its first token that differs from every right answer of the group: the tokens after the mistake follow from it and are not pushed down (off: every token of a wrong answer)"`
	Baseline    string  `yaml:"baseline" doc:"What an answer's reward is compared with: group (its group's mean reward, GRPO) or batch (the mean over the step's trained answers, REINFORCE++; with dynamic the all-right groups then train with a positive advantage and the all-wrong ones stay dropped)"`
	// ScoredStep spreads the scored completions of a prompts file (see
	// promptLine; lab-propose's proposer_reward writes them) over the
	// round's steps: each a step takes joins its policy term, with its
	// reward less the mean over all of the round's (lab.RLConfig.Scored).
	ScoredStep int `yaml:"scored_step" doc:"Scored completions of the prompts file (lab-propose's proposer_reward) trained a step in the policy term, taken round and round (0: each once, spread evenly over the steps)"`
}

// Late changes a GRPO step's shape from round From on: once most groups
// have both right and wrong answers, more problems with smaller groups
// train on more distinct problems for the same samples, while early on,
// when most problems are all wrong, groups of 4 come out mixed too rarely.
type Late struct {
	From  int `yaml:"from" doc:"The first round of the late shape"`
	Batch int `yaml:"batch" doc:"Problems a step (in place of lab-train's batch)"`
	Group int `yaml:"group" doc:"Answers per problem (in place of group)"`
	// MaxDraws: once most groups are mixed a second draw finds few more
	// that the first did not, and with the all-right groups trained
	// (solved) few of its samples are wasted.
	MaxDraws int `yaml:"max_draws" doc:"Batches a step samples at most with dynamic (in place of max_draws; 0: max_draws)"`
}

// The baselines of GRPO.Baseline.
const (
	baselineGroup = "group"
	baselineBatch = "batch"
)

// DefaultGRPO is lab-train's grpo block by default.
var DefaultGRPO = GRPO{Group: 8, Minibatches: 2, Epochs: 1, Micro: 64, ClipLow: 0.2, ClipHigh: 0.28, MaxDraws: 4}

func (g GRPO) check() error {
	if g.MaxDraws < 1 {
		return fmt.Errorf("lab-train: grpo: max_draws %d must be at least 1", g.MaxDraws)
	}
	if g.Group < 2 || g.Minibatches < 1 || g.Epochs < 1 || g.Micro < 1 || !(g.ClipLow > 0 && g.ClipLow < 1) || !(g.ClipHigh > 0) || g.KL < 0 || g.ConstNorm < 0 {
		return fmt.Errorf("lab-train: grpo: group %d ≥ 2, minibatches %d and micro %d ≥ 1, clip_low %g in (0, 1), clip_high %g > 0, kl %g and const_norm %d ≥ 0",
			g.Group, g.Minibatches, g.Micro, g.ClipLow, g.ClipHigh, g.KL, g.ConstNorm)
	}
	switch g.Select {
	case "", lab.SelectUniform, lab.SelectLearnable:
	default:
		return fmt.Errorf("lab-train: grpo: select %q: want %s or %s", g.Select, lab.SelectUniform, lab.SelectLearnable)
	}
	switch g.Baseline {
	case "", baselineGroup, baselineBatch:
	default:
		return fmt.Errorf("lab-train: grpo: baseline %q: want %s or %s", g.Baseline, baselineGroup, baselineBatch)
	}
	if g.SolvedAdv < 0 || (g.Solved || g.SolvedAdv > 0) && !g.Dynamic {
		return fmt.Errorf("lab-train: grpo: solved and solved_adv (%g, not negative) use the groups dynamic sampling drops: they need dynamic", g.SolvedAdv)
	}
	if g.Solved && (g.SFT == 0 || g.SolvedAdv > 0 || g.Baseline == baselineBatch) {
		return errors.New("lab-train: grpo: solved trains the all-right groups by cross-entropy: it needs sft above 0, and neither solved_adv nor baseline batch, which train them in the policy term")
	}
	if g.ScoredStep < 0 {
		return fmt.Errorf("lab-train: grpo: scored_step %d must not be negative", g.ScoredStep)
	}
	if g.Wrong < 0 {
		return fmt.Errorf("lab-train: grpo: wrong %d must not be negative", g.Wrong)
	}
	if l := g.Late; l != nil && (l.From < 2 || l.Batch < 1 || l.Group < 2 || l.MaxDraws < 0) {
		return fmt.Errorf("lab-train: grpo: late from %d ≥ 2, batch %d ≥ 1, group %d ≥ 2 and max_draws %d ≥ 0", l.From, l.Batch, l.Group, l.MaxDraws)
	}
	if l := g.Late; l != nil && l.MaxDraws > 0 && !g.Dynamic {
		return fmt.Errorf("lab-train: grpo: late max_draws %d: only dynamic draws more than one batch a step: it needs dynamic", l.MaxDraws)
	}
	if g.SFTDistinct && g.SFT == 0 {
		return errors.New("lab-train: grpo: sft_distinct weighs the cross-entropy term: it needs sft above 0")
	}
	if g.Carry && g.Reuse == 0 {
		return errors.New("lab-train: grpo: carry keeps the reuse buffer from round to round: it needs reuse")
	}
	if g.SFT < 0 || g.Replay < 0 || g.Reuse < 0 || g.ReuseKeep < 0 || (g.Replay > 0 || g.Reuse > 0) && g.SFT == 0 {
		return fmt.Errorf("lab-train: grpo: sft %g, replay %d, reuse %d and reuse_keep %d must not be negative; replay and reuse need sft above 0",
			g.SFT, g.Replay, g.Reuse, g.ReuseKeep)
	}
	return nil
}

// trainGRPO runs the round's GRPO: the student continues the starting model
// (init), sampling the round's prompts; it checkpoints into the student
// directory and resumes there exactly.
func (tr *trainer) trainGRPO(ctx context.Context, r *loop.Round, in loop.TrainInput) (loop.Trained, error) {
	c := tr.c
	if c.Voters > 1 {
		return loop.Trained{}, errors.New("lab-train: grpo trains one model; voters is for lab-selflabel")
	}
	init, err := tr.start(r, in, c.Arch, 0)
	if err != nil {
		return loop.Trained{}, err
	}
	if init == "" {
		return loop.Trained{}, errors.New("lab-train: grpo needs a model to start from: a previous student or a teacher of arch (a labels block trains one in round 1)")
	}
	t, _ := lookup(c.Task)
	newest := in.Data[len(in.Data)-1]
	pf, err := readPrompts(newest.Path)
	if err != nil {
		return loop.Trained{}, err
	}
	ps, own := pf.problems, pf.demos
	if len(own) > 0 && c.GRPO.Replay == 0 {
		return loop.Trained{}, fmt.Errorf("lab-train: grpo: %s holds worked examples, which only replay trains: set grpo.replay", newest.Path)
	}
	m, err := lab.LoadModel(init)
	if err != nil {
		return loop.Trained{}, fmt.Errorf("lab-train: %w", err)
	}
	var ref *lab.Model
	if c.GRPO.KL > 0 {
		if ref, err = lab.LoadModel(init); err != nil {
			return loop.Trained{}, fmt.Errorf("lab-train: %w", err)
		}
	}
	g := c.GRPO
	prompts := c.Batch
	if g.Late != nil && r.Index >= g.Late.From {
		prompts, g.Group = g.Late.Batch, g.Late.Group
		if g.Late.MaxDraws > 0 {
			g.MaxDraws = g.Late.MaxDraws
		}
	}
	cfg := lab.RLConfig{Steps: c.Steps, Prompts: prompts, Group: g.Group, Minibatches: g.Minibatches, Epochs: g.Epochs, Micro: g.Micro,
		LR: c.LR, Warmup: c.Warmup, Dynamic: g.Dynamic, MaxDraws: g.MaxDraws, Replay: g.Replay, Reuse: g.Reuse, ReuseKeep: g.ReuseKeep, Wrong: g.Wrong, Merge: g.Merge, SFTDistinct: g.SFTDistinct, Decay: g.Decay, Select: g.Select, TrimTail: g.TrimTail,
		Solved: g.Solved, SolvedAdv: g.SolvedAdv, FirstError: g.FirstError,
		Scored: pf.scored, ScoredStep: g.ScoredStep,
		GRPO: train.GRPOConfig{ClipLow: g.ClipLow, ClipHigh: g.ClipHigh, KL: g.KL, StdScale: g.StdScale, ConstNorm: g.ConstNorm, SFT: g.SFT,
			BatchBaseline: g.Baseline == baselineBatch}}
	if g.Replay > 0 {
		if cfg.Demos, err = earlierSFT(r); err != nil {
			return loop.Trained{}, err
		}
		cfg.Demos = withOwn(cfg.Demos, own)
	}
	rl, err := lab.NewRL(m, ref, t, ps, cfg, tr.seed(r)^forTrain<<32)
	if err != nil {
		return loop.Trained{}, fmt.Errorf("lab-train: %w", err)
	}
	out := filepath.Join(r.Dir, StudentDir)
	logPath := filepath.Join(r.Dir, TrainLog) // one lab.RLStats a line
	switch {
	case train.HasCheckpoint(out):
		if err := rl.Restore(out); err != nil {
			return loop.Trained{}, fmt.Errorf("lab-train: %w", err)
		}
	case g.Carry:
		if err := rl.CarryReuse(init); err != nil {
			return loop.Trained{}, fmt.Errorf("lab-train: %w", err)
		}
	}
	// The log keeps the steps of the checkpoint; steps a kill cut off are
	// taken again and logged again.
	log, err := truncateLog(logPath, rl.Done())
	if err != nil {
		return loop.Trained{}, err
	}
	every := c.SaveEvery
	if every == 0 {
		every = max(c.Steps/4, 1)
	}
	r.Log.Info("lab-train: grpo", "from", init, "prompts", len(ps), "steps", c.Steps, "done", rl.Done(), "group", g.Group)
	for rl.Done() < c.Steps {
		st, err := rl.Step(ctx)
		if err != nil {
			return loop.Trained{}, fmt.Errorf("lab-train: %w", err)
		}
		log = append(log, st)
		r.Progress(st.Step+1, c.Steps, fmt.Sprintf("reward %.3f", st.Reward))
		if rl.Done()%every == 0 || rl.Done() == c.Steps {
			// The log first: a kill between the two leaves log lines past the
			// checkpoint, which the resumed run cuts.
			if err := writeJSONL(logPath, log); err != nil {
				return loop.Trained{}, err
			}
			if err := rl.Save(out); err != nil {
				return loop.Trained{}, fmt.Errorf("lab-train: %w", err)
			}
		}
	}
	if err := writeVerdicts(filepath.Join(r.Dir, VerdictsFile), ps, rl); err != nil {
		return loop.Trained{}, err
	}
	metrics := grpoMetrics(log)
	metrics["params"] = float64(m.LM.Config.NumParams())
	metrics["prompts"] = float64(len(ps))
	metrics["step_problems"], metrics["group"] = float64(prompts), float64(g.Group)
	if len(pf.scored) > 0 {
		metrics["scored"] = float64(len(pf.scored))
		for _, st := range log {
			metrics["scored_rows"] += float64(st.Scored)
		}
	}
	return loop.Trained{Student: loop.LocalModel(out), Steps: c.Steps, FirstLoss: log[0].Loss, LastLoss: log[len(log)-1].Loss,
		Log: logPath, Metrics: metrics}, nil
}

// verdictLine is a line of VerdictsFile: a prompt of the round, the
// answers drawn to it and those the verifier passed.
type verdictLine struct {
	Prompt     string `json:"prompt"`
	Difficulty int    `json:"difficulty,omitempty"`
	Drawn      int32  `json:"drawn"`
	Right      int32  `json:"right"`
}

// writeVerdicts writes the round's verdicts, one line per problem of ps
// in order. A resumed round that had finished writes the same file again.
func writeVerdicts(path string, ps []task.Problem, rl *lab.RL) error {
	drawn, right := rl.Verdicts()
	lines := make([]verdictLine, len(ps))
	for i, p := range ps {
		lines[i] = verdictLine{Prompt: p.Prompt, Difficulty: p.Difficulty, Drawn: drawn[i], Right: right[i]}
	}
	return writeJSONL(path, lines)
}

// grpoMetrics summarises a GRPO log for the round's report: the mean over
// the first and the last tenth of the steps of the reward (pass@1 at
// temperature 1 on the training prompts), pass@G, answer length, the
// share of right working, clipped tokens and the policy's token entropy,
// and the CPU time.
func grpoMetrics(log []lab.RLStats) map[string]float64 {
	n := max(len(log)/10, 1)
	mean := func(part []lab.RLStats, f func(lab.RLStats) float64) float64 {
		s := 0.0
		for _, x := range part {
			s += f(x)
		}
		return s / float64(len(part))
	}
	first, last := log[:n], log[len(log)-n:]
	out := map[string]float64{}
	for name, f := range map[string]func(lab.RLStats) float64{
		"reward":     func(x lab.RLStats) float64 { return x.Reward },
		"solved":     func(x lab.RLStats) float64 { return x.Solved },
		"length":     func(x lab.RLStats) float64 { return x.Length },
		"working_ok": func(x lab.RLStats) float64 { return x.WorkingOK },
		"clip_frac":  func(x lab.RLStats) float64 { return x.ClipFrac },
		"entropy":    func(x lab.RLStats) float64 { return x.Entropy },
	} {
		out[name+"_first"], out[name+"_last"] = mean(first, f), mean(last, f)
	}
	for _, x := range log {
		out["cpu_seconds"] += x.CPUSeconds
	}
	return out
}

// earlierSFT reads the worked examples of the earlier rounds' SFT data
// (round 1's labels, usually), which replay keeps in GRPO's batches.
func earlierSFT(r *loop.Round) ([]lab.Conversation, error) {
	var out []lab.Conversation
	for _, d := range r.Earlier() {
		if d.Format != "sft" {
			continue
		}
		cs, err := trainjob.ReadJSONL(d.Path)
		if err != nil {
			return nil, fmt.Errorf("lab-train: replay: %w", err)
		}
		for _, c := range cs {
			out = append(out, c.Messages)
		}
	}
	if len(out) == 0 {
		return nil, errors.New("lab-train: grpo: replay needs an earlier round of SFT data (a labels block), and there is none")
	}
	return out, nil
}

// truncateLog reads a GRPO log and keeps its first steps lines.
func truncateLog(path string, steps int) ([]lab.RLStats, error) {
	raw, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("lab-train: %w", err)
	}
	var out []lab.RLStats
	for line := range bytes.Lines(raw) {
		var st lab.RLStats
		if err := json.Unmarshal(line, &st); err != nil {
			return nil, fmt.Errorf("lab-train: %s: %w", path, err)
		}
		if st.Step < steps {
			out = append(out, st)
		}
	}
	if len(out) != steps {
		return nil, fmt.Errorf("lab-train: %s has %d of the checkpoint's %d steps", path, len(out), steps)
	}
	return out, nil
}

// withOwn returns the replay pool: the earlier rounds' worked examples and
// the round's own (own), each repeated until the own ones are drawn about
// as often as all the earlier ones together, as the loop's mixture weighs
// a round's data against the earlier rounds'.
func withOwn(earlier, own []lab.Conversation) []lab.Conversation {
	if len(own) == 0 {
		return earlier
	}
	out := slices.Clone(earlier)
	for range max(len(earlier)/len(own), 1) {
		out = append(out, own...)
	}
	return out
}

// promptsData is what a prompts file holds (promptLine).
type promptsData struct {
	problems []task.Problem
	demos    []lab.Conversation // worked examples, for GRPO's replay
	scored   []lab.Scored       // completions with their rewards, for GRPO's policy term
}

// readPrompts reads a prompts file.
func readPrompts(path string) (promptsData, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return promptsData{}, fmt.Errorf("lab-train: %w", err)
	}
	return parsePrompts(path, raw)
}

// parsePrompts parses the lines of a prompts file named name.
func parsePrompts(name string, raw []byte) (promptsData, error) {
	var out promptsData
	sc := bufio.NewScanner(bytes.NewReader(raw))
	sc.Buffer(nil, 1<<20)
	for n := 1; sc.Scan(); n++ {
		var p promptLine
		err := json.Unmarshal(sc.Bytes(), &p)
		turns := err == nil && p.Prompt == "" && len(p.Messages) == 2 && p.Messages[0].Role == "user" && p.Messages[1].Role == "assistant"
		switch {
		case err == nil && p.Prompt != "" && p.Messages == nil && p.Reward == nil:
			out.problems = append(out.problems, task.Problem{Prompt: p.Prompt, Difficulty: p.Difficulty})
		case turns && p.Reward == nil:
			out.demos = append(out.demos, p.Messages)
		case turns: // JSON numbers are finite
			out.scored = append(out.scored, lab.Scored{Messages: p.Messages, Reward: *p.Reward})
		default:
			return promptsData{}, fmt.Errorf("lab-train: %s:%d: not a prompt line {\"prompt\": ..., \"difficulty\": ...}, a worked example {\"messages\": [user, assistant]} or a scored one {\"messages\": [user, assistant], \"reward\": r}", name, n)
		}
	}
	if err := sc.Err(); err != nil {
		return promptsData{}, fmt.Errorf("lab-train: %s: %w", name, err)
	}
	if len(out.problems) == 0 {
		return promptsData{}, fmt.Errorf("lab-train: %s: no prompts", name)
	}
	return out, nil
}
