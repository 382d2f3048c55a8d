package loopplug

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"math"
	"math/rand/v2"
	"runtime"
	"strings"
	"sync"

	"golang.org/x/sync/errgroup"

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
	// Chunk draws the K answers to each proposal this many at a time and
	// stops drawing for a proposal once it has a right and a wrong answer:
	// it is then learnable whatever the rest say, and the answers drawn are
	// the first of the K one call would draw (lab.Decode.First), so the
	// kept problems are exactly those of K answers at once. Only its weight,
	// once per wrong answer, is then estimated from the answers drawn:
	// K × wrong / drawn, rounded. The round's pass_at_1 metric is computed
	// from the answers drawn too, and the early stop biases it (a proposal
	// stops as soon as its outcomes differ): compare it only between runs
	// with the same chunk.
	Chunk int `yaml:"chunk" doc:"Answers drawn at a time to each proposal, which stops once it has a right and a wrong one (0: all k at once)"`
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
	// References conditions the proposer on that many problems the latest
	// round before kept (Absolute Zero's reference problems), drawn in
	// proportion to their wrong answers and written before the "=" of the
	// proposer prompt (see proposerPrompt), so that the proposals follow
	// the learnable edge rather than the labelled range; 0 is the bare "=".
	References int `yaml:"references" doc:"Problems the last round kept, shown in each proposer prompt (0: the bare \"=\")"`
	// HardestReferences draws the references from that share of the kept
	// problems, the longest first, rather than from all of them: the kept
	// problems are the learnable ones whatever their length, and most are
	// below the edge (in round 2 they are the labelled range), so showing
	// the longest moves the proposals to the edge sooner. The verifier
	// still decides what is kept; nothing sets how long the next round's
	// problems are.
	// ProposerEqual, with MixedOperands, gives the labelled round's
	// proposer examples, their references and the next round's references
	// only the labelled problems whose operands have one length, the
	// lengths held-out problems have, while the solver still trains on
	// all the labels: the proposer learns its grammar from its examples,
	// and labels of independent lengths make its long proposals mostly a
	// long operand plus a short one.
	ProposerEqual bool `yaml:"proposer_equal" doc:"With mixed_operands: the labelled round's proposer examples and references only of equal operand lengths"`
	// EqualOperands takes the task's grammar from round 2 on to be that of
	// the held-out problems, two operands of one length: a proposal whose
	// operands differ is rejected as outside it (counted as off_shape), as
	// Absolute Zero rejects a proposed program that does not run. Labels of
	// independent lengths train the solver well but teach the proposer a
	// long operand plus a short one: on strong starts the online proposals
	// ran to 10–13 digits with the shorter operand about half the longer
	// and 2–10% equal, learnable and long (so costly to sample) while
	// teaching little of what held-out problems ask. Nothing says how long
	// a proposal is; only its shape is fixed. Measured (BENCHMARKS.md, "a
	// uniform curriculum over equal operands"): online with it climbed on
	// one start of four and never left the labelled lengths on three, as
	// the proposer writes only the lengths it was trained to write and a
	// long operand with a short one was its step beyond them.
	// EqualReferences, with Online, keeps every proposal as GRPO's prompt
	// whatever its shape, but lets only the learnable ones with operands
	// of one length count for what comes after (references, earlier
	// prompts, proposer examples): the solver keeps the steps a long
	// operand with a short one gives beyond the labelled lengths, which
	// EqualOperands takes away (the proposer then stalled there), while
	// the proposer is shown and taught the held-out shape. Each proposal
	// line records the rule (EqualOnly). Measured (exploratory, four
	// starts): the best online arm yet on one strong start, but on three
	// the proposer learned the equal shape at 4 digits within 6–17 rounds,
	// stopped writing the mixed steps, and neither it nor the solver moved.
	// EqualTwins, with Online, adds to GRPO's prompts a twin of every
	// proposal whose operands differ in length: a problem of the task's
	// grammar with both operands as long as the proposal's longer one,
	// its digits drawn at random by the round's seed. The proposer so
	// still chooses how long the solver's problems are, and keeps its
	// steps of a long operand with a short one, which the equal rules
	// took away (the proposer then stalled at the labelled lengths),
	// while the solver also trains the held-out shape at the lengths it
	// is proposing. A twin was not proposed: it is no reference, earlier
	// prompt or proposer example, and its verdicts count for nothing
	// after the round; GRPO's verifier alone rewards its answers.
	// Measured (BENCHMARKS.md, "equal twins"): ahead of plain online on
	// every start where it climbed; against a uniform curriculum over
	// equal operands on five weak starts (pre-registered) ahead on three,
	// and on one the proposer never left the labelled lengths.
	// LearnableTwins, with EqualTwins, makes the twins those of the round
	// before's learnable proposals of unequal operands instead of every
	// unequal proposal of the round: GRPO draws a fixed number of answers
	// a round, so twins of every proposal cut the answers each proposal
	// gets to about half (seed 57, round 2: 12.4 against 22.1), and the
	// rare right answer to a proposal past the labelled lengths, which
	// makes it learnable and starts the climb, came later or never. Twins
	// of the learnable ones are fewer and at lengths the solver solves
	// sometimes in the mixed shape.
	// Measured (BENCHMARKS.md, "equal twins"): ahead of uniform over equal
	// operands on 4 of 5 weak starts (post hoc), behind on 4 of 4 strong
	// ones by CPU (pre-registered), its rounds 1.4× as costly.
	LearnableTwins    bool    `yaml:"learnable_twins" doc:"With equal_twins: twins only of the round before's learnable proposals (fewer, at lengths solved sometimes), not of every proposal"`
	EqualTwins        bool    `yaml:"equal_twins" doc:"With online: every proposal whose operands differ in length also gets a GRPO prompt with both operands of its longer length (random digits); the proposer still sets the lengths"`
	EqualReferences   bool    `yaml:"equal_references" doc:"With online: every proposal is a GRPO prompt, but only learnable ones with operands of one length become references, earlier prompts and proposer examples"`
	EqualOperands     bool    `yaml:"equal_operands" doc:"From round 2 on, reject proposals whose two operands differ in length (the held-out problems' shape; counted as off_shape)"`
	HardestReferences float64 `yaml:"hardest_references" doc:"Draw references from this share of the kept problems, longest first (0: all)"`
	// MixedOperands draws the labelled operands of reverse addition of
	// independent lengths, as lab-labels does: they train reliably where
	// equal lengths do not.
	MixedOperands bool `yaml:"mixed_operands" doc:"Labelled operands of independent lengths (tasks with two operands)"`
	// EqualShare, with MixedOperands, gives that share of the labelled
	// problems two operands of one length, the lengths held-out problems
	// have: the proposer learns its grammar from the labels, so labels of
	// independent lengths alone make its long proposals mostly a long
	// operand plus a short one. The key is lab-rft's too, so a baseline
	// inheriting it draws its uniform range by the same rule.
	EqualShare float64 `yaml:"equal_share" doc:"With mixed_operands: share of the labelled problems with both operands of one length"`
	// TrainSolved also trains the solver on the verified answers of the
	// proposals it solved every time, as lab-rft trains on every verified
	// answer: the learnability filter then chooses only the proposer's
	// examples and the next round's references, and a comparison with
	// lab-rft on a fixed range differs only in where the problems come from.
	TrainSolved bool `yaml:"train_solved" doc:"Also train the solver on the verified answers of proposals solved every time"`
	// Prompts makes the round's data the kept problems without answers, in
	// lab-prompts' format, so that lab-train runs GRPO on them: a group of
	// answers that are all right or all wrong gives GRPO nothing, and the
	// learnability filter keeps exactly the problems whose groups differ.
	// The solver then learns from rewards alone. With TrainProposer the
	// proposer examples go into the file as worked examples, which GRPO's
	// replay trains by cross-entropy; without it the proposer learns only
	// in the labelled round and follows the kept problems through the
	// references.
	Prompts bool `yaml:"prompts" doc:"Write the kept problems without answers as the round's data, for lab-train's GRPO; with train_proposer the proposer examples too, which GRPO's replay trains"`
	// EarlierPrompts, with Prompts, makes that share of the round's GRPO
	// prompts problems that earlier rounds kept (not the labelled round's),
	// each drawn in proportion to its wrong answers then: the proposals
	// move on to longer problems, and a solver trained only at the edge
	// forgets the lengths it has left behind. A problem it still solves
	// every time gives GRPO an all-right group, which dynamic sampling
	// drops; one it has forgotten is trained again. Nothing sets which
	// lengths: they are the model's own earlier learnable problems.
	EarlierPrompts float64 `yaml:"earlier_prompts" doc:"With prompts: share of the GRPO prompts drawn from problems earlier rounds kept (0: none)"`
	// EarlierAnswers, with Prompts and TrainProposer, makes that share of
	// the round's worked examples (the lines GRPO's replay trains by
	// cross-entropy, otherwise all proposer examples) verified answers to
	// problems rounds 2 to r−1 kept, each drawn in proportion to its wrong
	// answers then (copies). The replay holds round 1's labels, and with
	// them the labelled lengths, at 0.94–0.99 while the proposals move
	// on; the lengths between the labels and the edge had nothing that
	// held them and were forgotten. An answer is one the teacher sampled
	// and the verifier passed, re-checked when read: no label, and nothing
	// says which lengths, only which problems were once learnable.
	EarlierAnswers float64 `yaml:"earlier_answers" doc:"With prompts and train_proposer: share of the round's worked examples (GRPO's replay) that are verified answers to problems earlier rounds kept (0: none)"`
	// Online, with Prompts, writes every new proposal as a GRPO prompt
	// without answering it first: GRPO's dynamic sampling trains only the
	// groups whose answers differ, which is the learnability filter
	// itself, so the k answers a proposal costs beforehand are saved
	// (seeds 4 and 5: a round cost 7.8 and 11.7 CPU-s on average against
	// 12.9 and 14.2 answered; BENCHMARKS.md "GRPO as the learnability
	// filter"), while k and temperature (their defaults do) go unused. The verdicts
	// lab-train records (VerdictsFile) then say which proposals were
	// learnable, and those are the round's kept problems for what comes
	// after: the next round's references and earlier prompts, and, with
	// TrainProposer, its proposer examples, once per wrong answer scaled
	// to 8 answers (onlineScale, whatever k is: copies). The proposer so
	// learns from a round's proposals one round later than without Online.
	Online bool `yaml:"online" doc:"With prompts: every new proposal becomes a GRPO prompt unanswered, and the verdicts of GRPO's own samples say which were learnable (for the next round's references, earlier prompts and proposer examples)"`
	// LearnableWeight is how often a learnable online proposal counts
	// for what comes after it (references, earlier prompts, proposer
	// examples): "wrong" (the default) once per wrong answer of 8, as
	// Absolute Zero rewards a proposal 1 − solve rate, so the hardest
	// problems still solved sometimes count most; "balanced" 8 × 4p(1 − p)
	// times (at least once) for solve rate p, the learnability of
	// Rutherford et al. (2024), most at half solved. On strong starts the
	// wrong-answer weight let proposals run ahead of the solver (seeds 16,
	// 19, 22: 10–13 digits proposed, GRPO's reward on them 0.35–0.64);
	// balanced slowed that and kept the short lengths, but on three other
	// strong starts it still trailed uniform at equal CPU (BENCHMARKS.md,
	// "counting learnable problems most at half solved"). "expected"
	// counts it 8(1 − p) times in expectation, rounded up or down by a
	// hash of the problem (expectedCopies): the wrong weight's floor of
	// one copy, there for answered proposals that stopped drawing early,
	// makes a problem GRPO solved 95 times in 96 count as much as one it
	// solved 7 times in 8, and online proposals are drawn that often. With
	// equal_operands on a strong start (seed 19) the floor kept 90–95% of
	// the references at a length solved 0.95–0.98 of the time for ten
	// rounds while the 4–6% of proposals one digit longer were solved a
	// third of the time. With expected the references moved on (5.7
	// digits in round 9) but the proposals did not (5.0): the proposer
	// wrote the lengths it knew.
	LearnableWeight string `yaml:"learnable_weight" doc:"With online: how often a learnable proposal counts for the next rounds' references, earlier prompts and proposer examples: wrong (once per wrong answer of 8, at least once; default), balanced (8 × 4p(1−p) for solve rate p, most at half solved) or expected (8(1−p), rounded at random, so a problem nearly always solved mostly counts none)"`
	// ProposerReward, set to learnability, trains the proposer by
	// reinforcement as Absolute Zero does (Zhao et al., 2025): every
	// online proposal of the round before that GRPO drew is written into
	// the round's prompts file as a scored completion (the proposer
	// prompt it was sampled from, the proposal, and its reward: 1 − solve
	// rate when GRPO's answers to it were some right and some wrong, else
	// 0; learnabilityReward), which lab-train's GRPO trains in its policy
	// term against the mean reward of all of them (lab.RLConfig.Scored):
	// proposals solved every time or never are pushed down, the learnable
	// ones up, the hardest most. A proposal GRPO never drew has no
	// verdict and is left out. It needs online: the solve rates are those
	// of GRPO's samples in the round that trained on the proposals
	// (VerdictsFile); answered proposals (chunk, k) have solve rates of
	// their own, but this path is neither built nor measured for them. It
	// is independent of train_proposer, whose imitation (cross-entropy on
	// the learnable proposals) can run beside it.
	ProposerReward string `yaml:"proposer_reward" doc:"learnability: with online, train the proposer by GRPO's policy term on the round before's proposals, each rewarded 1 − solve rate if GRPO's answers to it were some right and some wrong, else 0, against their mean (Absolute Zero); empty: off"`

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
	if c.ProposerLabels < 0 || c.References < 0 {
		return fmt.Errorf("lab-propose: proposer_labels %d and references %d must not be negative", c.ProposerLabels, c.References)
	}
	if t, _ := lookup(c.Task); c.MixedOperands {
		if _, ok := t.(task.Operands); !ok {
			return fmt.Errorf("lab-propose: mixed_operands: task %s has no two operands", c.Task)
		}
	}
	if c.HardestReferences < 0 || c.HardestReferences > 1 || c.HardestReferences > 0 && c.References == 0 {
		return fmt.Errorf("lab-propose: hardest_references %g: want a share in [0, 1], with references", c.HardestReferences)
	}
	if c.ProposerEqual && !c.MixedOperands {
		return errors.New("lab-propose: proposer_equal needs mixed_operands (otherwise every label has equal operands)")
	}
	if t, _ := lookup(c.Task); c.EqualOperands && !hasOperands(t) {
		return fmt.Errorf("lab-propose: equal_operands: task %s has no two operands", c.Task)
	}
	if t, _ := lookup(c.Task); c.EqualReferences && !hasOperands(t) {
		return fmt.Errorf("lab-propose: equal_references: task %s has no two operands", c.Task)
	}
	if t, _ := lookup(c.Task); c.EqualTwins && !hasOperands(t) {
		return fmt.Errorf("lab-propose: equal_twins: task %s has no two operands", c.Task)
	}
	if c.LearnableTwins && !c.EqualTwins {
		return errors.New("lab-propose: learnable_twins needs equal_twins")
	}
	if c.EqualTwins && !c.Online {
		return errors.New("lab-propose: equal_twins needs online (the twins are GRPO prompts beside the unanswered proposals)")
	}
	if c.EqualReferences && !c.Online {
		return errors.New("lab-propose: equal_references needs online (its proposals' lines carry the rule for later rounds)")
	}
	if c.EqualShare < 0 || c.EqualShare > 1 || c.EqualShare > 0 && !c.MixedOperands {
		return fmt.Errorf("lab-propose: equal_share %g: want a share in [0, 1], with mixed_operands", c.EqualShare)
	}
	if c.Prompts && c.TrainSolved {
		return errors.New("lab-propose: prompts writes problems without answers for GRPO, which samples its own: train_solved needs SFT data")
	}
	if c.EarlierPrompts < 0 || c.EarlierPrompts >= 1 || c.EarlierPrompts > 0 && !c.Prompts {
		return fmt.Errorf("lab-propose: earlier_prompts %g: want a share in [0, 1), with prompts", c.EarlierPrompts)
	}
	if c.EarlierAnswers < 0 || c.EarlierAnswers >= 1 || c.EarlierAnswers > 0 && !(c.Prompts && c.TrainProposer) {
		return fmt.Errorf("lab-propose: earlier_answers %g: want a share in [0, 1), with prompts and train_proposer (it is a share of the proposer examples' replay)", c.EarlierAnswers)
	}
	if c.Online && (!c.Prompts || c.EarlierAnswers > 0 || c.Chunk > 0) {
		return errors.New("lab-propose: online needs prompts (GRPO's samples are its filter), and has no answers of its own for earlier_answers or chunk")
	}
	switch c.LearnableWeight {
	case "", weightWrong, weightBalanced, weightExpected:
	default:
		return fmt.Errorf("lab-propose: learnable_weight %q: want %s, %s or %s", c.LearnableWeight, weightWrong, weightBalanced, weightExpected)
	}
	if c.LearnableWeight != "" && !c.Online {
		return errors.New("lab-propose: learnable_weight needs online (answered proposals count once per wrong answer)")
	}
	switch c.ProposerReward {
	case "":
	case rewardLearnability:
		if !c.Online {
			return errors.New("lab-propose: proposer_reward needs online (and so prompts): its rewards are the solve rates of GRPO's own samples, which only online proposals have")
		}
	default:
		return fmt.Errorf("lab-propose: proposer_reward %q: want %s or nothing", c.ProposerReward, rewardLearnability)
	}
	if c.Chunk < 0 {
		return fmt.Errorf("lab-propose: chunk %d must not be negative", c.Chunk)
	}
	if c.Count < 1 || c.K < 2 || !(c.Temperature > 0) || !(c.ProposerTemperature > 0) {
		return fmt.Errorf("lab-propose: count %d ≥ 1, k %d ≥ 2 (a solve rate strictly between 0 and 1 needs two answers) and positive temperatures", c.Count, c.K)
	}
	return c.Labels.check()
}

