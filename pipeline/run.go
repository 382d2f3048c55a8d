package pipeline

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"reflect"
	"strconv"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/synthloop/synthloop/model"
)

// RunStore is the run store as the runner uses it: the stage Store plus the
// run's metadata, where the config is kept so a resume can check it.
type RunStore interface {
	Store
	MetaValue(ctx context.Context, key string) (string, bool, error)
	SetMetaValue(ctx context.Context, key, val string) error
}

// Reporter hands out a Progress per stage and is told when a stage ends.
// Stage is called as stages start: in a streaming run those that start at
// once come first, in the config's order, and the stages that wait for
// their input later; several stages run at once, so its methods may be
// called from several goroutines.
type Reporter interface {
	Stage(name string, index, count int) Progress
	StageDone(name string, err error)
}

// Options wires a run to its environment. Store is required; everything else
// has a working default.
type Options struct {
	Store    RunStore
	Cache    model.Cache // response cache; usually the same run store
	Reporter Reporter
	Log      *slog.Logger
	Getenv   func(string) string
	// OpenModel opens a configured backend; nil means model.Open.
	OpenModel func(ctx context.Context, name string, cfg model.Config, opts model.Options) (model.Backend, model.Info, error)
	// ModelOptions is the base for every backend the run opens; the runner
	// fills in Cache, Budget, Getenv and Log when they are unset.
	ModelOptions model.Options
	// AllowConfigChange lets a run resume after its config file changed.
	// A change of max_cost_usd alone is not a change: it decides when the
	// run stops, not what its records are.
	AllowConfigChange bool
	// MaxCostUSD, when > 0, replaces the config's max_cost_usd for this run
	// (the run command's --max-cost), so that a run stopped by its cap
	// continues under a higher one without editing the config.
	MaxCostUSD float64
	// RetryFailed does again, in every stage that runs, the units that
	// committed a failed record (a permanent failure: the request was
	// refused, the reply could not be used). Units that failed for a
	// transient cause are never committed, so every run retries them.
	// The store must be a FailedReopener.
	RetryFailed bool
	// GiveUpTransient records transient failures on their records, as
	// permanent ones, instead of leaving their units for a rerun (see
	// GiveUpTransient); RetryFailed redoes them later.
	GiveUpTransient bool
	// Stages, when non-empty, limits the run to these stage names (debugging
	// one stage at a time); earlier stages must already be complete.
	Stages []string
	// MaxUnits, when > 0, lets each stage start at most this many units of
	// work (a preview: `run --preview N`); the stages end early, cleanly.
	MaxUnits int
	Round    int
	// Version is the program version recorded in a new run's metadata.
	Version string
	// Now is the run's clock: its creation time and its records'
	// CreatedAt (Env.Clock); nil means time.Now.
	Now func() time.Time
	// Shard makes the run one part of a sharded run: its stages do only
	// the units the shard owns (see Partition). The store is the shard's
	// own, and keeps the shard under ShardKey: resuming it as another
	// shard, or unsharded, is refused.
	Shard Shard
	// Staged runs the stages one after another, each once the one before
	// it has ended (`run --staged`), instead of all at once with records
	// flowing on as they are committed (see Streaming). The results are
	// the same either way.
	Staged bool
}

// ErrStopped reports a clean stop: interrupted or out of budget. Everything
// finished before the stop is in the store; running again resumes.
var ErrStopped = errors.New("pipeline: stopped before the end; run the same command again to resume")

