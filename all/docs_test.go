package all_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/synthloop/synthloop/loop"
)

// module is the import path prefix of the module's own packages.
const module = "github.com/synthloop/synthloop"

// goPackage is what the tests read of `go list -json`, with import paths
// made relative to the module ("loop/builtin") and the standard library and
// third-party modules dropped from Imports and Deps.
type goPackage struct {
	Path    string
	Dir     string
	GoFiles []string
	Imports []string // the module's packages this one imports directly, tests excluded
	Deps    []string // ... directly or not
}

// errNoGo skips the tests that need the go command where there is none.
var errNoGo = errors.New("no go command on PATH to list the packages")

// listPackages returns the module's packages as `go list` sees them, run
// once per test binary.
func listPackages(t *testing.T) map[string]*goPackage {
	t.Helper()
	pkgs, err := goList()
	if errors.Is(err, errNoGo) {
		t.Skip(err)
	}
	if err != nil {
		t.Fatal(err)
	}
	return pkgs
}

var goList = sync.OnceValues(func() (map[string]*goPackage, error) {
	goTool, err := exec.LookPath("go")
	if err != nil {
		return nil, errNoGo
	}
	cmd := exec.Command(goTool, "list", "-json=ImportPath,Dir,GoFiles,Imports,Deps", "./...")
	cmd.Dir = ".."
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("go list: %w\n%s", err, stderr.Bytes())
	}
	own := func(paths []string) []string {
		var r []string
		for _, p := range paths {
			if rel, ok := strings.CutPrefix(p, module+"/"); ok {
				r = append(r, rel)
			}
		}
		return r
	}
	pkgs := map[string]*goPackage{}
	dec := json.NewDecoder(bytes.NewReader(out))
	for {
		var p struct {
			ImportPath, Dir string
			GoFiles         []string
			Imports, Deps   []string
		}
		if err := dec.Decode(&p); err == io.EOF {
			break
		} else if err != nil {
			return nil, fmt.Errorf("go list output: %w", err)
		}
		path := strings.TrimPrefix(p.ImportPath, module+"/")
		pkgs[path] = &goPackage{Path: path, Dir: p.Dir, GoFiles: p.GoFiles, Imports: own(p.Imports), Deps: own(p.Deps)}
	}
	if len(pkgs) == 0 {
		return nil, errors.New("go list found no packages")
	}
	return pkgs, nil
})

// archRow is one row of the package table in docs/ARCHITECTURE.md.
type archRow struct {
	line    int
	pkg     string
	holds   string
	imports []string // the module's packages named in the imports column
}

var backticked = regexp.MustCompile("`([^`]*)`")

// readPackageTable reads the table under "## Packages": each row names one
// package in backticks, what it holds, and in backticks each package of
// the module it imports; other text in that column (the standard library,
// third-party modules) is free.
func readPackageTable(t *testing.T, path string) []archRow {
	t.Helper()
	f, err := os.Open(filepath.Join("..", path))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var rows []archRow
	in := false
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		if strings.HasPrefix(line, "## ") {
			in = line == "## Packages"
			continue
		}
		if !in || !strings.HasPrefix(line, "| `") {
			continue
		}
		cells := strings.Split(strings.Trim(line, "|"), "|")
		if len(cells) != 3 {
			t.Errorf("%s:%d: a package row has 3 cells (package | holds | imports), this one %d: %s", path, n, len(cells), line)
			continue
		}
		names := backticked.FindAllStringSubmatch(cells[0], -1)
		if len(names) != 1 || strings.TrimSpace(cells[0]) != "`"+names[0][1]+"`" {
			t.Errorf("%s:%d: the package cell names one package in backticks, nothing else: %q", path, n, strings.TrimSpace(cells[0]))
			continue
		}
		r := archRow{line: n, pkg: names[0][1], holds: strings.TrimSpace(cells[1])}
		for _, m := range backticked.FindAllStringSubmatch(cells[2], -1) {
			r.imports = append(r.imports, m[1])
		}
		rows = append(rows, r)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return rows
}

// suggestedImports is the imports cell the test asks for: the module's
// packages in backticks, sorted, or "standard library only" for none
// (third-party modules are for the writer to add as free text).
func suggestedImports(p *goPackage) string {
	if len(p.Imports) == 0 {
		return "standard library only"
	}
	q := make([]string, len(p.Imports))
	for i, s := range p.Imports {
		q[i] = "`" + s + "`"
	}
	return strings.Join(q, ", ")
}

