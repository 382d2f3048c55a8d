package loop

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/synthloop/synthloop/internal/confkit"
	"github.com/synthloop/synthloop/model"
	"github.com/synthloop/synthloop/pipeline"
	"github.com/synthloop/synthloop/store"
)

// Options wire a loop run to its environment. RunDir is required; everything
// else has a working default.
type Options struct {
	RunDir string
	Log    *slog.Logger
	// Progress receives the progress of each step; nil discards it. It is
	// called from several goroutines (voters, a baseline beside the run).
	Progress func(Event)
	// Reporter shows the stages of a pipeline generator; nil shows nothing.
	Reporter pipeline.Reporter
	// OnRound is called when a round is done (and at start for the rounds
	// an earlier run finished), e.g. to print a table row.
	OnRound func(RoundSummary)
	// OnBaseline is called when the loop's baseline run starts (beside
	// the main run: once the main run's rounds are reported), with its
	// title; the OnRound calls after it are the baseline's rounds. Neither
	// is called concurrently with itself or the other.
	OnBaseline func(title string)
	// Getenv reads API keys; nil means os.Getenv.
	Getenv func(string) string
	// OpenModel opens a backend; nil means model.Open.
	OpenModel func(ctx context.Context, name string, cfg model.Config, opts model.Options) (model.Backend, model.Info, error)
	// ModelOptions is the base of every backend the loop opens; the loop
	// fills in Cache, Budget, Getenv and Log when unset.
	ModelOptions model.Options
	// AllowConfigChange lets a run resume after its config file changed.
	AllowConfigChange bool
	// Now is the clock for round times; nil means time.Now.
	Now func() time.Time
	// BaselineCommand, when set, runs the baseline beside the main run, as
	// soon as the rounds it shares are done, in a child process: the command
	// it returns must run BaselineChild on dir (the same binary, with a
	// hidden flag). The loop sets its stdin, stdout, stderr and extra files.
	// The child's rounds are reported after the main run's, as a baseline
	// run after it would be; results are the same either way, only the wall
	// time differs. The child opens models with model.Open and no hooks:
	// OpenModel, ModelOptions and Reporter do not reach it. Nil runs the
	// baseline after the main run, in this process.
	BaselineCommand func(dir string) *exec.Cmd
}

// Event is the progress of one step of a round.
type Event struct {
	Run         string // "" for the main run, "baseline" for its baseline
	Round       int
	Step        string // generate, train, evaluate
	Done, Total int    // units of the step; Total 0 when unknown
	Note        string // e.g. "loss 1.234" or "job ftjob-abc running"
}

// ErrStopped reports a clean stop: interrupted, or out of budget in the
// middle of a round. Everything finished before it is in the run store, and
// running the same command again resumes.
var ErrStopped = errors.New("loop: stopped before the end; run the same command again to resume")

// Stop reasons recorded in Summary.Stopped.
const (
	StopRounds   = "rounds"
	StopPatience = "patience"
	StopBudget   = "budget"
)

type runner struct {
	cfg    *Config
	opts   Options
	log    *slog.Logger
	st     *store.Store
	s      *state
	now    func() time.Time
	steps  steps   // the loop's own generator, trainer and evaluator
	phases []steps // the steps of later rounds (Config.Phases)
	phase  int     // the phase of the last round run: 1-based, 0 for the loop's own steps

	mopts  model.Options
	getenv func(string) string
	open_  func(ctx context.Context, name string, cfg model.Config, opts model.Options) (model.Backend, model.Info, error)

	mu       sync.Mutex
	backends map[string]opened
	servers  *servers

	child *child // the baseline running beside this run, once started
}

type opened struct {
	b    model.Backend
	info model.Info
}

