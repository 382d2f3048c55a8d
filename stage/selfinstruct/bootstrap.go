// Package selfinstruct implements the Self-Instruct and Alpaca generation stages: instruction bootstrapping with the paper's filters, and instance generation.
package selfinstruct

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"strings"

	"github.com/synthloop/synthloop/internal/prompt"
	"github.com/synthloop/synthloop/internal/structured"
	"github.com/synthloop/synthloop/model"
	"github.com/synthloop/synthloop/pipeline"
	"github.com/synthloop/synthloop/record"
	"github.com/synthloop/synthloop/seeds"
	"github.com/synthloop/synthloop/text"
)

// Stage is the selfinstruct stage.
type Stage struct {
	cfg     *settings
	seeds   []seeds.Task
	prompt  *prompt.Template
	filters *instructionFilters
	tok     text.Tokenizer
	shape   *structured.Shaper // nil: the list the prompt asks for
}

// New checks cfg, loads the seed set and the prompt, and returns the stage.
func New(cfg *Config) (*Stage, error) {
	s, err := cfg.resolve()
	if err != nil {
		return nil, err
	}
	tasks, err := seeds.Load(s.Seeds)
	if err != nil {
		return nil, fmt.Errorf("selfinstruct: %w", err)
	}
	kind := kindBootstrap
	switch {
	case s.Mode == ModeAlpaca:
		kind = kindAlpaca
	case s.ClassificationOnly:
		kind = kindBootstrapClf
		var clf []seeds.Task
		for _, t := range tasks {
			if t.IsClassification {
				clf = append(clf, t)
			}
		}
		if len(clf) == 0 {
			return nil, fmt.Errorf("selfinstruct: classification_only: seed set %q has no classification tasks", s.Seeds)
		}
		tasks = clf
	}
	p, err := loadPrompt(s.Prompts, kind, s.Language)
	if err != nil {
		return nil, err
	}
	tok, err := newTokenizer(s.Tokenizer, s.lang)
	if err != nil {
		return nil, err
	}
	schema := instructionsSchema
	if s.Mode == ModeAlpaca {
		schema = alpacaSchema
	}
	shape, err := structured.NewShaper(s.Structured, schema)
	if err != nil {
		return nil, fmt.Errorf("selfinstruct: %w", err)
	}
	return &Stage{
		cfg:     s,
		seeds:   tasks,
		prompt:  p,
		tok:     tok,
		filters: newInstructionFilters(s.lang, s.MinWords, s.MaxWords, s.blacklist, s.RejectPrefixes, s.FilterPunctuation, s.nonASCII),
		shape:   shape,
	}, nil
}

// noveltyIndex is what the stage needs from text.Index: check a candidate
// against everything added so far, and add a kept one.
type noveltyIndex interface {
	CheckText(s string) text.Result
	AddText(s string) int
}

// pooled is a kept machine instruction, in the order it was kept.
type pooled struct {
	id    string
	batch int
	alpacaTask
}

// batchKey names the unit of batch b.
func batchKey(b int) string { return fmt.Sprintf("batch-%06d", b) }

// batchRand derives a batch's randomness from the run seed, the stage name
// and the batch index only, so a prompt is the same whichever process builds it.
func batchRand(seed int64, stage string, b int) *rand.Rand {
	h := sha256.Sum256(fmt.Appendf(nil, "selfinstruct\x00%d\x00%s\x00%d", seed, stage, b))
	return rand.New(rand.NewPCG(binary.LittleEndian.Uint64(h[:8]), binary.LittleEndian.Uint64(h[8:16])))
}

// sample returns k distinct indexes below n, in draw order.
func sample(r *rand.Rand, n, k int) []int {
	k = min(k, n)
	out := make([]int, 0, k)
	seen := make(map[int]bool, k)
	for len(out) < k {
		i := r.IntN(n)
		if !seen[i] {
			seen[i] = true
			out = append(out, i)
		}
	}
	return out
}

// request is one batch's prompt, with what provenance needs to know about it.
type request struct {
	batch     int
	req       model.Request
	seedIDs   []string
	parentIDs []string
	next      int // number of the first item the model is to write
}

