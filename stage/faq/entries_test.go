package faq

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// brief renders entries as key|question|answer|error lines, for comparison.
func brief(es []Entry) string {
	var b strings.Builder
	for _, e := range es {
		fmt.Fprintf(&b, "%s|%s|%s|%s\n", e.Key, e.Question, e.Answer, e.Err)
	}
	return b.String()
}

func TestParseEntries(t *testing.T) {
	for _, tc := range []struct {
		name, format, in, want string
		keys                   Keys
	}{
		{"jsonl", "jsonl", "{\"id\": \"r\", \"question\": \"Q1?\", \"answer\": \"A1.\", \"category\": \"c\"}\n\n{\"question\": \"Q2?\", \"answer\": \"A2.\"}\nnot json\n{\"question\": \"Q4?\"}\n{\"id\": 7, \"question\": \" Q5? \", \"answer\": \"A5.\"}\n",
			"f#r|Q1?|A1.|\nf#3|Q2?|A2.|\nf#4|||line 4: not a JSON object: invalid character 'o' in literal null (expecting 'u')\nf#5|Q4?||line 5: no \"answer\" text\nf#7|Q5?|A5.|\n", Keys{}},
		{"json array", "jsonl", `[{"question": "Q1?", "answer": "A1."}, {"q": "x"}]`, "f#1|Q1?|A1.|\nf#2|||entry 2: no \"question\" text\n", Keys{}},
		{"custom keys", "jsonl", `{"key": "k", "prompt": "Q?", "response": "A."}`, "f#k|Q?|A.|\n", Keys{Question: "prompt", Answer: "response", ID: "key"}},
		{"yaml list", "yaml", "- id: a\n  question: Q1?\n  answer: A1.\n- question: Q2?\n  answer: |\n    A2 line one.\n    A2 line two.\n- just text\n",
			"f#a|Q1?|A1.|\nf#2|Q2?|A2 line one.\nA2 line two.|\nf#3|||entry 3: not a mapping\n", Keys{}},
		{"yaml mapping", "yaml", "faq:\n  - question: 返金は？\n    answer: 5営業日以内です。\n", "f#1|返金は？|5営業日以内です。|\n", Keys{}},
		{"csv", "csv", "id,question,answer,category\nr,\"How long, exactly?\",\"Five days.\",returns\n,Q2?,A2.,x\n", "f#r|How long, exactly?|Five days.|\nf#3|Q2?|A2.|\n", Keys{}},
		{"csv missing answer", "csv", "question,answer\nQ?,\n", "f#2|Q?||line 2: no \"answer\" text\n", Keys{}},
		{"csv bad quote", "csv", "question,answer\n\"Q?,A.\nQ2?,A2.\n", "", Keys{}},
		{"tsv", "tsv", "question\tanswer\nQ?\tA \"quoted\" answer.\n", "f#2|Q?|A \"quoted\" answer.|\n", Keys{}},
	} {
		es, err := ParseEntries("f", tc.format, []byte(tc.in), tc.keys)
		if err != nil {
			t.Errorf("%s: %v", tc.name, err)
			continue
		}
		if got := brief(es); tc.want != "" && got != tc.want {
			t.Errorf("%s:\n got %q\nwant %q", tc.name, got, tc.want)
		}
		if tc.name == "csv bad quote" && (len(es) == 0 || es[len(es)-1].Err == "") {
			t.Errorf("%s: a broken row was not reported: %q", tc.name, brief(es))
		}
	}
	es, _ := ParseEntries("f", "jsonl", []byte(`{"question": "Q?", "answer": "A.", "category": "returns", "url": "https://x"}`), Keys{})
	if es[0].Extra["category"] != "returns" || es[0].Extra["url"] != "https://x" {
		t.Errorf("extra fields: %v", es[0].Extra)
	}
	for _, in := range []string{"yaml: [", "42"} {
		if _, err := ParseEntries("f", "yaml", []byte(in), Keys{}); err == nil {
			t.Errorf("YAML %q: no error", in)
		}
	}
}

func TestFAQFiles(t *testing.T) {
	dir := t.TempDir()
	for _, f := range []string{"b.yaml", "a.jsonl", "sub/c.csv", "notes.md", ".hidden/d.jsonl"} {
		p := filepath.Join(dir, f)
		os.MkdirAll(filepath.Dir(p), 0o755)
		os.WriteFile(p, []byte("x"), 0o644)
	}
	got, err := FAQFiles([]string{dir})
	if err != nil || len(got) != 3 || filepath.Base(got[0]) != "a.jsonl" || filepath.Base(got[2]) != "c.csv" {
		t.Errorf("FAQFiles = %v, %v", got, err)
	}
	if _, err := FAQFiles([]string{filepath.Join(dir, "notes.md")}); err == nil || !strings.Contains(err.Error(), "unsupported") {
		t.Errorf("a .md file: %v", err)
	}
	if _, err := FAQFiles([]string{filepath.Join(dir, "none")}); err == nil {
		t.Error("a missing path gave no error")
	}
}

func FuzzParseEntries(f *testing.F) {
	f.Add("jsonl", "{\"question\": \"Q?\", \"answer\": \"A.\"}\n[1]\n")
	f.Add("yaml", "- question: Q?\n  answer: A.\n")
	f.Add("csv", "question,answer\n\"Q?\",A.\n")
	f.Add("tsv", "question\tanswer\nQ?\tA.\n")
	f.Fuzz(func(t *testing.T, format, in string) {
		es, err := ParseEntries("f", format, []byte(in), Keys{})
		if err != nil {
			return
		}
		for _, e := range es {
			if !strings.HasPrefix(e.Key, "f#") || e.Err == "" && (e.Question == "" || e.Answer == "") {
				t.Fatalf("ParseEntries(%s, %q): entry %+v", format, in, e)
			}
		}
	})
}
