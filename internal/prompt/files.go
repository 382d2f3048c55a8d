package prompt

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"sync"
	"text/template"

	"github.com/synthloop/synthloop/internal/confkit"
)

// Kind is one prompt of a stage that a user may replace with a template
// file of their own, named under the stage's `prompts:` setting.
type Kind struct {
	Name  string           // the key under prompts:, and the embedded file's base name
	Doc   string           // what the prompt asks the model for, one line
	Funcs template.FuncMap // functions the template may call besides text/template's own
	// Samples are data as the stage renders the prompt, at least one. A
	// user's template must render every one, so give one per branch a
	// template may take (an empty pool and a full one). The first one's
	// type documents the fields, with its fields' doc tags.
	Samples []any
}

// Files is a stage's `prompts:` setting: a prompt kind to the path of a Go
// text/template file, relative to the working directory. A file replaces
// the embedded prompt of its kind for every language.
type Files map[string]string

// Check reports, for a config being loaded, the first problem of f against
// the kinds a stage has: an unknown kind (with the closest one), a file that
// cannot be read, a template that does not parse (file:line) or that fails
// to render one of the kind's samples, such as a misspelt field (naming the
// field and the valid ones).
func (f Files) Check(kinds []Kind) error {
	for _, name := range slices.Sorted(maps.Keys(f)) {
		k, ok := find(kinds, name)
		if !ok {
			names := make([]string, len(kinds))
			for i, k := range kinds {
				names[i] = k.Name
			}
			return fmt.Errorf("prompts: unknown kind %q%s; kinds: %s", name, confkit.Suggest(name, names), strings.Join(names, ", "))
		}
		t, err := f.load(k)
		if err != nil {
			return err
		}
		if err := k.Try(t); err != nil {
			return fmt.Errorf("prompts.%s: %w", name, err)
		}
	}
	return nil
}

// Try renders t with every sample of k, and on the first failure says
// where and why, naming a misspelt field and the valid ones.
func (k Kind) Try(t *Template) error {
	for _, s := range k.Samples {
		if _, err := t.Render(s); err != nil {
			return errors.New(explain(err, t.Name, s))
		}
	}
	return nil
}

func find(kinds []Kind, name string) (Kind, bool) {
	for _, k := range kinds {
		if k.Name == name {
			return k, true
		}
	}
	return Kind{}, false
}

// User returns the user's template for k, or nil when f names none.
func (f Files) User(k Kind) (*Template, error) {
	if f[k.Name] == "" {
		return nil, nil
	}
	return f.load(k)
}

func (f Files) load(k Kind) (*Template, error) {
	path := f[k.Name]
	if path == "" {
		return nil, fmt.Errorf("prompts.%s: empty path", k.Name)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("prompts.%s: no file %s (paths are relative to the working directory)", k.Name, path)
		}
		return nil, fmt.Errorf("prompts.%s: %w", k.Name, err)
	}
	t, err := parse(path, b, k.Funcs)
	if err != nil {
		return nil, fmt.Errorf("prompts.%s: %s", k.Name, strings.TrimPrefix(err.Error(), "template: "))
	}
	return t, nil
}

// parse makes a Template of a file's bytes. A missing key is an error when
// it renders, so a renamed field cannot silently render as "<no value>".
func parse(name string, b []byte, funcs template.FuncMap) (*Template, error) {
	t, err := template.New(name).Funcs(funcs).Option("missingkey=error").Parse(string(b))
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(b)
	return &Template{Name: name, Hash: hex.EncodeToString(sum[:]), tmpl: t}, nil
}

// Pick returns the user's template for k when f names one, else the
// embedded templates/<kind>.<lang>.tmpl of fsys (lang "" for a stage with
// one prompt for every language: templates/<kind>.tmpl).
func (f Files) Pick(fsys fs.FS, k Kind, lang string) (*Template, error) {
	if t, err := f.User(k); t != nil || err != nil {
		return t, err
	}
	if lang == "" {
		return Load(fsys, "templates/"+k.Name+".tmpl", k.Funcs)
	}
	return ForLanguage(fsys, k.Name, lang, k.Funcs)
}

