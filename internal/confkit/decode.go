package confkit

import (
	"encoding"
	"errors"
	"fmt"
	"math"
	"reflect"
	"sort"
	"strings"
	"time"

	"github.com/goccy/go-yaml"
	"github.com/goccy/go-yaml/ast"
	"github.com/goccy/go-yaml/parser"
	"github.com/goccy/go-yaml/token"
)

// File is a parsed config file and the problems found in it so far: a
// loader records every problem rather than stopping at the first, so one run
// of the program shows all of them.
type File struct {
	Name string
	Data []byte
	Root ast.Node // the top-level mapping
	Errs Errors
}

// Parse parses data as one YAML document with a mapping at the top; top
// names the mapping's main keys for the error when it is something else.
func Parse(name string, data []byte, top string) (*File, error) {
	af, err := parseSafe(data)
	if err != nil {
		return nil, &Error{File: name, Msg: "invalid YAML: " + yamlMsg(err)}
	}
	if len(af.Docs) != 1 || af.Docs[0].Body == nil {
		return nil, &Error{File: name, Msg: "expected exactly one YAML document with a mapping at the top"}
	}
	root := Unwrap(af.Docs[0].Body)
	if _, ok := root.(*ast.MappingNode); !ok {
		return nil, At(name, root, "", "the top level must be a mapping with "+top)
	}
	return &File{Name: name, Data: data, Root: root}, nil
}

// ParseInto parses data (see Parse) and decodes its top-level mapping into
// v, a pointer to the config struct. It returns the File for the checks
// that follow, or Parse's or Decode's error.
func ParseInto(name string, data []byte, top string, v any) (*File, error) {
	f, err := Parse(name, data, top)
	if err != nil {
		return nil, err
	}
	if !f.Decode(f.Root, "", v) {
		return nil, f.Err()
	}
	return f, nil
}

// parseSafe turns a panic of the YAML parser into an error: a config file
// must never crash the program.
func parseSafe(data []byte) (f *ast.File, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("cannot parse (%v)", r)
		}
	}()
	return parser.ParseBytes(data, 0)
}

// Add records a problem at node (nil: no position) for the field path.
func (f *File) Add(node ast.Node, field, msg string) {
	f.Errs = append(f.Errs, At(f.Name, node, field, msg))
}

// Validate runs v's Validate method, when it has one, and records its error:
// the problems of an Errors or *Error as they are (they carry their own
// positions), any other error as one problem at node under field.
func (f *File) Validate(node ast.Node, field string, v any) {
	vd, ok := v.(interface{ Validate() error })
	if !ok {
		return
	}
	err := vd.Validate()
	var es Errors
	var one *Error
	switch {
	case err == nil:
	case errors.As(err, &es):
		f.Errs = append(f.Errs, es...)
	case errors.As(err, &one):
		f.Errs = append(f.Errs, one)
	default:
		f.Add(node, field, err.Error())
	}
}

// Err returns the recorded problems sorted by line, or nil.
func (f *File) Err() error {
	if len(f.Errs) == 0 {
		return nil
	}
	f.Errs.Sort()
	return f.Errs
}

// Decode checks node against the type v points to, recording every key the
// type lacks (with the closest one it has) and every mismatched shape under
// the field path; when there is none it decodes node into v, keeping the
// values of keys node does not set. It reports whether v was decoded.
func (f *File) Decode(node ast.Node, path string, v any) bool {
	before := len(f.Errs)
	f.check(node, reflect.TypeOf(v), path)
	if len(f.Errs) > before {
		return false
	}
	if err := decodeSafe(Unwrap(node), v); err != nil {
		f.decodeErr(node, path, err)
		return false
	}
	return true
}

// decodeSafe turns a panic inside the YAML library (seen with odd tagged
// nodes under fuzzing) into an error.
func decodeSafe(n ast.Node, v any) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("cannot decode this value (%v)", r)
		}
	}()
	return yaml.NodeToValue(n, v)
}

