// Package jinja parses and renders the Jinja prompt templates users bring from the Python tools, and lists the top-level fields a template reads.
package jinja

import (
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strings"

	"github.com/nikolalohinski/gonja/v2"
	"github.com/nikolalohinski/gonja/v2/builtins"
	cs "github.com/nikolalohinski/gonja/v2/builtins/control_structures"
	"github.com/nikolalohinski/gonja/v2/config"
	"github.com/nikolalohinski/gonja/v2/exec"
	"github.com/nikolalohinski/gonja/v2/loaders"
	"github.com/nikolalohinski/gonja/v2/nodes"
	"github.com/nikolalohinski/gonja/v2/parser"
	"github.com/nikolalohinski/gonja/v2/tokens"
)

// Template is a parsed Jinja template. Safe for concurrent Render calls.
type Template struct {
	name   string
	tpl    *exec.Template
	fields []string
}

// rootID names the template for gonja's loader. The memory loader holds
// nothing else, so {% include %} and {% extends %} of files fail instead of
// reading whatever path a template names.
const rootID = "/prompt"

// Parse parses text as a Jinja template named name (used in errors).
func Parse(name, text string) (t *Template, err error) {
	// A parser that panics on odd input must fail the config, not the run.
	defer func() {
		if r := recover(); r != nil {
			t, err = nil, fmt.Errorf("jinja: %s: the template does not parse: %v", name, r)
		}
	}()
	cfg := config.New()
	// A missing attribute or key fails the record instead of rendering as
	// nothing, as a Go template with missingkey=error does.
	cfg.StrictUndefined = true
	// Jinja's default drops the template's final newline; prompts keep
	// their text as written.
	cfg.KeepTrailingNewline = true
	loader, err := loaders.NewMemoryLoader(map[string]string{rootID: text})
	if err != nil {
		return nil, fmt.Errorf("jinja: %s: %w", name, err)
	}
	root, err := parser.NewParser(rootID, tokens.LexAll(text, cfg), cfg, loader, builtins.ControlStructures).Parse()
	if err != nil {
		return nil, fmt.Errorf("jinja: %s: the template does not parse: %s", name, cleanError(err))
	}
	tpl, err := exec.NewTemplate(rootID, cfg, loader, gonja.DefaultEnvironment)
	if err != nil {
		return nil, fmt.Errorf("jinja: %s: the template does not parse: %s", name, cleanError(err))
	}
	w := newWalker()
	w.walk(reflect.ValueOf(root), nil)
	for n := range w.assigned {
		delete(w.used, n)
	}
	return &Template{name: name, tpl: tpl, fields: slices.Sorted(maps.Keys(w.used))}, nil
}

// Fields returns the top-level names the template reads from its data,
// sorted: not the names its own loops, sets and macros bind, nor Jinja's
// globals (range, dict, loop, ...).
func (t *Template) Fields() []string { return t.fields }

// Render renders the template over data.
func (t *Template) Render(data map[string]any) (s string, err error) {
	defer func() {
		if r := recover(); r != nil {
			s, err = "", fmt.Errorf("jinja: %s: %v", t.name, r)
		}
	}()
	s, err = t.tpl.ExecuteToString(exec.NewContext(data))
	if err != nil {
		return "", fmt.Errorf("jinja: %s: %s", t.name, cleanError(err))
	}
	return s, nil
}

// cleanError drops gonja's wrapping prefixes, which quote the whole
// template source back.
func cleanError(err error) string {
	msg := err.Error()
	for _, p := range []string{"unable to execute template: ", "failed to parse template "} {
		if i := strings.LastIndex(msg, p); i >= 0 {
			msg = msg[i+len(p):]
		}
	}
	return msg
}

// walker collects the free names of a gonja syntax tree. gonja's own
// nodes.Walk stops at the top level and several control structures keep
// their parts in unexported fields, so the tree is walked by reflection;
// only exported node types are matched by type.
type walker struct {
	used map[string]bool
	// assigned holds the names {% set %} and {% macro %} define. Where in
	// the template they are defined is not tracked: such a name is not a
	// field anywhere.
	assigned map[string]bool
	seen     map[uintptr]bool // nodes point back at their parents
}

