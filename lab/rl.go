package lab

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"

	"github.com/synthloop/synthloop/engine/checkpoint"
	"github.com/synthloop/synthloop/engine/llama"
	"github.com/synthloop/synthloop/engine/sample"
	"github.com/synthloop/synthloop/engine/tokenizer"
	"github.com/synthloop/synthloop/engine/train"
	"github.com/synthloop/synthloop/lab/task"
)

// RLConfig is reinforcement learning from a verifier's rewards with GRPO:
// each step samples Group answers to each of Prompts problems from the
// policy itself (temperature 1, so the samples' log-probabilities are the
// policy's), rewards an answer 1 when it ends properly and the verifier
// accepts it and 0 otherwise, and takes Minibatches optimizer steps on the
// rollouts. With GRPO.SFT above 0, the rewarded rollouts and Replay
// demonstrations a step also train by cross-entropy.
type RLConfig struct {
	Steps       int     `json:"steps"`       // sampling steps
	Prompts     int     `json:"prompts"`     // problems per sampling step
	Group       int     `json:"group"`       // answers sampled per problem (G)
	Minibatches int     `json:"minibatches"` // optimizer steps per pass over a step's rollouts; 0 means 1
	Epochs      int     `json:"epochs"`      // passes over a step's rollouts (PPO's epochs); 0 means 1
	Micro       int     `json:"micro"`       // rollouts per forward pass; 0 means 64
	LR          float64 `json:"lr"`          // after a linear warmup: constant, or with Decay a cosine to LR/10
	Warmup      int     `json:"warmup"`      // optimizer steps
	GRPO        train.GRPOConfig
	// Decay lowers the learning rate along a cosine to LR/10 by the last
	// step, as supervised training does: a round then ends on small steps.
	Decay bool `json:"decay"`
	// AdamW is the optimizer; the zero value is RLAdamW.
	AdamW train.AdamWConfig
	// Dynamic samples up to MaxDraws batches a step and trains only on
	// groups whose rewards differ, Prompts of them at most (DAPO's dynamic
	// sampling): a group that is all right or all wrong has no advantage,
	// and on hard problems most are all wrong.
	Dynamic  bool `json:"dynamic"`
	MaxDraws int  `json:"max_draws"`
	// Replay adds this many of Demos to each sampling step's rollouts,
	// drawn afresh each step, trained by the cross-entropy term only
	// (GRPO.SFT): worked examples of sizes the step's prompts do not ask
	// for, which the policy term alone lets the model forget.
	Replay int            `json:"replay"`
	Demos  []Conversation `json:"-"`
	// Reuse adds this many verified answers of earlier steps to each step,
	// trained by the cross-entropy term only, drawn from the last ReuseKeep
	// distinct ones (0 means 1024): rejection sampling uses each verified
	// answer many times, the policy term once.
	Reuse     int `json:"reuse"`
	ReuseKeep int `json:"reuse_keep"`
	// Wrong, when above 0, keeps at most this many wrong answers per right
	// one in each group that has a right one, drawn at random, and weighs
	// the kept ones up by (wrong answers) / (kept) (train.Rollout.Weight):
	// the group's mean reward and advantages stay exact and the policy
	// gradient's expectation is unchanged, on fewer rows. On hard prompts
	// most of a group is wrong, each with a small advantage.
	Wrong int `json:"wrong"`
	// Merge trains each distinct answer of a group once, weighted by its
	// copies (after Wrong): a right answer's working is nearly always the
	// same string, so a group with several right answers trains the same
	// row several times. The loss and gradient are those of the copies; only
	// the rows differ, and with them how a step splits into minibatches.
	Merge bool `json:"merge"`
	// SFTDistinct counts each distinct verified answer of a group once in
	// the cross-entropy term (train.Rollout.SFTWeight), as rejection
	// sampling keeps it once, however many copies the policy term weighs:
	// by copies, that term trains mostly the problems the policy already
	// solves often, and a rare right answer to a hard one counts 1 in 8.
	SFTDistinct bool `json:"sft_distinct"`
	// Select is how a step picks its problems: SelectUniform ("" too) or
	// SelectLearnable, which spends the samples on problems whose answers
	// are likely to differ. Its state goes with the checkpoint.
	Select string `json:"select"`
	// TrimTail runs each minibatch's last micro-batch on its own rows,
	// not padded to Micro (train.GRPO.TrimTail): the same loss and
	// gradient up to the order of float sums, for less CPU.
	TrimTail bool `json:"trim_tail"`
	// Solved, with Dynamic, trains the groups whose answers are all right
	// by the cross-entropy term (their identical answers merged, weighted
	// by their copies), beside the replayed and reused rows: dynamic
	// sampling drops them from the policy term, where their advantage is
	// 0, yet they are verified answers already paid for, the ones
	// rejection sampling sharpens the policy on.
	Solved bool `json:"solved"`
	// FirstError trains each wrong answer of a mixed group only up to its
	// first token that differs from every right answer of the group (the
	// longest prefix it shares with one of them, then that token): the
	// tokens after it follow from the mistake, and pushing them down as
	// well spreads the group's one bit over tokens that may be right given
	// what came before. Only the group's rewards decide right and wrong.
	FirstError bool `json:"first_error"`
	// SolvedAdv, when above 0 and with Dynamic, trains the groups whose
	// answers are all right in the policy term too, with this advantage
	// (train.Rollout.Bonus), and by the cross-entropy term as every
	// verified answer. With GRPO.BatchBaseline they join the policy term
	// anyway, their advantage 1 − the batch's mean reward.
	SolvedAdv float64 `json:"solved_adv"`
	// Scored are completions sampled before the run, with their rewards
	// (lab-propose's proposals, rewarded by how learnable the solver found
	// them), trained in the policy term beside each step's own rollouts:
	// ScoredStep of them a step, in an order of their own, or with 0 each
	// once, spread evenly over the steps. Their advantage is the reward
	// less the mean over all of Scored, divided by their deviation with
	// GRPO.StdScale: one baseline for the batch they were sampled in, as
	// REINFORCE++ takes a mean per role over its batch, however the steps
	// split them. They bring no sampling log-probs, so Prepare scores them
	// under the policy of the step and their ratio starts at 1: they were
	// sampled by an earlier policy (at its own temperature), which the
	// policy term ignores, as REINFORCE on a replay buffer does. Their
	// tokens count in the policy term's token normaliser beside the step's
	// own, as one update on both roles' rollouts does (Absolute Zero's),
	// so they also scale the solver's policy gradient down a little. They
	// need group baselines: GRPO.BatchBaseline would mix their rewards into
	// the step's.
	Scored     []Scored `json:"-"`
	ScoredStep int      `json:"scored_step"`
}

