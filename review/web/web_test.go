package web

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/synthloop/synthloop/judge"
	"github.com/synthloop/synthloop/pipeline"
	"github.com/synthloop/synthloop/record"
	"github.com/synthloop/synthloop/store"
)

// xss is model text that would run script if it were ever parsed as HTML.
const xss = `<script>window.__pwned = 1</script><img src=x onerror="window.__pwned = 2">`

// testRun writes stage "answers" with n records into a new run directory:
// record 1 carries xss in every text field, every third is rejected by the
// judge, and each record after the first names the one before as its parent.
func testRun(t testing.TB, n int) string {
	t.Helper()
	var recs []*record.Record
	for i := range n {
		r := &record.Record{ID: fmt.Sprintf("answers:%03d", i), Seq: int64(i), Status: record.Kept,
			Instruction: fmt.Sprintf("Question %d: what is %d + %d?", i, i, i), Output: fmt.Sprintf("The answer is %d.", 2*i),
			Scores: map[string]float64{"judge": float64(i % 10)}, Prov: record.Provenance{Generator: "selfinstruct", Stage: "answers", Model: "teacher"}}
		if i == 1 {
			r.Instruction, r.Output, r.Meta = xss, xss, map[string]any{"judgment": xss}
		}
		if i > 0 { // a lineage: each record made from the one before
			r.Prov.ParentIDs = []string{fmt.Sprintf("answers:%03d", i-1)}
		}
		if i%3 == 0 {
			r.Status, r.Decisions = record.Rejected, []record.Decision{{Filter: "judge", Reason: "scored low", Value: 1}}
		}
		recs = append(recs, r)
	}
	return commitRun(t, "answers", recs)
}

// commitRun writes recs as one unit of stage into a new run directory.
func commitRun(t testing.TB, stage string, recs []*record.Record) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "run")
	st, err := store.Open(context.Background(), dir)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if err := st.Commit(context.Background(), pipeline.Unit{Stage: stage, Key: "u", Records: recs}); err != nil {
		t.Fatal(err)
	}
	return dir
}

// app is a server over a run, with a client that speaks to it as the page does.
type app struct {
	t    testing.TB
	st   *store.Store
	srv  *Server
	csrf string
}

func newApp(t testing.TB, dir string, opts Options) *app {
	t.Helper()
	st, err := store.Open(context.Background(), dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	if opts.Reviewer == "" {
		opts.Reviewer = "ann"
	}
	srv, err := New(st, opts)
	if err != nil {
		t.Fatal(err)
	}
	return &app{t: t, st: st, srv: srv, csrf: srv.csrf}
}

// do sends a request as the app's page would: loopback host, the CSRF
// token and JSON on POST; hdr overrides headers ("" deletes one).
func (a *app) do(method, path string, body any, hdr map[string]string) *httptest.ResponseRecorder {
	a.t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req := httptest.NewRequest(method, "http://127.0.0.1:8090"+path, rd)
	if method == http.MethodPost {
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("X-CSRF-Token", a.csrf)
	}
	for k, v := range hdr {
		if k == "Host" {
			req.Host = v
			continue
		}
		if v == "" {
			req.Header.Del(k)
		} else {
			req.Header.Set(k, v)
		}
	}
	w := httptest.NewRecorder()
	a.srv.ServeHTTP(w, req)
	return w
}

func TestHeadersAndAssets(t *testing.T) {
	a := newApp(t, testRun(t, 5), Options{})
	for _, p := range []string{"/", "/assets/app.js", "/assets/app.css", "/api/session", "/nope"} {
		w := a.do("GET", p, nil, nil)
		if got := w.Header().Get("Content-Security-Policy"); got != CSP {
			t.Errorf("GET %s: CSP %q", p, got)
		}
		if w.Header().Get("X-Content-Type-Options") != "nosniff" {
			t.Errorf("GET %s: no nosniff", p)
		}
		if p != "/nope" && w.Code != 200 {
			t.Errorf("GET %s: %d", p, w.Code)
		}
	}
	// The page has no inline script or handler for the CSP to block: all
	// of the app is in app.js.
	page := a.do("GET", "/", nil, nil).Body.String()
	if strings.Count(page, "<script") != 1 || !strings.Contains(page, `<script src="/assets/app.js" defer></script>`) || regexp.MustCompile(`\son[a-z]+=`).MatchString(page) {
		t.Errorf("index.html has inline script")
	}
	js := a.do("GET", "/assets/app.js", nil, nil).Body.String()
	for _, bad := range []string{"innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval("} {
		if strings.Contains(js, bad) {
			t.Errorf("app.js uses %s", bad)
		}
	}
}

func TestCSRF(t *testing.T) {
	a := newApp(t, testRun(t, 5), Options{})
	ok := map[string]any{"id": "answers:002", "kind": "accept"}
	tests := []struct {
		name string
		hdr  map[string]string
		code int
	}{
		{"no token", map[string]string{"X-CSRF-Token": ""}, 403},
		{"wrong token", map[string]string{"X-CSRF-Token": "guess"}, 403},
		{"form post", map[string]string{"Content-Type": "application/x-www-form-urlencoded"}, 403},
		{"text/plain", map[string]string{"Content-Type": "text/plain"}, 403},
		{"other origin", map[string]string{"Origin": "http://evil.example"}, 403},
		{"same origin", map[string]string{"Origin": "http://127.0.0.1:8090"}, 200},
		{"no origin", nil, 200},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if w := a.do("POST", "/api/decide", ok, tt.hdr); w.Code != tt.code {
				t.Errorf("%d %s, want %d", w.Code, w.Body, tt.code)
			}
		})
	}
	for _, p := range []string{"/api/undo", "/api/sample"} {
		if w := a.do("POST", p, map[string]any{}, map[string]string{"X-CSRF-Token": ""}); w.Code != 403 {
			t.Errorf("POST %s without token: %d", p, w.Code)
		}
	}
	// Only the page's session hands the token out, as JSON.
	var s struct{ CSRF string }
	json.Unmarshal(a.do("GET", "/api/session", nil, nil).Body.Bytes(), &s)
	if s.CSRF != a.csrf {
		t.Errorf("session csrf %q", s.CSRF)
	}
	// A GET changes nothing.
	if w := a.do("GET", "/api/decide", nil, nil); w.Code != http.StatusMethodNotAllowed {
		t.Errorf("GET /api/decide: %d", w.Code)
	}
}

