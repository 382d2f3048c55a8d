package selfinstruct

import (
	"context"
	"errors"
	"fmt"

	"github.com/synthloop/synthloop/internal/prompt"
	"github.com/synthloop/synthloop/internal/structured"
	"github.com/synthloop/synthloop/model"
	"github.com/synthloop/synthloop/pipeline"
	"github.com/synthloop/synthloop/record"
	"github.com/synthloop/synthloop/seeds"
	"github.com/synthloop/synthloop/stage/internal/genkit"
	"github.com/synthloop/synthloop/text"
)

// InstancesConfig is the `with:` block of a selfinstruct-instances stage.
// Defaults follow the paper's identify_clf_or_not.py and generate_instances.py.
type InstancesConfig struct {
	Model         string `yaml:"model" doc:"The model writing the instances (required)"`
	ClassifyModel string `yaml:"classify_model" doc:"Answers the classification question (default: model)"`
	Seeds         string `yaml:"seeds" doc:"Seed set of the few-shot examples (default: the built-in set of language)"`
	// Language is "en" or "ja". Default: "ja" when Seeds is "ja", "en" for
	// any other Seeds, and, with neither set, the language of each instruction.
	Language     string `yaml:"language" doc:"en or ja (default: from seeds, else each instruction's)"`
	MaxInstances int    `yaml:"max_instances" doc:"Instances per task at most"`
	// ClassifyExamples is the number of few-shot tasks in the classification
	// prompt, half of each kind when the seeds allow (16).
	ClassifyExamples int `yaml:"classify_examples" doc:"Few-shot tasks in the classification prompt"`
	InstanceExamples int `yaml:"instance_examples" doc:"Few-shot tasks in an instance prompt"`
	// Decoding of instance generation: temperature 0, top_p 0, presence_penalty 1.5,
	// max_tokens 300 for classification tasks and 350 for others.
	Temperature       float64  `yaml:"temperature" doc:"Temperature of instance generation"`
	TopP              *float64 `yaml:"top_p" doc:"top_p of instance generation"`
	PresencePenalty   *float64 `yaml:"presence_penalty" doc:"presence_penalty of instance generation"`
	MaxTokensClassify int      `yaml:"max_tokens_classification_task" doc:"Bounds the instances of a classification task"`
	MaxTokensGenerate int      `yaml:"max_tokens_generation_task" doc:"Bounds the instances of any other task"`
	ClassifyMaxTokens int      `yaml:"classify_max_tokens" doc:"Bounds the Yes/No classification answer"`
	// Prompts replaces embedded prompts with the user's template files, for
	// every language: classify, instances_clf, instances_gen.
	Prompts prompt.Files `yaml:"prompts" doc:"Your own template files by kind: classify, instances_clf, instances_gen (docs/PROMPTS.md)"`

	Structured string `yaml:"structured" doc:"The classification answer and the instances as JSON that fits built-in schemas ({answer: Yes|No}; {instances: [{input, output}]} or, for classification tasks, [{class_label, input}]): off (the text the prompts ask for), auto (the schema sent with each request until the backend refuses it, then off), native, or prompt (the schema written into the prompt); with a schema, stop sequences are not sent"`
}

// DefaultInstancesConfig returns the paper's defaults.
func DefaultInstancesConfig() *InstancesConfig {
	return &InstancesConfig{
		MaxInstances:      5,
		ClassifyExamples:  16,
		InstanceExamples:  8,
		TopP:              f64(0),
		PresencePenalty:   f64(1.5),
		MaxTokensClassify: 300,
		MaxTokensGenerate: 350,
		ClassifyMaxTokens: 3,
	}
}

// Instances is the selfinstruct-instances stage.
type Instances struct {
	cfg   InstancesConfig
	langs map[text.Lang]*fewShot // prompts and examples per language
	fixed text.Lang              // the configured language; "" picks per instruction

	// The structured setting's shapers: the classification answer, the
	// instances of other tasks and of classification tasks; nil when off.
	classifyShape, genShape, clfShape *structured.Shaper
}

// fewShot is what the instance prompts of one language are made of.
type fewShot struct {
	classify *prompt.Template
	clf, gen *prompt.Template
	clfShots []seeds.Task
	clfEx    []instanceExample
	genEx    []instanceExample
}