// Run runs cfg's stages: all at once, a kept record moving on to the next
// stage as soon as its unit is committed where that stage streams (see
// Streaming), or one after another with Options.Staged. The store holds
// the same records either way. Each stage resumes from what the store
// already holds. It returns an error wrapping ErrStopped (and the cause)
// when interrupted or out of budget.
func Run(ctx context.Context, cfg *Config, opts Options) (err error) {
	if opts.Store == nil {
		return errors.New("pipeline: Run needs a store")
	}
	log := opts.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if err := checkShard(ctx, opts); err != nil {
		return err
	}
	if err := checkConfigUnchanged(ctx, cfg, opts); err != nil {
		return err
	}
	if len(opts.Stages) == 0 {
		// Unfinished until this run of every stage ends well.
		if err := opts.Store.SetMetaValue(ctx, FinishedKey, ""); err != nil {
			return fmt.Errorf("pipeline: %w", err)
		}
	}
	if opts.GiveUpTransient {
		ctx = GiveUpTransient(ctx)
	}
	mopts, err := modelOptions(ctx, cfg, opts, log)
	if err != nil {
		return err
	}
	if mopts.Budget != nil && opts.ModelOptions.Budget == nil {
		// The cap is this run's own: keep what it paid, committed or not,
		// so that a rerun under the same cap stops at once instead of paying
		// one more request first.
		defer func() {
			v := strconv.FormatFloat(mopts.Budget.Spent(), 'f', -1, 64)
			if werr := opts.Store.SetMetaValue(context.WithoutCancel(ctx), SpentKey, v); werr != nil && err == nil {
				err = fmt.Errorf("pipeline: %w", werr)
			}
		}()
		if mopts.Budget.Exceeded() {
			return &budgetStop{spent: mopts.Budget.Spent(), max: mopts.Budget.Max(), setBy: capSetBy(opts)}
		}
	}
	open := opts.OpenModel
	if open == nil {
		open = model.Open
	}
	backends := &backendSet{ctx: ctx, cfg: cfg, opts: mopts, open: open, m: map[string]openedBackend{}}
	defer func() {
		if werr := backends.saveEndpoints(context.WithoutCancel(ctx), opts.Store); werr != nil && err == nil {
			err = werr
		}
	}()

	only, err := onlyStages(cfg, opts.Stages)
	if err != nil {
		return err
	}
	r := &runner{cfg: cfg, opts: opts, log: log, backends: backends, budget: mopts.Budget}
	var stages []*stageRun
	prev := ""
	for i, sc := range cfg.Stages {
		if len(only) > 0 && !only[sc.Name] {
			prev = sc.Name
			continue
		}
		sr, err := r.prepare(ctx, i, sc, prev)
		if err != nil {
			return err
		}
		stages = append(stages, sr)
		prev = sc.Name
	}
	if r.staged() {
		for _, sr := range stages {
			if err := r.finish(ctx, sr, r.run(ctx, sr)); err != nil {
				return err
			}
		}
	} else if err := r.stream(ctx, stages); err != nil {
		return err
	}
	if len(only) == 0 {
		now := time.Now
		if opts.Now != nil {
			now = opts.Now
		}
		if err := opts.Store.SetMetaValue(ctx, FinishedKey, now().UTC().Format(time.RFC3339Nano)); err != nil {
			return fmt.Errorf("pipeline: %w", err)
		}
	}
	return nil
}

// runner holds what the stages of one Run share.
type runner struct {
	cfg      *Config
	opts     Options
	log      *slog.Logger
	backends *backendSet
	budget   *model.Budget
	noteMu   sync.Mutex // serialises noteUndone's read and write of UndoneKey
}

// stageRun is one stage of a run, built and ready to start.
type stageRun struct {
	sc    StageConfig
	index int
	stage Stage
	env   *Env
	begun bool // the reporter was told
}

// prepare builds stage i of the config, whose input is the stage named
// prev, and with RetryFailed reopens its failed units. Its progress is
// asked for when it starts (run).
func (r *runner) prepare(ctx context.Context, i int, sc StageConfig, prev string) (*stageRun, error) {
	st, _ := Lookup(sc.Type)
	stage, err := st.New(sc.Settings)
	if err != nil {
		return nil, fmt.Errorf("pipeline: stage %s: %w", sc.Name, err)
	}
	if r.opts.RetryFailed {
		if err := reopenFailed(ctx, r.opts.Store, sc.Name, r.log); err != nil {
			return nil, err
		}
	}
	conc := sc.Concurrency
	if conc <= 0 {
		conc = r.cfg.Concurrency
	}
	if conc <= 0 {
		conc = 8
	}
	env := &Env{
		Name:        sc.Name,
		Input:       prev,
		Store:       r.opts.Store,
		Progress:    nopProgress{},
		Log:         r.log.With("stage", sc.Name),
		Backend:     r.backends.get,
		Flush:       r.backends.flush,
		Seed:        r.cfg.Seed,
		Round:       r.opts.Round,
		Concurrency: conc,
		Clock:       r.opts.Now,
		Shard:       r.opts.Shard,
	}
	if sc.Batch && r.opts.MaxUnits == 0 {
		env.Backend = r.backends.batched
	}
	if _, ok := stage.(WholeInput); ok {
		// Its input is the shard's share already, and it needs all
		// of that; the merge runs it again over every shard's.
		env.Shard = Shard{}
	}
	if r.opts.MaxUnits > 0 {
		env.Units = NewUnitCap(r.opts.MaxUnits)
	}
	return &stageRun{sc: sc, index: i, stage: stage, env: env}, nil
}