func newWalker() *walker {
	return &walker{used: map[string]bool{}, assigned: map[string]bool{}, seen: map[uintptr]bool{}}
}

// names returns the names in the expression v, bound or not.
func names(v reflect.Value) []string {
	w := newWalker()
	w.walk(v, nil)
	return slices.Collect(maps.Keys(w.used))
}

var (
	nameType   = reflect.TypeOf(&nodes.Name{})
	forType    = reflect.TypeOf(&cs.ForControlStructure{})
	setType    = reflect.TypeOf(&cs.SetControlStructure{})
	withType   = reflect.TypeOf(&cs.WithControlStructure{})
	macroType  = reflect.TypeOf(&nodes.Macro{})
	tokenType  = reflect.TypeOf(&tokens.Token{})
	stringType = reflect.TypeOf(&nodes.String{})
	globalName = func(n string) bool {
		return builtins.GlobalFunctions.Has(n) || builtins.GlobalVariables.Has(n) ||
			n == "loop" || n == "caller" || n == "varargs" || n == "kwargs"
	}
)

// walk visits v; bound holds the names bound around it.
func (w *walker) walk(v reflect.Value, bound []string) {
	switch v.Kind() {
	case reflect.Pointer:
		if v.IsNil() || v.Type() == tokenType {
			return
		}
		if w.seen[v.Pointer()] {
			return
		}
		w.seen[v.Pointer()] = true
		switch v.Type() {
		case nameType:
			n := v.Elem().FieldByName("Name").Elem().FieldByName("Val").String()
			if !slices.Contains(bound, n) && !globalName(n) {
				w.used[n] = true
			}
			return
		case forType:
			e := v.Elem()
			inner := append(slices.Clone(bound), e.FieldByName("Key").String(), e.FieldByName("Value").String())
			w.walk(e.FieldByName("ObjectEvaluator"), bound)
			w.walk(e.FieldByName("IfCondition"), inner)
			w.walk(e.FieldByName("BodyWrapper"), inner)
			w.walk(e.FieldByName("EmptyWrapper"), bound)
			return
		case setType:
			// {% set x = ... %} binds x from here on; which uses come
			// after it is not tracked, so x counts as bound everywhere.
			e := v.Elem()
			for _, n := range names(e.FieldByName("target")) {
				w.assigned[n] = true
			}
			for _, f := range []string{"expression", "condition", "alternative", "body"} {
				w.walk(e.FieldByName(f), bound)
			}
			return
		case macroType:
			e := v.Elem()
			inner := slices.Clone(bound)
			kw := e.FieldByName("Kwargs")
			for i := range kw.Len() {
				// A parameter: its name is a string node, its default an
				// expression over the outer names.
				p := kw.Index(i).Elem()
				if k := p.FieldByName("Key"); !k.IsNil() && k.Elem().Type() == stringType {
					inner = append(inner, k.Elem().Elem().FieldByName("Val").String())
				}
				w.walk(p.FieldByName("Value"), bound)
			}
			inner = append(inner, e.FieldByName("VarArgsName").String(), e.FieldByName("KwArgsName").String())
			w.assigned[e.FieldByName("Name").String()] = true
			w.walk(e.FieldByName("Wrapper"), inner)
			return
		case withType:
			e := v.Elem()
			inner := slices.Clone(bound)
			for it := e.FieldByName("pairs").MapRange(); it.Next(); {
				inner = append(inner, it.Key().String())
				w.walk(it.Value(), bound)
			}
			w.walk(e.FieldByName("wrapper"), inner)
			return
		}
		w.walk(v.Elem(), bound)
	case reflect.Interface:
		if !v.IsNil() {
			w.walk(v.Elem(), bound)
		}
	case reflect.Struct:
		for i := range v.NumField() {
			w.walk(v.Field(i), bound)
		}
	case reflect.Slice, reflect.Array:
		for i := range v.Len() {
			w.walk(v.Index(i), bound)
		}
	case reflect.Map:
		for it := v.MapRange(); it.Next(); {
			w.walk(it.Value(), bound)
		}
	}
}
