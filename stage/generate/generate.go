// Package generate is the generate stage: a user-written prompt template rendered over each input record's fields, answered by a model, n replies stored in a named field.
package generate

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strings"
	"text/template"
	"text/template/parse"

	"github.com/synthloop/synthloop/internal/confkit"
	"github.com/synthloop/synthloop/internal/jinja"
	"github.com/synthloop/synthloop/internal/structured"
	"github.com/synthloop/synthloop/model"
	"github.com/synthloop/synthloop/pipeline"
	"github.com/synthloop/synthloop/record"
	"github.com/synthloop/synthloop/stage/internal/bestofn"
	"github.com/synthloop/synthloop/stage/internal/genkit"
)

// Config is the `with:` block of a generate stage.
type Config struct {
	Model       string   `yaml:"model" doc:"Answers the prompts (required)"`
	Prompt      string   `yaml:"prompt" doc:"The user message: a template over the input record's fields, Go's {{.instruction}} or Jinja's {{ instruction }} (required)"`
	System      string   `yaml:"system" doc:"An optional system message, a template like prompt"`
	Template    string   `yaml:"template" doc:"The templates' language: go (text/template), jinja, or auto: Go when a {{ }} action reads a field with a leading dot ({{.topic}}, {{ .topic }}, {{$.topic}}), else Jinja"`
	Output      string   `yaml:"output" doc:"The field each reply is stored in: instruction, input, output, chosen, rejected, or another name (a meta field); unset: output, or with a schema only the reply's fields"`
	N           int      `yaml:"n" doc:"Replies per input record, one output record each"`
	Temperature *float64 `yaml:"temperature" doc:"Sampling temperature (unset: the model's default)"`
	TopP        *float64 `yaml:"top_p" doc:"top_p (unset: the model's default)"`
	MaxTokens   int      `yaml:"max_tokens" doc:"Bounds each reply"`
	Schema      any      `yaml:"schema" doc:"A JSON Schema the reply must validate against: written here in YAML (or as JSON text), or a .json/.yaml file name; the reply's top-level fields become record fields"`
	SchemaName  string   `yaml:"schema_name" doc:"Labels the schema for the APIs that want a name"`
	SchemaMode  string   `yaml:"schema_mode" doc:"auto: the schema goes with the request until the backend refuses it (HTTP 400), then into the prompt; native; prompt"`
	Retries     int      `yaml:"retries" doc:"Follow-ups that ask again for a reply that does not validate, before the record is failed"`
}

// DefaultConfig returns the defaults.
func DefaultConfig() *Config {
	return &Config{N: 1, MaxTokens: 1024, Template: "auto", SchemaName: "reply", SchemaMode: string(structured.Auto), Retries: 2}
}

// Validate checks the settings when the config is loaded: the model is
// named and both templates parse.
func (c *Config) Validate() error {
	_, err := New(c)
	return err
}

// recordFields are the fields every record has; a template may use them
// and any meta field. The id is never empty.
var recordFields = append([]string{"id"}, record.TextFields...)

// Stage is the generate stage.
type Stage struct {
	cfg    Config
	prompt renderer
	system renderer           // nil without a system template
	fields []string           // the top-level fields the templates use, sorted
	hash   string             // identifies the templates (and schema) in provenance
	schema *structured.Schema // nil without a schema
	gate   *structured.Gate
}

// New checks cfg and returns the stage.
func New(cfg *Config) (*Stage, error) {
	c := *cfg
	if c.Model == "" {
		return nil, errors.New("generate: model: required (name of a backend in the models section)")
	}
	if strings.TrimSpace(c.Prompt) == "" {
		return nil, errors.New("generate: prompt: required (a template such as {{.instruction}})")
	}
	if c.Output == "id" {
		return nil, errors.New("generate: output: id cannot hold a reply; name another field")
	}
	if c.N <= 0 || c.MaxTokens < 0 || c.Retries < 0 {
		return nil, errors.New("generate: n must be positive, max_tokens and retries not negative")
	}
	s := &Stage{cfg: c}
	if err := s.loadSchema(); err != nil {
		return nil, err
	}
	if s.schema == nil && s.cfg.Output == "" {
		s.cfg.Output = "output"
	}
	used := map[string]bool{}
	var err error
	if s.prompt, err = parseTemplate(c.Template, "prompt", c.Prompt, used); err != nil {
		return nil, err
	}
	if c.System != "" {
		if s.system, err = parseTemplate(c.Template, "system", c.System, used); err != nil {
			return nil, err
		}
	}
	s.fields = slices.Sorted(maps.Keys(used))
	text := c.System + "\x00" + c.Prompt
	if c.Template != "auto" && c.Template != "" {
		// The same text read in another language is another template.
		text += "\x00" + c.Template
	}
	if s.schema != nil {
		text += "\x00" + s.schema.Hash
	}
	h := sha256.Sum256([]byte(text))
	s.hash = hex.EncodeToString(h[:])
	return s, nil
}