// buildRequest makes the prompt of batch b from the machine pool as it stood
// after the previous wave.
func (s *Stage) buildRequest(env *pipeline.Env, b int, pool []pooled) (*request, error) {
	c := s.cfg
	r := batchRand(env.Seed, env.Name, b)
	var shown []alpacaTask
	rq := &request{batch: b}
	for _, i := range sample(r, len(pool), c.machineTasks) {
		shown = append(shown, pool[i].alpacaTask)
		rq.parentIDs = append(rq.parentIDs, pool[i].id)
	}
	for _, i := range sample(r, len(s.seeds), c.SeedTasks+c.machineTasks-len(shown)) {
		t := s.seeds[i]
		shown = append(shown, alpacaTask{Instruction: t.Instruction, Input: t.Instances[0].Input, Output: t.Instances[0].Output})
		rq.seedIDs = append(rq.seedIDs, t.ID)
	}
	r.Shuffle(len(shown), func(i, j int) { shown[i], shown[j] = shown[j], shown[i] })
	for i := range shown {
		shown[i].Instruction = oneLine(shown[i].Instruction)
	}
	rq.next = len(shown) + 1
	var data any
	stop := []string{fmt.Sprintf("\n%d.", c.StopAtItem), fmt.Sprintf("\n%d .", c.StopAtItem), fmt.Sprintf("%d.", c.StopAtItem)}
	if c.Mode == ModeAlpaca {
		for i := range shown {
			if strings.TrimSpace(shown[i].Input) == "" {
				shown[i].Input = "<noinput>"
			}
		}
		data = alpacaData{Count: c.StopAtItem, Tasks: shown, Next: rq.next}
		stop = []string{fmt.Sprintf("\n%d", c.StopAtItem), fmt.Sprintf("%d.", c.StopAtItem)}
	} else {
		ins := make([]string, len(shown))
		for i, t := range shown {
			ins[i] = t.Instruction
		}
		data = bootstrapData{Tasks: ins, Next: rq.next}
	}
	text, err := s.prompt.Render(data)
	if err != nil {
		return nil, err
	}
	rq.req = model.Request{
		Messages:        []model.Message{{Role: "user", Content: text}},
		Temperature:     f64(c.temperature),
		TopP:            c.topP,
		PresencePenalty: c.presence,
		MaxTokens:       c.MaxTokens,
		Stop:            stop,
	}
	return rq, nil
}

// result is a batch's reply or its error.
type result struct {
	resp *model.Response
	err  error
	how  structured.Mode // how the reply was asked for (structured)
}

// unstopped is req as sent with how: a reply asked for as JSON is not
// cut by the stop sequences that end a text list.
func unstopped(req model.Request, how structured.Mode) model.Request {
	if how != structured.Off {
		req.Stop = nil
	}
	return req
}

