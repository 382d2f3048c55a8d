package web

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/synthloop/synthloop/pipeline"
	"github.com/synthloop/synthloop/record"
	"github.com/synthloop/synthloop/review/insight"
	"github.com/synthloop/synthloop/store"
)

// insightRun writes stage "mixed" with n records in English and Japanese,
// judge scores 1 to 10, two filters rejecting, and, from record 5, xss as a
// filter name and as the language the data brought.
func insightRun(t testing.TB, n int) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "run")
	st, err := store.Open(context.Background(), dir)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	var recs []*record.Record
	for i := range n {
		r := &record.Record{ID: fmt.Sprintf("mixed:%04d", i), Seq: int64(i), Status: record.Kept,
			Instruction: "Explain" + strings.Repeat(" why the sky is blue", 1+i%7) + ".",
			Output:      fmt.Sprintf("Light scatters, %s case %d.", strings.Repeat("more so ", i%11), i%13),
			Scores:      map[string]float64{"judge": float64(1 + i%10)}}
		if i%4 == 1 {
			r.Instruction, r.Output = "空が青い理由を説明してください。", fmt.Sprintf("光が散乱するからです。例%d。", i%5)
		}
		switch {
		case i == 5:
			r.Status, r.Decisions, r.Meta = record.Rejected, []record.Decision{{Filter: xss, Reason: xss}}, map[string]any{"lang": xss}
		case i%5 == 0:
			r.Status, r.Decisions = record.Rejected, []record.Decision{{Filter: "rouge", Passed: false, Value: 0.8}}
		case i%7 == 0:
			r.Status, r.Decisions = record.Rejected, []record.Decision{{Filter: "rouge", Passed: true}, {Filter: "judge", Passed: false}}
		}
		recs = append(recs, r)
	}
	if err := st.Commit(context.Background(), pipeline.Unit{Stage: "mixed", Key: "u", Records: recs}); err != nil {
		t.Fatal(err)
	}
	return dir
}

func TestInsightEndpoint(t *testing.T) {
	a := newApp(t, insightRun(t, 200), Options{})
	w := a.do("GET", "/api/insight?stage=mixed&limit=50", nil, nil)
	if w.Code != 200 || w.Header().Get("Content-Type") != "application/json" {
		t.Fatalf("GET /api/insight: %d %s", w.Code, w.Body)
	}
	var rep insight.Report
	if err := json.Unmarshal(w.Body.Bytes(), &rep); err != nil {
		t.Fatal(err)
	}
	if rep.Stage != "mixed" || rep.Population != 200 || rep.Sampled != 50 || rep.Limit != 50 {
		t.Errorf("report of stage %q: population %d, sampled %d, limit %d; want mixed, 200, 50, 50", rep.Stage, rep.Population, rep.Sampled, rep.Limit)
	}
	if len(rep.Lengths) != 2 || rep.Lengths[0].N != 50 || len(rep.Scores) != 1 || rep.Scores[0].Name != "judge" {
		t.Errorf("histograms: lengths %+v, scores %+v", rep.Lengths, rep.Scores)
	}

	// Without a limit, every record of this small stage.
	w = a.do("GET", "/api/insight?stage=mixed", nil, nil)
	if body := w.Body.String(); strings.Contains(body, "<script") || !strings.Contains(body, `\u003cscript\u003e`) {
		t.Errorf("markup not escaped in %s", body)
	}
	json.Unmarshal(w.Body.Bytes(), &rep)
	if rep.Sampled != 200 || rep.Limit != insight.DefaultLimit {
		t.Errorf("default: sampled %d, limit %d", rep.Sampled, rep.Limit)
	}
	names := map[string]int{}
	for _, c := range rep.Rejections {
		names[c.Name] = c.N
	}
	if names["rouge"] != 39 || names[xss] != 1 || names["judge"] == 0 {
		t.Errorf("rejections %v", rep.Rejections)
	}

	for _, q := range []string{"limit=0", "limit=x", "limit=2000000"} {
		if w := a.do("GET", "/api/insight?stage=mixed&"+q, nil, nil); w.Code != 400 {
			t.Errorf("GET /api/insight?%s: %d, want 400", q, w.Code)
		}
	}
}