// TestArchitectureTable keeps the package table of docs/ARCHITECTURE.md
// true: one row per package of the module, and each row's imports column
// naming exactly the module's packages it imports. Each failure names the
// line and the cell to write, so whoever adds, removes or rewires a package
// can fix the table from the message alone.
func TestArchitectureTable(t *testing.T) {
	const doc = "docs/ARCHITECTURE.md"
	pkgs := listPackages(t)
	rows := readPackageTable(t, doc)
	if len(rows) == 0 {
		t.Fatalf("%s: no package table under ## Packages", doc)
	}
	seen := map[string]int{}
	for _, r := range rows {
		if prev, dup := seen[r.pkg]; dup {
			t.Errorf("%s:%d: `%s` has a row already at line %d; remove one", doc, r.line, r.pkg, prev)
			continue
		}
		seen[r.pkg] = r.line
		p, ok := pkgs[r.pkg]
		if !ok {
			t.Errorf("%s:%d: `%s` is not a package of the module (go list ./...); remove the row or fix the name", doc, r.line, r.pkg)
			continue
		}
		if r.holds == "" {
			t.Errorf("%s:%d: `%s`: the holds cell is empty; say what the package holds", doc, r.line, r.pkg)
		}
		var extra, missing []string
		for _, s := range r.imports {
			if !slices.Contains(p.Imports, s) {
				extra = append(extra, "`"+s+"`")
			}
		}
		for _, s := range p.Imports {
			if !slices.Contains(r.imports, s) {
				missing = append(missing, "`"+s+"`")
			}
		}
		if len(extra)+len(missing) > 0 {
			var why []string
			if len(extra) > 0 {
				why = append(why, "names "+strings.Join(extra, ", ")+", which it does not import")
			}
			if len(missing) > 0 {
				why = append(why, "omits "+strings.Join(missing, ", ")+", which it imports")
			}
			t.Errorf("%s:%d: row `%s`: the imports column %s.\n\tWrite its module packages as: %s\n\t(backticks are for the module's packages only; keep third-party modules as plain text)",
				doc, r.line, r.pkg, strings.Join(why, " and "), suggestedImports(p))
		}
	}
	var absent []string
	for path := range pkgs {
		if _, ok := seen[path]; !ok {
			absent = append(absent, path)
		}
	}
	sort.Strings(absent)
	for _, path := range absent {
		t.Errorf("%s: no row for package `%s`; add to the table under ## Packages:\n\t| `%s` | WHAT IT HOLDS | %s |",
			doc, path, path, suggestedImports(pkgs[path]))
	}
}

// TestWalls checks the layering docs/ARCHITECTURE.md promises under
// ## Walls, on every dependency, direct or not.
func TestWalls(t *testing.T) {
	pkgs := listPackages(t)
	under := func(path, root string) bool { return path == root || strings.HasPrefix(path, root+"/") }
	tests := []struct {
		name   string
		from   func(string) bool // the packages the wall applies to
		banned func(string) bool // what they must not depend on
	}{
		{"engine imports nothing of synthloop outside engine/",
			func(p string) bool { return under(p, "engine") },
			func(d string) bool { return !under(d, "engine") }},
		{"loop knows no lab: the lab plugs itself in",
			func(p string) bool { return under(p, "loop") },
			func(d string) bool { return under(d, "lab") }},
		{"lab imports loop only in lab/loopplug",
			func(p string) bool { return under(p, "lab") && !under(p, "lab/loopplug") },
			func(d string) bool { return under(d, "loop") }},
		{"only commands import all: registration never runs back up",
			func(p string) bool { return !under(p, "cmd") && p != "all" },
			func(d string) bool { return d == "all" }},
		{"report imports nothing of synthloop but the summary it renders",
			func(p string) bool { return p == "report" },
			func(d string) bool { return d != "summary" }},
		{"summary is a leaf on the standard library",
			func(p string) bool { return p == "summary" },
			func(d string) bool { return true }},
		{"internal/openaiwire is a leaf on the standard library",
			func(p string) bool { return p == "internal/openaiwire" },
			func(d string) bool { return true }},
		{"store knows no stage",
			func(p string) bool { return p == "store" },
			func(d string) bool { return under(d, "stage") }},
		{"backends know nothing of pipelines",
			func(p string) bool { return under(p, "model") },
			func(d string) bool { return under(d, "pipeline") || under(d, "stage") }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, p := range sortedKeys(pkgs) {
				if !tt.from(p) {
					continue
				}
				for _, d := range pkgs[p].Deps {
					if tt.banned(d) {
						t.Errorf("%s depends on %s", p, d)
					}
				}
			}
		})
	}
}