// Run generates batches in waves until Target instructions are kept or
// MaxBatches prompts were sent. Each wave's prompts are built from the pool as
// it stood after the previous wave, sent concurrently, then filtered and
// committed in batch order, so results do not depend on which reply came
// first, and a resumed run rebuilds the same prompts: after a crash, batches
// already committed are skipped and the rest of their wave is asked again
// with identical prompts, which the response cache answers.
//
// The stage stops after the batch that reaches Target, committed whole; the
// later batches of that wave are not committed (their replies stay in the
// response cache, so a rerun with a higher target pays nothing for them).
func (s *Stage) Run(ctx context.Context, env *pipeline.Env) error {
	c := s.cfg
	backend, info, err := env.Backend(c.Model)
	if err != nil {
		return fmt.Errorf("selfinstruct: model %q: %w", c.Model, err)
	}
	idx, err := text.NewIndex(text.Options{Threshold: c.NoveltyThreshold, TopK: c.TopSimilar, MaxOnReject: c.maxOnReject, StopOnReject: c.stopOnReject, Mean: c.mean, Tokenizer: s.tok})
	if err != nil {
		return fmt.Errorf("selfinstruct: %w", err)
	}
	for _, t := range s.seeds {
		idx.AddText(t.Instruction)
	}
	stored, storedPer, counts, err := committed(ctx, env)
	if err != nil {
		return err
	}
	wave := c.Concurrency
	if wave <= 0 {
		wave = max(env.Concurrency, 1)
	}
	// In a sharded run each shard bootstraps on its own: the scheduler
	// gives it the batches whose keys hash to it (each batch draws its seed
	// tasks from its own key, so shards see different draws), its pool and
	// novelty index hold its own instructions only, and it stops at its
	// share of the target. A wave spans Count times the batch numbers so
	// that about wave of them are the shard's. The merge's dedup, when the
	// pipeline has one, is what compares instructions across shards.
	c.Target = env.Shard.Share(c.Target)
	span := wave * max(env.Shard.Count, 1)
	wenv := waveEnv(env, wave, c.Target, counts)
	var pool []pooled
	next := 0 // next entry of stored to replay
	replay := func(upTo int) {
		for next < len(stored) && stored[next].batch < upTo {
			pool = append(pool, stored[next])
			idx.AddText(stored[next].Instruction)
			next++
		}
	}
	for b0 := 0; b0 < c.MaxBatches; b0 += span {
		replay(b0)
		if len(pool) >= c.Target {
			return nil
		}
		n := min(span, c.MaxBatches-b0)
		snapshot := pool[:len(pool):len(pool)]
		units := make([]pipeline.UnitSpec, n)
		before := make([]int, n) // kept before batch b0+j, counting committed batches only
		reach := len(pool)
		for j := range n {
			units[j] = pipeline.UnitSpec{Key: batchKey(b0 + j), Seq: int64(b0+j) * 1000}
			before[j] = reach
			reach += storedPer[b0+j]
		}
		// The wave's requests go out together; their replies are filtered
		// and committed in batch order, one at a time, since each filters
		// against the index the batches before it left.
		err := pipeline.RunUnitsInOrder(ctx, wenv, units,
			func(ctx context.Context, j int) (*answered, error) {
				if before[j] >= c.Target {
					// Committed batches earlier in this wave already reach
					// the target (a rerun of a finished stage): nothing to ask.
					return nil, pipeline.ErrEnough
				}
				return s.ask(ctx, env, backend, b0+j, snapshot)
			},
			func(ctx context.Context, j int, a *answered) ([]*record.Record, pipeline.UnitUsage, error) {
				replay(b0 + j)
				if len(pool) >= c.Target {
					return nil, pipeline.UnitUsage{}, pipeline.ErrEnough
				}
				recs, kept := s.process(env, info, a.rq, a.res, idx)
				pool = append(pool, kept...)
				return recs, unitUsage(a.res, recs), nil
			})
		if err != nil {
			return fmt.Errorf("selfinstruct: %w", err)
		}
		replay(b0 + n)
		if len(pool) >= c.Target {
			return nil
		}
	}
	if env.Log != nil && len(pool) < c.Target {
		env.Log.Warn("selfinstruct: max_batches reached before target", "stage", env.Name, "kept", len(pool), "target", c.Target, "max_batches", c.MaxBatches)
	}
	return nil
}

// ask sends batch b's request, its prompt drawn from pool; a failed
// request is answered with its error, for process to record.
func (s *Stage) ask(ctx context.Context, env *pipeline.Env, backend model.Backend, b int, pool []pooled) (*answered, error) {
	rq, err := s.buildRequest(env, b, pool)
	if err != nil {
		return nil, err
	}
	var resp *model.Response
	how, err := s.shape.Do(ctx, rq.req, func(ctx context.Context, req model.Request, how structured.Mode) error {
		rq.req = unstopped(req, how)
		var err error
		resp, err = backend.Generate(ctx, rq.req)
		return err
	})
	if err != nil && pipeline.MustReturn(ctx, err) {
		return nil, err
	}
	return &answered{rq, result{resp, err, how}}, nil
}

// committed reads what earlier runs committed: the kept records in batch
// order, to be replayed into the pool and the index as the loop passes
// their batch, the kept records per batch (every committed batch has at
// least one record, so this also tells which are done), and the records
// by status.
func committed(ctx context.Context, env *pipeline.Env) (stored []pooled, storedPer map[int]int, counts [3]int, err error) {
	storedPer = map[int]int{}
	for rec, err := range env.Store.Records(ctx, env.Name, "") {
		if err != nil {
			return nil, nil, counts, fmt.Errorf("selfinstruct: read %s: %w", env.Name, err)
		}
		counts[statusIndex(rec.Status)]++
		if rec.Status == record.Kept {
			storedPer[int(rec.Seq/1000)]++
			stored = append(stored, pooled{id: rec.ID, batch: int(rec.Seq / 1000), alpacaTask: alpacaTask{rec.Instruction, rec.Input, rec.Output}})
		}
	}
	return stored, storedPer, counts, nil
}