// Scored is a conversation whose last turn some policy sampled, with the
// reward that turn earned (RLConfig.Scored).
type Scored struct {
	Messages Conversation
	Reward   float64
}

// solvedPolicy reports whether a step's all-right groups join the policy
// term (a bonus, or a baseline under which their advantage is not 0).
func (c RLConfig) solvedPolicy() bool { return c.SolvedAdv > 0 || c.GRPO.BatchBaseline }

// RLAdamW is the optimizer of RL by default: β2 = 0.999 (as RL libraries
// use) rather than the 0.95 of pre-training. Policy gradients from a few
// rewarded samples are noisy and sparse, and a short second-moment memory
// turns Adam into a sign descent that moves every weight a full step on
// noise.
var RLAdamW = train.AdamWConfig{Beta1: 0.9, Beta2: 0.999, Eps: 1e-8, WeightDecay: 0.01}

func (c RLConfig) check() error {
	if c.Steps < 1 || c.Prompts < 1 || c.Group < 2 || c.Minibatches < 0 || c.Epochs < 0 || c.Micro < 0 || !(c.LR > 0) || c.Warmup < 0 || c.MaxDraws < 0 || c.Wrong < 0 {
		return fmt.Errorf("lab: rl: steps %d, prompts %d and lr %g must be positive, group %d at least 2, minibatches %d, micro %d, warmup %d and wrong %d not negative",
			c.Steps, c.Prompts, c.LR, c.Group, c.Minibatches, c.Micro, c.Warmup, c.Wrong)
	}
	if c.Minibatches > c.Prompts*c.Group {
		return fmt.Errorf("lab: rl: %d minibatches of %d rollouts", c.Minibatches, c.Prompts*c.Group)
	}
	if c.Replay < 0 || c.Replay > 0 && (len(c.Demos) == 0 || !(c.GRPO.SFT > 0)) {
		return fmt.Errorf("lab: rl: replay %d needs demos (%d) and an sft weight (%g)", c.Replay, len(c.Demos), c.GRPO.SFT)
	}
	if c.Select != "" && c.Select != SelectUniform && c.Select != SelectLearnable {
		return fmt.Errorf("lab: rl: select %q: want %s or %s", c.Select, SelectUniform, SelectLearnable)
	}
	if c.SolvedAdv < 0 || (c.Solved || c.SolvedAdv > 0) && !c.Dynamic || c.Solved && (!(c.GRPO.SFT > 0) || c.solvedPolicy()) {
		return fmt.Errorf("lab: rl: solved %v and solved_adv %g need dynamic sampling (%v), solved an sft weight (%g) and neither solved_adv nor a batch baseline (%v)",
			c.Solved, c.SolvedAdv, c.Dynamic, c.GRPO.SFT, c.GRPO.BatchBaseline)
	}
	if c.ScoredStep < 0 || len(c.Scored) > 0 && c.GRPO.BatchBaseline {
		return fmt.Errorf("lab: rl: scored_step %d must not be negative, and scored rollouts (%d) need group baselines: a batch baseline would mix their rewards with the step's", c.ScoredStep, len(c.Scored))
	}
	if c.Reuse < 0 || c.ReuseKeep < 0 || c.Reuse > 0 && !(c.GRPO.SFT > 0) {
		return fmt.Errorf("lab: rl: reuse %d and reuse_keep %d must not be negative, and reuse needs an sft weight (%g)", c.Reuse, c.ReuseKeep, c.GRPO.SFT)
	}
	return nil
}