func TestHostAndToken(t *testing.T) {
	dir := testRun(t, 3)
	a := newApp(t, dir, Options{})
	if w := a.do("GET", "/api/session", nil, map[string]string{"Host": "rebound.evil.example"}); w.Code != 403 {
		t.Errorf("a foreign Host was served: %d", w.Code)
	}
	if w := a.do("GET", "/", nil, map[string]string{"Host": "localhost:8090"}); w.Code != 200 {
		t.Errorf("localhost: %d", w.Code)
	}
	a.st.Close()

	b := newApp(t, dir, Options{Token: "s3cret"})
	host := map[string]string{"Host": "review.example:8090"}
	if w := b.do("GET", "/api/session", nil, host); w.Code != 401 {
		t.Errorf("no token: %d", w.Code)
	}
	w := b.do("GET", "/?token=s3cret&x=1", nil, host)
	if w.Code != http.StatusSeeOther || w.Header().Get("Location") != "/?x=1" {
		t.Fatalf("token visit: %d to %q", w.Code, w.Header().Get("Location"))
	}
	c := w.Result().Cookies()
	if len(c) != 1 || !c[0].HttpOnly || c[0].SameSite != http.SameSiteStrictMode {
		t.Fatalf("cookie %+v", c)
	}
	if w := b.do("GET", "/api/session", nil, map[string]string{"Host": host["Host"], "Cookie": c[0].String()}); w.Code != 200 {
		t.Errorf("with the cookie: %d", w.Code)
	}
	if w := b.do("GET", "/api/session", nil, map[string]string{"Host": host["Host"], "Authorization": "Bearer s3cret"}); w.Code != 200 {
		t.Errorf("with the bearer token: %d", w.Code)
	}
	if w := b.do("GET", "/?token=wrong", nil, host); w.Code != 401 {
		t.Errorf("wrong token: %d", w.Code)
	}
	if _, err := Listen("0.0.0.0:0", ""); err == nil {
		t.Error("Listen on all addresses without a token")
	}
	ln, err := Listen("127.0.0.1:0", "")
	if err != nil {
		t.Fatal(err)
	}
	ln.Close()
}