// begin tells the reporter that stage sr starts, once.
func (r *runner) begin(sr *stageRun) {
	if r.opts.Reporter != nil && !sr.begun {
		sr.env.Progress = r.opts.Reporter.Stage(sr.sc.Name, sr.index, len(r.cfg.Stages))
	}
	sr.begun = true
}

// run runs one stage to its end.
func (r *runner) run(ctx context.Context, sr *stageRun) error {
	r.begin(sr)
	err := sr.stage.Run(ctx, sr.env)
	if err == nil {
		err = ctx.Err()
	}
	return err
}

// finish records how stage sr ended (err): the reporter is told, status's
// note of undone units is updated, and the error becomes the run's, saying
// what a rerun does.
func (r *runner) finish(ctx context.Context, sr *stageRun, err error) error {
	if r.opts.Reporter != nil {
		r.opts.Reporter.StageDone(sr.sc.Name, err)
	}
	// A stage that only did what its unfinished input stage made leaves
	// status's note as it was: the undone units are that stage's.
	if _, ok := err.(*inputEnded); !ok {
		// One stage at a time: the note of every stage is one value, read,
		// changed and written again, and streaming stages end at once.
		r.noteMu.Lock()
		serr := noteUndone(ctx, r.opts.Store, sr.sc.Name, err)
		r.noteMu.Unlock()
		if serr != nil && err == nil {
			err = serr
		}
	}
	if err == nil {
		return nil
	}
	if errors.Is(err, model.ErrBudgetExceeded) && r.budget != nil && r.opts.ModelOptions.Budget == nil {
		return &budgetStop{stage: sr.sc.Name, spent: r.budget.Spent(), max: r.budget.Max(), setBy: capSetBy(r.opts), cause: err}
	}
	return stageError(sr.sc.Name, err)
}

// checkShard refuses to run a store as a shard other than the one it was
// started as (or sharded when it was not): its units were chosen by that
// shard's partition, and a different one would do some work twice and
// leave other work undone. A new store is marked with opts.Shard.
func checkShard(ctx context.Context, opts Options) error {
	if opts.Shard.Sharded() {
		if err := opts.Shard.check(); err != nil {
			return err
		}
	}
	old, ok, err := opts.Store.MetaValue(ctx, ShardKey)
	if err != nil {
		return fmt.Errorf("pipeline: %w", err)
	}
	want := opts.Shard.String()
	if ok && old != want {
		if want == "" {
			return fmt.Errorf("pipeline: this run directory holds shard %s of a sharded run; run it with --shard %s (or merge the shards with synthloop merge)", old, old)
		}
		if old == "" {
			return fmt.Errorf("pipeline: this run directory holds an unsharded run; run shard %s in a directory of its own", want)
		}
		return fmt.Errorf("pipeline: this run directory holds shard %s, not %s; each shard needs its own directory", old, want)
	}
	if !ok {
		if _, started, err := opts.Store.MetaValue(ctx, "config_hash"); err != nil {
			return fmt.Errorf("pipeline: %w", err)
		} else if started && want != "" {
			return fmt.Errorf("pipeline: this run directory holds an unsharded run; run shard %s in a directory of its own", want)
		}
		if err := opts.Store.SetMetaValue(ctx, ShardKey, want); err != nil {
			return fmt.Errorf("pipeline: %w", err)
		}
	}
	return nil
}

// SpentKey is the run-store meta key under which Run keeps what the run has
// paid under its cost cap, replies not yet committed included.
const SpentKey = "spent_usd"

// budgetStop is a clean stop at the run's cost cap (max_cost_usd or
// --max-cost). It says exactly how to continue, since running the same
// command again only stops again.
type budgetStop struct {
	stage      string // "" when the run stopped before its first stage
	spent, max float64
	setBy      string // max_cost_usd or --max-cost
	cause      error
}