// Slot is where PickAll puts the template of a kind.
type Slot struct {
	Dst  **Template
	Kind Kind
}

// PickAll picks the template of every slot in lang (see Pick), stopping at
// the first error.
func (f Files) PickAll(fsys fs.FS, lang string, slots ...Slot) error {
	for _, s := range slots {
		t, err := f.Pick(fsys, s.Kind, lang)
		if err != nil {
			return err
		}
		*s.Dst = t
	}
	return nil
}

// execRe reads text/template's error for a field that is not there.
var execRe = regexp.MustCompile(`^template: (.*?): executing ".*?" at <(.*?)>: can't evaluate field (\w+) in type (\S+)$`)

// explain turns a render error into one that names the misspelt field and
// the fields there are at that point of the template.
func explain(err error, file string, sample any) string {
	msg := strings.TrimPrefix(err.Error(), "render "+file+": ")
	m := execRe.FindStringSubmatch(msg)
	if m == nil {
		return strings.TrimPrefix(msg, "template: ")
	}
	pos, field, typ := m[1], m[3], m[4]
	fields := fieldsByType(reflect.TypeOf(sample))[typ]
	if fields == nil {
		return fmt.Sprintf("%s: no field %q: the value there is a %s, which has no fields", pos, field, typ)
	}
	return fmt.Sprintf("%s: no field %q%s; the fields there are %s", pos, field, confkit.Suggest(field, fields), strings.Join(fields, ", "))
}

// fieldsByType maps the name of every struct type reachable from t, as
// text/template prints it, to the fields a template can use on it.
func fieldsByType(t reflect.Type) map[string][]string {
	out := map[string][]string{}
	var walk func(t reflect.Type)
	walk = func(t reflect.Type) {
		for t.Kind() == reflect.Pointer || t.Kind() == reflect.Slice || t.Kind() == reflect.Array || t.Kind() == reflect.Map {
			t = t.Elem()
		}
		if t.Kind() != reflect.Struct || out[t.String()] != nil {
			return
		}
		out[t.String()] = []string{}
		var names []string
		for _, sf := range reflect.VisibleFields(t) {
			if !sf.IsExported() {
				continue
			}
			names = append(names, sf.Name)
			walk(sf.Type)
		}
		out[t.String()] = names
	}
	walk(t)
	return out
}

// Field is one field a prompt's template receives.
type Field struct {
	Path string // e.g. Tasks[].Instruction
	Type string // Go type
	Doc  string // the field's doc tag
}

// Fields lists the fields a template of k receives, nested fields under
// their parent's path ("Examples[].Instruction"), from its first sample.
func (k Kind) Fields() []Field {
	if len(k.Samples) == 0 {
		return nil
	}
	var out []Field
	seen := map[reflect.Type]bool{}
	var walk func(t reflect.Type, prefix string)
	walk = func(t reflect.Type, prefix string) {
		for t.Kind() == reflect.Pointer {
			t = t.Elem()
		}
		if t.Kind() != reflect.Struct || seen[t] {
			return
		}
		seen[t] = true
		defer delete(seen, t)
		for _, sf := range reflect.VisibleFields(t) {
			if !sf.IsExported() || sf.Anonymous {
				continue
			}
			path := prefix + sf.Name
			out = append(out, Field{Path: path, Type: typeName(sf.Type), Doc: sf.Tag.Get("doc")})
			ft := sf.Type
			for ft.Kind() == reflect.Pointer {
				ft = ft.Elem()
			}
			switch ft.Kind() {
			case reflect.Slice, reflect.Array:
				walk(ft.Elem(), path+"[].")
			case reflect.Struct:
				walk(ft, path+".")
			}
		}
	}
	walk(reflect.TypeOf(k.Samples[0]), "")
	return out
}

// typeName is a type as a template author thinks of it: list of, text, number.
func typeName(t reflect.Type) string {
	switch t.Kind() {
	case reflect.Pointer:
		return typeName(t.Elem())
	case reflect.Slice, reflect.Array:
		return "list of " + typeName(t.Elem())
	case reflect.String:
		return "text"
	case reflect.Bool:
		return "bool"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "integer"
	case reflect.Float32, reflect.Float64:
		return "number"
	case reflect.Struct:
		return "record"
	case reflect.Map:
		return "map"
	}
	return t.String()
}

