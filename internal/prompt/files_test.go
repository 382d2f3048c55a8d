package prompt

import (
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"
	"text/template"
)

type item struct {
	Instruction string `doc:"the task"`
	Input       string
}

type listData struct {
	Items []item   `doc:"the examples"`
	Words []string `doc:"plain words"`
	Next  int      `doc:"the number to write"`
}

var testKinds = []Kind{
	{Name: "list", Doc: "Lists items.", Funcs: template.FuncMap{"add": func(a, b int) int { return a + b }},
		Samples: []any{listData{Items: []item{{"Sort it", ""}}, Words: []string{"a"}, Next: 2}, listData{}}},
	{Name: "plain", Doc: "Plain.", Samples: []any{item{"x", "y"}}},
}

func writeFile(t *testing.T, dir, name, text string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestFilesCheck(t *testing.T) {
	dir := t.TempDir()
	good := writeFile(t, dir, "good.tmpl", "{{range $i, $x := .Items}}{{add $i 1}}. {{$x.Instruction}}\n{{end}}{{.Next}}.\n")
	for _, tc := range []struct {
		name  string
		files Files
		want  string // "" means no error
	}{
		{"good", Files{"list": good}, ""},
		{"none", nil, ""},
		{"unknown kind", Files{"lsit": good}, `prompts: unknown kind "lsit" (did you mean "list"?); kinds: list, plain`},
		{"missing file", Files{"list": filepath.Join(dir, "nope.tmpl")}, "prompts.list: no file " + filepath.Join(dir, "nope.tmpl")},
		{"parse error", Files{"list": writeFile(t, dir, "bad.tmpl", "line one\n{{.Next")}, "prompts.list: " + filepath.Join(dir, "bad.tmpl") + ":2: unclosed action"},
		{"misspelt top field", Files{"list": writeFile(t, dir, "top.tmpl", "Next: {{.Nxet}}")},
			`top.tmpl:1:8: no field "Nxet" (did you mean "Next"?); the fields there are Items, Words, Next`},
		{"misspelt nested field", Files{"list": writeFile(t, dir, "nested.tmpl", "{{range .Items}}\n{{.Instrution}}{{end}}")},
			`nested.tmpl:2:2: no field "Instrution" (did you mean "Instruction"?); the fields there are Instruction, Input`},
		{"field of a string", Files{"list": writeFile(t, dir, "str.tmpl", "{{range .Words}}{{.Text}}{{end}}")},
			`no field "Text": the value there is a string, which has no fields`},
		{"unknown function", Files{"plain": writeFile(t, dir, "fn.tmpl", "{{add 1 2}}")}, `function "add" not defined`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.files.Check(testKinds)
			if tc.want == "" {
				if err != nil {
					t.Fatalf("Check = %v, want nil", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Check = %v, want it to contain %q", err, tc.want)
			}
		})
	}
}

func TestFilesPick(t *testing.T) {
	dir := t.TempDir()
	text := "Mine: {{.Instruction}}\n"
	mine := writeFile(t, dir, "mine.tmpl", text)
	fsys := fstest.MapFS{
		"templates/plain.en.tmpl": {Data: []byte("English {{.Instruction}}")},
		"templates/plain.tmpl":    {Data: []byte("Any {{.Instruction}}")},
	}
	k := testKinds[1]
	for _, tc := range []struct {
		files      Files
		lang, want string
	}{
		{nil, "en", "English x"},
		{nil, "", "Any x"},
		{Files{"plain": mine}, "en", "Mine: x"},
		{Files{"plain": mine}, "ja", "Mine: x"}, // the file serves every language
	} {
		p, err := tc.files.Pick(fsys, k, tc.lang)
		if err != nil {
			t.Fatal(err)
		}
		if got := p.MustRender(item{Instruction: "x"}); got != tc.want {
			t.Errorf("Pick(%v, %q) renders %q, want %q", tc.files, tc.lang, got, tc.want)
		}
	}
	p, _ := Files{"plain": mine}.Pick(fsys, k, "en")
	sum := sha256.Sum256([]byte(text))
	if p.Hash != hex.EncodeToString(sum[:]) || p.Name != mine {
		t.Errorf("user template = %s %s, want the file's path and sha256", p.Name, p.Hash)
	}
}

func TestFieldsAndMarkdown(t *testing.T) {
	var got []string
	for _, f := range testKinds[0].Fields() {
		got = append(got, f.Path+" "+f.Type+" "+f.Doc)
	}
	want := []string{"Items list of record the examples", "Items[].Instruction text the task", "Items[].Input text ",
		"Words list of text plain words", "Next integer the number to write"}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("Fields = %q, want %q", got, want)
	}
	Declare("teststage", testKinds...)
	md := Markdown()
	DeclareSet("otherstage", Set{Name: "shared", Key: "shared_prompts", Kinds: testKinds[1:]})
	DeclareSet("teststage", Set{Name: "shared", Key: "shared_prompts", Kinds: testKinds[1:]})
	md = Markdown()
	for _, s := range []string{"| `teststage` | `prompts:` | `list`, `plain` |", "| `teststage` | `shared_prompts:` | `plain` |",
		"### `teststage`\n\nThe `prompts:` setting of `teststage`.", "### `shared`\n\nThe `shared_prompts:` setting of `otherstage`, `teststage`.",
		"#### `list`", "Functions: `add`.", "| `.Items[].Instruction` | text | the task |"} {
		if !strings.Contains(md, s) {
			t.Errorf("Markdown lacks %q:\n%s", s, md)
		}
	}
}

// FuzzFilesCheck feeds arbitrary template text to the load-time check: it
// must answer with nil or an error, never panic.
func FuzzFilesCheck(f *testing.F) {
	for _, s := range []string{"{{.Next}}", "{{range .Items}}{{.Instrution}}{{end}}", "{{", "{{template \"x\"}}", "{{.Items.Nope}}", "{{index .Words 5}}"} {
		f.Add(s)
	}
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, text string) {
		p := filepath.Join(dir, "f.tmpl")
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		_ = Files{"list": p}.Check(testKinds)
	})
}

func TestFilesPickAll(t *testing.T) {
	mine := writeFile(t, t.TempDir(), "mine.tmpl", "Mine: {{.Instruction}}")
	fsys := fstest.MapFS{
		"templates/plain.en.tmpl": {Data: []byte("English {{.Instruction}}")},
		"templates/list.en.tmpl":  {Data: []byte("List {{.Instruction}}")},
	}
	var plain, list *Template
	err := Files{"plain": mine}.PickAll(fsys, "en", Slot{Dst: &plain, Kind: testKinds[1]}, Slot{Dst: &list, Kind: testKinds[0]})
	if err != nil {
		t.Fatal(err)
	}
	if got := plain.MustRender(item{Instruction: "x"}) + "; " + list.MustRender(item{Instruction: "x"}); got != "Mine: x; List x" {
		t.Errorf("PickAll rendered %q, want the user's plain and the embedded list", got)
	}
	if err := Files(nil).PickAll(fsys, "ja", Slot{Dst: &plain, Kind: testKinds[1]}); err == nil {
		t.Error("PickAll found a template for a language there is none of")
	}
}
