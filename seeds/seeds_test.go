package seeds

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode"
)

func TestBuiltinSets(t *testing.T) {
	for _, tc := range []struct {
		name     string
		min      int
		minClf   float64 // share of classification tasks
		japanese bool
	}{
		{"en", 100, 0.2, false},
		{"ja", 30, 0.2, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tasks, err := Load(tc.name)
			if err != nil {
				t.Fatal(err)
			}
			if len(tasks) < tc.min {
				t.Errorf("Load(%q) = %d tasks, want at least %d", tc.name, len(tasks), tc.min)
			}
			ids, instrs := map[string]bool{}, map[string]bool{}
			clf, noInput := 0, 0
			for _, task := range tasks {
				if ids[task.ID] {
					t.Errorf("duplicate id %q", task.ID)
				}
				ids[task.ID] = true
				if instrs[task.Instruction] {
					t.Errorf("duplicate instruction %q", task.Instruction)
				}
				instrs[task.Instruction] = true
				if task.Name == "" {
					t.Errorf("task %s has no name", task.ID)
				}
				if task.IsClassification {
					clf++
				}
				if task.Instances[0].Input == "" {
					noInput++
				}
				if tc.japanese && !hasJapanese(task.Instruction) {
					t.Errorf("task %s instruction %q is not Japanese", task.ID, task.Instruction)
				}
			}
			if share := float64(clf) / float64(len(tasks)); share < tc.minClf || share > 0.35 {
				t.Errorf("classification share = %.2f, want about 0.25", share)
			}
			if noInput < len(tasks)/10 {
				t.Errorf("only %d tasks without input, want many", noInput)
			}
		})
	}
}

func hasJapanese(s string) bool {
	for _, r := range s {
		if unicode.In(r, unicode.Hiragana, unicode.Katakana, unicode.Han) {
			return true
		}
	}
	return false
}

func TestParseErrors(t *testing.T) {
	ok := `{"id":"a","name":"n","instruction":"Do it.","instances":[{"input":"","output":"done"}],"is_classification":false}`
	for _, tc := range []struct {
		name, in, want string
	}{
		{"empty", "", "no tasks"},
		{"bad json", ok + "\n{\"id\":", "line 2: invalid JSON"},
		{"unknown field", `{"id":"a","instruction":"x","instances":[{"input":"","output":"o"}],"is_classification":false,"instrution":"y"}`, `line 1: field "instrution": unknown`},
		{"missing id", `{"instruction":"x","instances":[{"input":"","output":"o"}],"is_classification":false}`, `line 1: field "id": missing`},
		{"missing instruction", `{"id":"a","instances":[{"input":"","output":"o"}],"is_classification":false}`, `field "instruction": missing`},
		{"no instances", `{"id":"a","instruction":"x","instances":[],"is_classification":false}`, `field "instances"`},
		{"empty output", `{"id":"a","instruction":"x","instances":[{"input":"i","output":" "}],"is_classification":false}`, `field "instances[0].output"`},
		{"missing clf", `{"id":"a","instruction":"x","instances":[{"input":"","output":"o"}]}`, `field "is_classification": missing`},
		{"wrong type", `{"id":"a","instruction":"x","instances":[{"input":"","output":"o"}],"is_classification":"yes"}`, `field "is_classification": want bool`},
		{"duplicate id", ok + "\n\n" + ok, `line 3: field "id": duplicate id "a" (first on line 1)`},
		{"two values", ok + ok, "line 1: more than one JSON value"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse(strings.NewReader(tc.in))
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.HasPrefix(err.Error(), "seeds: ") {
				t.Errorf("Parse(%q) error = %v, want it to contain %q", tc.in, err, tc.want)
			}
		})
	}
}

func TestParseOK(t *testing.T) {
	in := `{"id":"t1","name":"n","instruction":"Sort the list.","instances":[{"input":"b, a","output":"a, b"}],"is_classification":false}

{"id":"t2","name":"m","instruction":"Is it even?","instances":[{"input":"2","output":"yes"}],"is_classification":true}
`
	tasks, err := Parse(strings.NewReader("\ufeff" + in))
	if err != nil {
		t.Fatal(err)
	}
	if len(tasks) != 2 || tasks[1].ID != "t2" || !tasks[1].IsClassification || tasks[0].Instances[0].Output != "a, b" {
		t.Errorf("Parse = %+v", tasks)
	}
}

func TestLoadPath(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "s.jsonl")
	line := `{"id":"x","name":"n","instruction":"Name a color.","instances":[{"input":"","output":"red"}],"is_classification":false}`
	if err := os.WriteFile(p, []byte(line+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	tasks, err := Load(p)
	if err != nil || len(tasks) != 1 {
		t.Fatalf("Load(%s) = %v, %v", p, tasks, err)
	}
	bad := filepath.Join(dir, "bad.jsonl")
	if err := os.WriteFile(bad, []byte(line+"\n{}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(bad); err == nil || !strings.Contains(err.Error(), bad+": line 2") {
		t.Errorf("Load(bad) error = %v, want path and line", err)
	}
	if _, err := Load(filepath.Join(dir, "missing.jsonl")); err == nil || !strings.Contains(err.Error(), "built-in sets: en, ja") {
		t.Errorf("Load(missing) error = %v", err)
	}
}

func FuzzParse(f *testing.F) {
	b, _ := builtin.ReadFile("en.jsonl")
	lines := strings.SplitN(string(b), "\n", 4)
	f.Add(strings.Join(lines[:3], "\n"))
	f.Add(`{"id":"a","instruction":"x","instances":[{"input":"","output":"o"}],"is_classification":false}`)
	f.Add("{}\n\n{")
	f.Fuzz(func(t *testing.T, in string) {
		tasks, err := Parse(strings.NewReader(in))
		if err != nil {
			if !strings.HasPrefix(err.Error(), "seeds: ") {
				t.Fatalf("error without package prefix: %v", err)
			}
			return
		}
		seen := map[string]bool{}
		for _, task := range tasks {
			if task.ID == "" || task.Instruction == "" || len(task.Instances) == 0 || seen[task.ID] {
				t.Fatalf("Parse accepted an invalid task: %s", fmt.Sprint(task))
			}
			seen[task.ID] = true
		}
	})
}

func ExampleLoad() {
	tasks, err := Load("en")
	if err != nil {
		panic(err)
	}
	fmt.Println(tasks[0].ID, tasks[0].IsClassification)
	// Output: seed_task_0 false
}