// Run runs the loop of cfg in opts.RunDir until a stop rule ends it,
// resuming from what the run directory holds: finished steps are not
// repeated. It returns the summary also with an error, as far as it got.
// A clean stop (interrupt, budget spent mid-round) returns an error wrapping
// ErrStopped.
func Run(ctx context.Context, cfg *Config, opts Options) (*Summary, error) {
	if opts.RunDir == "" {
		return nil, errors.New("loop: Run needs a run directory")
	}
	l := &runner{cfg: cfg, opts: opts, log: opts.Log, now: opts.Now, backends: map[string]opened{}}
	if l.log == nil {
		l.log = slog.New(slog.DiscardHandler)
	}
	if l.now == nil {
		l.now = time.Now
	}
	var err error
	if l.steps, err = newSteps(cfg); err != nil {
		return nil, err
	}
	if l.phases, err = newPhases(cfg); err != nil {
		return nil, err
	}
	l.st, err = store.Open(ctx, opts.RunDir)
	if err != nil {
		if ctx.Err() != nil {
			// Stopped while opening: nothing ran, a rerun starts here.
			return nil, fmt.Errorf("%w (%w)", ErrStopped, err)
		}
		return nil, fmt.Errorf("loop: %w", err)
	}
	defer l.st.Close()
	if err := l.loadState(ctx); err != nil {
		return nil, err
	}
	l.servers = newServers(l.log, filepath.Join(opts.RunDir, "servers"))
	defer l.servers.stopAll()

	l.mopts = opts.ModelOptions
	if l.mopts.Cache == nil {
		l.mopts.Cache = l.st
	}
	l.getenv = opts.Getenv
	if l.getenv == nil {
		l.getenv = os.Getenv
	}
	if l.mopts.Getenv == nil {
		l.mopts.Getenv = l.getenv
	}
	if l.mopts.Log == nil {
		l.mopts.Log = l.log
	}
	if l.mopts.Budget == nil && cfg.MaxCostUSD > 0 {
		l.mopts.Budget = model.NewBudget(cfg.MaxCostUSD)
		// The cap is for the whole loop, not for this process.
		spent := 0.0
		for _, r := range l.s.Rounds {
			spent += r.cost()
		}
		l.mopts.Budget.Charge(spent)
	}
	l.open_ = opts.OpenModel
	if l.open_ == nil {
		l.open_ = model.Open
	}
	for _, r := range l.s.Rounds {
		if r.Done && opts.OnRound != nil {
			opts.OnRound(l.roundSummary(r))
		}
	}
	err = l.run(ctx)
	sum := l.s.summary()
	sum.RunDir = opts.RunDir
	if cfg.Baseline != nil && opts.BaselineCommand != nil {
		sum.Baseline, err = l.finishBaselineChild(ctx, err)
		if err == nil {
			err = sum.WriteFile(filepath.Join(opts.RunDir, "summary.json"))
		}
	} else if err == nil && cfg.Baseline != nil {
		sum.Baseline, err = l.runBaseline(ctx)
		if err == nil {
			err = sum.WriteFile(filepath.Join(opts.RunDir, "summary.json"))
		}
	}
	return sum, err
}

func newPlugin[T any](reg *confkit.Registry[Type[T]], s Step) (T, error) {
	var zero T
	t, ok := reg.Lookup(s.Type)
	if !ok {
		return zero, fmt.Errorf("loop: %s", reg.Unknown(s.Type))
	}
	settings := s.Settings
	if settings == nil {
		settings = t.Config()
	}
	p, err := t.New(settings)
	if err != nil {
		return zero, fmt.Errorf("loop: %s %s: %w", reg.Kind(), s.Type, err)
	}
	return p, nil
}

func (l *runner) loadState(ctx context.Context) error {
	s, ok, err := readState(ctx, l.st)
	if err != nil {
		return err
	}
	if ok {
		if s.ConfigHash != l.cfg.Hash() && !l.opts.AllowConfigChange {
			return fmt.Errorf("loop: this run directory was started with a different config (%s); resuming with a changed config could mix incompatible rounds. Use a new run directory, or pass --allow-config-change if the change is safe", s.Config)
		}
		if s.ConfigHash == l.cfg.Hash() {
			l.recordOldPhases(s)
		}
		s.ConfigHash, s.Config = l.cfg.Hash(), l.cfg.Source
		s.Margin, s.Description = l.cfg.Margin, l.cfg.Description
		// The stop rules are checked again: a changed config may allow more rounds.
		s.Stopped = ""
		l.s = s
		return l.save(ctx)
	}
	l.s = &state{Version: 1, Name: l.cfg.Name, Description: l.cfg.Description, Config: l.cfg.Source, ConfigHash: l.cfg.Hash(), Margin: l.cfg.Margin}
	if l.cfg.Teacher != "" {
		l.s.Teacher = configModel(l.cfg.Models[l.cfg.Teacher])
	}
	if err := l.st.SetMetaValue(ctx, "config", string(l.cfg.Text)); err != nil {
		return fmt.Errorf("loop: %w", err)
	}
	return l.save(ctx)
}