// registerCall matches a registration in a package's source: a stage type,
// a model provider, or a loop generator, trainer or evaluator.
var registerCall = regexp.MustCompile(`\b(pipeline\.Register|model\.RegisterProvider|loop\.Register(Generator|Trainer|Evaluator))\(`)

// TestAllRegistersEverything wants every package that registers something
// among the dependencies of package all, so that importing all is enough to
// load any pipeline or loop file.
func TestAllRegistersEverything(t *testing.T) {
	pkgs := listPackages(t)
	all := pkgs["all"]
	n := 0
	for _, p := range sortedKeys(pkgs) {
		if p == "all" || strings.HasPrefix(p, "cmd/") {
			continue
		}
		for _, f := range pkgs[p].GoFiles {
			b, err := os.ReadFile(filepath.Join(pkgs[p].Dir, f))
			if err != nil {
				t.Fatal(err)
			}
			if m := registerCall.Find(b); m != nil {
				n++
				if !slices.Contains(all.Deps, p) {
					t.Errorf("%s/%s calls %s): add _ %q to all/all.go", p, f, m, module+"/"+p)
				}
				break
			}
		}
	}
	if n == 0 {
		t.Fatal("found no package that registers anything; is the pattern stale?")
	}
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// TestSummarySchema keeps the summary.json tables of docs/CONTRACTS.md
// true to loop.Summary and loop.RoundSummary: the same keys, and "optional"
// in the type column exactly for the keys left out when empty.
func TestSummarySchema(t *testing.T) {
	const doc = "docs/CONTRACTS.md"
	tables := readKeyTables(t, doc)
	for _, tt := range []struct {
		heading string
		typ     reflect.Type
	}{
		{"### summary.json: the run", reflect.TypeFor[loop.Summary]()},
		{"### summary.json: a round", reflect.TypeFor[loop.RoundSummary]()},
	} {
		rows, ok := tables[tt.heading]
		if !ok {
			t.Errorf("%s: no table under %q", doc, tt.heading)
			continue
		}
		want := map[string]bool{} // key → optional
		var order []string
		for i := range tt.typ.NumField() {
			tag := tt.typ.Field(i).Tag.Get("json")
			name, opts, _ := strings.Cut(tag, ",")
			if name == "-" || !tt.typ.Field(i).IsExported() {
				continue
			}
			want[name] = strings.Contains(opts, "omitempty") || strings.Contains(opts, "omitzero")
			order = append(order, name)
		}
		seen := map[string]bool{}
		for _, r := range rows {
			seen[r.key] = true
			optional, ok := want[r.key]
			switch {
			case !ok:
				t.Errorf("%s:%d: `%s` is not a key of %s; remove the row or fix the name", doc, r.line, r.key, tt.typ)
			case optional && !r.optional:
				t.Errorf("%s:%d: `%s` is left out when empty (omitempty); write \"optional\" in its type cell", doc, r.line, r.key)
			case !optional && r.optional:
				t.Errorf("%s:%d: `%s` is always written; drop \"optional\" from its type cell", doc, r.line, r.key)
			}
		}
		for _, k := range order {
			if !seen[k] {
				t.Errorf("%s: the table under %q has no row for `%s` (a field of %s); add one", doc, tt.heading, k, tt.typ)
			}
		}
	}
}

type keyRow struct {
	line     int
	key      string
	optional bool
}

// readKeyTables reads the tables of `key | type | meaning` rows by the
// heading above them.
func readKeyTables(t *testing.T, path string) map[string][]keyRow {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", path))
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]keyRow{}
	heading := ""
	for i, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "#") {
			heading = line
			continue
		}
		if !strings.HasPrefix(line, "| `") {
			continue
		}
		cells := strings.Split(strings.Trim(line, "|"), "|")
		m := backticked.FindStringSubmatch(cells[0])
		if len(cells) != 3 || m == nil {
			t.Errorf("%s:%d: a key row has 3 cells (`key` | type | meaning): %s", path, i+1, line)
			continue
		}
		out[heading] = append(out[heading], keyRow{line: i + 1, key: m[1], optional: strings.Contains(cells[1], "optional")})
	}
	return out
}