// schedule is the learning rate over total optimizer steps: a linear
// warmup, then LR, or with Decay a cosine down to LR/10.
func (c RLConfig) schedule(total int) train.Cosine {
	lo := c.LR
	if c.Decay {
		lo = c.LR / 10
	}
	return train.Cosine{Peak: c.LR, Min: lo, Warmup: min(c.Warmup, total-1), Total: total}
}

// RLStats describe one sampling step and the optimizer steps on it.
type RLStats struct {
	Step      int     `json:"step"`       // 0-based sampling step
	Reward    float64 `json:"reward"`     // mean reward of the sampled rollouts: pass@1 at temperature 1 on the step's problems
	Solved    float64 `json:"solved"`     // share of sampled problems with a rewarded rollout: pass@G
	Useful    float64 `json:"useful"`     // share of trained rollouts with a non-zero advantage
	Trained   int     `json:"trained"`    // sampled rollouts trained on (after dynamic sampling and Wrong)
	Draws     int     `json:"draws"`      // batches sampled (more than 1 with dynamic sampling)
	Length    float64 `json:"length"`     // mean answer length in tokens
	WorkingOK float64 `json:"working_ok"` // share of rollouts whose working is right (tasks with working)
	// Entropy is the policy's mean entropy in nats over the sampled
	// answers' tokens (the distribution each was drawn from): a collapse
	// to one answer per problem shows as a fall towards 0.
	Entropy    float64 `json:"entropy"`
	Loss       float64 `json:"loss"`        // mean GRPO loss over the optimizer steps
	ClipFrac   float64 `json:"clip_frac"`   // share of clipped tokens
	KL         float64 `json:"kl"`          // mean k3 KL to the reference per token
	SFTLoss    float64 `json:"sft_loss"`    // mean cross-entropy of the rewarded rollouts' and demos' tokens
	CPUSeconds float64 `json:"cpu_seconds"` // process CPU time of the step
	SampleCPU  float64 `json:"sample_cpu"`  // of which sampling the rollouts
	// AllRight is the rows trained from groups whose answers are all right
	// (Solved, SolvedAdv or a batch baseline), after merging.
	AllRight int `json:"all_right,omitempty"`
	// Mixed is the share of the step's sampled groups whose rewards
	// differ: the groups with an advantage, which problem selection aims at.
	Mixed float64 `json:"mixed"`
	// Seen is the share of the step's sampled problems drawn before in the
	// run (learnable selection only; uniform draws rarely repeat one).
	Seen float64 `json:"seen,omitempty"`
	// Cut is the share of the trained wrong answers' tokens that FirstError
	// left out of the policy term (after the first wrong one).
	Cut float64 `json:"cut,omitempty"`
	// Scored is the rows of RLConfig.Scored the step trained, ScoredReward
	// their summed reward.
	Scored       int     `json:"scored,omitempty"`
	ScoredReward float64 `json:"scored_reward,omitempty"`
}

// RL is a GRPO run on a model and a set of problems.
type RL struct {
	m        *Model
	t        task.Task
	problems []task.Problem
	prompts  [][]int32
	cfg      RLConfig
	seed     uint64
	maxTok   int
	demos    []train.Example
	verified []train.Example // the reuse buffer, oldest first
	scored   []train.Rollout // RLConfig.Scored with their advantages, in the order steps take them
	tally    *tally          // the verdicts per problem: learnable selection's weights, and Verdicts
	tr       *train.GRPO
}

// NewRL prepares GRPO of m on problems of t, whose verifier is the reward
// (the problems' Answer fields are never read). ref is the frozen reference
// of a KL term, nil without one.
func NewRL(m, ref *Model, t task.Task, problems []task.Problem, cfg RLConfig, seed uint64) (*RL, error) {
	if err := cfg.check(); err != nil {
		return nil, err
	}
	if len(problems) == 0 {
		return nil, errors.New("lab: rl: no problems")
	}
	cfg.Minibatches, cfg.Epochs = max(cfg.Minibatches, 1), max(cfg.Epochs, 1)
	if cfg.Micro == 0 {
		cfg.Micro = 64
	}
	if cfg.ReuseKeep == 0 {
		cfg.ReuseKeep = 1024
	}
	r := &RL{m: m, t: t, problems: problems, cfg: cfg, seed: seed, maxTok: maxTokens(t, problems)}
	r.tally = newTally(len(problems), cfg.Group)
	longest := 0
	for _, p := range problems {
		ids, err := m.prompt(p)
		if err != nil {
			return nil, err
		}
		r.prompts = append(r.prompts, ids)
		longest = max(longest, len(ids))
	}
	// A rollout is the prompt, the answer and its closing <|end|>; the last
	// token needs no input position.
	if need := longest + r.maxTok + 1; need > m.LM.Config.MaxSeq {
		return nil, fmt.Errorf("lab: rl: prompts of up to %d tokens with answers of up to %d need a context of %d, the model has %d", longest, r.maxTok, need, m.LM.Config.MaxSeq)
	}
	seq := longest + r.maxTok
	for i, c := range cfg.Demos {
		e, err := m.example(c) // checks the context
		if err != nil {
			return nil, fmt.Errorf("lab: rl: demo %d: %w", i, err)
		}
		r.demos = append(r.demos, e)
		seq = max(seq, len(e.Tokens)-1)
	}
	scored, err := scoredRollouts(m, cfg.Scored, cfg.GRPO.StdScale, seed)
	if err != nil {
		return nil, err
	}
	r.scored = scored
	for _, x := range r.scored {
		seq = max(seq, len(x.Tokens)-1)
	}
	pad, _ := m.Tok.SpecialID(tokenizer.PAD)
	if cfg.AdamW == (train.AdamWConfig{}) {
		cfg.AdamW = RLAdamW
	}
	total := cfg.Steps * cfg.Minibatches * cfg.Epochs
	var refLM *llama.Model
	switch {
	case ref != nil:
		refLM = ref.LM
	case cfg.GRPO.KL > 0:
		return nil, errors.New("lab: rl: a KL term needs a reference model")
	}
	tr, err := train.NewGRPO(m.LM, refLM, cfg.GRPO, train.Config{Batch: min(cfg.Micro, cfg.Prompts*cfg.Group+cfg.Replay+cfg.Reuse+r.scoredStep()), Seq: seq, Seed: seed,
		AdamW: cfg.AdamW, Schedule: cfg.schedule(total),
		ClipNorm: 1, Pad: int32(pad)})
	if err != nil {
		return nil, fmt.Errorf("lab: rl: %w", err)
	}
	tr.TrimTail = cfg.TrimTail
	r.tr = tr
	return r, nil
}