func (e *budgetStop) Error() string {
	where := ""
	if e.stage != "" {
		where = " in stage " + e.stage
	}
	return fmt.Sprintf("pipeline: stopped%s: spent $%.4f of the $%s cap (%s); finished work is kept. "+
		"To continue, run the same command with a higher cap, e.g. --max-cost %s", where, e.spent, usd(e.max), e.setBy, usd(roundUp(2*max(e.max, e.spent))))
}

// roundUp rounds v > 0 up to two significant digits, for a suggested cap
// that reads well (2.2, not 2.1120004).
func roundUp(v float64) float64 {
	if v <= 0 {
		return v
	}
	scale := math.Pow(10, math.Floor(math.Log10(v))-1)
	return math.Ceil(v/scale-1e-9) * scale
}

func (e *budgetStop) Unwrap() []error {
	if e.cause == nil {
		return []error{ErrStopped, model.ErrBudgetExceeded}
	}
	return []error{ErrStopped, e.cause}
}

// capSetBy names where the run's cap came from, for the stop message.
func capSetBy(opts Options) string {
	if opts.MaxCostUSD > 0 {
		return "--max-cost"
	}
	return "max_cost_usd"
}

// usd renders a dollar amount without trailing zeros: 1, 0.5, 12.25.
func usd(v float64) string { return strconv.FormatFloat(v, 'f', -1, 64) }

// stageError says what the error that ended a stage means for the user:
// above all, what a rerun will do.
func stageError(stage string, err error) error {
	var down *downError
	switch {
	case errors.As(err, &down) && down.transient:
		return fmt.Errorf("pipeline: stage %s: %w; finished work is kept and the units that failed were not committed: run the same command to resume once the model answers again", stage, err)
	case errors.As(err, &down):
		return fmt.Errorf("pipeline: stage %s: %w; finished work is kept: fix the model, then run the same command with --retry-failed to resume and retry the records that failed", stage, err)
	case IsStop(err):
		return fmt.Errorf("%w (stage %s: %w)", ErrStopped, stage, err)
	}
	return fmt.Errorf("pipeline: stage %s: %w", stage, err)
}

// FailedReopener is the run store's part in Options.RetryFailed.
type FailedReopener interface {
	// ReopenFailed deletes, in one transaction, the records and done-marks
	// of the units of stage that committed a failed record, so that the
	// stage does them again; it returns how many units it reopened.
	ReopenFailed(ctx context.Context, stage string) (int, error)
}

func reopenFailed(ctx context.Context, st RunStore, stage string, log *slog.Logger) error {
	ro, ok := st.(FailedReopener)
	if !ok {
		return fmt.Errorf("pipeline: retry failed: the run store (%T) cannot reopen units", st)
	}
	n, err := ro.ReopenFailed(ctx, stage)
	if err != nil {
		return fmt.Errorf("pipeline: stage %s: retry failed: %w", stage, err)
	}
	if n > 0 {
		log.Info("pipeline: units with failed records reopened", "stage", stage, "units", n)
	}
	return nil
}

// UndoneKey is the run-store meta key under which Run keeps, for status,
// the units that the last run of each stage left undone after transient
// failures.
const UndoneKey = "undone"

// Undone is what the last run of a stage left undone after transient
// failures: units that a rerun does.
type Undone struct {
	Stage string `json:"stage"`
	Units int    `json:"units"`
	Error string `json:"error"` // the last cause
}

// ReadUndone returns what Run kept under UndoneKey, one entry per stage.
func ReadUndone(ctx context.Context, st interface {
	MetaValue(ctx context.Context, key string) (string, bool, error)
}) ([]Undone, error) {
	v, ok, err := st.MetaValue(ctx, UndoneKey)
	if err != nil || !ok {
		return nil, err
	}
	var out []Undone
	if err := json.Unmarshal([]byte(v), &out); err != nil {
		return nil, fmt.Errorf("pipeline: %s in the run store: %w", UndoneKey, err)
	}
	return out, nil
}