// configModel is the Model of a configured backend; a local/DIR ref is a
// built-in model a trainer can continue from.
func configModel(mc model.Config) Model {
	m := Model{Config: mc}
	if ref, err := model.ParseRef(mc.Ref); err == nil && ref.Provider == "local" {
		m.Dir = ref.Model
	}
	return m
}

// save commits the state and refreshes summary.json beside it. It holds
// the runner's lock throughout: plugins running side by side (voters) save
// scratch values while another one's save encodes the state, and the
// snapshots must reach the store in the order they were taken.
func (l *runner) save(ctx context.Context) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	b, err := json.Marshal(l.s)
	if err != nil {
		return fmt.Errorf("loop: state: %w", err)
	}
	// A cancelled ctx must not lose the record of finished work.
	if err := l.st.SetMetaValue(context.WithoutCancel(ctx), stateKey, string(b)); err != nil {
		return fmt.Errorf("loop: %w", err)
	}
	sum := l.s.summary()
	sum.RunDir = l.opts.RunDir
	return sum.WriteFile(filepath.Join(l.opts.RunDir, "summary.json"))
}

func (l *runner) roundSummary(r *roundState) RoundSummary {
	for _, rs := range l.s.summary().Rounds {
		if rs.Index == r.Index {
			return rs
		}
	}
	return RoundSummary{Index: r.Index}
}

func (l *runner) run(ctx context.Context) error {
	for {
		if l.s.Stopped != "" {
			return nil
		}
		if err := l.startBaseline(ctx); err != nil {
			return err
		}
		var r *roundState
		if n := len(l.s.Rounds); n > 0 && !l.s.Rounds[n-1].Done {
			r = l.s.Rounds[n-1]
		} else {
			if why := l.stopReason(); why != "" {
				l.s.Stopped = why
				l.log.Info("loop: stopped", "reason", why)
				return l.save(ctx)
			}
			r = &roundState{Index: n + 1, Teacher: l.s.Teacher, Started: l.now().UTC()}
			l.s.Rounds = append(l.s.Rounds, r)
			if err := l.save(ctx); err != nil {
				return err
			}
		}
		if err := l.runRound(ctx, r); err != nil {
			if ctx.Err() != nil || errors.Is(err, pipeline.ErrStopped) || errors.Is(err, model.ErrBudgetExceeded) {
				if errors.Is(err, ErrStopped) {
					return err
				}
				return fmt.Errorf("%w (round %d: %w)", ErrStopped, r.Index, err)
			}
			return fmt.Errorf("loop: round %d: %w", r.Index, err)
		}
		if l.opts.OnRound != nil {
			l.opts.OnRound(l.roundSummary(r))
		}
	}
}

// stopReason says whether a stop rule ends the loop before another round.
func (l *runner) stopReason() string {
	n := len(l.s.Rounds)
	if n >= l.cfg.Rounds {
		return StopRounds
	}
	if p := l.cfg.Patience; p > 0 && n >= p {
		stale := 0
		for i := n - 1; i >= 0 && !l.s.Rounds[i].Promoted; i-- {
			stale++
		}
		if stale >= p {
			return StopPatience
		}
	}
	if b := l.mopts.Budget; b != nil && b.Exceeded() {
		return StopBudget
	}
	return ""
}

func (l *runner) roundDir(i int) string {
	return filepath.Join(l.opts.RunDir, fmt.Sprintf("round-%03d", i))
}

func (l *runner) newRound(r *roundState, step string) *Round {
	return &Round{
		Index: r.Index, Dir: l.roundDir(r.Index), RunDir: l.opts.RunDir, ConfigDir: l.cfg.Dir(),
		Seed: l.cfg.Seed + int64(r.Index), Teacher: r.Teacher,
		Log:      l.log.With("round", r.Index, "step", step),
		Reporter: l.opts.Reporter, Budget: l.mopts.Budget, Getenv: l.getenv,
		l: l, key: step,
	}
}