// Verdicts returns, for each problem, how many answers the run has drawn
// to it and how many of them the verifier passed, over every draw of every
// step (those dynamic sampling dropped too): a problem with some right and
// some wrong is one the policy solves sometimes, not always. A uniform run
// restored from a checkpoint without them (an older synthloop's) counts
// from its restored step on.
func (r *RL) Verdicts() (drawn, right []int32) {
	return slices.Clone(r.tally.Drawn), slices.Clone(r.tally.Right)
}

// Done returns the sampling steps taken.
func (r *RL) Done() int { return r.tr.Steps() / r.perStep() }

// perStep is the optimizer steps of one sampling step.
func (r *RL) perStep() int { return r.cfg.Minibatches * r.cfg.Epochs }

// Save writes the policy, its optimizer state and the step as a model
// directory that also resumes the run (Restore). The reuse buffer goes
// first into a file named for the step, so a kill before the trainer's
// state is committed leaves the buffer of the committed step in place.
func (r *RL) Save(dir string) error {
	if r.cfg.Reuse > 0 {
		if err := writeReuse(filepath.Join(dir, reuseFile(r.Done())), r.verified); err != nil {
			return err
		}
	}
	if err := saveTally(dir, r.Done(), r.tally); err != nil {
		return err
	}
	if err := r.tr.Save(dir); err != nil {
		return fmt.Errorf("lab: rl: %w", err)
	}
	if err := r.m.Save(dir); err != nil {
		return err
	}
	for _, pattern := range []func(int) string{reuseFile, selectFile} {
		old, _ := filepath.Glob(filepath.Join(dir, pattern(-1)))
		for _, f := range old {
			if f != filepath.Join(dir, pattern(r.Done())) {
				os.Remove(f) // a leftover costs only disk
			}
		}
	}
	return nil
}

// Restore continues the run saved in dir.
func (r *RL) Restore(dir string) error {
	if err := r.tr.Restore(dir); err != nil {
		return fmt.Errorf("lab: rl: %w", err)
	}
	if r.tr.Steps()%r.perStep() != 0 {
		return fmt.Errorf("lab: rl: %s was saved inside a sampling step", dir)
	}
	if r.cfg.Reuse > 0 && r.Done() > 0 {
		raw, err := os.ReadFile(filepath.Join(dir, reuseFile(r.Done())))
		if err != nil {
			return fmt.Errorf("lab: rl: %w", err)
		}
		if r.verified, err = parseReuse(raw, r.m.LM.Config.Vocab); err != nil {
			return fmt.Errorf("lab: rl: %s: %w", reuseFile(r.Done()), err)
		}
	}
	if r.Done() > 0 {
		t, err := loadTally(dir, r.Done(), len(r.problems))
		switch {
		case errors.Is(err, fs.ErrNotExist) && r.cfg.Select != SelectLearnable:
			// A checkpoint of a uniform run from before every run kept its
			// verdicts: they count from here on.
		case err != nil:
			return err
		default:
			r.tally = t
		}
	}
	return nil
}

// CarryReuse starts a run's reuse buffer with the one an earlier run saved
// in dir (its newest), cut to ReuseKeep, so that reuse draws from the
// verified answers of earlier rounds too, as RFT's data mixes every
// round's. It must come before the first Step; a dir without a buffer
// leaves the buffer empty.
func (r *RL) CarryReuse(dir string) error {
	if r.Done() > 0 {
		return errors.New("lab: rl: carry a reuse buffer before the first step")
	}
	files, err := filepath.Glob(filepath.Join(dir, reuseFile(-1)))
	if err != nil || len(files) == 0 {
		return err
	}
	newest := files[len(files)-1] // the step is zero-padded, so names sort by it
	raw, err := os.ReadFile(newest)
	if err != nil {
		return fmt.Errorf("lab: rl: %w", err)
	}
	es, err := parseReuse(raw, r.m.LM.Config.Vocab)
	if err != nil {
		return fmt.Errorf("lab: rl: %s: %w", newest, err)
	}
	r.verified = es[max(len(es)-r.cfg.ReuseKeep, 0):]
	return nil
}