// Validate reports a bad setting or an unreadable seed file when the config is loaded.
func (c *InstancesConfig) Validate() error {
	if err := c.Prompts.Check(instanceKinds); err != nil {
		return fmt.Errorf("selfinstruct: %w", err)
	}
	_, err := NewInstances(c)
	return err
}

// NewInstances checks cfg, loads the seeds and prompts, and returns the stage.
// Without a language (and without a seed file naming one) the prompts follow
// each instruction's language: Japanese instructions get the Japanese
// prompts and seeds, every other one the English ones.
func NewInstances(cfg *InstancesConfig) (*Instances, error) {
	c := *cfg
	if c.Model == "" {
		return nil, errors.New("selfinstruct: model: required (name of a backend in the models section)")
	}
	if c.ClassifyModel == "" {
		c.ClassifyModel = c.Model
	}
	if c.MaxInstances <= 0 || c.MaxTokensClassify <= 0 || c.MaxTokensGenerate <= 0 || c.ClassifyMaxTokens <= 0 {
		return nil, errors.New("selfinstruct: max_instances and the max_tokens settings must be positive")
	}
	st := &Instances{cfg: c, langs: map[text.Lang]*fewShot{}}
	var err error
	if st.classifyShape, err = structured.NewShaper(c.Structured, classifySchema); err != nil {
		return nil, fmt.Errorf("selfinstruct: %w", err)
	}
	st.genShape, _ = structured.NewShaper(c.Structured, instancesSchema(false, c.MaxInstances))
	st.clfShape, _ = structured.NewShaper(c.Structured, instancesSchema(true, c.MaxInstances))
	langs := []text.Lang{text.English, text.Japanese}
	if c.Language != "" || c.Seeds != "" {
		lang, err := genkit.Language("selfinstruct", c.Language, c.Seeds)
		if err != nil {
			return nil, err
		}
		st.fixed, langs = lang, []text.Lang{lang}
	}
	for _, lang := range langs {
		set := c.Seeds
		if set == "" {
			set = string(lang)
		}
		tasks, err := seeds.Load(set)
		if err != nil {
			return nil, fmt.Errorf("selfinstruct: %w", err)
		}
		fs := &fewShot{}
		if err := c.Prompts.PickAll(templateFS, string(lang), prompt.Slot{Dst: &fs.classify, Kind: kindClassify},
			prompt.Slot{Dst: &fs.clf, Kind: kindInstancesClf}, prompt.Slot{Dst: &fs.gen, Kind: kindInstancesGen}); err != nil {
			return nil, fmt.Errorf("selfinstruct: %w", err)
		}
		fs.clfShots = classifyExamples(tasks, c.ClassifyExamples)
		fs.clfEx = instanceExamples(tasks, true, c.InstanceExamples, c.MaxInstances)
		fs.genEx = instanceExamples(tasks, false, c.InstanceExamples, c.MaxInstances)
		st.langs[lang] = fs
	}
	return st, nil
}

// forInstruction picks the prompts for an instruction's language.
func (s *Instances) forInstruction(instruction string) *fewShot {
	if s.fixed != "" {
		return s.langs[s.fixed]
	}
	if text.GuessLang(instruction) == text.Japanese {
		return s.langs[text.Japanese]
	}
	return s.langs[text.English]
}

func (s *Instances) classifyRequest(instruction string) (model.Request, error) {
	fs := s.forInstruction(instruction)
	p, err := fs.classify.Render(classifyData{Examples: fs.clfShots, Task: oneLine(instruction)})
	if err != nil {
		return model.Request{}, err
	}
	return model.Request{
		Messages:    []model.Message{{Role: "user", Content: p}},
		Temperature: f64(0),
		TopP:        f64(0),
		MaxTokens:   s.cfg.ClassifyMaxTokens,
		// The paper also stopped at "\n"; Anthropic rejects whitespace-only
		// stop sequences, and the answer is already bounded by max_tokens and
		// read from its first word, so "Task" alone is enough.
		Stop: []string{"Task"},
	}, nil
}