// waveEnv is env for the waves of wave batches. Progress counts kept
// instructions against the target, capped at it, so the bar follows what
// the stage is for rather than the batch count; counts are the records
// committed before.
func waveEnv(env *pipeline.Env, wave, target int, counts [3]int) *pipeline.Env {
	wenv := *env
	wenv.Concurrency = wave
	if env.Progress != nil {
		p := &targetProgress{Progress: env.Progress, target: target, reported: min(counts[0], target)}
		env.Progress.SetTotal(target)
		if counts != [3]int{} {
			// First the resumed work with no records, then the records, so
			// a reporter can tell skipped work from new work.
			env.Progress.Done(p.reported, 0, 0, 0)
			env.Progress.Done(0, counts[0], counts[1], counts[2])
		}
		wenv.Progress = p
	}
	return &wenv
}

// answered is a batch's request with its reply or error.
type answered struct {
	rq  *request
	res result
}

// targetProgress turns the scheduler's per-batch progress into kept
// instructions against the target. The batches of a wave commit one at a
// time, so it needs no lock.
type targetProgress struct {
	pipeline.Progress
	target, reported int
}

// SetTotal ignores the scheduler's batch count: the total is the target.
func (p *targetProgress) SetTotal(int) {}

func (p *targetProgress) Done(_, kept, rejected, failed int) {
	step := min(kept, p.target-p.reported)
	p.reported += step
	if step+kept+rejected+failed > 0 {
		p.Progress.Done(step, kept, rejected, failed)
	}
}

func statusIndex(s record.Status) int {
	switch s {
	case record.Kept:
		return 0
	case record.Rejected:
		return 1
	}
	return 2
}

func countStatus(recs []*record.Record) (kept, rejected, failed int) {
	var c [3]int
	for _, r := range recs {
		c[statusIndex(r.Status)]++
	}
	return c[0], c[1], c[2]
}

func unitUsage(res result, recs []*record.Record) pipeline.UnitUsage {
	u := pipeline.UnitUsage{Requests: 1}
	if res.err != nil {
		u.Errors = 1
		return u
	}
	if res.resp.Cached {
		u.CachedRequests = 1
	}
	u.PromptTokens = res.resp.Usage.PromptTokens
	u.CompletionTokens = res.resp.Usage.CompletionTokens
	u.CostUSD = res.resp.CostUSD
	return u
}

// process turns one batch's reply into records: every parsed candidate, kept
// or rejected with the decision of each filter. Kept ones are added to the
// index at once, so a near-duplicate later in the same batch is caught.
func (s *Stage) process(env *pipeline.Env, info pipeline.ModelInfo, rq *request, res result, idx noveltyIndex) ([]*record.Record, []pooled) {
	c := s.cfg
	prov := env.Provenance("selfinstruct", info, rq.parentIDs...)
	prov.TemplateHash, prov.Params, prov.SeedIDs = s.prompt.Hash, params(rq.req, c.Mode), rq.seedIDs
	prov.RequestKeys = model.CacheKeys(info.Backend, info.Model, rq.req)
	s.shape.Note(prov.Params, res.how)
	newRec := func(i int) *record.Record {
		return &record.Record{
			ID:    fmt.Sprintf("%s:%s:%03d", env.Name, batchKey(rq.batch), i),
			Stage: env.Name,
			Seq:   int64(rq.batch)*1000 + int64(i),
			Prov:  prov,
			Meta:  map[string]any{"batch": rq.batch},
		}
	}
	if res.err != nil {
		r := newRec(0)
		r.Status, r.Error = record.Failed, res.err.Error()
		r.Meta["kind"] = "batch"
		return []*record.Record{r}, nil
	}
	var choice model.Choice
	if len(res.resp.Choices) > 0 {
		choice = res.resp.Choices[0]
	}
	if res.resp.Model != "" {
		prov.Model = res.resp.Model
	}
	truncated := choice.FinishReason == model.FinishLength
	if truncated && c.Mode != ModeAlpaca {
		r := newRec(0)
		r.Status = record.Rejected
		r.Meta["kind"], r.Meta["response"] = "batch", choice.Text
		r.Decisions = []record.Decision{{Filter: "finish_length", Reason: fmt.Sprintf("the reply hit max_tokens (%d); the paper drops such a reply whole", c.MaxTokens)}}
		return []*record.Record{r}, nil
	}
	var items []alpacaItem
	if s.shape != nil && res.how != structured.Off {
		var err error
		if items, err = parseShapedTasks(s.shape.Schema, choice.Text); err != nil {
			r := newRec(0)
			r.Status = record.Rejected
			r.Meta["kind"], r.Meta["response"] = "batch", choice.Text
			r.Decisions = []record.Decision{{Filter: "parse", Reason: "the reply does not fit the schema: " + err.Error()}}
			return []*record.Record{r}, nil
		}
	} else if c.Mode == ModeAlpaca {
		items = parseAlpaca(choice.Text, rq.next, truncated)
	} else {
		for _, t := range parseNumberedList(choice.Text, rq.next) {
			items = append(items, alpacaItem{Instruction: t})
		}
	}
	if len(items) == 0 {
		r := newRec(0)
		r.Status = record.Rejected
		r.Meta["kind"], r.Meta["response"] = "batch", choice.Text
		r.Decisions = []record.Decision{{Filter: "parse", Reason: fmt.Sprintf("no tasks found in the reply (finish reason %q)", choice.FinishReason)}}
		return []*record.Record{r}, nil
	}
	var recs []*record.Record
	var kept []pooled
	for i, it := range items {
		r := newRec(i)
		r.Instruction = normalizeInstruction(it.Instruction, s.cfg.lang)
		r.Input, r.Output = it.Input, it.Output
		if it.Err != "" {
			filter := "parse"
			if strings.HasPrefix(it.Err, "truncated") {
				filter = "finish_length"
			}
			r.Status = record.Rejected
			r.Meta["raw"] = it.Raw
			r.Decisions = []record.Decision{{Filter: filter, Reason: it.Err}}
			recs = append(recs, r)
			continue
		}
		r.Decisions = s.filters.check(r.Instruction)
		if allPassed(r.Decisions) {
			s.checkNovelty(r, idx)
		}
		if allPassed(r.Decisions) {
			r.Status = record.Kept
			idx.AddText(r.Instruction)
			kept = append(kept, pooled{id: r.ID, batch: rq.batch, alpacaTask: alpacaTask{r.Instruction, r.Input, r.Output}})
		} else {
			r.Status = record.Rejected
		}
		recs = append(recs, r)
	}
	return recs, kept
}

