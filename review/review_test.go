package review

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/synthloop/synthloop/pipeline"
	"github.com/synthloop/synthloop/record"
	"github.com/synthloop/synthloop/store"
)

// newRun commits stage "s" with n records: every fifth rejected by "judge",
// every seventh (not fifth) by "rouge", the rest kept.
func newRun(t *testing.T, n int) *store.Store {
	t.Helper()
	st, err := store.Open(context.Background(), filepath.Join(t.TempDir(), "run"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	var recs []*record.Record
	for i := range n {
		r := &record.Record{ID: fmt.Sprintf("s:%04d", i), Seq: int64(i), Status: record.Kept, Instruction: "q", Output: fmt.Sprint("answer ", i)}
		switch {
		case i%5 == 0:
			r.Status, r.Decisions = record.Rejected, []record.Decision{{Filter: "judge", Reason: "low"}}
		case i%7 == 0:
			r.Status, r.Decisions = record.Rejected, []record.Decision{{Filter: "rouge", Reason: "similar"}}
		}
		recs = append(recs, r)
	}
	if err := st.Commit(context.Background(), pipeline.Unit{Stage: "s", Key: "u", Records: recs}); err != nil {
		t.Fatal(err)
	}
	return st
}

func decide(t *testing.T, st *store.Store, id, who string, kind store.ReviewKind, reason string, edits map[string]string) {
	t.Helper()
	if _, err := st.AddReview(context.Background(), store.Review{RecordID: id, Reviewer: who, Kind: kind, Reason: reason, Edits: edits}); err != nil {
		t.Fatal(err)
	}
}

func TestApply(t *testing.T) {
	ctx := context.Background()
	st := newRun(t, 10)
	decide(t, st, "s:0001", "ann", store.Accept, "", nil)
	decide(t, st, "s:0001", "bob", store.Reject, "hallucination", nil)
	decide(t, st, "s:0002", "ann", store.Edit, "", map[string]string{"output": "fixed", "bogus": "x"})
	decide(t, st, "s:0003", "ann", store.Reject, "wrong", nil)
	if _, err := st.Undo(ctx, "s:0003", "ann"); err != nil {
		t.Fatal(err)
	}
	decide(t, st, "s:0004", "ann", store.Comment, "", nil)
	decide(t, st, "s:0005", "ann", store.Accept, "", nil) // rejected by the judge: stays rejected

	got := map[string]*record.Record{}
	for r, err := range (Reviewed{Run: st}).Records(ctx, "s", "") {
		if err != nil {
			t.Fatal(err)
		}
		got[r.ID] = r
	}
	tests := []struct {
		id     string
		status record.Status
		output string
		human  string // the reason of the human decision, "" for none
	}{
		{"s:0001", record.Rejected, "answer 1", "reject by bob: hallucination"},
		{"s:0002", record.Kept, "fixed", "edit by ann"},
		{"s:0003", record.Kept, "answer 3", ""},
		{"s:0004", record.Kept, "answer 4", ""},
		{"s:0005", record.Rejected, "answer 5", "accept by ann"},
	}
	for _, tt := range tests {
		r := got[tt.id]
		var human string
		for _, d := range r.Decisions {
			if d.Filter == HumanFilter {
				human = d.Reason
			}
		}
		if r.Status != tt.status || r.Output != tt.output || human != tt.human {
			t.Errorf("%s: status %s, output %q, human %q; want %s, %q, %q", tt.id, r.Status, r.Output, human, tt.status, tt.output, tt.human)
		}
	}
	edit, _ := got["s:0002"].Meta["human_edit"].(map[string]any)
	if orig, _ := edit["original"].(map[string]string); orig["output"] != "answer 2" || edit["reviewer"] != "ann" {
		t.Errorf("human_edit = %v", got["s:0002"].Meta["human_edit"])
	}
	var kept int
	for range (Reviewed{Run: st}).Records(ctx, "s", record.Kept) {
		kept++
	}
	if want := 10 - 2 - 1 - 1; kept != want { // 0 and 5 by the judge, 7 by rouge, 1 by bob
		t.Errorf("%d kept after review, want %d", kept, want)
	}
}

func TestWilson(t *testing.T) {
	tests := []struct {
		k, n, pop int
		lo, hi    float64
	}{
		{273, 300, 1_000_000, 0.872, 0.937}, // 91%: about ± 3%
		{0, 20, 1_000_000, 0, 0.161},
		{5, 10, 10, 0.5, 0.5}, // the whole population: no uncertainty
	}
	for _, tt := range tests {
		lo, hi := wilson(tt.k, tt.n, tt.pop)
		if math.Abs(lo-tt.lo) > 0.001 || math.Abs(hi-tt.hi) > 0.001 {
			t.Errorf("wilson(%d, %d, %d) = %.3f, %.3f; want %.3f, %.3f", tt.k, tt.n, tt.pop, lo, hi, tt.lo, tt.hi)
		}
	}
	// A small population narrows the interval.
	lo1, hi1 := wilson(45, 50, 1_000_000)
	lo2, hi2 := wilson(45, 50, 60)
	if hi2-lo2 >= hi1-lo1 {
		t.Errorf("no finite population correction: %.3f..%.3f vs %.3f..%.3f", lo2, hi2, lo1, hi1)
	}
}

func TestKappa(t *testing.T) {
	m := func(s string) map[string]bool {
		out := map[string]bool{}
		for i, c := range s {
			out[fmt.Sprint(i)] = c == 'y'
		}
		return out
	}
	tests := []struct {
		a, b  string
		kappa float64
	}{
		{"yyyynnnn", "yyyynnnn", 1},
		{"yyyynnnn", "nnnnyyyy", -1},
		{"yynn", "ynyn", 0},
		// The classic table: 20 yes-yes, 5 yes-no, 10 no-yes, 15 no-no: kappa 0.4.
		{"yyyyyyyyyyyyyyyyyyyyyyyyynnnnnnnnnnnnnnnnnnnnnnnnn", "yyyyyyyyyyyyyyyyyyyynnnnnyyyyyyyyyynnnnnnnnnnnnnnn", 0.4},
	}
	for _, tt := range tests {
		got, ok := kappa(m(tt.a), m(tt.b))
		if !ok || math.Abs(got.Kappa-tt.kappa) > 1e-9 {
			t.Errorf("kappa(%s, %s) = %v, want %v", tt.a, tt.b, got.Kappa, tt.kappa)
		}
	}
	if got, _ := kappa(m("yyy"), m("yyy")); !math.IsNaN(got.Kappa) || got.Observed != 1 {
		t.Errorf("kappa of raters who only ever said yes = %+v, want NaN with full agreement", got)
	}
}

func TestDrawAndMeasure(t *testing.T) {
	ctx := context.Background()
	st := newRun(t, 200)
	p, err := Draw(ctx, st, "s", 20, 5, 7)
	if err != nil {
		t.Fatal(err)
	}
	want := []Stratum{{"kept", 137, 20}, {"rejected: judge", 40, 5}, {"rejected: rouge", 23, 5}}
	if !slices.Equal(p.Strata, want) {
		t.Fatalf("strata %+v, want %+v", p.Strata, want)
	}
	ids, _ := st.Sample(ctx, "s")
	if len(ids) != 30 {
		t.Fatalf("%d sampled", len(ids))
	}
	// The same seed draws the same sample.
	if _, err := Draw(ctx, st, "s", 20, 5, 7); err != nil {
		t.Fatal(err)
	}
	if again, _ := st.Sample(ctx, "s"); !slices.Equal(again, ids) {
		t.Error("a second draw with the same seed differs")
	}
	// Review the kept ones: all acceptable but two edited and one rejected.
	var n int
	for _, id := range ids {
		r, _ := st.Record(ctx, id)
		if r.Status != record.Kept {
			decide(t, st, id, "ann", store.Accept, "", nil)
			continue
		}
		switch n++; n {
		case 1, 2:
			decide(t, st, id, "ann", store.Edit, "", map[string]string{"output": "x"})
		case 3:
			decide(t, st, id, "ann", store.Reject, "wrong", nil)
		default:
			decide(t, st, id, "ann", store.Accept, "", nil)
		}
	}
	est, err := Measure(ctx, st, "s")
	if err != nil {
		t.Fatal(err)
	}
	k := est[0]
	if k.Stratum != "kept" || k.Reviewed != 20 || k.Acceptable != 17 || k.Edited != 2 || k.Rejected != 1 || k.Share != 0.85 {
		t.Fatalf("kept estimate %+v", k)
	}
	if !(k.Low < 0.85 && k.High > 0.85 && k.High-k.Low < 0.35) {
		t.Errorf("interval %.3f..%.3f", k.Low, k.High)
	}
	if s := k.String(); s != "kept: 85% (95% CI 66–94%) of 137 records acceptable, n = 20 reviewed of 20 sampled (2 edited, 1 rejected)" {
		t.Errorf("String() = %q", s)
	}
}

func TestAgreements(t *testing.T) {
	ctx := context.Background()
	st := newRun(t, 20)
	// ann keeps everything she sees; bob rejects what the pipeline rejected.
	for i := 1; i < 11; i++ {
		id := fmt.Sprintf("s:%04d", i)
		decide(t, st, id, "ann", store.Accept, "", nil)
		r, _ := st.Record(ctx, id)
		if r.Status == record.Kept {
			decide(t, st, id, "bob", store.Accept, "", nil)
		} else {
			decide(t, st, id, "bob", store.Reject, "bad", nil)
		}
	}
	ags, err := Agreements(ctx, st, "s", st.Record)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]Agreement{}
	for _, a := range ags {
		got[a.A+"/"+a.B] = a
	}
	if a := got["bob/pipeline"]; a.N != 10 || a.Kappa != 1 {
		t.Errorf("bob vs pipeline %+v, want full agreement", a)
	}
	if a := got["ann/bob"]; a.N != 10 || a.Kappa != 0 || a.Observed != 0.7 {
		t.Errorf("ann vs bob %+v", a)
	}
}

func TestEstimateString(t *testing.T) {
	e := Estimate{Stratum: "kept", Population: 12400, Drawn: 300, Reviewed: 300, Acceptable: 273, Share: 0.91}
	e.Low, e.High = wilson(273, 300, 12400)
	if got, want := e.String(), "kept: 91% ± 3% of 12400 records acceptable, n = 300 reviewed of 300 sampled (0 edited, 0 rejected)"; got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
}

func TestPreference(t *testing.T) {
	ctx := context.Background()
	st, err := store.Open(ctx, filepath.Join(t.TempDir(), "run"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	var recs []*record.Record
	for i := range 4 {
		recs = append(recs, &record.Record{ID: fmt.Sprintf("p:%d", i), Seq: int64(i), Status: record.Kept, Instruction: "q", Chosen: "good", Rejected: "bad"})
	}
	if err := st.Commit(ctx, pipeline.Unit{Stage: "p", Key: "u", Records: recs}); err != nil {
		t.Fatal(err)
	}
	prefer := func(id, who, side string) { t.Helper(); decide(t, st, id, who, store.Prefer, side, nil) }
	prefer("p:0", "ann", "chosen")
	prefer("p:1", "ann", "rejected")
	prefer("p:1", "bob", "rejected")
	prefer("p:2", "ann", "chosen")
	prefer("p:2", "bob", "rejected") // split: a tie
	prefer("p:3", "ann", "tie")
	decide(t, st, "p:3", "ann", store.Accept, "", nil) // a verdict stands beside the preference
	if _, err := st.AddReview(ctx, store.Review{RecordID: "p:0", Reviewer: "ann", Kind: store.Prefer, Reason: "a"}); err == nil {
		t.Error("a preference of \"a\" was accepted")
	}
	got := map[string]*record.Record{}
	for r, err := range (Reviewed{Run: st}).Records(ctx, "p", "") {
		if err != nil {
			t.Fatal(err)
		}
		got[r.ID] = r
	}
	tests := []struct {
		id             string
		status         record.Status
		chosen, reason string
	}{
		{"p:0", record.Kept, "good", "preferred chosen (ann: chosen)"},
		{"p:1", record.Kept, "bad", "preferred rejected (ann: rejected, bob: rejected)"},
		{"p:2", record.Rejected, "good", "preferred tie (ann: chosen, bob: rejected)"},
		{"p:3", record.Rejected, "good", "preferred tie (ann: tie)"},
	}
	for _, tt := range tests {
		r := got[tt.id]
		var reason string
		for _, d := range r.Decisions {
			if d.Filter == HumanPairFilter {
				reason = d.Reason
			}
		}
		if r.Status != tt.status || r.Chosen != tt.chosen || reason != tt.reason {
			t.Errorf("%s: %s, chosen %q, %q; want %s, %q, %q", tt.id, r.Status, r.Chosen, reason, tt.status, tt.chosen, tt.reason)
		}
	}
	p, _, _, err := Summarize(ctx, st, "p")
	if err != nil {
		t.Fatal(err)
	}
	if l := p.PairLine(); l != "pairs: 4 compared, the pipeline's chosen answer preferred in 1 (50% of those not tied), 2 tied" || p.Reviewed != 1 {
		t.Errorf("progress %+v: %q", p, l)
	}
}

func TestLabelStudio(t *testing.T) {
	ctx := context.Background()
	st := newRun(t, 6)
	var tasks bytes.Buffer
	n, err := ExportTasks(ctx, st, "s", &tasks) // no sample: the kept records 1 to 4
	if err != nil || n != 4 {
		t.Fatalf("exported %d tasks, %v", n, err)
	}
	var got []lsTask
	if err := json.Unmarshal(tasks.Bytes(), &got); err != nil || len(got) != n || got[0].Data.RecordID != "s:0001" || got[0].Data.Output != "answer 1" {
		t.Fatalf("tasks %s: %v", tasks.String(), err)
	}
	// What Label Studio exports once annotators have worked on the tasks.
	export := `[
	 {"id": 7, "data": {"record_id": "s:0001", "output": "answer 1"}, "annotations": [
	  {"completed_by": 3, "result": [{"from_name": "verdict", "to_name": "output", "type": "choices", "value": {"choices": ["reject"]}},
	                                 {"from_name": "reason", "to_name": "output", "type": "choices", "value": {"choices": ["hallucination"]}}]},
	  {"completed_by": {"id": 4, "email": "bo@example.com"}, "result": [{"from_name": "verdict", "type": "choices", "value": {"choices": ["accept"]}}]},
	  {"completed_by": 5, "was_cancelled": true, "result": []}]},
	 {"id": 8, "data": {"record_id": "s:0002", "output": "answer 2"}, "annotations": [
	  {"completed_by": 3, "result": [{"from_name": "verdict", "type": "choices", "value": {"choices": ["accept"]}},
	                                 {"from_name": "edit", "type": "textarea", "value": {"text": ["answer two"]}}]},
	  {"completed_by": 4, "result": [{"from_name": "verdict", "type": "choices", "value": {"choices": ["reject"]}}]}]},
	 {"id": 9, "data": {"record_id": "s:0003", "output": "answer 3"}, "annotations": [
	  {"completed_by": 3, "result": [{"from_name": "edit", "type": "textarea", "value": {"text": ["answer 3"]}}]}]}
	]`
	n, err = ImportAnnotations(ctx, st, strings.NewReader(export))
	if err != nil || n != 4 {
		t.Fatalf("imported %d, %v; want 4", n, err)
	}
	d, err := Load(ctx, st, "s")
	if err != nil {
		t.Fatal(err)
	}
	want := map[string][]string{
		"s:0001": {"labelstudio:3 reject hallucination", "labelstudio:bo@example.com accept "},
		"s:0002": {"labelstudio:3 edit ", "labelstudio:4 reject other"},
	}
	for id, w := range want {
		var gotV []string
		for _, v := range d.ByRecord[id] {
			gotV = append(gotV, v.Reviewer+" "+string(v.Kind)+" "+v.Reason)
		}
		slices.Sort(gotV)
		if !slices.Equal(gotV, w) {
			t.Errorf("%s: %q, want %q", id, gotV, w)
		}
	}
	if len(d.ByRecord["s:0003"]) != 0 {
		t.Errorf("an edit box left as it was made a decision: %+v", d.ByRecord["s:0003"])
	}
	for _, bad := range []string{`{}`, `[{"data": {}}]`, `[{"data": {"record_id": "s:0001"}, "annotations": [{"result": [{"from_name": "verdict", "value": {"choices": ["maybe"]}}]}]}]`} {
		if _, err := ParseAnnotations(strings.NewReader(bad)); err == nil {
			t.Errorf("ParseAnnotations(%s) accepted", bad)
		}
	}
	if _, err := ImportAnnotations(ctx, st, strings.NewReader(`[{"data": {"record_id": "nope"}, "annotations": [{"result": [{"from_name": "verdict", "value": {"choices": ["accept"]}}]}]}]`)); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("a task of another run: %v", err)
	}
	if !strings.Contains(LabelStudioConfig, `<Choice value="wrong answer"/>`) {
		t.Error("the labeling config lacks the reason tags")
	}
}

func FuzzParseAnnotations(f *testing.F) {
	f.Add(`[{"data": {"record_id": "a", "output": "x"}, "annotations": [{"completed_by": 1, "result": [{"from_name": "verdict", "value": {"choices": ["accept"]}}, {"from_name": "edit", "value": {"text": ["y"]}}]}]}]`)
	f.Add(`[{"data": {"record_id": "a"}, "annotations": [{"completed_by": {"email": "e"}, "result": [{"from_name": "verdict", "value": {"choices": ["reject"]}}]}]}]`)
	f.Add(`[]`)
	f.Fuzz(func(t *testing.T, s string) {
		ds, err := ParseAnnotations(strings.NewReader(s))
		if err != nil {
			return
		}
		for _, d := range ds {
			ok := d.RecordID != "" && strings.HasPrefix(d.Reviewer, "labelstudio:") &&
				(d.Kind == store.Accept && d.Edits == nil || d.Kind == store.Reject && d.Reason != "" && d.Edits == nil || d.Kind == store.Edit && len(d.Edits) == 1)
			if !ok {
				t.Fatalf("%q gave decision %+v", s, d)
			}
		}
	})
}

// TestCandidatePairs: reviewers' choices between a reject record's
// candidates become preference pairs in the reviewed view, by majority per
// pair of candidates; a tie or an even split makes none, and the choices
// leave the record's own verdicts and pair alone.
func TestCandidatePairs(t *testing.T) {
	ctx := context.Background()
	st, err := store.Open(ctx, filepath.Join(t.TempDir(), "run"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	cands := []record.Candidate{{Text: "c0", Scores: map[string]float64{"judge": 4}}, {Text: "c1", Scores: map[string]float64{"judge": 5}},
		{Text: "c2"}, {Text: "c3"}}
	r := &record.Record{ID: "rej:q1", Status: record.Kept, Instruction: "q", Input: "in", Output: "c1", Candidates: cands,
		Prov: record.Provenance{Generator: "reject", Model: "teacher"}}
	if err := st.Commit(ctx, pipeline.Unit{Stage: "rej", Key: "u", Records: []*record.Record{r}}); err != nil {
		t.Fatal(err)
	}
	prefer := func(who, reason string) { t.Helper(); decide(t, st, "rej:q1", who, store.Prefer, reason, nil) }
	prefer("ann", "1>0")
	prefer("ann", "0>1") // ann changes her mind on the same pair: the latest stands
	prefer("bob", "0>1")
	prefer("ann", "2>3")
	prefer("bob", "3>2") // split evenly: no pair
	prefer("ann", "1=2") // a tie: no pair
	prefer("ann", "3>1")
	decide(t, st, "rej:q1", "ann", store.Accept, "", nil)

	var got []*record.Record
	for r, err := range (Reviewed{Run: st, HumanPairs: true}).Records(ctx, "rej", record.Kept) {
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, r)
	}
	if len(got) != 3 || got[0].ID != "rej:q1" || got[0].Chosen != "" {
		t.Fatalf("records %v", got)
	}
	want := []struct{ id, chosen, rejected, reason string }{
		{"rej:q1:human-pair:0>1", "c0", "c1", "candidate 0 preferred to 1 (ann: 0>1, bob: 0>1)"},
		{"rej:q1:human-pair:3>1", "c3", "c1", "candidate 3 preferred to 1 (ann: 3>1)"},
	}
	for i, w := range want {
		p := got[i+1]
		if p.ID != w.id || p.Chosen != w.chosen || p.Rejected != w.rejected || p.Instruction != "q" || p.Input != "in" || p.Status != record.Kept ||
			len(p.Decisions) != 1 || p.Decisions[0].Reason != w.reason || p.Prov.Generator != HumanPairGenerator || p.Prov.ParentIDs[0] != "rej:q1" {
			t.Errorf("pair %d: %+v, want %+v", i, p, w)
		}
	}
	if s := got[1].Scores; s["chosen"] != 4 || s["rejected"] != 5 {
		t.Errorf("pair scores %v, want the judge's 4 and 5", s)
	}
	for r, err := range (Reviewed{Run: st}).Records(ctx, "rej", "") {
		if err != nil || r.ID != "rej:q1" {
			t.Errorf("without HumanPairs: %v, %v", r, err)
		}
	}
	p, _, _, err := Summarize(ctx, st, "rej")
	if err != nil {
		t.Fatal(err)
	}
	if l := p.PairLine(); l != "candidates: 4 pairs compared, 2 preference pairs made" || p.Pairs != 0 {
		t.Errorf("progress %+v: %q", p, l)
	}
}