// TestXSSStaysData: a record with markup comes back as JSON with the markup
// escaped, and decodes to the very text the model wrote.
func TestXSSStaysData(t *testing.T) {
	a := newApp(t, testRun(t, 3), Options{})
	for _, p := range []string{"/api/record?id=answers:001", "/api/records?stage=answers"} {
		w := a.do("GET", p, nil, nil)
		body := w.Body.String()
		if ct := w.Header().Get("Content-Type"); ct != "application/json" {
			t.Errorf("%s: Content-Type %q", p, ct)
		}
		if strings.Contains(body, "<script") || strings.Contains(body, "<img") {
			t.Errorf("%s: raw markup in the body: %s", p, body)
		}
		if !strings.Contains(body, `\u003cscript\u003e`) {
			t.Errorf("%s: markup not escaped", p)
		}
	}
	var got struct{ Record record.Record }
	json.Unmarshal(a.do("GET", "/api/record?id=answers:001", nil, nil).Body.Bytes(), &got)
	if got.Record.Output != xss {
		t.Errorf("output %q", got.Record.Output)
	}
}

type verdictsOf struct {
	Verdicts []struct{ Reviewer, Kind, Reason string }
	Log      []store.Review
}

func (a *app) verdicts(id string) verdictsOf {
	a.t.Helper()
	var v verdictsOf
	if err := json.Unmarshal(a.do("GET", "/api/record?id="+id, nil, nil).Body.Bytes(), &v); err != nil {
		a.t.Fatal(err)
	}
	return v
}

func TestDecisionsSurviveRestart(t *testing.T) {
	dir := testRun(t, 6)
	a := newApp(t, dir, Options{})
	steps := []struct {
		path string
		body map[string]any
		code int
	}{
		{"/api/decide", map[string]any{"id": "answers:001", "kind": "accept"}, 200},
		{"/api/decide", map[string]any{"id": "answers:002", "kind": "reject", "reason": "hallucination"}, 200},
		{"/api/decide", map[string]any{"id": "answers:002", "kind": "reject"}, 400}, // no reason
		{"/api/decide", map[string]any{"id": "answers:004", "kind": "edit", "edits": map[string]string{"output": "The answer is 8!"}}, 200},
		{"/api/decide", map[string]any{"id": "answers:004", "kind": "edit", "edits": map[string]string{"meta": "x"}}, 400},
		{"/api/decide", map[string]any{"id": "answers:005", "kind": "comment", "comment": "check the sum"}, 200},
		{"/api/decide", map[string]any{"id": "answers:005", "kind": "accept"}, 200},
		{"/api/undo", map[string]any{"id": "answers:005"}, 200},
		{"/api/decide", map[string]any{"id": "nope", "kind": "accept"}, 404},
		{"/api/decide", map[string]any{"id": "answers:001", "kind": "accept", "bogus": 1}, 400},
		{"/api/undo", map[string]any{"id": "answers:003"}, 409},
	}
	for _, s := range steps {
		if w := a.do("POST", s.path, s.body, nil); w.Code != s.code {
			t.Errorf("POST %s %v: %d %s, want %d", s.path, s.body, w.Code, w.Body, s.code)
		}
	}
	a.st.Close()
	b := newApp(t, dir, Options{})
	for id, want := range map[string]string{"answers:001": "accept", "answers:002": "reject", "answers:004": "edit", "answers:005": ""} {
		v := b.verdicts(id)
		got := ""
		if len(v.Verdicts) == 1 {
			got = v.Verdicts[0].Kind
		}
		if got != want || len(v.Verdicts) > 1 {
			t.Errorf("%s after a restart: %+v, want %s", id, v.Verdicts, want)
		}
	}
	if v := b.verdicts("answers:005"); len(v.Log) != 3 || v.Log[0].Comment != "check the sum" {
		t.Errorf("log of answers:005: %+v", v.Log)
	}
}