// runRound runs the steps of r that are not done yet.
func (l *runner) runRound(ctx context.Context, r *roundState) error {
	if err := os.MkdirAll(l.roundDir(r.Index), 0o755); err != nil {
		return fmt.Errorf("loop: %w", err)
	}
	recorded := r.Phase != nil
	st, err := l.stepsFor(r)
	if err != nil {
		return err
	}
	if !recorded {
		if err := l.save(ctx); err != nil {
			return err
		}
	}
	if r.Gen == nil {
		d, err := timed(r, func() (Data, error) { return st.gen.Generate(ctx, l.newRound(r, stepGenerate)) })
		if err != nil {
			return fmt.Errorf("generate: %w", err)
		}
		d.Path = l.relPath(d.Path)
		r.Gen = &d
		if err := l.save(ctx); err != nil {
			return err
		}
	}
	if r.Gen.Kept == 0 || r.Gen.Path == "" {
		return l.finish(ctx, r, false, "the generator kept no records: nothing to train on")
	}
	if r.Train == nil && r.TrainFailed == "" {
		in := l.mixture(r)
		r.Mix = in.Data
		for i := range in.Data {
			in.Data[i].Path = l.absPath(in.Data[i].Path)
		}
		t, err := timed(r, func() (Trained, error) { return st.train.Train(ctx, l.newRound(r, stepTrain), in) })
		switch {
		case errors.Is(err, ErrTrainingFailed) && ctx.Err() == nil:
			r.TrainFailed = err.Error()
			return l.finish(ctx, r, false, "training failed: "+err.Error())
		case err != nil:
			return fmt.Errorf("train: %w", err)
		}
		t.Log = l.relPath(t.Log)
		r.Train = &t
		if err := l.save(ctx); err != nil {
			return err
		}
	}
	if r.TrainFailed != "" {
		return l.finish(ctx, r, false, "training failed: "+r.TrainFailed)
	}
	if r.Eval == nil {
		e, err := timed(r, func() (Eval, error) {
			return st.eval.Evaluate(ctx, l.newRound(r, stepEvaluate), r.Train.Student, r.Teacher)
		})
		if err != nil {
			return fmt.Errorf("evaluate: %w", err)
		}
		r.Eval = &e
		l.s.Metric = e.Metric
	}
	e := r.Eval
	m := l.cfg.Margin
	if e.Student > e.Teacher+m {
		return l.finish(ctx, r, true, fmt.Sprintf("%s %.4f > teacher %.4f + margin %g", e.Metric, e.Student, e.Teacher, m))
	}
	return l.finish(ctx, r, false, fmt.Sprintf("%s %.4f <= teacher %.4f + margin %g", e.Metric, e.Student, e.Teacher, m))
}

// finish records the promotion decision and ends the round.
func (l *runner) finish(ctx context.Context, r *roundState, promoted bool, reason string) error {
	r.Done, r.Promoted, r.Reason = true, promoted, reason
	r.Finished = l.now().UTC()
	old := l.s.Teacher
	if promoted {
		l.s.Teacher = r.Train.Student
	}
	if err := l.save(ctx); err != nil {
		return err
	}
	// A server is kept only for the model that teaches next.
	if promoted {
		l.servers.stop(old)
	} else if r.Train != nil {
		l.servers.stop(r.Train.Student)
	}
	l.log.Info("loop: round done", "round", r.Index, "promoted", promoted, "reason", reason)
	return nil
}