// loadSchema compiles the schema setting, if any, and checks that the
// fields its replies fill do not clash with the stage's own.
func (s *Stage) loadSchema() error {
	c := &s.cfg
	mode, err := structured.ParseMode(c.SchemaMode)
	if err != nil {
		return fmt.Errorf("generate: schema_mode: %w", err)
	}
	s.gate = &structured.Gate{Mode: mode}
	if c.Schema == nil {
		return nil
	}
	if s.schema, err = structured.Load(c.Schema, c.SchemaName); err != nil {
		return fmt.Errorf("generate: %w", err)
	}
	if s.schema.Properties == nil && c.Output == "" {
		return errors.New("generate: the schema does not describe an object with properties, so its replies have no fields: name the field that holds the whole reply in output")
	}
	for _, p := range s.schema.Properties {
		switch {
		case p == "id" || p == "sample":
			return fmt.Errorf("generate: schema: property %q would overwrite the field the stage sets itself; rename it", p)
		case p == c.Output:
			return fmt.Errorf("generate: schema: property %q is also the output field, which holds the whole reply; rename one", p)
		}
	}
	return nil
}

// renderer is a parsed prompt template of either language.
type renderer interface {
	render(data map[string]any) (string, error)
}

type goTemplate struct{ t *template.Template }

func (g goTemplate) render(data map[string]any) (string, error) {
	var b strings.Builder
	err := g.t.Execute(&b, data)
	return b.String(), err
}

type jinjaTemplate struct {
	t   *jinja.Template
	key string // the setting it came from
}

func (j jinjaTemplate) render(data map[string]any) (string, error) {
	s, err := j.t.Render(data)
	if err != nil {
		// Render's caller names the setting already.
		return "", errors.New(strings.TrimPrefix(err.Error(), "jinja: "+j.key+": "))
	}
	return s, nil
}

// parseTemplate parses the template of the setting key in the language
// lang (go, jinja or auto) and adds the fields it uses to used.
func parseTemplate(lang, key, text string, used map[string]bool) (renderer, error) {
	switch lang {
	case "go":
		return parseGo(key, text, used)
	case "jinja":
		return parseJinja(key, text, used)
	case "auto", "":
	default:
		return nil, fmt.Errorf("generate: template: %q is not a template language: go, jinja or auto%s", lang, confkit.Suggest(lang, []string{"auto", "go", "jinja"}))
	}
	if looksGo(text) {
		return parseGo(key, text, used)
	}
	return parseJinja(key, text, used)
}

var (
	action = regexp.MustCompile(`(?s)\{\{.*?\}\}`)
	// A field read with a leading dot, {{.topic}}, {{ .a.b }}, {{$.topic}}:
	// Jinja reads attributes only after a name or a closing bracket.
	goField = regexp.MustCompile(`(?:^|[^\w\])'"])\.[A-Za-z_]|\$\.[A-Za-z_]`)
)

// looksGo reports whether some {{ }} action of text reads a field with a
// leading dot: the rule of template: auto.
func looksGo(text string) bool {
	for _, a := range action.FindAllString(text, -1) {
		if goField.MatchString(strings.Trim(a, "{}")) {
			return true
		}
	}
	return false
}

func parseJinja(key, text string, used map[string]bool) (renderer, error) {
	t, err := jinja.Parse(key, text)
	if err != nil {
		return nil, fmt.Errorf("generate: %s: %s", key, strings.TrimPrefix(err.Error(), "jinja: "+key+": "))
	}
	for _, f := range t.Fields() {
		used[f] = true
	}
	return jinjaTemplate{t, key}, nil
}