func (c *ProposeConfig) labTask() string { return c.Task }

// writesWorked reports whether the round's prompts file will carry worked
// examples (proposer examples), which only GRPO's replay trains.
func (c *ProposeConfig) writesWorked() bool { return c.Prompts && c.TrainProposer }

// writesScored reports whether the round's prompts file will carry scored
// completions (ProposerReward), which GRPO trains in its policy term.
func (c *ProposeConfig) writesScored() bool { return c.ProposerReward != "" }

// rewardLearnability is ProposerReward's Absolute Zero reward.
const rewardLearnability = "learnability"

// learnabilityReward is Absolute Zero's proposer reward for a problem the
// solver answered right right times of drawn: 1 − the solve rate when it
// was solved sometimes but not always, else 0 (nothing to learn from).
func learnabilityReward(drawn, right int32) float64 {
	if right <= 0 || right >= drawn {
		return 0
	}
	return 1 - float64(right)/float64(drawn)
}

func (c *ProposeConfig) hardest() int { return c.Labels.hardest() }

// proposerLine is an SFT example that teaches proposing p when prompted
// with prompt.
func proposerLine(prompt string, p task.Problem) sftLine {
	return sftLine{Messages: proposerMessages(prompt, p)}
}

func proposerMessages(prompt string, p task.Problem) []tokenizer.Message {
	return []tokenizer.Message{{Role: "user", Content: prompt}, {Role: "assistant", Content: p.Prompt}}
}