// mixture is the training data of round r: its own file and earlier
// rounds' files of the same format, weighted by the mix settings.
func (l *runner) mixture(r *roundState) TrainInput {
	in := TrainInput{Format: r.Gen.Format}
	var earlier []DataFile
	for _, p := range l.s.Rounds {
		if p.Index >= r.Index || p.Gen == nil || p.Gen.Kept == 0 || p.Gen.Path == "" || p.Gen.Format != r.Gen.Format {
			continue
		}
		earlier = append(earlier, DataFile{Path: p.Gen.Path, Round: p.Index, Kept: p.Gen.Kept})
	}
	if w := l.cfg.Mix.Window; w > 0 && len(earlier) > w {
		earlier = earlier[len(earlier)-w:]
	}
	newest := l.cfg.Mix.Newest
	if len(earlier) == 0 || newest >= 1 {
		earlier, newest = nil, 1
	}
	for _, e := range earlier {
		e.Weight = (1 - newest) / float64(len(earlier))
		in.Data = append(in.Data, e)
	}
	in.Data = append(in.Data, DataFile{Path: r.Gen.Path, Weight: newest, Round: r.Index, Kept: r.Gen.Kept})
	for _, p := range l.s.Rounds {
		if p.Index == r.Index-1 && p.Train != nil {
			in.Previous = p.Train.Student
		}
	}
	return in
}

// relPath makes a path inside the run directory relative to it, so the
// state does not depend on where the run directory sits.
func (l *runner) relPath(p string) string {
	if p == "" {
		return p
	}
	absRun, err1 := filepath.Abs(l.opts.RunDir)
	absP, err2 := filepath.Abs(p)
	if err1 != nil || err2 != nil {
		return p
	}
	if rel, err := filepath.Rel(absRun, absP); err == nil && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
		return rel
	}
	return p
}

func (l *runner) absPath(p string) string {
	if p == "" || filepath.IsAbs(p) {
		return p
	}
	return filepath.Join(l.opts.RunDir, p)
}

// timed runs a step and adds its CPU time to the round.
func timed[T any](r *roundState, f func() (T, error)) (T, error) {
	before := cpuSeconds()
	v, err := f()
	if err == nil {
		r.CPU += cpuSeconds() - before
	}
	return v, err
}

// cpuSeconds is the user+system CPU time of this process and of its waited-for
// children (an external trainer).
func cpuSeconds() float64 {
	var self, kids syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &self)
	syscall.Getrusage(syscall.RUSAGE_CHILDREN, &kids)
	tv := func(t syscall.Timeval) float64 { return float64(t.Sec) + float64(t.Usec)/1e6 }
	return tv(self.Utime) + tv(self.Stime) + tv(kids.Utime) + tv(kids.Stime)
}

// open opens m, once per distinct config, starting its server when needed.
func (l *runner) open(ctx context.Context, m Model) (model.Backend, model.Info, error) {
	name := m.Ref()
	if m.Dir != "" {
		name = filepath.Base(filepath.Dir(m.Dir)) + "/" + filepath.Base(m.Dir)
	}
	return l.openConfig(ctx, name, m)
}

func (l *runner) openConfig(ctx context.Context, name string, m Model) (model.Backend, model.Info, error) {
	if m.Config.Ref == "" {
		return nil, model.Info{}, errors.New("loop: no model (the loop config names no teacher)")
	}
	mc := m.Config
	if m.Serve != nil {
		var err error
		if mc, err = l.servers.ensure(ctx, m); err != nil {
			return nil, model.Info{}, err
		}
	}
	key, _ := json.Marshal(mc)
	l.mu.Lock()
	defer l.mu.Unlock()
	if o, ok := l.backends[string(key)]; ok {
		return o.b, o.info, nil
	}
	b, info, err := l.open_(ctx, name, mc, l.mopts)
	if err != nil {
		return nil, model.Info{}, err
	}
	l.backends[string(key)] = opened{b, info}
	return b, info, nil
}

func (l *runner) saveScratch(ctx context.Context, round int, key string, val []byte) error {
	l.mu.Lock()
	var r *roundState
	for _, x := range l.s.Rounds {
		if x.Index == round {
			r = x
		}
	}
	if r == nil {
		l.mu.Unlock()
		return fmt.Errorf("loop: save: no round %d", round)
	}
	if r.Scratch == nil {
		r.Scratch = map[string]json.RawMessage{}
	}
	r.Scratch[key] = val
	l.mu.Unlock()
	return l.save(ctx)
}

func (l *runner) scratch(round int, key string) ([]byte, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, x := range l.s.Rounds {
		if x.Index == round {
			v, ok := x.Scratch[key]
			return v, ok
		}
	}
	return nil, false
}