// mdEscape keeps a doc's text literal in a Markdown table cell.
var mdEscape = strings.NewReplacer("<", "&lt;", ">", "&gt;", "|", `\|`)

// Set is the replaceable prompts behind one setting of a stage's `with:`.
type Set struct {
	// Name titles the set in the reference: the stage type for a stage's
	// own prompts, or the component several stages share ("judge").
	Name  string
	Key   string // the setting that names the files: prompts, judge_prompts
	Kinds []Kind
}

var (
	mu       sync.Mutex
	declared = map[string][]Set{}
)

// Declare records a stage type's own replaceable prompts, set under
// `prompts:`, for the reference and its test. Stages call it from init.
func Declare(stage string, kinds ...Kind) {
	DeclareSet(stage, Set{Name: stage, Key: "prompts", Kinds: kinds})
}

// DeclareSet records a set of replaceable prompts a stage type has, such as
// a shared judge's under another key.
func DeclareSet(stage string, s Set) {
	mu.Lock()
	defer mu.Unlock()
	declared[stage] = append(declared[stage], s)
}

// Declared returns the sets of prompts a stage type declared, in
// declaration order.
func Declared(stage string) []Set {
	mu.Lock()
	defer mu.Unlock()
	return slices.Clone(declared[stage])
}

// Stages lists the stage types that declared prompts, sorted.
func Stages() []string {
	mu.Lock()
	defer mu.Unlock()
	return slices.Sorted(maps.Keys(declared))
}

// Markdown is the reference of every declared prompt: a table of the stage
// types, their settings and kinds, then each set with what each kind asks
// for, its functions and the fields it receives.
func Markdown() string {
	var b strings.Builder
	b.WriteString("| stage type | setting | kinds |\n|---|---|---|\n")
	var order []string // set names, in the order the table meets them
	sets := map[string]Set{}
	users := map[string][]string{}
	for _, st := range Stages() {
		for _, set := range Declared(st) {
			var names []string
			for _, k := range set.Kinds {
				names = append(names, "`"+k.Name+"`")
			}
			fmt.Fprintf(&b, "| `%s` | `%s:` | %s |\n", st, set.Key, strings.Join(names, ", "))
			if _, ok := sets[set.Name]; !ok {
				order = append(order, set.Name)
				sets[set.Name] = set
			}
			users[set.Name] = append(users[set.Name], "`"+st+"`")
		}
	}
	b.WriteString("\n")
	for _, name := range order {
		set := sets[name]
		fmt.Fprintf(&b, "### `%s`\n\nThe `%s:` setting of %s.\n\n", name, set.Key, strings.Join(users[name], ", "))
		for _, k := range set.Kinds {
			fmt.Fprintf(&b, "#### `%s`\n\n%s\n\n", k.Name, k.Doc)
			if len(k.Funcs) > 0 {
				fmt.Fprintf(&b, "Functions: %s.\n\n", "`"+strings.Join(slices.Sorted(maps.Keys(k.Funcs)), "`, `")+"`")
			}
			b.WriteString("| field | type | meaning |\n|---|---|---|\n")
			for _, f := range k.Fields() {
				fmt.Fprintf(&b, "| `.%s` | %s | %s |\n", f.Path, f.Type, mdEscape.Replace(f.Doc))
			}
			b.WriteString("\n")
		}
	}
	return b.String()
}

// CheckEmbedded renders the embedded template of every kind in each
// language (none: the one template for every language) with the kind's
// samples, so a stage's tests keep its declared samples true to its files.
func CheckEmbedded(fsys fs.FS, kinds []Kind, langs ...string) error {
	if len(langs) == 0 {
		langs = []string{""}
	}
	for _, k := range kinds {
		for _, lang := range langs {
			t, err := Files(nil).Pick(fsys, k, lang)
			if err != nil {
				return err
			}
			if err := k.Try(t); err != nil {
				return fmt.Errorf("%s: %w", t.Name, err)
			}
		}
	}
	return nil
}