func (s *Instances) instancesRequest(instruction string, clf bool) (model.Request, *prompt.Template, error) {
	fs := s.forInstruction(instruction)
	p, ex, maxTok := fs.gen, fs.genEx, s.cfg.MaxTokensGenerate
	if clf {
		p, ex, maxTok = fs.clf, fs.clfEx, s.cfg.MaxTokensClassify
	}
	text, err := p.Render(instancesData{Examples: ex, Task: oneLine(instruction)})
	if err != nil {
		return model.Request{}, nil, err
	}
	return model.Request{
		Messages:        []model.Message{{Role: "user", Content: text + "\n"}},
		Temperature:     f64(s.cfg.Temperature),
		TopP:            s.cfg.TopP,
		PresencePenalty: s.cfg.PresencePenalty,
		MaxTokens:       maxTok,
		Stop:            []string{fmt.Sprintf("Example %d", s.cfg.MaxInstances+1), "Task:"},
	}, p, nil
}

// Streams implements pipeline.Streaming: an instruction's instances depend on that instruction alone; the pool-dependent bootstrap (Stage) does not stream.
func (s *Instances) Streams() bool { return true }

// Run generates instances for every kept instruction of the input stage, one
// unit per instruction. An input record that already says whether its task is
// a classification task (IsClassification set) is not asked again.
func (s *Instances) Run(ctx context.Context, env *pipeline.Env) error {
	gen, info, err := env.Backend(s.cfg.Model)
	if err != nil {
		return fmt.Errorf("selfinstruct: model %q: %w", s.cfg.Model, err)
	}
	cls, clsInfo := gen, info
	if s.cfg.ClassifyModel != s.cfg.Model {
		if cls, clsInfo, err = env.Backend(s.cfg.ClassifyModel); err != nil {
			return fmt.Errorf("selfinstruct: classify_model %q: %w", s.cfg.ClassifyModel, err)
		}
	}
	return pipeline.ForEachKept(ctx, env, func(ctx context.Context, in *record.Record) ([]*record.Record, pipeline.UnitUsage, error) {
		return s.one(ctx, env, in, gen, info, cls, clsInfo)
	})
}

func (s *Instances) one(ctx context.Context, env *pipeline.Env, in *record.Record, gen model.Backend, info pipeline.ModelInfo, cls model.Backend, clsInfo pipeline.ModelInfo) ([]*record.Record, pipeline.UnitUsage, error) {
	var usage pipeline.UnitUsage
	prov := env.Provenance("selfinstruct-instances", info, in.ID)
	fs := s.forInstruction(in.Instruction)
	meta := map[string]any{"classify_template_hash": fs.classify.Hash}
	newRec := func(i int) *record.Record {
		m := make(map[string]any, len(meta))
		for k, v := range meta {
			m[k] = v
		}
		return &record.Record{ID: fmt.Sprintf("%s:%s:%02d", env.Name, in.ID, i), Stage: env.Name, Instruction: in.Instruction, Prov: prov, Meta: m}
	}
	fail := func(err error) ([]*record.Record, pipeline.UnitUsage, error) {
		return genkit.Failed(ctx, newRec(0), usage, "", err)
	}
	var clf bool
	if in.IsClassification != nil {
		// An upstream stage already knows (a seed file, a labelled import):
		// asking the model again would only cost money.
		clf = *in.IsClassification
		meta["classify_answer"] = "(from the input record)"
	} else {
		creq, err := s.classifyRequest(in.Instruction)
		if err != nil {
			return nil, usage, err
		}
		cresp, how, err := send(ctx, s.classifyShape, cls, clsInfo, creq, &prov.RequestKeys, &usage)
		if s.classifyShape != nil {
			meta["classify_structured"] = s.classifyShape.Label(how)
		}
		if err != nil {
			return fail(fmt.Errorf("selfinstruct: classify: %w", err))
		}
		answer := ""
		if len(cresp.Choices) > 0 {
			answer = cresp.Choices[0].Text
		}
		var understood bool
		if s.classifyShape != nil && how != structured.Off {
			clf, understood = parseShapedYesNo(answer)
		} else {
			clf, understood = parseYesNo(answer)
		}
		meta["classify_answer"] = answer
		if !understood {
			meta["classify_note"] = "answer is neither Yes nor No; treated as No as in the paper"
		}
	}

	ireq, p, err := s.instancesRequest(in.Instruction, clf)
	if err != nil {
		return nil, usage, err
	}
	prov.TemplateHash = p.Hash
	prov.SeedIDs = exampleIDs(fs.genEx)
	if clf {
		prov.SeedIDs = exampleIDs(fs.clfEx)
	}
	prov.Params = map[string]any{"temperature": s.cfg.Temperature, "max_tokens": ireq.MaxTokens, "stop": ireq.Stop, "max_instances": s.cfg.MaxInstances}
	if ireq.TopP != nil {
		prov.Params["top_p"] = *ireq.TopP
	}
	if ireq.PresencePenalty != nil {
		prov.Params["presence_penalty"] = *ireq.PresencePenalty
	}
	shape := s.genShape
	if clf {
		shape = s.clfShape
	}
	iresp, how, err := send(ctx, shape, gen, info, ireq, &prov.RequestKeys, &usage)
	shape.Note(prov.Params, how)
	if err != nil {
		return fail(fmt.Errorf("selfinstruct: instances: %w", err))
	}
	var choice model.Choice
	if len(iresp.Choices) > 0 {
		choice = iresp.Choices[0]
	}
	if iresp.Model != "" {
		prov.Model = iresp.Model
	}
	if shape != nil && how != structured.Off {
		return s.shapedRecords(shape.Schema, choice, clf, newRec), usage, nil
	}
	return s.instanceRecords(choice, clf, newRec), usage, nil
}

