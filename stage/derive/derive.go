// Package derive is the derive stage: fields computed from each input record's fields with expressions (the expr language), and a keep condition that rejects the records for which it is false.
package derive

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strings"

	"github.com/expr-lang/expr"
	"github.com/expr-lang/expr/ast"
	"github.com/expr-lang/expr/parser"
	"github.com/expr-lang/expr/vm"

	"github.com/synthloop/synthloop/internal/confkit"
	"github.com/synthloop/synthloop/pipeline"
	"github.com/synthloop/synthloop/record"
)

// Config is the `with:` block of a derive stage.
type Config struct {
	Fields map[string]string `yaml:"fields" doc:"Derived fields, name: expression over the input record's fields (the expr language: len(output) > 200 ? \"long\" : \"short\"); each sees the input's fields only"`
	Keep   string            `yaml:"keep" doc:"A condition over the record's fields, derived ones included; a record for which it is false is rejected with the condition as the reason"`
}

// DefaultConfig returns the defaults.
func DefaultConfig() *Config { return &Config{} }

// Validate checks the settings when the config is loaded: the names and
// every expression's syntax.
func (c *Config) Validate() error {
	_, err := New(c)
	return err
}

var nameRe = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// Program is one compiled expression and the record fields it reads.
type Program struct {
	Source string
	Fields []string // sorted
	prog   *vm.Program
}

// Compile compiles an expression and finds the fields it reads: its
// identifiers, less the functions it calls and the variables it declares
// with let.
func Compile(src string) (*Program, error) {
	if strings.TrimSpace(src) == "" {
		return nil, errors.New("empty expression")
	}
	tree, err := parser.Parse(src)
	if err != nil {
		return nil, errors.New(oneLine(err.Error()))
	}
	var v fieldVisitor
	ast.Walk(&tree.Node, &v)
	prog, err := expr.Compile(src)
	if err != nil {
		return nil, errors.New(oneLine(err.Error()))
	}
	fields := map[string]bool{}
	for _, id := range v.idents {
		if !v.callees[id] && !v.declared[id] {
			fields[id] = true
		}
	}
	return &Program{Source: src, Fields: slices.Sorted(maps.Keys(fields)), prog: prog}, nil
}

type fieldVisitor struct {
	idents   []string
	callees  map[string]bool
	declared map[string]bool
}