// reuseFile names the reuse buffer after sampling step s; -1 gives the
// pattern of all of them.
func reuseFile(s int) string {
	if s < 0 {
		return "rl-reuse-*.json"
	}
	return fmt.Sprintf("rl-reuse-%06d.json", s)
}

// writeReuse writes a reuse buffer as a JSON list of examples.
func writeReuse(path string, es []train.Example) error {
	if es == nil {
		es = []train.Example{}
	}
	raw, err := json.Marshal(es)
	if err != nil {
		return fmt.Errorf("lab: rl: %w", err)
	}
	if err := checkpoint.WriteFileAtomic(path, raw); err != nil {
		return fmt.Errorf("lab: rl: %w", err)
	}
	return nil
}

// parseReuse reads a reuse buffer and checks that every example fits the
// vocabulary and has a mask as long as its tokens.
func parseReuse(raw []byte, vocab int) ([]train.Example, error) {
	var es []train.Example
	if err := json.Unmarshal(raw, &es); err != nil {
		return nil, err
	}
	for i, e := range es {
		if len(e.Tokens) < 2 || len(e.Mask) != len(e.Tokens) {
			return nil, fmt.Errorf("example %d: %d tokens and %d mask entries", i, len(e.Tokens), len(e.Mask))
		}
		for _, t := range e.Tokens {
			if t < 0 || int(t) >= vocab {
				return nil, fmt.Errorf("example %d: token %d outside the vocabulary of %d", i, t, vocab)
			}
		}
	}
	return es, nil
}

// Step samples rollouts, rewards them and trains on them. Sampling step s
// draws its problems and samples from seeds of its own, so a run restored
// after step s continues exactly as it would have. With Dynamic it samples
// up to MaxDraws batches of problems and trains on the groups whose
// rewards differ (DAPO's dynamic sampling), Prompts of them at most. Replay
// demos, drawn from a seed of the step's own, join each minibatch in equal
// shares.
func (r *RL) Step(ctx context.Context) (RLStats, error) {
	if err := ctx.Err(); err != nil {
		return RLStats{}, err
	}
	c0 := CPUSeconds()
	s := r.Done()
	st := RLStats{Step: s}
	var rs []train.Rollout
	var all []train.Rollout
	draws := 1
	if r.cfg.Dynamic {
		draws = max(r.cfg.MaxDraws, 1)
	}
	groups, mixedGroups := 0, 0
	var solved []train.Rollout // the all-right groups of the step's draws, numbered apart
	drawn := map[int]bool{}    // the step's problems so far (learnable selection draws each once a step)
	for d := range draws {
		c1 := CPUSeconds()
		batch, idx, err := r.sample(s, d, &st, drawn)
		st.SampleCPU += CPUSeconds() - c1
		if err != nil {
			return st, err
		}
		st.Draws++
		for _, x := range batch {
			// Each draw numbers its groups from 0: a step with no mixed
			// group trains all its draws (stepRows), where group g of one
			// draw is another problem than group g of the next.
			x.Group += d * r.cfg.Prompts
			all = append(all, x)
		}
		mixedGroups += countMixed(batch)
		for _, p := range idx {
			if r.cfg.Select == SelectLearnable && r.tally.Drawn[p] > 0 {
				st.Seen++
			}
			drawn[p] = true
		}
		r.tally.record(idx, batch)
		if !r.cfg.Dynamic {
			rs = batch
			break
		}
		adv := train.Advantages(batch, false)
		keepSolved := r.cfg.Solved || r.cfg.solvedPolicy()
		for g := 0; g < r.cfg.Prompts && (groups < r.cfg.Prompts || keepSolved); g++ {
			var grp []train.Rollout
			mixed, right := false, true
			for i, x := range batch {
				if x.Group == g {
					mixed = mixed || adv[i] != 0
					right = right && x.Reward > 0
					grp = append(grp, x)
				}
			}
			switch {
			case mixed && groups < r.cfg.Prompts:
				for _, x := range grp {
					x.Group = groups
					rs = append(rs, x)
				}
				groups++
			case right && !mixed && keepSolved:
				for _, x := range grp {
					x.Group = d*r.cfg.Prompts + g // unique in the step; renumbered below
					solved = append(solved, x)
				}
			}
		}
		if groups >= r.cfg.Prompts {
			break
		}
	}
	rs, extra := r.stepRows(rs, all, solved, groups)
	if !r.cfg.solvedPolicy() {
		st.AllRight = len(extra)
	}
	n := float64(len(all))
	st.Entropy /= max(st.Length, 1)
	st.Reward, st.Length, st.WorkingOK = st.Reward/n, st.Length/n, st.WorkingOK/n
	st.Solved /= float64(st.Draws * r.cfg.Prompts)
	st.Mixed = float64(mixedGroups) / float64(st.Draws*r.cfg.Prompts)
	st.Seen /= float64(st.Draws * r.cfg.Prompts)
	if r.cfg.Wrong > 0 {
		rs = r.fewerWrong(s, rs)
	}
	if r.cfg.Merge {
		rs = mergeSame(rs)
	}
	if r.cfg.FirstError {
		st.Cut = firstError(rs)
	}
	if r.cfg.SFTDistinct {
		countOnce(rs)
	}
	if r.cfg.solvedPolicy() && len(solved) > 0 {
		for _, x := range rs {
			if x.Group >= groups {
				st.AllRight++
			}
		}
	}
	sampled := len(rs)
	st.Trained = sampled
	scored := r.scoredRows(s)
	st.Scored = len(scored)
	for _, x := range scored {
		st.ScoredReward += x.Reward
	}
	rs, bounds := r.withDemos(s, rs, append(extra, scored...))
	if r.cfg.Reuse > 0 {
		defer r.keepVerified(all)
	}
	useful, err := r.tr.Prepare(rs)
	if err != nil {
		return st, fmt.Errorf("lab: rl: %w", err)
	}
	for _, x := range scored {
		if x.Bonus != 0 {
			useful-- // Useful is the share of the step's own rollouts
		}
	}
	st.Useful = float64(useful) / float64(sampled)
	// Every pass takes the same minibatches; from the second pass on the
	// ratio to the sampling policy, and its clip, bound how far the
	// rollouts are reused.
	mb, n := r.cfg.Minibatches, float64(r.perStep())
	for k := range r.perStep() {
		lo, hi := bounds[k%mb], bounds[k%mb+1]
		if lo == hi {
			if _, err := r.tr.Step(0, len(rs)); err != nil { // keeps the step count
				return st, fmt.Errorf("lab: rl step %d: %w", s, err)
			}
			continue
		}
		gs, err := r.tr.Step(lo, hi)
		if err != nil {
			return st, fmt.Errorf("lab: rl step %d: %w", s, err)
		}
		st.Loss += gs.Loss / n
		st.ClipFrac += gs.ClipFrac / n
		st.KL += gs.KL / n
		st.SFTLoss += gs.SFTLoss / n
	}
	st.CPUSeconds = CPUSeconds() - c0
	return st, nil
}