type proposeGen struct{ c *ProposeConfig }

// proposal is one line of labels.jsonl for lab-propose: a proposed problem,
// the solver's answers and verdicts, and whether it was kept.
type proposal struct {
	task.Problem
	// From is the proposer prompt that proposed it, with its references.
	From    string       `json:"from,omitempty"`
	Answers []lab.Answer `json:"answers"`
	Right   []bool       `json:"right"`
	Kept    bool         `json:"kept"`
	// Copies is a kept problem's weight (ProposeConfig.copies): its wrong
	// answers, scaled to K when it stopped drawing early (Chunk). Later
	// rounds' references and earlier_prompts draw it that often.
	Copies int `json:"copies,omitempty"`
	// Online marks a proposal of online mode, which had no answers when it
	// was written: whether it was kept is in the round's VerdictsFile.
	Online bool `json:"online,omitempty"`
	// Balanced marks an online proposal whose verdicts weigh it by
	// 4p(1 − p) (ProposeConfig.LearnableWeight) instead of its wrong
	// answers: the line carries its rule, so later rounds read it the same
	// whatever their own config says.
	Balanced bool `json:"balanced,omitempty"`
	// Expected marks an online proposal weighed by 8(1 − p) in
	// expectation (LearnableWeight expected), likewise carried.
	Expected bool `json:"expected,omitempty"`
	// EqualOnly marks an online proposal that counts for later rounds
	// only if its operands have one length (ProposeConfig.EqualReferences).
	EqualOnly bool `json:"equal_only,omitempty"`
}