// send sends req on b through sh (unchanged when sh is nil), adding the
// keys of every request to keys and what they cost to u.
func send(ctx context.Context, sh *structured.Shaper, b model.Backend, info pipeline.ModelInfo, req model.Request, keys *[]string, u *pipeline.UnitUsage) (*model.Response, structured.Mode, error) {
	var resp *model.Response
	how, err := sh.Do(ctx, req, func(ctx context.Context, req model.Request, how structured.Mode) error {
		req = unstopped(req, how)
		*keys = append(*keys, model.CacheKeys(info.Backend, info.Model, req)...)
		var err error
		resp, err = b.Generate(ctx, req)
		u.Count(resp, err)
		return err
	})
	return resp, how, err
}

// shapedRecords is instanceRecords for a reply asked for with schema: one
// that does not validate is one rejected record that says why.
func (s *Instances) shapedRecords(schema *structured.Schema, choice model.Choice, clf bool, newRec func(int) *record.Record) []*record.Record {
	ins, err := parseShapedInstances(schema, choice.Text, clf)
	if err == nil {
		return s.records(ins, choice, clf, newRec)
	}
	r := newRec(0)
	r.IsClassification = &clf
	r.Status = record.Rejected
	r.Meta["response"] = choice.Text
	r.Decisions = []record.Decision{{Filter: "parse", Reason: "the reply does not fit the schema: " + err.Error()}}
	return []*record.Record{r}
}

// instanceRecords makes a record of each instance in the reply, kept or
// rejected by the instance filters, or one rejected record when the reply
// has none.
func (s *Instances) instanceRecords(choice model.Choice, clf bool, newRec func(int) *record.Record) []*record.Record {
	var ins []instance
	if clf {
		ins = parseClassInstances(choice.Text)
	} else {
		ins = parseGenInstances(choice.Text)
	}
	return s.records(ins, choice, clf, newRec)
}

// records makes the records of the instances read from choice.
func (s *Instances) records(ins []instance, choice model.Choice, clf bool, newRec func(int) *record.Record) []*record.Record {
	isClf := clf
	if len(ins) == 0 {
		r := newRec(0)
		r.IsClassification = &isClf
		r.Status = record.Rejected
		r.Meta["response"] = choice.Text
		r.Decisions = []record.Decision{{Filter: "parse", Reason: fmt.Sprintf("no instances found in the reply (finish reason %q)", choice.FinishReason)}}
		return []*record.Record{r}
	}
	var out []*record.Record
	for i, v := range filterInstances(ins, choice.FinishReason == model.FinishLength, s.cfg.MaxInstances) {
		r := newRec(i)
		r.Input, r.Output, r.IsClassification = v.Input, v.Output, &isClf
		r.Decisions = v.decisions
		r.Status = record.Kept
		if !v.kept() {
			r.Status = record.Rejected
		}
		out = append(out, r)
	}
	return out
}

// exampleIDs lists the seed tasks shown as few-shot examples.
func exampleIDs(ex []instanceExample) []string {
	ids := make([]string, len(ex))
	for i, e := range ex {
		ids[i] = e.ID
	}
	return ids
}

var _ pipeline.Stage = (*Instances)(nil)