// stepRows returns a step's rows for the policy term and the all-right rows
// trained by the cross-entropy term only (Solved), from its mixed groups rs
// (numbered 0 to groups−1), every rollout it drew (all) and the all-right
// groups solved (numbered apart, in the order drawn).
func (r *RL) stepRows(rs, all, solved []train.Rollout, groups int) ([]train.Rollout, []train.Rollout) {
	if len(rs) == 0 && (len(solved) == 0 || !r.cfg.solvedPolicy()) {
		// Nothing to learn from: a step of zero advantages keeps the step
		// count. all holds the all-right answers already, trained by the
		// cross-entropy term as verified answers: adding them again as
		// extra rows would count them twice.
		return all, nil
	}
	if len(solved) == 0 {
		return rs, nil
	}
	// After the mixed groups, in the order drawn, so that groups stay
	// contiguous and their numbers distinct.
	first, next := solved[0].Group, groups
	for i := range solved {
		if solved[i].Group != first {
			first, next = solved[i].Group, next+1
		}
		solved[i].Group = next
	}
	if r.cfg.solvedPolicy() {
		for i := range solved {
			solved[i].Bonus = r.cfg.SolvedAdv
		}
		return append(rs, solved...), nil
	}
	for i := range solved {
		solved[i].Demo = true // cross-entropy only (SFT is already set: all are right)
	}
	extra := mergeSame(solved)
	if r.cfg.SFTDistinct {
		countOnce(extra)
	}
	return rs, extra
}

// keepVerified adds the step's verified answers to the reuse buffer, once
// each, and drops the oldest beyond ReuseKeep.
func (r *RL) keepVerified(rs []train.Rollout) {
	seen := map[string]bool{}
	key := func(e train.Example) string { return fmt.Sprint(e.Tokens) }
	for _, e := range r.verified {
		seen[key(e)] = true
	}
	for _, x := range rs {
		if x.Reward > 0 && !seen[key(x.Example)] {
			seen[key(x.Example)] = true
			r.verified = append(r.verified, x.Example)
		}
	}
	if n := len(r.verified) - r.cfg.ReuseKeep; n > 0 {
		r.verified = append([]train.Example(nil), r.verified[n:]...)
	}
}

// replayStream and wrongStream are the random streams of the demos of a
// step and of its kept wrong answers, scoredStream the order of the scored
// rollouts, apart from the sampling streams (step | draw<<40).
const (
	replayStream = 1 << 62
	wrongStream  = 1 << 61
	scoredStream = 1 << 60
)

// scoredGroup numbers the scored rollouts' groups, one each, apart from
// the groups of a step's draws (numbered from 0).
const scoredGroup = 1 << 30