// parseGo parses a Go text/template and adds the fields it uses to used.
func parseGo(key, text string, used map[string]bool) (renderer, error) {
	t, err := template.New(key).Option("missingkey=error").Parse(text)
	if err != nil {
		return nil, fmt.Errorf("generate: %s: the template does not parse: %s", key, strings.TrimPrefix(err.Error(), "template: "))
	}
	for _, tt := range t.Templates() {
		if tt.Tree != nil {
			walk(tt.Tree.Root, used)
		}
	}
	if p, ok := plain(t); ok {
		return p, nil
	}
	return goTemplate{t}, nil
}

// walk adds to used the top-level fields that node reads from the record:
// {{.field}}, {{$.field}}, not what the body of a range or with reads from
// its own dot.
func walk(node parse.Node, used map[string]bool) {
	switch n := node.(type) {
	case nil:
	case *parse.ListNode:
		if n == nil {
			return
		}
		for _, c := range n.Nodes {
			walk(c, used)
		}
	case *parse.ActionNode:
		walk(n.Pipe, used)
	case *parse.PipeNode:
		if n == nil {
			return
		}
		for _, c := range n.Cmds {
			walk(c, used)
		}
	case *parse.CommandNode:
		for _, a := range n.Args {
			walk(a, used)
		}
	case *parse.FieldNode:
		used[n.Ident[0]] = true
	case *parse.VariableNode:
		if len(n.Ident) > 1 && n.Ident[0] == "$" {
			used[n.Ident[1]] = true
		}
	case *parse.ChainNode:
		walk(n.Node, used)
	case *parse.IfNode:
		walk(n.Pipe, used)
		walk(n.List, used)
		walk(n.ElseList, used)
	case *parse.RangeNode:
		walk(n.Pipe, used)
		walk(n.ElseList, used)
	case *parse.WithNode:
		walk(n.Pipe, used)
		walk(n.ElseList, used)
	case *parse.TemplateNode:
		walk(n.Pipe, used)
	}
}

// CheckFields returns an error naming the first field the templates use
// that is neither a record field nor a meta field of r, with the closest
// known name.
func (s *Stage) CheckFields(r *record.Record) error {
	known := slices.Clone(recordFields)
	for k := range r.Meta {
		if !slices.Contains(known, k) {
			known = append(known, k)
		}
	}
	slices.Sort(known)
	for _, f := range s.fields {
		if !slices.Contains(known, f) {
			return fmt.Errorf("generate: the template uses field %q, which input record %s does not have%s; fields: %s",
				f, r.ID, confkit.Suggest(f, known), strings.Join(known, ", "))
		}
	}
	return nil
}

// Render returns the messages of r's request, or the error of a record
// that lacks a value for a field the templates use.
func (s *Stage) Render(r *record.Record) ([]model.Message, error) {
	d := r.Fields()
	for _, f := range s.fields {
		if _, ok := d[f]; !ok {
			return nil, fmt.Errorf("generate: record %s has no value for field %q that the template uses", r.ID, f)
		}
	}
	var msgs []model.Message
	if s.system != nil {
		text, err := s.system.render(d)
		if err != nil {
			return nil, fmt.Errorf("generate: system: %w", err)
		}
		msgs = append(msgs, model.Message{Role: "system", Content: text})
	}
	text, err := s.prompt.render(d)
	if err != nil {
		return nil, fmt.Errorf("generate: prompt: %w", err)
	}
	if strings.TrimSpace(text) == "" {
		return nil, fmt.Errorf("generate: record %s: the prompt is empty", r.ID)
	}
	return append(msgs, model.Message{Role: "user", Content: text}), nil
}

// Streams implements pipeline.Streaming: a record's answers depend on that
// record alone.
func (s *Stage) Streams() bool { return true }

// Run answers every kept record of the input stage, one unit per record.
func (s *Stage) Run(ctx context.Context, env *pipeline.Env) error {
	if env.Input == "" {
		return errors.New("generate: needs an input stage (a load stage or any earlier stage)")
	}
	b, err := genkit.Open(env, "generate", s.cfg.Model)
	if err != nil {
		return err
	}
	return pipeline.ForEachKeptChecked(ctx, env, s.CheckFields, func(ctx context.Context, in *record.Record) ([]*record.Record, pipeline.UnitUsage, error) {
		return s.one(ctx, env, in, b)
	})
}

