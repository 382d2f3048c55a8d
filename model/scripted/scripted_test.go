package scripted

import (
	"context"
	"fmt"
	"reflect"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/synthloop/synthloop/model"
	"github.com/synthloop/synthloop/model/modeltest"
)

func f64(v float64) *float64 { return &v }

func bootstrapReq(header string, tasks []string) model.Request {
	var b strings.Builder
	b.WriteString(header + "\n")
	for i, t := range tasks {
		fmt.Fprintf(&b, "%d. %s\n", i+1, t)
	}
	fmt.Fprintf(&b, "%d.", len(tasks)+1)
	return model.Request{
		Messages:    []model.Message{{Role: "user", Content: b.String()}},
		Temperature: f64(0.7), TopP: f64(0.5), PresencePenalty: f64(2), MaxTokens: 1024,
		Stop: []string{"\n16.", "\n16 .", "16."},
	}
}

var enTasks = []string{
	"Write a haiku about a rainy morning.", "Classify the sentiment of the review.", "Explain inflation simply.",
	"Give three tips for better sleep.", "Sort the list alphabetically.", "Translate the sentence into French.",
	"Solve the word problem.", "Plan a one-day trip to Kyoto.",
}

func gen(t *testing.T, b model.Backend, req model.Request) *model.Response {
	t.Helper()
	resp, err := b.Generate(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

func TestDeterministic(t *testing.T) {
	req := bootstrapReq("Continue the list of tasks:", enTasks)
	a, b := New(1), New(1)
	want := gen(t, a, req)
	// Concurrent calls in any order give the same answers.
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			if got, _ := b.Generate(context.Background(), req); !reflect.DeepEqual(got, want) {
				t.Error("same request, different answer")
			}
		})
	}
	wg.Wait()
	if other := gen(t, New(2), req); reflect.DeepEqual(other.Choices, want.Choices) {
		t.Error("the seed does not change the answer")
	}
	req.N = 3
	three := gen(t, a, req)
	req.N = 1
	if len(three.Choices) != 3 || !reflect.DeepEqual(three.Choices[0], want.Choices[0]) || reflect.DeepEqual(three.Choices[1], three.Choices[0]) {
		t.Errorf("samples: sample 0 of n=3 must equal n=1 and differ from sample 1")
	}
}

var itemRe = regexp.MustCompile(`(?m)^(\d+)\. `)

func TestBootstrapReplies(t *testing.T) {
	b := New(3)
	var truncated, items, faulty, near int
	for i := range 200 {
		tasks := append([]string{fmt.Sprintf("Describe task number %d in detail.", i)}, enTasks[1:]...)
		resp := gen(t, b, bootstrapReq("Continue the list of tasks:", tasks))
		c := resp.Choices[0]
		if resp.Usage.PromptTokens == 0 || resp.Usage.CompletionTokens == 0 {
			t.Fatalf("no usage: %+v", resp.Usage)
		}
		if c.FinishReason == model.FinishLength {
			truncated++
			continue
		}
		for _, m := range itemRe.FindAllStringSubmatch(c.Text, -1) {
			if m[1] == "16" {
				t.Fatalf("item 16 present despite the stop: %q", c.Text)
			}
		}
		for _, line := range strings.Split(c.Text, "\n") {
			items++
			l := strings.ToLower(line)
			if strings.Contains(l, "write a program") || strings.Contains(l, "draw") || strings.Contains(l, "graph") || strings.Contains(l, "file") || len(strings.Fields(l)) <= 4 {
				faulty++
			}
			for _, s := range tasks {
				if strings.Contains(line, strings.TrimRight(s, ".")[1:]) {
					near++
				}
			}
		}
	}
	if truncated == 0 || truncated > 30 {
		t.Errorf("%d of 200 replies truncated, want a few", truncated)
	}
	if items < 200*5 || faulty == 0 || near == 0 {
		t.Errorf("%d items, %d faulty, %d near-copies: want many items and some of each fault", items, faulty, near)
	}
}

func TestJapaneseBootstrap(t *testing.T) {
	req := bootstrapReq("以下のタスク一覧に、新しいタスクを続けて書いてください:", []string{"次の文章を要約してください。", "俳句を一句詠んでください。"})
	c := gen(t, New(1), req).Choices[0]
	if !strings.ContainsAny(c.Text, "てをにはの") {
		t.Errorf("Japanese prompt, reply %q", c.Text)
	}
}

func TestLimits(t *testing.T) {
	req := bootstrapReq("Continue the list of tasks:", enTasks)
	req.MaxTokens = 10
	c := gen(t, New(1), req).Choices[0]
	if c.FinishReason != model.FinishLength || EstimateTokens(c.Text) > 10 {
		t.Errorf("max_tokens 10: %q %s", c.Text, c.FinishReason)
	}
	txt, fin := applyLimits("a b STOP c", model.FinishStop, model.Request{Stop: []string{"STOP"}})
	if txt != "a b " || fin != model.FinishStop {
		t.Errorf("stop: %q %s", txt, fin)
	}
}