// scoredRollouts encodes ss for m as rollouts in an order drawn from seed,
// each with its advantage against their batch (RLConfig.Scored) as its
// Bonus and a group of its own, where its group-relative advantage is 0.
func scoredRollouts(m *Model, ss []Scored, stdScale bool, seed uint64) ([]train.Rollout, error) {
	if len(ss) == 0 {
		return nil, nil
	}
	rs := make([]train.Rollout, len(ss))
	for i, s := range ss {
		e, err := m.example(s.Messages) // masks the sampled turn and its <|end|>, as a sampled rollout
		if err != nil {
			return nil, fmt.Errorf("lab: rl: scored rollout %d: %w", i, err)
		}
		rs[i] = train.Rollout{Example: e, Reward: s.Reward}
	}
	adv := train.BatchAdvantages(rs, stdScale)
	out := make([]train.Rollout, len(rs))
	for i, j := range rand.New(rand.NewPCG(seed, scoredStream)).Perm(len(rs)) {
		out[i] = rs[j]
		out[i].Bonus = adv[j]
	}
	return out, nil
}

// scoredStep is the most scored rollouts a step takes.
func (r *RL) scoredStep() int {
	n := len(r.scored)
	if k := r.cfg.ScoredStep; k > 0 || n == 0 {
		return min(k, n)
	}
	return (n + r.cfg.Steps - 1) / r.cfg.Steps
}

// scoredRows returns the scored rollouts of step s (RLConfig.ScoredStep),
// each in a group of its own.
func (r *RL) scoredRows(s int) []train.Rollout {
	n := len(r.scored)
	if n == 0 {
		return nil
	}
	lo, hi := s*n/r.cfg.Steps, (s+1)*n/r.cfg.Steps // each once over the steps
	if k := r.scoredStep(); r.cfg.ScoredStep > 0 {
		lo, hi = s*k, (s+1)*k // round and round
	}
	out := make([]train.Rollout, 0, hi-lo)
	for j := lo; j < hi; j++ {
		x := r.scored[j%n]
		x.Group = scoredGroup + j%n
		out = append(out, x)
	}
	return out
}

// fewerWrong keeps, in each group of rs with a right answer, at most Wrong
// wrong answers per right one, drawn for step s, weighted up to stand for
// all of them. Groups keep their order; so do the rollouts within one.
func (r *RL) fewerWrong(s int, rs []train.Rollout) []train.Rollout {
	rng := rand.New(rand.NewPCG(r.seed, wrongStream|uint64(s)))
	var order []int
	members := map[int][]int{}
	for i, x := range rs {
		if members[x.Group] == nil {
			order = append(order, x.Group)
		}
		members[x.Group] = append(members[x.Group], i)
	}
	out := make([]train.Rollout, 0, len(rs))
	for _, g := range order {
		var wrong []int
		for _, i := range members[g] {
			if rs[i].Reward == 0 {
				wrong = append(wrong, i)
			}
		}
		right := len(members[g]) - len(wrong)
		keep := min(len(wrong), r.cfg.Wrong*right)
		if right == 0 || keep == len(wrong) {
			for _, i := range members[g] {
				out = append(out, rs[i])
			}
			continue
		}
		kept := map[int]bool{}
		for _, j := range rng.Perm(len(wrong))[:keep] {
			kept[wrong[j]] = true
		}
		w := float64(len(wrong)) / float64(keep)
		for _, i := range members[g] {
			switch x := rs[i]; {
			case x.Reward > 0:
				out = append(out, x)
			case kept[i]:
				x.Weight = w
				out = append(out, x)
			}
		}
	}
	return out
}

// mergeSame keeps the first of the identical rollouts of each group, its
// weight the sum of theirs. Groups keep their order; so do the rollouts
// within one.
func mergeSame(rs []train.Rollout) []train.Rollout {
	type key struct {
		group  int
		tokens string
	}
	first := map[key]int{}
	out := make([]train.Rollout, 0, len(rs))
	for _, x := range rs {
		k := key{x.Group, fmt.Sprint(x.Tokens)}
		if i, ok := first[k]; ok {
			out[i].Weight = out[i].Weighted() + x.Weighted()
			continue
		}
		first[k] = len(out)
		out = append(out, x)
	}
	return out
}

// firstError masks the tokens of each wrong rollout in rs after the first
// one at which it differs from every right rollout of its group
// (RLConfig.FirstError), and returns the share of the wrong rollouts'
// trained tokens it masked. A group with no right rollout is left as it is.
func firstError(rs []train.Rollout) float64 {
	right := map[int][][]int32{}
	for _, x := range rs {
		if x.Reward > 0 {
			right[x.Group] = append(right[x.Group], x.Tokens)
		}
	}
	var total, cut int
	for i := range rs {
		x := &rs[i]
		if x.Reward > 0 || len(right[x.Group]) == 0 {
			continue
		}
		k := 0 // the longest prefix x shares with a right rollout
		for _, t := range right[x.Group] {
			n := 0
			for n < min(len(t), len(x.Tokens)) && t[n] == x.Tokens[n] {
				n++
			}
			k = max(k, n)
		}
		// Position k holds the first wrong token; the mask is copied because
		// merged and reused rollouts may share it.
		mask := slices.Clone(x.Mask)
		for j := range mask {
			if !mask[j] {
				continue
			}
			total++
			if j > k {
				mask[j] = false
				cut++
			}
		}
		x.Mask = mask
	}
	if total == 0 {
		return 0
	}
	return float64(cut) / float64(total)
}