func (s *Stage) params() map[string]any {
	p := map[string]any{"n": s.cfg.N, "max_tokens": s.cfg.MaxTokens, "output": s.cfg.Output}
	if s.cfg.Temperature != nil {
		p["temperature"] = *s.cfg.Temperature
	}
	if s.cfg.TopP != nil {
		p["top_p"] = *s.cfg.TopP
	}
	return p
}

// derive is in's content under a new ID and this stage's provenance.
func (s *Stage) derive(env *pipeline.Env, in *record.Record, info pipeline.ModelInfo, id string) *record.Record {
	r := *in
	r.ID, r.Stage, r.Seq, r.Error, r.Status = id, env.Name, 0, "", record.Kept
	r.Meta = bestofn.CopyMeta(in.Meta)
	r.Scores = maps.Clone(in.Scores)
	r.Decisions = slices.Clone(in.Decisions)
	r.Candidates = nil
	r.Usage = record.Usage{}
	r.Prov = env.Provenance("generate", info, in.ID)
	r.Prov.Params = s.params()
	r.Prov.TemplateHash = s.hash
	return &r
}

// set stores reply in the output field.
func (s *Stage) set(r *record.Record, reply string) {
	if s.cfg.Output != "" {
		setField(r, s.cfg.Output, reply)
	}
}

// setField stores v in the field named name: a record field takes a string
// (other values as their JSON), any other name is a meta field.
func setField(r *record.Record, name string, v any) {
	if !slices.Contains(record.TextFields, name) {
		r.Meta[name] = v
		return
	}
	str, ok := v.(string)
	if !ok {
		b, _ := json.Marshal(v)
		str = string(b)
	}
	r.SetText(name, str)
}

func (s *Stage) one(ctx context.Context, env *pipeline.Env, in *record.Record, b genkit.Backend) ([]*record.Record, pipeline.UnitUsage, error) {
	var usage pipeline.UnitUsage
	id := func(i int) string {
		if s.cfg.N == 1 {
			return env.Name + ":" + in.ID
		}
		return fmt.Sprintf("%s:%s:%02d", env.Name, in.ID, i)
	}
	fail := func(err error) ([]*record.Record, pipeline.UnitUsage, error) {
		r := s.derive(env, in, b.Info, env.Name+":"+in.ID)
		r.Status, r.Error = record.Failed, err.Error()
		return []*record.Record{r}, usage, nil
	}
	msgs, err := s.Render(in)
	if err != nil {
		return fail(err)
	}
	base := model.Request{Messages: msgs, N: s.cfg.N, Temperature: s.cfg.Temperature, TopP: s.cfg.TopP, MaxTokens: s.cfg.MaxTokens}
	req := base
	var keys []string
	var resp *model.Response
	call := func(ctx context.Context, native bool) error {
		if s.schema != nil {
			req = s.schema.Request(base, native)
		}
		var err error
		resp, err = b.Gen.Generate(ctx, req)
		usage.Count(resp, err)
		if resp != nil && len(resp.CacheKeys) == max(req.N, 1) {
			keys = append(keys, resp.CacheKeys...) // the model layer's, for the same request
		} else {
			keys = append(keys, model.CacheKeys(b.Info.Backend, b.Info.Model, req)...)
		}
		return err
	}
	native := false
	if s.schema != nil {
		native, err = s.gate.Do(ctx, call)
	} else {
		err = call(ctx, false)
	}
	if err != nil {
		if pipeline.MustReturn(ctx, err) {
			return nil, usage, err
		}
		usage.Errors++
		return fail(fmt.Errorf("generate: %w", err))
	}
	if len(resp.Choices) == 0 {
		usage.Errors++
		return fail(errors.New("generate: the model returned no replies"))
	}
	var out []*record.Record
	for i, c := range resp.Choices {
		if i >= s.cfg.N {
			break
		}
		r := s.derive(env, in, b.Info, id(i))
		r.Prov.RequestKeys = keys
		r.Meta["sample"] = i
		if s.schema != nil {
			r.Prov.Params["schema_mode"] = map[bool]string{true: "native", false: "prompt"}[native]
			if err := s.structuredReply(ctx, b, req, c, r, &usage); err != nil {
				return nil, usage, err
			}
			out = append(out, r)
			continue
		}
		s.set(r, c.Text)
		switch {
		case strings.TrimSpace(c.Text) == "":
			usage.Errors++
			r.Status, r.Error = record.Failed, "generate: the reply is empty"
		case c.FinishReason == model.FinishLength:
			usage.Errors++
			r.Status, r.Error = record.Failed, fmt.Sprintf("generate: the reply was cut at max_tokens %d", s.cfg.MaxTokens)
		}
		out = append(out, r)
	}
	return out, usage, nil
}