// The values of ProposeConfig.LearnableWeight.
const (
	weightWrong    = "wrong"
	weightBalanced = "balanced"
	weightExpected = "expected"
)

func (g *proposeGen) Generate(ctx context.Context, r *loop.Round) (loop.Data, error) {
	if d, ok, err := restoreData(r); ok || err != nil {
		return d, err
	}
	c := g.c
	t, _ := lookup(c.Task)
	held := (&Problems{loop: c.loop}).heldOut()
	if !hasTeacher(r) {
		return g.labelled(ctx, r, t, held)
	}
	m, err := teacher(r)
	if err != nil {
		return loop.Data{}, err
	}
	ps, from, st, err := g.propose(ctx, r, m, t, held)
	if err != nil {
		return loop.Data{}, err
	}
	if c.Online {
		return g.online(ctx, r, m, ps, from, st, held)
	}
	as, err := solve(t, ps, sampling(r, t, ps, c.K, c.Temperature), c.Chunk, func(ps []task.Problem, dec lab.Decode, note string) ([][]lab.Answer, error) {
		return answers(ctx, r, m, ps, dec, note)
	})
	if err != nil {
		return loop.Data{}, err
	}
	var lines []sftLine
	var kept []task.Problem
	var prompts []promptLine
	out := make([]proposal, len(ps))
	pass1 := 0.0
	for i, p := range ps {
		o := &out[i]
		o.Problem, o.From, o.Answers = p, from[i], as[i]
		// The verifier alone says which answers are right: nothing else in
		// the round knows the true answer.
		var right int
		o.Right, right = verdicts(t, p, as[i])
		pass1 += methods.PassAtK(len(as[i]), right, 1)
		// Learnable: solved sometimes, not always (Absolute Zero's filter).
		learnable := right > 0 && right < len(as[i])
		if learnable || right > 0 && c.TrainSolved {
			done := map[string]bool{}
			for j, a := range as[i] {
				if o.Right[j] && !done[a.Text] {
					done[a.Text] = true
					lines = append(lines, sft(task.Problem{Prompt: p.Prompt, Answer: a.Text, Difficulty: p.Difficulty}))
				}
			}
		}
		if !learnable {
			continue
		}
		o.Kept, o.Copies = true, c.copies(len(as[i]), right)
		kept = append(kept, p)
		if c.Prompts {
			// GRPO draws its prompts from the file uniformly: a kept
			// problem is written once per wrong answer (1 − solve rate,
			// the proposer's reward), so the hardest problems it still
			// solves sometimes are trained most, as they are shown most
			// as references.
			for range c.copies(len(as[i]), right) {
				prompts = append(prompts, promptLine{Prompt: p.Prompt, Difficulty: p.Difficulty})
			}
		}
		if c.TrainProposer {
			// Absolute Zero rewards the proposer with 1 − solve rate for a
			// learnable problem; rejection sampling weighs the proposer
			// example the same way, once for every wrong answer, so the
			// next teacher proposes the hardest problems it can still solve,
			// given the references it was shown.
			for range c.copies(len(as[i]), right) {
				lines = append(lines, proposerLine(from[i], p))
				if c.Prompts {
					// GRPO's replay trains them by cross-entropy.
					prompts = append(prompts, promptLine{Messages: proposerMessages(from[i], p)})
				}
			}
		}
	}
	format, n := "sft", len(lines)
	var path string
	var earlier, answers []promptLine
	if c.Prompts {
		if len(prompts) == 0 {
			// A round that kept none hands on all it proposed, so that
			// the trainer's own sampling finds what signal there is.
			prompts = promptLines(ps)
		}
		if earlier, err = c.earlierPrompts(r, prompts); err != nil {
			return loop.Data{}, err
		}
		prompts = append(prompts, earlier...)
		if answers, err = c.earlierAnswers(r, t, prompts); err != nil {
			return loop.Data{}, err
		}
		prompts = append(prompts, answers...)
		format, n = PromptsFormat, len(prompts)
		path, err = writeRound(r, prompts, out)
	} else {
		path, err = writeRound(r, lines, out)
	}
	if err != nil {
		return loop.Data{}, err
	}
	r.Log.Info("lab: proposals", "proposed", st.raw, "new", len(ps), "malformed", st.invalid, "off_shape", st.offShape, "learnable", len(kept))
	metrics := st.metrics(c, t, ps, earlier)
	metrics["learnable"] = float64(len(kept)) / float64(len(ps))
	metrics["kept_difficulty"] = difficultyMean(kept)
	metrics["pass_at_1"] = pass1 / float64(len(ps))
	if hasOperands(t) {
		metrics["kept_equal"], metrics["kept_shorter"] = operandShape(kept)
	}
	if c.EarlierAnswers > 0 {
		metrics["earlier_answers"], metrics["earlier_answer_difficulty"] = float64(len(answers)), lineDifficulty(answers)
	}
	return finish(ctx, r, loop.Data{Path: path, Format: format, Generated: st.raw, Kept: n, Metrics: metrics})
}