// checkNovelty decides r's novelty against the instructions kept so far:
// the paper's ROUGE-L threshold, with the most similar ones in Meta.
func (s *Stage) checkNovelty(r *record.Record, idx noveltyIndex) {
	res := idx.CheckText(r.Instruction)
	d := record.Decision{Filter: "novelty", Passed: res.Novel, Value: res.Max}
	if res.Novel {
		d.Reason = fmt.Sprintf("max ROUGE-L %s <= %v", score(res.Max, s.cfg.NoveltyThreshold), s.cfg.NoveltyThreshold)
	} else {
		what := "max ROUGE-L"
		if s.cfg.stopOnReject {
			what = "ROUGE-L" // the first found above the threshold
		}
		d.Reason = fmt.Sprintf("%s %s > %v", what, score(res.Max, s.cfg.NoveltyThreshold), s.cfg.NoveltyThreshold)
		if len(res.Similar) > 0 {
			d.Reason += fmt.Sprintf(" against %q", clip(res.Similar[0].Text, 80))
		}
	}
	r.Decisions = append(r.Decisions, d)
	similar := make([]map[string]any, len(res.Similar))
	for k, m := range res.Similar {
		similar[k] = map[string]any{"instruction": m.Text, "score": m.Score}
	}
	r.Meta["most_similar"] = similar
	r.Meta["max_similarity"] = res.Max
	if res.Mean != nil {
		r.Meta["avg_similarity"] = res.Mean.Value
		r.Meta["avg_similarity_exact"] = res.Mean.Exact
	}
}

// score formats a similarity for a reason: three decimals, or every digit
// when three would make it look equal to the threshold (0.7000000000000001
// is above 0.7, as in rouge_score's floating-point F-measure).
func score(v, threshold float64) string {
	s := fmt.Sprintf("%.3f", v)
	if v != threshold && s == fmt.Sprintf("%.3f", threshold) {
		return fmt.Sprint(v)
	}
	return s
}

// params records the decoding parameters on provenance.
func params(req model.Request, mode string) map[string]any {
	p := map[string]any{"mode": mode, "max_tokens": req.MaxTokens, "stop": req.Stop}
	if req.Temperature != nil {
		p["temperature"] = *req.Temperature
	}
	if req.TopP != nil {
		p["top_p"] = *req.TopP
	}
	if req.PresencePenalty != nil {
		p["presence_penalty"] = *req.PresencePenalty
	}
	return p
}

var _ pipeline.Stage = (*Stage)(nil)