func (v *fieldVisitor) Visit(n *ast.Node) {
	if v.callees == nil {
		v.callees, v.declared = map[string]bool{}, map[string]bool{}
	}
	switch x := (*n).(type) {
	case *ast.IdentifierNode:
		v.idents = append(v.idents, x.Value)
	case *ast.CallNode:
		if id, ok := x.Callee.(*ast.IdentifierNode); ok {
			v.callees[id.Value] = true
		}
	case *ast.VariableDeclaratorNode:
		v.declared[x.Name] = true
	}
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

// Run evaluates p over env, after checking that env has every field p
// reads; what names the expression in errors.
func (p *Program) Run(env map[string]any, what string) (any, error) {
	for _, f := range p.Fields {
		if _, ok := env[f]; !ok {
			return nil, fmt.Errorf("%s: the record has no value for field %q%s", what, f, confkit.Suggest(f, slices.Sorted(maps.Keys(env))))
		}
	}
	v, err := expr.Run(p.prog, env)
	if err != nil {
		return nil, fmt.Errorf("%s: %s", what, oneLine(err.Error()))
	}
	return v, nil
}

// Stage is the derive stage.
type Stage struct {
	names  []string // derived fields, sorted
	fields map[string]*Program
	keep   *Program // nil without a condition
}

// New checks cfg and returns the stage.
func New(cfg *Config) (*Stage, error) {
	if len(cfg.Fields) == 0 && strings.TrimSpace(cfg.Keep) == "" {
		return nil, errors.New("derive: fields or keep: set at least one")
	}
	s := &Stage{fields: map[string]*Program{}}
	for _, name := range slices.Sorted(maps.Keys(cfg.Fields)) {
		switch {
		case !nameRe.MatchString(name):
			return nil, fmt.Errorf("derive: fields.%s: not a field name a template can use (letters, digits and _, not first a digit)", name)
		case name == "id":
			return nil, errors.New("derive: fields.id: the id is the record's own")
		}
		p, err := Compile(cfg.Fields[name])
		if err != nil {
			return nil, fmt.Errorf("derive: fields.%s: %w", name, err)
		}
		s.names = append(s.names, name)
		s.fields[name] = p
	}
	if strings.TrimSpace(cfg.Keep) != "" {
		p, err := Compile(cfg.Keep)
		if err != nil {
			return nil, fmt.Errorf("derive: keep: %w", err)
		}
		s.keep = p
	}
	return s, nil
}

// Streams implements pipeline.Streaming: a derived record depends on its
// input record alone.
func (s *Stage) Streams() bool { return true }

// Run derives a record from every kept record of the input stage.
func (s *Stage) Run(ctx context.Context, env *pipeline.Env) error {
	return pipeline.ForEachKept(ctx, env, func(ctx context.Context, in *record.Record) ([]*record.Record, pipeline.UnitUsage, error) {
		return []*record.Record{s.Derive(env, in)}, pipeline.UnitUsage{}, nil
	})
}

// Derive returns in with the derived fields set and the condition's
// decision: rejected when it is false, failed (naming the field or the
// expression) when an expression cannot be evaluated on in.
func (s *Stage) Derive(env *pipeline.Env, in *record.Record) *record.Record {
	r := *in
	r.ID, r.Stage, r.Seq, r.Error, r.Status = env.Name+":"+in.ID, env.Name, 0, "", record.Kept
	r.Meta = maps.Clone(in.Meta)
	if r.Meta == nil {
		r.Meta = map[string]any{}
	}
	r.Scores = maps.Clone(in.Scores)
	r.Decisions = slices.Clone(in.Decisions)
	r.Usage = record.Usage{}
	r.Prov = env.Provenance("derive", pipeline.ModelInfo{}, in.ID)
	fail := func(err error) *record.Record {
		r.Status, r.Error = record.Failed, "derive: "+err.Error()
		return &r
	}
	d := in.Fields()
	for _, name := range s.names {
		v, err := s.fields[name].Run(d, "fields."+name)
		if err != nil {
			return fail(err)
		}
		setField(&r, name, v)
	}
	if s.keep == nil {
		return &r
	}
	v, err := s.keep.Run(r.Fields(), "keep")
	if err != nil {
		return fail(err)
	}
	ok, isBool := v.(bool)
	if !isBool {
		return fail(fmt.Errorf("keep: want true or false, got %v (%T)", v, v))
	}
	dec := record.Decision{Filter: "keep", Passed: ok}
	if !ok {
		dec.Reason = "false: " + oneLine(s.keep.Source)
		r.Status = record.Rejected
	}
	r.Decisions = append(r.Decisions, dec)
	return &r
}

// setField stores v: a record field takes it as text, another name is a
// meta field with v as it is.
func setField(r *record.Record, name string, v any) {
	if slices.Contains(record.TextFields, name) {
		r.SetText(name, fmt.Sprint(v))
		return
	}
	r.Meta[name] = v
}

var _ pipeline.Stage = (*Stage)(nil)

// UsedFields lists the input's fields the expressions read (none when they
// do not compile, which Validate reports). The condition may also read the
// derived fields.
func (c *Config) UsedFields() []string {
	s, err := New(c)
	if err != nil {
		return nil
	}
	used := map[string]bool{}
	for _, p := range s.fields {
		for _, f := range p.Fields {
			used[f] = true
		}
	}
	if s.keep != nil {
		for _, f := range s.keep.Fields {
			if s.fields[f] == nil {
				used[f] = true
			}
		}
	}
	return slices.Sorted(maps.Keys(used))
}

// DeclaredFields lists the fields of the records a derive stage makes: its
// input's and the derived ones.
func (c *Config) DeclaredFields(input []string, known bool) ([]string, bool) {
	if !known {
		return nil, false
	}
	out := slices.Clone(input)
	for name := range c.Fields {
		if !slices.Contains(out, name) {
			out = append(out, name)
		}
	}
	slices.Sort(out)
	return out, true
}

var (
	_ pipeline.FieldUser     = (*Config)(nil)
	_ pipeline.FieldDeclarer = (*Config)(nil)
)