// noteUndone updates what status shows of stage after a run of it that
// ended with err: the units left undone by transient failures, or nothing
// once the stage is done. Another error (Ctrl-C) leaves the note as it was.
func noteUndone(ctx context.Context, st RunStore, stage string, err error) error {
	var ue *UndoneError
	if err != nil && !errors.As(err, &ue) {
		return nil
	}
	old, rerr := ReadUndone(ctx, st)
	if rerr != nil {
		return rerr
	}
	var list []Undone
	for _, u := range old {
		if u.Stage != stage {
			list = append(list, u)
		}
	}
	if ue != nil {
		list = append(list, Undone{Stage: stage, Units: ue.Units, Error: ue.Last.Error()})
	}
	if len(list) == len(old) && ue == nil {
		return nil // nothing noted, nothing to clear
	}
	b, merr := json.Marshal(list)
	if merr != nil {
		return fmt.Errorf("pipeline: %w", merr)
	}
	if werr := st.SetMetaValue(context.WithoutCancel(ctx), UndoneKey, string(b)); werr != nil {
		return fmt.Errorf("pipeline: %w", werr)
	}
	return nil
}

// modelOptions completes opts.ModelOptions from the run's options: the
// response cache, the cost cap, the environment and the log.
func modelOptions(ctx context.Context, cfg *Config, opts Options, log *slog.Logger) (_ model.Options, err error) {
	mopts := opts.ModelOptions
	if mopts.Cache == nil {
		mopts.Cache = opts.Cache
	}
	// A preview is to see replies now, not in up to 24 hours: it asks
	// batch models live.
	if bs, ok := opts.Store.(model.BatchStore); ok && mopts.Batches == nil && mopts.Cache != nil && opts.MaxUnits == 0 {
		mopts.Batches = bs
	}
	limit := cfg.MaxCostUSD
	if opts.MaxCostUSD > 0 {
		limit = opts.MaxCostUSD
	}
	if mopts.Budget == nil && limit > 0 {
		mopts.Budget = model.NewBudget(limit)
		// The cap is for the whole run, not for this process: count what
		// was paid before a restart. The committed units' cost misses replies
		// paid for but not committed when the run stopped, which the last run
		// noted under SpentKey (a run killed outright notes nothing).
		var spent float64
		if sp, ok := opts.Store.(interface {
			SpentUSD(ctx context.Context) (float64, error)
		}); ok {
			if spent, err = sp.SpentUSD(ctx); err != nil {
				return model.Options{}, fmt.Errorf("pipeline: %w", err)
			}
		}
		v, ok, err := opts.Store.MetaValue(ctx, SpentKey)
		if err != nil {
			return model.Options{}, fmt.Errorf("pipeline: %w", err)
		}
		if noted, perr := strconv.ParseFloat(v, 64); ok && perr == nil && noted > spent {
			spent = noted
		}
		mopts.Budget.Charge(spent)
	}
	if mopts.Getenv == nil {
		mopts.Getenv = opts.Getenv
	}
	if mopts.Log == nil {
		mopts.Log = log
	}
	return mopts, nil
}

// onlyStages returns the set of names, each of which must name a stage of cfg.
func onlyStages(cfg *Config, names []string) (map[string]bool, error) {
	only := map[string]bool{}
	for _, s := range names {
		only[s] = true
	}
	for _, s := range names {
		found := false
		for _, sc := range cfg.Stages {
			found = found || sc.Name == s
		}
		if !found {
			return nil, fmt.Errorf("pipeline: no stage named %q in %s", s, cfg.Source)
		}
	}
	return only, nil
}

func checkConfigUnchanged(ctx context.Context, cfg *Config, opts Options) error {
	old, ok, err := opts.Store.MetaValue(ctx, "config_hash")
	if err != nil {
		return fmt.Errorf("pipeline: %w", err)
	}
	if ok && old != cfg.Hash() && !opts.AllowConfigChange && !onlyCapChanged(ctx, cfg, opts.Store) {
		src, _, _ := opts.Store.MetaValue(ctx, "config_source")
		return fmt.Errorf("pipeline: this run directory was started with a different config (%s); resuming with a changed config could mix incompatible records. Use a new run directory, or pass --allow-config-change if the change is safe", src)
	}
	vals := [][2]string{
		{"config_hash", cfg.Hash()},
		{"config", string(cfg.Text)},
		{"config_source", cfg.Source},
		{"seed", strconv.FormatInt(cfg.Seed, 10)},
	}
	if !ok {
		now := time.Now
		if opts.Now != nil {
			now = opts.Now
		}
		vals = append(vals, [2]string{"created", now().UTC().Format(time.RFC3339Nano)}, [2]string{"version", opts.Version})
	}
	for _, kv := range vals {
		if err := opts.Store.SetMetaValue(ctx, kv[0], kv[1]); err != nil {
			return fmt.Errorf("pipeline: %w", err)
		}
	}
	return nil
}