func TestTwoReviewers(t *testing.T) {
	a := newApp(t, testRun(t, 30), Options{})
	var wg sync.WaitGroup
	for _, who := range []string{"ann", "bob"} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 30 {
				kind, reason := "accept", ""
				if who == "bob" && i%2 == 0 {
					kind, reason = "reject", "wrong answer"
				}
				id := fmt.Sprintf("answers:%03d", i)
				if w := a.do("POST", "/api/decide", map[string]any{"id": id, "kind": kind, "reason": reason}, map[string]string{"X-Reviewer": who}); w.Code != 200 {
					t.Errorf("%s on %s: %d %s", who, id, w.Code, w.Body)
				}
			}
		}()
	}
	wg.Wait()
	if v := a.verdicts("answers:004"); len(v.Verdicts) != 2 {
		t.Fatalf("verdicts %+v", v.Verdicts)
	}
	var page struct{ Items []json.RawMessage }
	json.Unmarshal(a.do("GET", "/api/records?stage=answers&pending=1", nil, map[string]string{"X-Reviewer": "cy"}).Body.Bytes(), &page)
	if len(page.Items) != 30 {
		t.Errorf("cy has %d pending, want 30", len(page.Items))
	}
	json.Unmarshal(a.do("GET", "/api/records?stage=answers&pending=1", nil, map[string]string{"X-Reviewer": "ann"}).Body.Bytes(), &page)
	if len(page.Items) != 0 {
		t.Errorf("ann has %d pending, want 0", len(page.Items))
	}
	var sum struct {
		Progress struct {
			Reviewed   int
			ByReviewer map[string]int `json:"by_reviewer"`
		}
		Agreements []struct {
			A, B  string
			N     int
			Kappa *float64
		}
	}
	json.Unmarshal(a.do("GET", "/api/summary?stage=answers", nil, nil).Body.Bytes(), &sum)
	if sum.Progress.Reviewed != 30 || sum.Progress.ByReviewer["bob"] != 30 {
		t.Errorf("progress %+v", sum.Progress)
	}
	if len(sum.Agreements) != 3 || sum.Agreements[0].A != "ann" || sum.Agreements[0].B != "bob" || sum.Agreements[0].N != 30 {
		t.Errorf("agreements %+v", sum.Agreements)
	}
}

func TestSampleAndEstimate(t *testing.T) {
	a := newApp(t, testRun(t, 60), Options{})
	if w := a.do("POST", "/api/sample", map[string]any{"stage": "answers", "kept": 10, "per_reason": 4, "seed": 3}, nil); w.Code != 200 {
		t.Fatalf("sample: %d %s", w.Code, w.Body)
	}
	var page struct {
		Items []struct{ Record record.Record }
	}
	json.Unmarshal(a.do("GET", "/api/records?stage=answers&sample=1", nil, nil).Body.Bytes(), &page)
	if len(page.Items) != 14 {
		t.Fatalf("%d sampled records, want 14", len(page.Items))
	}
	for _, it := range page.Items {
		a.do("POST", "/api/decide", map[string]any{"id": it.Record.ID, "kind": "accept"}, nil)
	}
	var sum struct {
		Texts []string `json:"estimate_texts"`
	}
	json.Unmarshal(a.do("GET", "/api/summary?stage=answers", nil, nil).Body.Bytes(), &sum)
	if len(sum.Texts) != 2 || !strings.HasPrefix(sum.Texts[0], "kept: 100% (95% CI ") || !strings.Contains(sum.Texts[0], "of 40 records acceptable, n = 10 reviewed") {
		t.Errorf("estimates %q", sum.Texts)
	}
}