// countOnce sets the cross-entropy weight of each verified rollout so that
// the identical ones of a group weigh 1 together, whatever their Weights.
func countOnce(rs []train.Rollout) {
	type key struct {
		group  int
		tokens string
	}
	total := map[key]float64{}
	for _, x := range rs {
		if x.SFT {
			total[key{x.Group, fmt.Sprint(x.Tokens)}] += x.Weighted()
		}
	}
	for i := range rs {
		if x := &rs[i]; x.SFT {
			x.SFTWeight = x.Weighted() / total[key{x.Group, fmt.Sprint(x.Tokens)}]
		}
	}
}

// withDemos returns the step's rollouts with Replay demos drawn for step s,
// Reuse verified answers of earlier steps and the cross-entropy rows extra,
// laid out minibatch by minibatch (each its share of the rollouts, then its
// share of the others), and the minibatches' bounds.
func (r *RL) withDemos(s int, rs, extra []train.Rollout) ([]train.Rollout, []int) {
	mb := r.cfg.Minibatches
	var demos []train.Rollout
	rng := rand.New(rand.NewPCG(r.seed, replayStream|uint64(s)))
	for range r.cfg.Replay {
		demos = append(demos, train.Rollout{Example: r.demos[rng.IntN(len(r.demos))], Demo: true})
	}
	for range min(r.cfg.Reuse, len(r.verified)) {
		demos = append(demos, train.Rollout{Example: r.verified[rng.IntN(len(r.verified))], Demo: true})
	}
	demos = append(demos, extra...)
	out := make([]train.Rollout, 0, len(rs)+len(demos))
	bounds := []int{0}
	for k := range mb {
		out = append(out, rs[k*len(rs)/mb:(k+1)*len(rs)/mb]...)
		out = append(out, demos[k*len(demos)/mb:(k+1)*len(demos)/mb]...)
		bounds = append(bounds, len(out))
	}
	return out, bounds
}

// sample draws batch d of sampling step s: Prompts problems, Group answers
// each, rewarded by the verifier; it adds the answers' reward, length,
// right working, token entropy and solved problems to st (sums, not yet
// means).
func (r *RL) sample(s, d int, st *RLStats, skip map[int]bool) ([]train.Rollout, []int, error) {
	stream := uint64(s)
	if d > 0 {
		stream |= uint64(d) << 40
	}
	rng := rand.New(rand.NewPCG(r.seed, stream))
	idx := make([]int, r.cfg.Prompts)
	if r.cfg.Select == SelectLearnable {
		idx = r.tally.pick(rng, r.cfg.Prompts, skip)
	} else {
		for i := range idx {
			idx[i] = rng.IntN(len(r.problems))
		}
	}
	ps := make([][]int32, r.cfg.Prompts)
	for i := range idx {
		ps[i] = r.prompts[idx[i]]
	}
	cs, err := sample.Generate(r.m.LM, ps, sample.Options{N: r.cfg.Group, Temperature: 1, Seed: r.seed ^ stream<<20,
		MaxTokens: r.maxTok, StopTokens: []int32{r.m.end}, Entropy: true})
	if err != nil {
		return nil, nil, fmt.Errorf("lab: rl: %w", err)
	}
	worked, _ := r.t.(task.Worked)
	rs := make([]train.Rollout, len(cs))
	solved := make([]bool, len(ps))
	for i, c := range cs {
		p := r.problems[idx[c.Prompt]]
		a := r.m.answer(c.Tokens, c.Finish == "stop")
		reward := 0.0
		if a.Stopped && r.t.Verify(p, a.Text) {
			reward = 1
			solved[c.Prompt] = true
		}
		if worked != nil && worked.WorkingRight(p, a.Text) {
			st.WorkingOK++
		}
		toks := append(append([]int32{}, ps[c.Prompt]...), c.Tokens...)
		// The sampler's log-probs are the sampling policy's (temperature 1,
		// nothing cut), so GRPO's ratio needs no second pass.
		old := append(make([]float32, len(ps[c.Prompt])), c.LogProbs...)
		if c.Finish == "stop" {
			toks = append(toks, r.m.end) // closing the answer was the policy's choice too
			old = append(old, c.EndLogProb)
		}
		mask := make([]bool, len(toks))
		for j := len(ps[c.Prompt]); j < len(toks); j++ {
			mask[j] = true
		}
		rs[i] = train.Rollout{Example: train.Example{Tokens: toks, Mask: mask}, Group: c.Prompt, Reward: reward, SFT: reward > 0, OldLogProbs: old}
		st.Reward += reward
		st.Length += float64(len(c.Tokens))
		for _, h := range c.Entropy {
			st.Entropy += float64(h)
		}
	}
	for _, ok := range solved {
		if ok {
			st.Solved++
		}
	}
	return rs, idx, nil
}

// countMixed counts the groups of a draw whose rewards differ.
func countMixed(rs []train.Rollout) int {
	lo, hi := map[int]float64{}, map[int]float64{}
	for _, x := range rs {
		if v, ok := lo[x.Group]; !ok || x.Reward < v {
			lo[x.Group] = x.Reward
		}
		if v, ok := hi[x.Group]; !ok || x.Reward > v {
			hi[x.Group] = x.Reward
		}
	}
	n := 0
	for g, v := range lo {
		if hi[g] != v {
			n++
		}
	}
	return n
}