// online writes the round's proposals as GRPO's prompts, unanswered
// (ProposeConfig.Online), with the proposer examples of the latest earlier
// round's learnable proposals and the earlier prompts.
func (g *proposeGen) online(ctx context.Context, r *loop.Round, m *lab.Model, ps []task.Problem, from []string, st proposalStats, held map[string]bool) (loop.Data, error) {
	c := g.c
	t, _ := lookup(c.Task)
	prompts := promptLines(ps)
	out := make([]proposal, len(ps))
	for i, p := range ps {
		out[i] = proposal{Problem: p, From: from[i], Online: true,
			Balanced: c.LearnableWeight == weightBalanced, Expected: c.LearnableWeight == weightExpected, EqualOnly: c.EqualReferences}
	}
	prev, err := readLabelLines(labelsOf(r, r.Index-1))
	if err != nil {
		return loop.Data{}, err
	}
	var prevKept []task.Problem
	var examples []promptLine
	online := 0
	for _, l := range prev {
		if !l.Online {
			continue // the labelled round's proposer examples are in its own data
		}
		online++
		if !l.Kept {
			continue
		}
		prevKept = append(prevKept, l.Problem)
		if c.TrainProposer {
			for range l.weight() {
				examples = append(examples, promptLine{Messages: proposerMessages(l.From, l.Problem)})
			}
		}
	}
	var twins []promptLine
	if c.EqualTwins {
		of := ps
		if c.LearnableTwins {
			of = prevKept
		}
		twins = equalTwins(roundRNG(r, forTwins), t, of, ps, held, m.LM.Config.MaxSeq)
	}
	prompts = append(append(prompts, twins...), examples...)
	var scored []promptLine
	if c.ProposerReward != "" {
		scored = proposerRollouts(prev)
		prompts = append(prompts, scored...)
	}
	earlier, err := c.earlierPrompts(r, prompts)
	if err != nil {
		return loop.Data{}, err
	}
	prompts = append(prompts, earlier...)
	path, err := writeRound(r, prompts, out)
	if err != nil {
		return loop.Data{}, err
	}
	r.Log.Info("lab: proposals", "proposed", st.raw, "new", len(ps), "malformed", st.invalid, "off_shape", st.offShape, "twins", len(twins), "previous round's learnable", len(prevKept))
	metrics := st.metrics(c, t, ps, earlier)
	if c.EqualTwins {
		metrics["twins"], metrics["twin_difficulty"] = float64(len(twins)), lineDifficulty(twins)
	}
	metrics["proposer_examples"] = float64(len(examples))
	if online > 0 {
		// What GRPO's samples found learnable of the round before's
		// proposals: online's counterpart of learnable and kept_difficulty.
		metrics["prev_learnable"] = float64(len(prevKept)) / float64(online)
		metrics["prev_kept_difficulty"] = difficultyMean(prevKept)
	}
	if c.ProposerReward != "" {
		// The proposer's rollouts and their mean reward, the baseline
		// GRPO's policy term compares each with.
		reward := 0.0
		for _, l := range scored {
			reward += *l.Reward
		}
		metrics["proposer_rollouts"] = float64(len(scored))
		metrics["proposer_reward_mean"] = reward / float64(max(len(scored), 1))
	}
	return finish(ctx, r, loop.Data{Path: path, Format: PromptsFormat, Generated: st.raw, Kept: len(prompts), Metrics: metrics})
}

// fits reports whether p and its longest answer fit a context of maxSeq
// tokens, with room for the chat template's markers.
func fits(sh task.Shape, p task.Problem, maxSeq int) bool {
	_, hi := sh.AnswerLen(p.Difficulty)
	return len(p.Prompt)+hi+8 <= maxSeq
}

// equalTwins returns EqualTwins' GRPO prompts for the problems of: for
// each whose operands differ in length, one with both operands as long as
// its longer one, drawn with rng. A twin that is a held-out problem, repeats
// one of the round's proposals ps or an earlier twin, or whose answer would
// not fit maxSeq is drawn again, up to a few times, then left out.
func equalTwins(rng *rand.Rand, t task.Task, of, ps []task.Problem, held map[string]bool, maxSeq int) []promptLine {
	gen := t.(task.Operands)
	sh := t.(task.Shape)
	seen := map[string]bool{}
	for _, p := range ps {
		seen[p.Prompt] = true
	}
	var out []promptLine
	for _, p := range of {
		a, b, ok := operandLengths(p.Prompt)
		if !ok || a == b {
			continue
		}
		l := max(a, b)
		for range 4 {
			q := gen.GenerateOperands(rng, l, l)
			if seen[q.Prompt] || held[q.Prompt] || !fits(sh, q, maxSeq) {
				continue
			}
			seen[q.Prompt] = true
			out = append(out, promptLine{Prompt: q.Prompt, Difficulty: q.Difficulty})
			break
		}
	}
	return out
}

