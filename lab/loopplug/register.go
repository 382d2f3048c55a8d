package loopplug

import "github.com/synthloop/synthloop/loop"

func registerGenerators() {
	for _, g := range generators {
		loop.RegisterGenerator(g)
	}
}

// generators are the lab's loop generators, with their docs and examples.
var generators = []loop.Type[loop.Generator]{
	{
		Name: "lab-labels",
		Doc: `Writes count problems of a lab task (reverse-addition, copy, reverse, multiplication, long-multiplication)
with their true answers as SFT data, spread evenly over the difficulties from..to; with
step, the range moves step difficulties a round (a supervised curriculum: the oracle to
compare self-labelling with). Needs no teacher.`,
		Example: `generate:
  type: lab-labels
  with:
    task: reverse-addition
    count: 2000
    from: 1
    to: 8`,
		Config: func() any { return &LabelsConfig{Problems: Problems{Count: 1000, From: 1}} },
		New:    validated(func(c *LabelsConfig) loop.Generator { return &labelsGen{c} }),
	},
	{
		Name: "lab-selflabel",
		Doc: `The round's teacher (a built-in model directory) labels count problems of the round's
difficulties without seeing their answers; the length filter and a majority vote across
samples keep labels (filter: length, samples, temperature, agree), or, with no filter,
every greedy answer is kept: the unfiltered baseline of Lee et al. (2025), and plain
distillation when the student is smaller. The range from..to moves step difficulties a
round from first_round on (default round 2 with a labels block, whose round without a
teacher writes true labels; round 1 without); with advance, a round that kept less than
that share of its labels is followed by one that labels the same difficulties again;
with advance_probe, also one whose teacher's label-free probe at the next difficulties
(lab-train's probe) was below that score. mixed_operands draws reverse-addition operands of
different lengths, equal_share of the self-labelled ones both of the round's length.
Metrics: yield (kept / labelled), teacher_probe (the teacher's probe at the labelled
difficulty) and kept_correct (the verifier's verdict on the kept labels, measured for the
report only).
Every answer and verdict goes to round-NNN/labels.jsonl.`,
		Example: `generate:
  type: lab-selflabel
  with:
    task: reverse-addition
    labels: {count: 2000, from: 1, to: 8}   # round 1, no teacher yet
    from: 9            # round 2 labels 9 digits, round 3 labels 10, ...
    step: 1
    count: 1000
    filter: {length: true, samples: 5, temperature: 0.7, agree: 0.6}`,
		Config: func() any { return &SelfLabelConfig{Problems: Problems{Count: 1000, From: 1}} },
		New:    validated(func(c *SelfLabelConfig) loop.Generator { return &selfLabelGen{c} }),
	},
	{
		Name: "lab-rft",
		Doc: `Rejection-sampling fine-tuning (STaR, RFT): the round's teacher samples k answers at
temperature to count fresh problems; the verifier keeps the right ones (each distinct
prompt and answer once) as SFT data. Metrics: the teacher's pass@1 and pass@k on the round's problems,
solved (problems with a right sample), yield. A labels block trains the weak first model.`,
		Example: `generate:
  type: lab-rft
  with:
    task: reverse
    labels: {count: 1000, from: 1, to: 6}
    count: 2000
    from: 1
    to: 6
    k: 8
    temperature: 0.7`,
		Config: func() any { return &RFTConfig{Problems: Problems{Count: 1000, From: 1}, K: 8, Temperature: 0.7} },
		New:    validated(func(c *RFTConfig) loop.Generator { return &rftGen{c} }),
	},
	{
		Name: "lab-prompts",
		Doc: `Writes count problems of a lab task without their answers, for reinforcement learning:
lab-train samples answers to them and rewards each with the task's verifier (GRPO). The
range from..to moves step difficulties a round. A labels block makes the first round SFT
on true labels (for long-multiplication: worked examples), which trains the starting model.`,
		Example: `generate:
  type: lab-prompts
  with:
    task: long-multiplication
    labels: {count: 300, from: 1, to: 3}   # round 1: worked examples
    count: 4000
    from: 1
    to: 3`,
		Config: func() any { return &PromptsConfig{Problems: Problems{Count: 1000, From: 1}} },
		New:    validated(func(c *PromptsConfig) loop.Generator { return &promptsGen{c} }),
	},
	{
		Name: "lab-propose",
		Doc: `Problems the model invents (as Absolute Zero's proposer and solver, with rejection
sampling in place of RL): the round's teacher, prompted with "=", proposes count problems
in the task's grammar (malformed, repeated and held-out ones dropped); it then samples k
answers to each, and a problem is learnable when the verifier accepts some answers but
not all. The learnable problems' verified answers become SFT data, and with
train_proposer the problems themselves become proposer examples, so the next teacher
proposes more problems at the edge of what it can solve: no difficulty schedule is set
anywhere. The labels block (required) trains the first model to solve and to propose.
With references: N, each proposer prompt shows N problems the latest earlier round kept
(Absolute Zero's reference problems; the labelled round's problems before any is kept),
each drawn in proportion to its wrong answers, written before the "=": "21+43=5+78=="
shows 21+43= and 5+78=. The labelled round's
proposer examples then show references of their problem's difficulty, and a kept
problem's proposer examples repeat the prompt that proposed it, so the proposals follow
the learnable edge. mixed_operands draws the labelled operands of independent lengths,
equal_share of them both of one length (held-out problems' lengths, which the proposer
then learns to write too; a baseline's lab-rft inherits the same rule), proposer_equal
only those of equal lengths for the first proposer examples and references, and
equal_operands rejects every later proposal whose two operands differ in length (counted
as off_shape: the grammar is then the held-out problems'), while equal_references (with
online) keeps every proposal as a GRPO prompt but lets only learnable ones of equal lengths
become references, earlier prompts and proposer examples;
hardest_references draws the references from the longest share of the kept problems;
train_solved also trains the solver on the verified answers of proposals solved every
time, as lab-rft does, so that the filter chooses only the proposer's examples.
prompts: true makes the round's data the kept problems without answers, each once per
wrong answer, in lab-prompts' format, so that lab-train runs GRPO on them (with
train_proposer the proposer examples go into the same file, and GRPO's replay trains them).
chunk: N draws the k answers N at a time and stops a proposal once it has a right and a
wrong answer: the same problems are kept as with k at once (the answers drawn are the
first of those k), and a kept problem's copies become k × wrong / drawn, rounded.
earlier_prompts: S (with prompts) makes a share S of the GRPO prompts problems earlier
rounds kept, so that the solver keeps practising lengths its proposals have left behind;
earlier_answers: S (with prompts and train_proposer) makes a share S of the round's worked
examples, which GRPO's replay trains by cross-entropy, verified answers the teacher sampled
to problems earlier rounds kept.
online: true (with prompts) writes every proposal as a GRPO prompt unanswered; the verdicts
of GRPO's own samples (round-NNN/verdicts.jsonl) say which were learnable, for the next
round; a learnable proposal counts once per wrong answer of 8 there, or with
learnable_weight: balanced 8 × 4p(1−p) times for solve rate p (most at half solved), or
with learnable_weight: expected 8(1−p) times rounded at random (none, mostly, for a
problem nearly always solved).
proposer_reward: learnability (with online) also trains the proposer by
reinforcement, as Absolute Zero does: each of the round before's proposals that GRPO drew
goes into the round's file with its reward, 1 − solve rate if its answers were some right
and some wrong, else 0, and lab-train's GRPO trains it in the policy term against the mean
reward of all of them (grpo.scored_step sets how many a step).
Metrics: proposed and kept difficulty, learnable share, malformed share, pass@1, for
two-operand tasks the share of proposed and kept problems with equal operand lengths and
their shorter operand's mean length, and with references their difficulty and the round
that kept them; with online the share of the round before's proposals found learnable
(prev_learnable), with proposer_reward the proposer's rollouts and their mean reward.`,
		Example: `generate:
  type: lab-propose
  with:
    task: copy
    labels: {count: 2000, from: 1, to: 6}
    count: 2000
    proposer_temperature: 1.2
    k: 8
    temperature: 1
    train_proposer: true`,
		Config: func() any {
			return &ProposeConfig{Count: 1000, ProposerTemperature: 1, K: 8, Temperature: 1, TrainProposer: true}
		},
		New: validated(func(c *ProposeConfig) loop.Generator { return &proposeGen{c} }),
	},
	{
		Name: "lab-scpairs",
		Doc: `Self-consistency preference pairs (Prasad et al., 2024): the round's teacher samples k
answers to count unlabelled problems; the majority answer is chosen and a least common one
rejected (no pair on a tie, a unanimous vote, or a majority below min_share), written as
DPO JSONL. No label and no verifier builds the data; the verifier measures chosen_right and
rejected_wrong for the report. A labels block makes round 1 SFT on true labels.`,
		Example: `generate:
  type: lab-scpairs
  with:
    task: reverse
    labels: {count: 1000, from: 1, to: 6}
    count: 2000
    from: 3
    to: 6
    k: 8
    temperature: 0.7
    min_share: 0.5
    length_filter: true
    cut_rejected: true`,
		Config: func() any {
			return &SCPairsConfig{Problems: Problems{Count: 1000, From: 1}, K: 8, Temperature: 0.7, MinShare: 0.5, LengthFilter: true}
		},
		New: validated(func(c *SCPairsConfig) loop.Generator { return &scPairsGen{c} }),
	},
}