func TestKindsAndReplies(t *testing.T) {
	b := New(5)
	clf := "Decide if tasks classify.\n\nTask: Sort the list.\nClassification: No\n\nTask: Classify the review as positive or negative.\nClassification:"
	gen1 := "Write examples.\n\nTask: Name a color.\nOutput: red\n\nTask: Summarize the following article in two sentences.\n"
	out1 := "Give labels.\n\nTask: Tell if spam.\nClass label: spam\nInput: Win now\n\nTask: Classify the given tweet as positive, negative, or neutral.\n"
	alp := "Invent tasks.\n###\n1. Instruction: Name a fruit.\n1. Input:\n<noinput>\n1. Output:\nApple\n###\n2. Instruction:"
	for _, tc := range []struct {
		prompt, kind string
		check        func(string) bool
	}{
		{clf, KindClassify, func(s string) bool { return strings.TrimSpace(s) == "Yes" }},
		{strings.Replace(clf, "Classify the review as positive or negative.", "Write a poem about rain.", 1), KindClassify, func(s string) bool { return strings.TrimSpace(s) == "No" }},
		{gen1, KindGenerateInstances, func(s string) bool { return strings.Contains(s, "Output:") }},
		{out1, KindClassInstances, func(s string) bool { return strings.HasPrefix(s, "Class label: ") }},
		{alp, KindAlpaca, func(s string) bool {
			return strings.Contains(s, "###\n3. Instruction:") && strings.Contains(s, "2. Output:")
		}},
		{"hello there", KindOther, func(s string) bool { return s != "" }},
	} {
		msgs := []model.Message{{Role: "user", Content: tc.prompt}}
		if k := Kind(msgs); k != tc.kind {
			t.Errorf("Kind(%.30q) = %s, want %s", tc.prompt, k, tc.kind)
		}
		req := model.Request{Messages: msgs, MaxTokens: 2000, Stop: []string{"\n20", "20."}}
		if c := gen(t, b, req).Choices[0]; !tc.check(c.Text) {
			t.Errorf("%s reply %q does not have the expected shape", tc.kind, c.Text)
		}
	}
}

func TestLabelsFor(t *testing.T) {
	for _, tc := range []struct {
		task string
		want []string
	}{
		{"Classify the given tweet as positive, negative, or neutral.", []string{"positive", "negative", "neutral"}},
		{"Decide whether the email is urgent or not urgent.", []string{"urgent", "not urgent"}},
		{"Write a poem.", []string{"Yes", "No"}},
		{"Classify the given email as fact or opinion using exactly three bullet points.", []string{"fact", "opinion"}},
	} {
		if got := labelsFor(tc.task, false); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("labelsFor(%q) = %q, want %q", tc.task, got, tc.want)
		}
	}
	if got := labelsFor("与えられたツイートを「肯定的」「否定的」のいずれかに分類してください。", true); !reflect.DeepEqual(got, []string{"肯定的", "否定的"}) {
		t.Errorf("ja labels = %q", got)
	}
}

func TestResponder(t *testing.T) {
	b := New(9)
	req := bootstrapReq("Continue the list of tasks:", enTasks)
	rep := b.Responder()(&modeltest.Request{Messages: req.Messages, N: 1, Temperature: req.Temperature, TopP: req.TopP,
		PresencePenalty: req.PresencePenalty, MaxTokens: req.MaxTokens, Stop: req.Stop})
	want := gen(t, b, req)
	if len(rep.Choices) != 1 || rep.Choices[0].Text != want.Choices[0].Text || rep.Usage.PromptTokens != want.Usage.PromptTokens {
		t.Errorf("Responder differs from Generate: %+v", rep)
	}
}

func ExampleBackend() {
	b := New(1)
	resp, _ := b.Generate(context.Background(), model.Request{
		Messages:  []model.Message{{Role: "user", Content: "Is it a classification task?\n\nTask: Decide whether the number is even or odd.\nClassification:"}},
		MaxTokens: 3,
	})
	fmt.Println(strings.TrimSpace(resp.Choices[0].Text))
	// Output: Yes
}

func TestSubjectOf(t *testing.T) {
	for _, tc := range []struct{ task, want string }{
		{"Turn the notes on the printing press into a checklist for investors.", "the printing press"},
		{"Write a letter to the editor about time zones.", "time zones"},
		{"Give 5 practical tips.", "this task"},
	} {
		if got := subjectOf(tc.task, false); got != tc.want {
			t.Errorf("subjectOf(%q) = %q, want %q", tc.task, got, tc.want)
		}
	}
	if got := subjectOf("学校だよりに載せるために、複利について説明してください。", true); got != "複利" {
		t.Errorf("ja subject = %q", got)
	}
}

// FuzzGenerate feeds arbitrary prompts and limits: the teacher must never
// panic, must honour max_tokens, and must answer the same way twice.
func FuzzGenerate(f *testing.F) {
	f.Add("Continue:\n1. A task.\n9.", 1024, "\n16.")
	f.Add("x\n###\n1. Instruction: a\n1. Input:\n<noinput>\n1. Output:\nb\n###\n2. Instruction:", 50, "\n20")
	f.Add("Task: x\nClass label: y\nTask: z", 5, "Task:")
	f.Add("Task: a\nClassification:", 3, "Task")
	f.Fuzz(func(t *testing.T, prompt string, maxTokens int, stop string) {
		req := model.Request{Messages: []model.Message{{Role: "user", Content: prompt}}, MaxTokens: maxTokens % 5000, Stop: []string{stop}}
		b := New(1)
		a, err := b.Generate(context.Background(), req)
		if err != nil {
			t.Fatal(err)
		}
		again, _ := b.Generate(context.Background(), req)
		if !reflect.DeepEqual(a, again) {
			t.Fatal("not deterministic")
		}
		if req.MaxTokens > 0 && EstimateTokens(a.Choices[0].Text) > req.MaxTokens {
			t.Fatalf("%d tokens over max_tokens %d", EstimateTokens(a.Choices[0].Text), req.MaxTokens)
		}
	})
}