// proposerRollouts returns ProposerReward's scored completions: each
// online proposal of prev (a labels file's lines, resolved by their
// round's verdicts) that GRPO drew, as its proposer sampled it one round
// ago (the proposer prompt with its references, and the problem it
// wrote), with its learnability reward. A proposal GRPO never drew has no
// solve rate and is left out.
func proposerRollouts(prev []keptLine) []promptLine {
	var out []promptLine
	for _, l := range prev {
		if !l.Online || l.verdict.Drawn == 0 {
			continue
		}
		rw := learnabilityReward(l.verdict.Drawn, l.verdict.Right)
		out = append(out, promptLine{Messages: proposerMessages(l.From, l.Problem), Reward: &rw})
	}
	return out
}

// metrics are a proposing round's metrics of what was proposed: the
// proposals' counts and difficulty, the earlier prompts drawn and the
// references shown.
func (st proposalStats) metrics(c *ProposeConfig, t task.Task, ps []task.Problem, earlier []promptLine) map[string]float64 {
	raw := float64(st.raw)
	m := map[string]float64{
		"proposed":            raw,
		"malformed":           float64(st.invalid) / raw,
		"repeated":            float64(st.repeated) / raw,
		"proposed_difficulty": difficultyMean(ps),
		"proposed_max":        float64(st.hardest),
	}
	if c.EqualOperands {
		m["off_shape"] = float64(st.offShape) / raw
	}
	if hasOperands(t) {
		// A problem's difficulty is its longer operand; held-out problems
		// have equal ones, so say how many proposals do too.
		m["proposed_equal"], m["proposed_shorter"] = operandShape(ps)
	}
	if c.EarlierPrompts > 0 {
		m["earlier_prompts"], m["earlier_difficulty"] = float64(len(earlier)), lineDifficulty(earlier)
	}
	if c.References > 0 {
		m["reference_difficulty"] = st.refDifficulty
		m["reference_round"] = float64(st.refRound)
	}
	return m
}

// hasOperands reports whether t's problems have two operands.
func hasOperands(t task.Task) bool {
	_, ok := t.(task.Operands)
	return ok
}

// answerFunc answers problems with a decoding, its note naming the work
// for progress.
type answerFunc func(ps []task.Problem, dec lab.Decode, note string) ([][]lab.Answer, error)

// solve draws dec.N answers to each problem, all at once or chunk at a
// time (see ProposeConfig.Chunk): a problem has fewer than dec.N answers
// only when it has a right and a wrong one. dec's answer limit is that of
// every problem, so a problem's answers do not depend on which others are
// still drawing.
func solve(t task.Task, ps []task.Problem, dec lab.Decode, chunk int, answer answerFunc) ([][]lab.Answer, error) {
	k := dec.N
	if chunk == 0 || chunk >= k {
		return answer(ps, dec, "solving")
	}
	out := make([][]lab.Answer, len(ps))
	open := make([]int, len(ps)) // the problems still drawing
	for i := range open {
		open[i] = i
	}
	for dec.First = 0; dec.First < k && len(open) > 0; dec.First += chunk {
		dec.N = min(chunk, k-dec.First)
		sub := make([]task.Problem, len(open))
		for j, i := range open {
			sub[j] = ps[i]
		}
		as, err := answer(sub, dec, fmt.Sprintf("solving (answers %d-%d)", dec.First+1, dec.First+dec.N))
		if err != nil {
			return nil, err
		}
		still := open[:0]
		for j, i := range open {
			out[i] = append(out[i], as[j]...)
			if _, right := verdicts(t, ps[i], out[i]); right == 0 || right == len(out[i]) {
				still = append(still, i)
			}
		}
		open = still
	}
	return out, nil
}

// copies is how many times a kept problem with right of n answers right is
// written, as GRPO's prompt and as a proposer example: once per wrong
// answer (Absolute Zero's 1 − solve rate), out of K. A proposal that
// stopped drawing early (Chunk) scales its wrong answers to K.
func (c *ProposeConfig) copies(n, right int) int {
	if n >= c.K {
		return n - right
	}
	return scaleWrong(c.K, n, right)
}

// scaleWrong is the wrong answers of n, right of them right, scaled to k
// answers and rounded, at least 1.
func scaleWrong(k, n, right int) int {
	return max(1, int(math.Round(float64(k*(n-right))/float64(n))))
}

// scaleBalanced is k × 4p(1 − p) for solve rate p = right/n, rounded, at
// least 1: a proposal's weight under LearnableWeight balanced.
func scaleBalanced(k, n, right int) int {
	return max(1, int(math.Round(float64(4*k*right*(n-right))/float64(n*n))))
}

// expectedCopies is k(1 − p) for solve rate p = right/n, rounded down or
// up with the probability of its fraction, the draw made by a hash of key
// (the problem's prompt): the same in every reading and on resume, and
// unbiased over problems, so a problem solved nearly always mostly counts
// none and its copies average what k answers would have shown.
func expectedCopies(k, n, right int, key string) int {
	w := float64(k*(n-right)) / float64(n)
	whole := math.Floor(w)
	h := fnv.New64a()
	h.Write([]byte(key))
	if float64(h.Sum64()>>11)/(1<<53) < w-whole {
		whole++
	}
	return int(whole)
}

// earlierPrompts draws the GRPO prompts of EarlierPrompts: as many as
// make that share of the round's problem prompts (prompts, whose worked
// examples do not count), from the problems rounds 2 to r−1 kept, each
// once per wrong answer it had (scaled to K when it stopped early: copies).
func (c *ProposeConfig) earlierPrompts(r *loop.Round, prompts []promptLine) ([]promptLine, error) {
	if c.EarlierPrompts == 0 {
		return nil, nil
	}
	pool, err := earlierKept(r, readKept)
	fresh := 0
	for _, l := range prompts {
		if l.Prompt != "" {
			fresh++
		}
	}
	return drawShare(roundRNG(r, forEarlier), pool, c.EarlierPrompts, fresh, func(p task.Problem) promptLine {
		return promptLine{Prompt: p.Prompt, Difficulty: p.Difficulty}
	}), err
}