func registerTrainer() {
	loop.RegisterTrainer(loop.Type[loop.Trainer]{
		Name: "lab-train",
		Doc: `Trains a lab model (NoPE, character tokens of the task's alphabet) on the round's
mixture with the engine: SFT, or DPO for preference pairs (plain DPO, the starting model
as reference). The student continues the previous round's student (init: previous), the
teacher (init: teacher) or starts as a new model of arch (init: scratch, and whenever
there is nothing of that size to continue). first: sets the training (and with arch: the
size) of a round without a teacher, which trains the first teacher on labels, so one loop
can train a teacher and then distill it into a smaller student; first.until trains it on
until it answers that share of validation problems of the hardest labelled difficulty (at
most first.max_steps). voters trains models side by side for lab-selflabel's vote;
min_kept pools the mixture by size when the round kept fewer examples. On prompts
(lab-prompts, or lab-propose with prompts: true) it runs GRPO instead: steps sampling
steps, each drawing batch prompts and sampling grpo.group answers from the student itself, rewarded 1 when the task's verifier
accepts the answer, then grpo.minibatches optimizer steps of the clipped policy-ratio
objective (token-level normalisation, optional KL to the starting model); worked examples
in the prompts file join grpo.replay's pool, drawn as often as the earlier rounds'
together; scored completions in it (lab-propose's proposer_reward) join the policy term,
grpo.scored_step a step (default: each once, spread over the steps), with their reward less
the mean of all of them as advantage. Checkpoints go to round-NNN/student; a killed training resumes there step for
step. continue_optimizer
continues the AdamW state of the model a round starts from (no new warmup); by_length
batches examples of about the same length together; probe scores each voter every few
steps on the length the generator labels next without a label (commute: A+B and B+A
agree; samples: majority share) and makes the best-scoring checkpoint the student (the
last training state stays in round-NNN/last).`,
		Example: `train:
  type: lab-train
  with:
    init: previous
    arch: {dim: 128, layers: 2, heads: 4, hidden: 512, max_seq: 64}
    steps: 400
    batch: 32
    lr: 5e-4
    warmup: 20
    first: {steps: 2000, lr: 1e-3, warmup: 100}   # round 1: a new model trains longer
    pool_earlier: true`,
		Config: func() any {
			return &TrainConfig{Init: "previous", Arch: DefaultArch, Phase: Phase{Steps: 400, Batch: 32, LR: 5e-4, Warmup: 20}, GRPO: DefaultGRPO}
		},
		New: validated(func(c *TrainConfig) loop.Trainer { return &trainer{c} }),
	})
}