// decodeErr records a decoding error at the position the YAML library names,
// under the field path of that position, without the library's source
// excerpt: the file:line:col prefix already points there.
func (f *File) decodeErr(node ast.Node, path string, err error) {
	var ye yaml.Error
	if !errors.As(err, &ye) || ye.GetToken() == nil || ye.GetToken().Position == nil {
		f.Add(node, path, yamlMsg(err))
		return
	}
	tk := ye.GetToken()
	msg := ye.GetMessage()
	var te *yaml.TypeError
	if errors.As(err, &te) && te.DstType != nil {
		got := fmt.Sprintf("%q", tk.Value)
		if te.SrcType != nil {
			switch te.SrcType.Kind() {
			case reflect.Slice:
				got = "a list"
			case reflect.Map:
				got = "a mapping"
			}
		}
		msg = fmt.Sprintf("want %s, got %s", TypeName(te.DstType), got)
	}
	// The library's own message names the Go type ("Go value of type int8").
	var oe *yaml.OverflowError
	if errors.As(err, &oe) && oe.DstType != nil {
		msg = fmt.Sprintf("want %s, got %s, which is out of range", TypeName(oe.DstType), oe.SrcNum)
	}
	if p := pathTo(f.Root, tk.Position, ""); p != "" {
		path = p
	}
	f.Errs = append(f.Errs, &Error{File: f.Name, Line: tk.Position.Line, Column: tk.Position.Column, Field: path, Msg: msg})
}

// pathTo finds the field path of the node at pos under n.
func pathTo(n ast.Node, pos *token.Position, path string) string {
	n = Unwrap(n)
	if n == nil {
		return ""
	}
	switch x := n.(type) {
	case *ast.MappingNode:
		for _, mv := range x.Values {
			sub := Join(path, mv.Key.GetToken().Value)
			if samePos(mv.Key, pos) || samePos(mv.Value, pos) {
				return sub
			}
			if p := pathTo(mv.Value, pos, sub); p != "" {
				return p
			}
		}
	case *ast.SequenceNode:
		for i, v := range x.Values {
			sub := fmt.Sprintf("%s[%d]", path, i)
			if samePos(v, pos) {
				return sub
			}
			if p := pathTo(v, pos, sub); p != "" {
				return p
			}
		}
	}
	return ""
}

func samePos(n ast.Node, pos *token.Position) bool {
	if n == nil {
		return false
	}
	tk := n.GetToken()
	return tk != nil && tk.Position != nil && tk.Position.Line == pos.Line && tk.Position.Column == pos.Column
}

var textUnmarshaler = reflect.TypeOf((*encoding.TextUnmarshaler)(nil)).Elem()

// decodesItself reports whether t parses its own YAML (a duration, a
// TextUnmarshaler or an UnmarshalYAML method), so its keys are not checked.
func decodesItself(t reflect.Type) bool {
	if t == reflect.TypeOf(time.Duration(0)) || reflect.PointerTo(t).Implements(textUnmarshaler) {
		return true
	}
	_, ok := reflect.PointerTo(t).MethodByName("UnmarshalYAML")
	return ok
}

// checkText parses a string into a duration or TextUnmarshaler ahead of the
// decoder, whose errors from these types carry no position.
func (f *File) checkText(node ast.Node, t reflect.Type, path string) {
	sn, ok := node.(*ast.StringNode)
	if !ok {
		return
	}
	var err error
	switch {
	case t == reflect.TypeOf(time.Duration(0)):
		_, err = time.ParseDuration(sn.Value)
	case reflect.PointerTo(t).Implements(textUnmarshaler):
		err = reflect.New(t).Interface().(encoding.TextUnmarshaler).UnmarshalText([]byte(sn.Value))
	}
	if err != nil {
		f.Add(node, path, err.Error())
	}
}

