package web

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/synthloop/synthloop/record"
	"github.com/synthloop/synthloop/review"
	"github.com/synthloop/synthloop/review/insight"
	"github.com/synthloop/synthloop/store"
)

// englishAsks open the English instructions of insightRun, in turn.
var englishAsks = []string{"Explain why the sky is blue", "Write a poem", "Write a story", "Write an essay", "Give an example",
	"Describe the colour", "List three reasons", "Summarize an article", "Tell me a joke"}

// insightRun writes stage "mixed" with n records in English and Japanese,
// judge scores 1 to 10, two filters rejecting, and, from record 5, xss as a
// filter name and as the language the data brought.
func insightRun(t testing.TB, n int) string {
	t.Helper()
	var recs []*record.Record
	for i := range n {
		r := &record.Record{ID: fmt.Sprintf("mixed:%04d", i), Seq: int64(i), Status: record.Kept,
			Instruction: englishAsks[i%len(englishAsks)] + strings.Repeat(" about the sky", i%7) + ".",
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
	return commitRun(t, "mixed", recs)
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

// TestBrowserInsight opens the Insight page of a mixed stage: every chart
// is drawn as SVG with its table, and the markup a filter name and a
// language carry shows as text without running.
func TestBrowserInsight(t *testing.T) {
	a := newApp(t, insightRun(t, 300), Options{})
	srv := httptest.NewServer(a.srv)
	t.Cleanup(srv.Close)
	ctx := tab(t)
	charts := `document.querySelectorAll("#insight figure.chart").length`
	err := chromedp.Do(ctx,
		chromedp.Navigate(srv.URL+"/#insight"),
		void(chromedp.Poll[bool](charts+` === 10`, chromedp.WithPollingTimeout(10*time.Second))),
		chromedp.WaitNotVisible(chromedp.ID("queue-page")),
		chromedp.Sleep(300*time.Millisecond), // an onerror would have fired by now
		screenshot(t, "insight"),
	)
	if err != nil {
		t.Fatal(err)
	}
	if n := run(t, ctx, chromedp.Evaluate[int](`document.querySelectorAll("#insight svg rect.bar").length`)); n < 20 {
		t.Errorf("%d bars drawn", n)
	}
	about := run(t, ctx, chromedp.Text(chromedp.ID("insight-about")))
	if !strings.Contains(about, "computed over 300 of its 300 records") {
		t.Errorf("the page says %q", about)
	}
	// The numbers are also a table: the judge score 10 bar and row.
	if got := run(t, ctx, chromedp.Evaluate[string](`[...document.querySelectorAll('figure[data-chart="score: judge"] tr')].map(r => r.textContent).join("|")`)); !strings.HasSuffix(got, "|1030") {
		t.Errorf("judge score table rows %q, want 30 records scoring 10", got)
	}
	for _, chart := range []string{"rejected by (first failing filter)", "language"} {
		rows := run(t, ctx, chromedp.Evaluate[[]string](fmt.Sprintf(`[...document.querySelectorAll('figure[data-chart=%q] td:first-child')].map(c => c.textContent)`, chart)))
		if !slices.Contains(rows, xss) {
			t.Errorf("%s rows %q, want the markup as text among them", chart, rows)
		}
	}
	// Record 1 of every 4 asks in Japanese: 説明する, with 理由 as its object;
	// the others in English: write about three times as often as the other verbs.
	for lang, want := range map[string]string{"ja": "説明する\t75\t理由 75", "en": "write\t76\tstory 26, essay 25, poem 25\nexplain\t25\t(none) 25"} {
		if got := run(t, ctx, chromedp.Text(chromedp.CSS(`table.objects[data-lang="`+lang+`"]`))); !strings.Contains(got, want) {
			t.Errorf("%s verb table %q, want %q", lang, got, want)
		}
	}
	// The sunburst: a sector per verb, and per object in the outer ring.
	if got := run(t, ctx, chromedp.Evaluate[[]string](`[...document.querySelectorAll("#insight path.verb title, #insight path.object title")].map(e => e.textContent)`)); len(got) != 7+8+2 ||
		got[0] != "write: 76" || got[1] != "write story: 26" || !slices.Contains(got, "説明する 理由: 75") {
		t.Errorf("sunburst sectors %q", got)
	}
	// Near duplicates: the kept Japanese prompts are one text (52 records),
	// the English ones repeat (9 openings, 7 lengths); the largest first, and its last member link opens the record
	// in the queue, where a can accept it.
	sizes := run(t, ctx, chromedp.Evaluate[[]string](`[...document.querySelectorAll("table.clusters tr td:first-child")].map(c => c.textContent)`))
	if len(sizes) != 19 || sizes[0] != "52" || sizes[1] != "16" || sizes[18] != "2" {
		t.Errorf("cluster sizes %q, want 19 clusters, 52 records first", sizes)
	}
	last := `document.querySelector("table.clusters td.members a:last-of-type")`
	id := run(t, ctx, chromedp.Evaluate[string](last+`.textContent`))
	if err := chromedp.Do(ctx, chromedp.Click(chromedp.CSS("table.clusters td.members a:last-of-type")),
		chromedp.WaitVisible(chromedp.ID("queue-page")), waitCur(id), key("a"), waitMine("you: accept")); err != nil {
		t.Fatalf("open %s from its cluster and accept it: %v", id, err)
	}
	d, err := review.Load(context.Background(), a.st, "mixed")
	if err != nil {
		t.Fatal(err)
	}
	if vs := d.ByRecord[id]; len(vs) != 1 || vs[0].Kind != store.Accept {
		t.Errorf("verdicts on %s: %+v, want ann's accept", id, vs)
	}
	if run(t, ctx, chromedp.Evaluate[bool](`window.__pwned !== undefined`)) {
		t.Error("script from a record ran: window.__pwned is set")
	}
	if n := run(t, ctx, chromedp.Evaluate[int](`document.querySelectorAll("#insight img, #insight script").length`)); n != 0 {
		t.Errorf("%d elements from the data's markup in the page", n)
	}
}