func registerEvaluator() {
	loop.RegisterEvaluator(loop.Type[loop.Evaluator]{
		Name: "lab-accuracy",
		Doc: `Greedy exact-match accuracy of the student and the teacher on held-out problems of a lab
task, problems per difficulty drawn from a fixed seed (the same every round), reported
per difficulty for the report's plots. The compared metric, accuracy, is the mean over the
target difficulties (default all). A round without a teacher compares with 0, so the first
student is promoted when it answers anything. With samples, also pass@1, pass@k and the
majority vote's accuracy. The student's score is cached in round-NNN/lab-accuracy.json.`,
		Example: `evaluate:
  type: lab-accuracy
  with:
    difficulties: [4, 8, 12, 16]
    problems: 100
    target: [12, 16]`,
		Config: func() any { return &AccuracyConfig{Problems: 100} },
		New:    validated(func(c *AccuracyConfig) loop.Evaluator { return &accuracy{c} }),
	})
}

// validated returns the constructor of a plugin whose config c must
// validate first: a config the loop's parser did not see (the defaults) is
// checked here.
func validated[C interface{ Validate() error }, T any](plugin func(c C) T) func(any) (T, error) {
	return func(c any) (T, error) {
		if err := c.(C).Validate(); err != nil {
			var none T
			return none, err
		}
		return plugin(c.(C)), nil
	}
}