// check walks node against the Go type it will decode into and records
// every key the type does not have and every mapping or list out of place.
func (f *File) check(node ast.Node, t reflect.Type, path string) {
	node = Unwrap(node)
	if node == nil {
		return
	}
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if decodesItself(t) {
		f.checkText(node, t, path)
		return
	}
	_, isNull := node.(*ast.NullNode)
	switch t.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		// The decoder truncates 1.5 to 1 without a word.
		if fl, ok := node.(*ast.FloatNode); ok && fl.Value != math.Trunc(fl.Value) {
			f.Add(node, path, fmt.Sprintf("want int, got %s", fl.GetToken().Value))
		}
	case reflect.Struct:
		m, ok := node.(*ast.MappingNode)
		if !ok {
			if !isNull {
				f.Add(node, path, "expected a mapping of "+strings.Join(Keys(t), ", "))
			}
			return
		}
		fields := fieldMap(t)
		for _, mv := range m.Values {
			key := mv.Key.GetToken().Value
			sub := Join(path, key)
			sf, ok := fields[key]
			if !ok {
				msg := fmt.Sprintf("unknown field %q", key)
				if s := Suggest(key, Keys(t)); s != "" {
					msg += s
				} else {
					msg += "; valid fields: " + strings.Join(Keys(t), ", ")
				}
				f.Add(mv.Key, sub, msg)
				continue
			}
			f.check(mv.Value, sf.Type, sub)
		}
	case reflect.Map:
		m, ok := node.(*ast.MappingNode)
		if !ok {
			if !isNull && t.Key().Kind() == reflect.String {
				f.Add(node, path, "expected a mapping")
			}
			return
		}
		for _, mv := range m.Values {
			f.check(mv.Value, t.Elem(), Join(path, mv.Key.GetToken().Value))
		}
	case reflect.Slice:
		s, ok := node.(*ast.SequenceNode)
		if !ok {
			if !isNull && t.Elem().Kind() != reflect.Uint8 {
				f.Add(node, path, "expected a list")
			}
			return
		}
		for i, e := range s.Values {
			f.check(e, t.Elem(), fmt.Sprintf("%s[%d]", path, i))
		}
	}
}

// Join appends a key to a dotted field path.
func Join(path, key string) string {
	if path == "" {
		return key
	}
	if key == "" {
		return path
	}
	return path + "." + key
}

// Key is the YAML key of a struct field: its yaml tag's name, or its
// lower-cased Go name.
func Key(f reflect.StructField) string {
	name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
	if name == "" {
		return strings.ToLower(f.Name)
	}
	return name
}

// Inline reports whether a struct field's keys sit in its parent's mapping.
func Inline(f reflect.StructField) bool {
	return strings.Contains(f.Tag.Get("yaml"), ",inline")
}

// fieldMap maps the YAML keys of struct type t, inlined structs included,
// to their fields.
func fieldMap(t reflect.Type) map[string]reflect.StructField {
	out := map[string]reflect.StructField{}
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if !f.IsExported() || f.Tag.Get("yaml") == "-" {
			continue
		}
		if Inline(f) {
			ft := f.Type
			if ft.Kind() == reflect.Pointer {
				ft = ft.Elem()
			}
			for k, v := range fieldMap(ft) {
				out[k] = v
			}
			continue
		}
		out[Key(f)] = f
	}
	return out
}

// Keys lists the YAML keys of struct type t, sorted.
func Keys(t reflect.Type) []string {
	var out []string
	for k := range fieldMap(t) {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// Unwrap looks through documents, anchors and tags to the value node.
func Unwrap(n ast.Node) ast.Node {
	for {
		switch x := n.(type) {
		case *ast.AnchorNode:
			n = x.Value
		case *ast.TagNode:
			n = x.Value
		case *ast.DocumentNode:
			n = x.Body
		default:
			return n
		}
	}
}

// Value returns the value of key in mapping n, or nil.
func Value(n ast.Node, key string) ast.Node {
	m, ok := Unwrap(n).(*ast.MappingNode)
	if !ok {
		return nil
	}
	for _, mv := range m.Values {
		if mv.Key.GetToken().Value == key {
			return mv.Value
		}
	}
	return nil
}

// At returns an error at node's position (none when node is nil).
func At(file string, n ast.Node, field, msg string) *Error {
	e := &Error{File: file, Field: field, Msg: msg}
	if n != nil {
		if tk := n.GetToken(); tk != nil && tk.Position != nil {
			e.Line, e.Column = tk.Position.Line, tk.Position.Column
		}
	}
	return e
}

// yamlMsg renders a go-yaml error without ANSI colours, keeping its position.
func yamlMsg(err error) string {
	return strings.TrimSpace(yaml.FormatError(err, false, true))
}