// onlyCapChanged reports whether the config the run was started with (kept
// in the store) differs from cfg at most in max_cost_usd, comments and
// layout: raising the cap of a run that stopped at it must not need
// --allow-config-change. A stored config that no longer parses counts as
// changed.
func onlyCapChanged(ctx context.Context, cfg *Config, st RunStore) bool {
	text, ok, err := st.MetaValue(ctx, "config")
	if err != nil || !ok {
		return false
	}
	old, err := ParseConfig(cfg.Source, []byte(text))
	if err != nil {
		return false
	}
	a, b := *old, *cfg
	for _, c := range []*Config{&a, &b} {
		c.MaxCostUSD, c.Source, c.Text = 0, "", nil
	}
	return reflect.DeepEqual(a, b)
}

type openedBackend struct {
	b     model.Backend
	info  ModelInfo
	err   error
	stats model.StatsSource // the opened backend's counters, when it keeps them
	raw   model.Backend     // the opened backend, without the breaker
	batch model.Backend     // raw in batch mode, with its own breaker, once asked for
}

// backendSet opens each configured model once, on first use, so a pipeline
// that never touches a model never needs its key.
type backendSet struct {
	ctx  context.Context
	cfg  *Config
	opts model.Options
	open func(context.Context, string, model.Config, model.Options) (model.Backend, model.Info, error)
	mu   sync.Mutex
	m    map[string]openedBackend
}

func (s *backendSet) get(name string) (model.Backend, ModelInfo, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if ob, ok := s.m[name]; ok {
		return ob.b, ob.info, ob.err
	}
	mc, ok := s.cfg.Models[name]
	var ob openedBackend
	if !ok {
		ob.err = fmt.Errorf("pipeline: no model named %q in the config's models section", name)
	} else {
		b, info, err := s.open(s.ctx, name, mc, s.opts)
		ob.stats, _ = b.(model.StatsSource)
		ob.raw = b
		if err == nil {
			limit := s.cfg.MaxConsecutiveFailures
			if limit == 0 {
				limit = DefaultMaxConsecutiveFailures
			}
			if limit > 0 {
				b = &breaker{b: b, name: name, limit: limit}
			}
		}
		ob.b, ob.info, ob.err = b, ModelInfo{Backend: info.Provider, Model: info.Model}, err
	}
	s.m[name] = ob
	return ob.b, ob.info, ob.err
}

// batched is get for a stage with batch: true: the model in batch mode.
func (s *backendSet) batched(name string) (model.Backend, ModelInfo, error) {
	_, info, err := s.get(name)
	if err != nil {
		return nil, info, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	ob := s.m[name]
	if ob.batch != nil {
		return ob.batch, info, nil
	}
	bb, ok := ob.raw.(interface{ Batched() (model.Backend, error) })
	if !ok {
		// Not a model.Client: a stand-in (the dry run's placeholder, a
		// test's fake) answers the same whether batched or not.
		return ob.b, info, nil
	}
	b, err := bb.Batched()
	if err != nil {
		return nil, info, err
	}
	if br, ok := ob.b.(*breaker); ok {
		// Its own breaker: deferred requests are not failures, and the
		// live model's streak says nothing about the batch's.
		b = &breaker{b: b, name: name, limit: br.limit}
	}
	ob.batch = b
	s.m[name] = ob
	return b, info, nil
}

// flush is Env.Flush: every opened model's batches, at once.
func (s *backendSet) flush(ctx context.Context) error {
	s.mu.Lock()
	var fs []model.BatchFlusher
	for _, ob := range s.m {
		if f, ok := ob.raw.(model.BatchFlusher); ok && ob.err == nil {
			fs = append(fs, f)
		}
	}
	s.mu.Unlock()
	g, gctx := errgroup.WithContext(ctx)
	for _, f := range fs {
		g.Go(func() error { return f.Flush(gctx) })
	}
	return g.Wait()
}

type nopProgress struct{}

func (nopProgress) SetTotal(int)            {}
func (nopProgress) Done(int, int, int, int) {}
func (nopProgress) Usage(UnitUsage)         {}