// structuredReply fills r from reply c of req, which must validate against
// the schema: a reply that does not is asked again, as a follow-up of its
// own conversation, up to retries times, and r fails with the validation
// error when none does. The error is for a model failure the unit must
// return (pipeline.MustReturn).
func (s *Stage) structuredReply(ctx context.Context, b genkit.Backend, req model.Request, c model.Choice, r *record.Record, u *pipeline.UnitUsage) error {
	v, perr := s.schema.Check(c.Text)
	reply := c.Text // for the record, when no reply validates
	var err error
	switch {
	case perr == nil:
	case c.FinishReason == model.FinishLength:
		u.Errors++
		err = fmt.Errorf("the reply is %w: the reply was cut at max_tokens %d (%v); raise max_tokens", genkit.ErrUnparsed, s.cfg.MaxTokens, perr)
	case s.cfg.Retries == 0 || strings.TrimSpace(c.Text) == "":
		u.Errors++
		err = fmt.Errorf("the reply is %w: %v", genkit.ErrUnparsed, perr)
	default:
		u.Errors++
		follow := req
		follow.N = 1
		follow.Messages = append(slices.Clone(req.Messages),
			model.Message{Role: "assistant", Content: c.Text},
			model.Message{Role: "user", Content: structured.Restate(perr.Error())})
		a := genkit.Ask[any]{Request: follow, Parse: s.schema.Check, Retries: s.cfg.Retries - 1,
			Restate: structured.Restate, What: "reply", CutHint: "; raise max_tokens"}
		var got genkit.Asked[any]
		got, err = a.Do(ctx, b, u)
		r.Prov.RequestKeys = append(slices.Clone(r.Prov.RequestKeys), got.Keys...)
		if err != nil && got.Failed(ctx, err, r.Meta, u) {
			return err
		}
		v, reply = got.Value, ""
	}
	if err != nil {
		r.Status, r.Error = record.Failed, "generate: the reply does not fit the schema: "+strings.TrimPrefix(err.Error(), "generate: ")
		if reply != "" {
			r.Meta["reply"] = reply
		}
		return nil
	}
	if obj, ok := v.(map[string]any); ok {
		for _, k := range slices.Sorted(maps.Keys(obj)) {
			if k != "id" && k != "sample" && k != s.cfg.Output {
				setField(r, k, obj[k])
			}
		}
	}
	if s.cfg.Output != "" {
		// The reply as JSON, without the fence or spacing it came in.
		var b strings.Builder
		enc := json.NewEncoder(&b)
		enc.SetEscapeHTML(false)
		enc.Encode(v)
		s.set(r, strings.TrimSpace(b.String()))
	}
	return nil
}

var _ pipeline.Stage = (*Stage)(nil)

// UsedFields lists the top-level fields the templates use (none when they
// do not parse, which Validate reports).
func (c *Config) UsedFields() []string {
	s, err := New(c)
	if err != nil {
		return nil
	}
	return s.fields
}

// DeclaredFields lists the fields of the records a generate stage makes:
// its input's, the output field, the meta field sample and, with a schema,
// the schema's top-level properties.
func (c *Config) DeclaredFields(input []string, known bool) ([]string, bool) {
	if !known {
		return nil, false
	}
	s, err := New(c)
	if err != nil {
		return nil, false
	}
	out := slices.Clone(input)
	add := []string{s.cfg.Output, "sample"}
	if s.schema != nil {
		add = append(add, s.schema.Properties...)
	}
	for _, f := range add {
		if f != "" && !slices.Contains(out, f) {
			out = append(out, f)
		}
	}
	slices.Sort(out)
	return out, true
}

var (
	_ pipeline.FieldUser     = (*Config)(nil)
	_ pipeline.FieldDeclarer = (*Config)(nil)
)