// earlierAnswers draws the worked examples of EarlierAnswers: as many as
// make that share of the round's worked examples (the Messages lines of
// prompts), from the verified answers to the problems rounds 2 to r−1
// kept, each once per wrong answer it had (copies). A line carries the
// problem's difficulty for the round's metric; GRPO's replay reads only
// its messages.
func (c *ProposeConfig) earlierAnswers(r *loop.Round, t task.Task, prompts []promptLine) ([]promptLine, error) {
	if c.EarlierAnswers == 0 {
		return nil, nil
	}
	pool, err := earlierKept(r, func(path string) ([]task.Problem, error) { return readSolved(path, t) })
	worked := 0
	for _, l := range prompts {
		if l.Messages != nil {
			worked++
		}
	}
	return drawShare(roundRNG(r, forEarlierAnswers), pool, c.EarlierAnswers, worked, func(p task.Problem) promptLine {
		return promptLine{Difficulty: p.Difficulty, Messages: lab.Messages(p)}
	}), err
}

// earlierKept returns what read reads of the labels files of rounds 2 to
// r−1 (the proposing rounds before r); on an error, none.
func earlierKept(r *loop.Round, read func(path string) ([]task.Problem, error)) ([]task.Problem, error) {
	var pool []task.Problem
	for i := 2; i < r.Index; i++ {
		ps, err := read(labelsOf(r, i))
		if err != nil {
			return nil, err
		}
		pool = append(pool, ps...)
	}
	return pool, nil
}

// drawShare draws from pool, with rng, as many lines as make a share of
// them beside n others, each written by line; none when pool or n is
// empty.
func drawShare(rng *rand.Rand, pool []task.Problem, share float64, n int, line func(task.Problem) promptLine) []promptLine {
	if len(pool) == 0 || n == 0 {
		return nil
	}
	out := make([]promptLine, int(math.Round(share/(1-share)*float64(n))))
	for i := range out {
		out[i] = line(pool[rng.IntN(len(pool))])
	}
	return out
}

// promptLines writes problems as GRPO's prompts, without their answers.
func promptLines(ps []task.Problem) []promptLine {
	out := make([]promptLine, len(ps))
	for i, p := range ps {
		out[i] = promptLine{Prompt: p.Prompt, Difficulty: p.Difficulty}
	}
	return out
}

// labelled writes the first round: true labels, and proposer examples of
// the first ProposerLabels of them. With references, a proposer example
// shows references of its problem's difficulty, so the first proposer
// learns to propose problems like those it is shown. Every labelled problem
// goes to labels.jsonl, as kept (a reference of the next round) unless
// ProposerEqual leaves it out of the proposer's examples.
func (g *proposeGen) labelled(ctx context.Context, r *loop.Round, t task.Task, held map[string]bool) (loop.Data, error) {
	c, l := g.c, g.c.Labels
	ls := equal
	if c.MixedOperands {
		ls = lengths{kind: independent.kind, Equal: c.EqualShare}
	}
	rng := roundRNG(r, forProblems)
	ps := draw(t, rng, l.Count, l.From, max(l.To, l.From), held, ls)
	proposer := func(p task.Problem) bool {
		a, b, _ := operandLengths(p.Prompt)
		return !c.ProposerEqual || a == b
	}
	byDifficulty := map[int][]task.Problem{}
	for _, p := range ps {
		if proposer(p) {
			byDifficulty[p.Difficulty] = append(byDifficulty[p.Difficulty], p)
		}
	}
	var lines []sftLine
	out := make([]proposal, len(ps))
	examples := 0
	for i, p := range ps {
		out[i] = proposal{Problem: p, Kept: proposer(p)}
		lines = append(lines, sft(p))
		if out[i].Kept && (c.ProposerLabels == 0 || examples < c.ProposerLabels) {
			examples++
			var refs []task.Problem
			if c.References > 0 {
				refs = pickReferences(rng, byDifficulty[p.Difficulty], c.References, c.promptLimit(0))
			}
			lines = append(lines, proposerLine(proposerPrompt(refs), p))
		}
	}
	path, err := writeRound(r, lines, out)
	if err != nil {
		return loop.Data{}, err
	}
	return finish(ctx, r, loop.Data{Path: path, Format: "sft", Generated: len(lines), Kept: len(lines), Metrics: map[string]float64{
		"labelled": 1, "from": float64(l.From), "to": float64(max(l.To, l.From)), "kept_difficulty": difficultyMean(ps),
	}})
}

// promptLimit is the longest proposer prompt in characters: half the
// context, the other half left to the proposal. maxSeq is the teacher's
// context, 0 in the labelled round, which takes the context of the model
// the loop's lab-train trains first.
func (c *ProposeConfig) promptLimit(maxSeq int) int {
	if maxSeq == 0 && c.loop != nil {
		if tc, ok := c.loop.Train.Settings.(*TrainConfig); ok {
			maxSeq = tc.Arch.MaxSeq
			if tc.First != nil && tc.First.Arch != nil {
				maxSeq = tc.First.Arch.MaxSeq
			}
		}
	}
	return maxSeq / 2
}

// proposalStats count what the proposer wrote.
type proposalStats struct {
	raw, invalid, repeated, hardest int
	// offShape counts the well-formed proposals EqualOperands rejected.
	offShape int
	// refDifficulty is the mean difficulty of the references shown,
	// refRound the round that kept them.
	refDifficulty float64
	refRound      int
}

// perReferences is how many problems one proposer prompt with references
// proposes: each prompt has references of its own and a seed of its own.
const perReferences = 8