// FuzzDecide sends arbitrary bodies to the decision endpoint: the server
// answers each with a 2xx or a 4xx, never a 5xx or a panic, and a decision it
// accepts is in the log.
func FuzzDecide(f *testing.F) {
	for _, s := range []string{
		`{"id":"answers:001","kind":"accept"}`,
		`{"id":"answers:002","kind":"reject","reason":"wrong answer"}`,
		`{"id":"answers:002","kind":"edit","edits":{"output":"x"}}`,
		`{"id":"answers:002","kind":"edit","edits":{"id":"x"}}`,
		`{"id":"answers:001","kind":"undo"}`,
		`{"id":"answers:001","kind":"comment","comment":"<b>hi</b>"}`,
		`{"id":1}`, `[]`, `{`, ``,
	} {
		f.Add(s)
	}
	a := newApp(f, testRun(f, 3), Options{})
	f.Fuzz(func(t *testing.T, body string) {
		req := httptest.NewRequest("POST", "http://127.0.0.1/api/decide", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("X-CSRF-Token", a.csrf)
		w := httptest.NewRecorder()
		a.srv.ServeHTTP(w, req)
		if w.Code >= 500 {
			t.Fatalf("%q: %d %s", body, w.Code, w.Body)
		}
		if w.Code == 200 {
			var rv store.Review
			if err := json.Unmarshal(w.Body.Bytes(), &rv); err != nil || rv.ID == 0 {
				t.Fatalf("%q: accepted as %s", body, w.Body)
			}
		}
	})
}

// TestLive serves a run that another Store is still writing: the app reads
// what commits as it commits, from where its last page ended, and refuses
// decisions.
func TestLive(t *testing.T) {
	ctx := context.Background()
	dir := testRun(t, 3)
	writer, err := store.Open(ctx, dir) // the running pipeline, holding the run
	if err != nil {
		t.Fatal(err)
	}
	defer writer.Close()
	ro, err := store.OpenReadOnly(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	defer ro.Close()
	srv, err := New(ro, Options{Reviewer: "ann", ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	a := &app{t: t, st: ro, srv: srv, csrf: srv.csrf}
	var page struct {
		Items []struct{ Record record.Record }
		Next  string
		Last  string
	}
	json.Unmarshal(a.do("GET", "/api/records?stage=answers", nil, nil).Body.Bytes(), &page)
	if len(page.Items) != 3 || page.Next != "" || page.Last == "" {
		t.Fatalf("first page: %d items, next %q, last %q", len(page.Items), page.Next, page.Last)
	}
	more := []*record.Record{{ID: "answers:100", Seq: 100, Status: record.Kept, Output: "new"}, {ID: "answers:101", Seq: 101, Status: record.Kept, Output: "newer"}}
	if err := writer.Commit(ctx, pipeline.Unit{Stage: "answers", Key: "later", Records: more}); err != nil {
		t.Fatal(err)
	}
	last := page.Last
	json.Unmarshal(a.do("GET", "/api/records?stage=answers&after="+last, nil, nil).Body.Bytes(), &page)
	if len(page.Items) != 2 || page.Items[0].Record.ID != "answers:100" {
		t.Fatalf("after the commit: %+v", page.Items)
	}
	var s struct {
		ReadOnly bool `json:"read_only"`
	}
	json.Unmarshal(a.do("GET", "/api/session", nil, nil).Body.Bytes(), &s)
	if !s.ReadOnly {
		t.Error("session does not say read-only")
	}
	if w := a.do("POST", "/api/decide", map[string]any{"id": "answers:001", "kind": "accept"}, nil); w.Code != http.StatusConflict {
		t.Errorf("a decision on a live run: %d %s", w.Code, w.Body)
	}
}

// TestPanelDisagreementSort: records a judge panel scored, as the judge
// stage writes them, come by the spread of the members' scores, and the
// uncertain sort puts a panel straddling the threshold before one judge
// just off it.
func TestPanelDisagreementSort(t *testing.T) {
	a := newApp(t, panelRun(t), Options{})
	for sort, want := range panelOrders {
		w := a.do("GET", "/api/records?stage=judged&sort="+sort, nil, nil)
		var page struct{ Items []item }
		if err := json.Unmarshal(w.Body.Bytes(), &page); err != nil || w.Code != 200 {
			t.Fatalf("sort %s: %d %s", sort, w.Code, w.Body)
		}
		var got []string
		for _, it := range page.Items {
			got = append(got, it.Record.ID)
		}
		if !slices.Equal(got, want) {
			t.Errorf("sort %s: %v, want %v", sort, got, want)
		}
	}
}

// panelOrders are the orders of panelRun's records by the two sorts that
// read a panel's spread.
var panelOrders = map[string][]string{
	"disagreement": {"judged:1", "judged:3", "judged:0", "judged:2"},
	"uncertain":    {"judged:1", "judged:0", "judged:3", "judged:2"}, // |3.5-4|-1.5, 0, |3.5-4|-0.5 = 0, 0.4
}

// panelRun writes stage "judged": records a panel scored 4 and 4, 2 and 5,
// 3 and 4, and one a single judge scored 3.6, against a threshold of 4, as
// the judge stage writes them.
func panelRun(t testing.TB) string {
	panel := func(scores ...float64) judge.Result {
		res := judge.Result{Judge: "panel", Score: (slices.Max(scores) + slices.Min(scores)) / 2, Spread: slices.Max(scores) - slices.Min(scores)}
		for _, s := range scores {
			res.Members = append(res.Members, judge.Result{Judge: "m", Score: s})
		}
		return res
	}
	var recs []*record.Record
	for i, res := range []judge.Result{panel(4, 4), panel(2, 5), {Judge: "one", Score: 3.6}, panel(3, 4)} {
		recs = append(recs, &record.Record{ID: fmt.Sprintf("judged:%d", i), Seq: int64(i), Status: record.Kept, Output: "o",
			Scores: map[string]float64{"judge": res.Score}, Meta: map[string]any{"judgment": res},
			Prov: record.Provenance{Params: map[string]any{"threshold": 4.0}}})
	}
	return commitRun(t, "judged", recs)
}