// propose samples Count proposals from m and returns the new, well-formed
// problems among them, in the order proposed, with the proposer prompt of
// each.
func (g *proposeGen) propose(ctx context.Context, r *loop.Round, m *lab.Model, t task.Task, held map[string]bool) ([]task.Problem, []string, proposalStats, error) {
	c := g.c
	var st proposalStats
	var raw []lab.Answer
	var from []string
	var err error
	if c.References > 0 {
		raw, from, err = g.proposeWithReferences(ctx, r, m, &st)
	} else {
		raw, err = g.proposeBare(ctx, r, m)
		from = make([]string, len(raw))
		for i := range from {
			from[i] = ProposerPrompt
		}
	}
	if err != nil {
		return nil, nil, st, err
	}
	st.raw = len(raw)
	var ps []task.Problem
	var pfrom []string
	seen := map[string]bool{}
	sh := t.(task.Shape)
	for i, a := range raw {
		p, err := task.Parse(t, a.Text)
		switch {
		case !a.Stopped || err != nil:
			st.invalid++
		case !fits(sh, p, m.LM.Config.MaxSeq):
			st.invalid++ // its answer would not fit the context
		case c.EqualOperands && !equalOperands(p.Prompt):
			st.offShape++
		case seen[p.Prompt] || held[p.Prompt]:
			st.repeated++ // a held-out problem counts as a repeat: never trained on
		default:
			seen[p.Prompt] = true
			ps = append(ps, p)
			pfrom = append(pfrom, from[i])
			st.hardest = max(st.hardest, p.Difficulty)
		}
	}
	if len(ps) == 0 {
		return nil, nil, st, fmt.Errorf("lab-propose: round %d: none of %d proposals is a new problem of %s (%d malformed, %d with operands of two lengths)", r.Index, len(raw), c.Task, st.invalid, st.offShape)
	}
	return ps, pfrom, st, nil
}

// proposeBare samples Count proposals to the bare proposer prompt, in
// calls of their own seeds (samples of one call share a random stream per
// index).
func (g *proposeGen) proposeBare(ctx context.Context, r *loop.Round, m *lab.Model) ([]lab.Answer, error) {
	c := g.c
	const per = 256
	var raw []lab.Answer
	for call := 0; len(raw) < c.Count; call++ {
		r.Progress(len(raw), c.Count, "proposing")
		as, err := lab.Answers(ctx, m, []task.Problem{{Prompt: ProposerPrompt}}, lab.Decode{N: min(per, c.Count-len(raw)),
			Temperature: c.ProposerTemperature, Seed: uint64(r.Seed)<<16 | uint64(call), MaxTokens: m.LM.Config.MaxSeq / 2})
		if err != nil {
			return nil, err
		}
		raw = append(raw, as[0]...)
	}
	return raw, nil
}

// proposeWithReferences samples Count proposals, perReferences to a
// prompt, each prompt showing References problems the latest earlier round
// kept, drawn at random. Each prompt is a call with its own seed: prompts
// in one call would share their random streams, and prompts this alike
// would then propose alike.
func (g *proposeGen) proposeWithReferences(ctx context.Context, r *loop.Round, m *lab.Model, st *proposalStats) ([]lab.Answer, []string, error) {
	c := g.c
	pool, round, err := lastKept(r)
	if err != nil {
		return nil, nil, err
	}
	pool = hardest(pool, c.HardestReferences)
	st.refRound = round
	rng := roundRNG(r, forProblems)
	n := (c.Count + perReferences - 1) / perReferences
	prompts := make([]string, n)
	shown := 0
	for i := range prompts {
		refs := pickReferences(rng, pool, c.References, c.promptLimit(m.LM.Config.MaxSeq))
		prompts[i] = proposerPrompt(refs)
		for _, p := range refs {
			st.refDifficulty += float64(p.Difficulty)
			shown++
		}
	}
	st.refDifficulty /= float64(max(shown, 1))
	out := make([][]lab.Answer, n)
	eg, ectx := errgroup.WithContext(ctx)
	eg.SetLimit(runtime.GOMAXPROCS(0))
	var mu sync.Mutex // the loop's progress callback is not for concurrent calls
	done := 0
	for i, prompt := range prompts {
		eg.Go(func() error {
			as, err := lab.Answers(ectx, m, []task.Problem{{Prompt: prompt}}, lab.Decode{N: perReferences,
				Temperature: c.ProposerTemperature, Seed: uint64(r.Seed)<<16 | uint64(i), MaxTokens: m.LM.Config.MaxSeq / 2})
			if err != nil {
				return err
			}
			out[i] = as[0]
			mu.Lock()
			done += perReferences
			r.Progress(done, n*perReferences, "proposing")
			mu.Unlock()
			return nil
		})
	}
	if err := eg.Wait(); err != nil {
		return nil, nil, err
	}
	var raw []lab.Answer
	var from []string
	for i, as := range out {
		for _, a := range as {
			if len(raw) < c.Count {
				raw = append(raw, a)
				from = append(from, prompts[i])
			}
		}
	}
	return raw, from, nil
}

// lineDifficulty is the mean difficulty of prompt lines, 0 for none.
func lineDifficulty(ls []promptLine) float64 {
	d := 0.0
	for _, l := range ls {
		d += float64(l.Difficulty)
	}
	return d / float64(max(len(ls), 1))
}

// difficultyMean is the mean difficulty of ps, 0 for none.
func difficultyMean(ps []task.Problem) float64 {
	s := 0.0
	for _, p := range ps {
		s += float64(p.Difficulty)
	}
	return s / float64(max(len(ps), 1))
}

// operandLengths returns the lengths of the two operands of a prompt
// "A+B=" or "A*B="; ok is false for a prompt with no operator.
func operandLengths(prompt string) (a, b int, ok bool) {
	i := strings.IndexAny(prompt, "+*")
	if i < 0 {
		return 0, 0, false
	}
	return i, len(strings.TrimSuffix(prompt[i+1:], "=")), true
}

// equalOperands reports whether a prompt's two operands have one length.
func equalOperands(prompt string) bool {
	a, b, ok := operandLengths(prompt)
	return ok && a == b
}

// operandShape returns the share of ps whose two operands have one length
// and the mean length of the shorter operand, 0 for none.
func operandShape(ps []task.Problem) (equal, shorter float64) {
	for _, p := range ps {
		a, b, ok := operandLengths(p.Prompt)
		if !ok {
			continue
		}
		if a == b {
			equal++
		}
		shorter += float64(min(a, b))
	}
	n := float64(max(len(ps), 1))
	return equal / n, shorter / n
}
