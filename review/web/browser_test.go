package web

import (
	"context"
	"fmt"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/css"
	"github.com/chromedp/chromedp"

	"github.com/synthloop/synthloop/pipeline"
	"github.com/synthloop/synthloop/record"
	"github.com/synthloop/synthloop/review"
	"github.com/synthloop/synthloop/store"
)

// The browser tests drive Debian's chromium through chromedp. They fail,
// not skip, when it is missing: scripts/test.sh installs it. One browser
// serves the whole package; each test gets its own tab.
var (
	browserOnce sync.Once
	browserCtx  context.Context
	browserErr  error
	stopBrowser = func() {}
)

func TestMain(m *testing.M) {
	code := m.Run()
	stopBrowser()
	os.Exit(code)
}

func tab(t *testing.T) context.Context {
	t.Helper()
	browserOnce.Do(func() {
		path, err := exec.LookPath("chromium")
		if err != nil {
			browserErr = fmt.Errorf("chromium not found (%v): install Debian's chromium package, as scripts/test.sh does", err)
			return
		}
		opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(path), chromedp.NoSandbox, chromedp.WindowSize(1280, 860))
		actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
		bctx, cancelBrowser := chromedp.NewContext(actx)
		stopBrowser = func() { cancelBrowser(); cancelAlloc() }
		browserErr = chromedp.Do(bctx) // starts the browser
		browserCtx = bctx
	})
	if browserErr != nil {
		t.Fatal(browserErr)
	}
	ctx, cancel := chromedp.NewContext(browserCtx)
	ctx, cancelTime := context.WithTimeout(ctx, 60*time.Second)
	t.Cleanup(func() { cancelTime(); cancel() })
	return ctx
}

// screenshot writes the page to the screenshot directory ($SYNTHLOOP_SCREENSHOTS,
// or synthloop-review-screenshots under the temp directory), for a person to look at.
func screenshot(t *testing.T, name string) chromedp.Action[chromedp.Void] {
	dir := os.Getenv("SYNTHLOOP_SCREENSHOTS")
	if dir == "" {
		dir = filepath.Join(os.TempDir(), "synthloop-review-screenshots")
	}
	return chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return err
		}
		png, err := chromedp.FullScreenshot(100)(ctx, tg) // 100: PNG
		if err != nil {
			return err
		}
		path := filepath.Join(dir, name+".png")
		t.Logf("screenshot %s", path)
		return os.WriteFile(path, png, 0o644)
	})
}

// key presses one key on the page, as a person would.
func key(k string) chromedp.Action[chromedp.Void] { return chromedp.KeyEvent(k) }

// void drops an action's value, to run it among Do's steps.
func void[T any](a chromedp.Action[T]) chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		_, err := a(ctx, tg)
		return err
	})
}

// run runs an action in ctx and returns its value, failing the test on error.
func run[T any](t *testing.T, ctx context.Context, a chromedp.Action[T]) T {
	t.Helper()
	v, err := chromedp.Run(ctx, a)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// standing reads ann's verdicts from the store.
func standing(t *testing.T, st *store.Store) map[string]review.Verdict {
	t.Helper()
	d, err := review.Load(context.Background(), st, "answers")
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]review.Verdict{}
	for id, vs := range d.ByRecord {
		for _, v := range vs {
			if v.Reviewer == "ann" {
				out[id] = v
			}
		}
	}
	return out
}

// waitMine waits until the record view shows the reviewer's verdict text.
func waitMine(want string) chromedp.Action[chromedp.Void] {
	return void(chromedp.Poll[bool](fmt.Sprintf(`document.getElementById("my-verdict") && document.getElementById("my-verdict").textContent.startsWith(%q)`, want), chromedp.WithPollingTimeout(10*time.Second)))
}

func waitCur(id string) chromedp.Action[chromedp.Void] {
	return chromedp.WaitVisible(chromedp.CSS(fmt.Sprintf(`#list li.cur[data-id=%q]`, id)))
}

// openApp serves a run of n records (testRun) and opens a browser tab.
func openApp(t *testing.T, n int) (*app, string, context.Context) {
	t.Helper()
	a := newApp(t, testRun(t, n), Options{})
	srv := httptest.NewServer(a.srv)
	t.Cleanup(srv.Close)
	return a, srv.URL, tab(t)
}

// TestBrowserReview reviews with the keyboard: accept, reject with a reason
// key, edit with Ctrl+Enter, undo, and checks each in the store.
func TestBrowserReview(t *testing.T) {
	a, srv, ctx := openApp(t, 12)
	err := chromedp.Do(ctx,
		chromedp.Navigate(srv+"/"),
		waitCur("answers:000"),
		screenshot(t, "queue"),
		key("a"), waitCur("answers:001"), // accepted 000, moved on
		key("r"), chromedp.WaitVisible(chromedp.ID(`#reasons`)), key("1"), waitCur("answers:002"),
		key("e"), chromedp.WaitVisible(chromedp.CSS(`#edit-form textarea[name=output]`)),
		chromedp.SetValue(chromedp.CSS(`#edit-form textarea[name=output]`), "The answer is four."),
		screenshot(t, "edit"),
		chromedp.Focus(chromedp.CSS(`#edit-form textarea[name=output]`)),
		chromedp.KeyEvent("\r", chromedp.KeyModifiers(chromedp.ModifierCtrl)), waitCur("answers:003"),
		key("k"), waitCur("answers:002"), waitMine("you: edit"),
		chromedp.WaitVisible(chromedp.CSS(`section[data-field=output] ins`)),
		screenshot(t, "diff"),
	)
	if err != nil {
		t.Fatal(err)
	}
	// c comments on the record shown, which stays shown with the comment.
	err = chromedp.Do(ctx, key("c"), chromedp.WaitVisible(chromedp.ID("comment")),
		chromedp.SetValue(chromedp.ID("comment"), "check <b>this</b> sum"), chromedp.Focus(chromedp.ID("comment")),
		chromedp.KeyEvent("\r", chromedp.KeyModifiers(chromedp.ModifierCtrl)),
		chromedp.WaitVisible(chromedp.CSS(`.comments li`)), waitCur("answers:002"))
	if err != nil {
		t.Fatal(err)
	}
	if c := run(t, ctx, chromedp.Text(chromedp.CSS(`.comments li`))); !strings.HasSuffix(c, "check <b>this</b> sum") {
		t.Errorf("comment shown as %q", c)
	}
	got := standing(t, a.st)
	if got["answers:000"].Kind != store.Accept || got["answers:001"].Kind != store.Reject || got["answers:001"].Reason != "hallucination" ||
		got["answers:002"].Kind != store.Edit || got["answers:002"].Edits["output"] != "The answer is four." || len(got["answers:002"].Edits) != 1 {
		t.Fatalf("after accept, reject, edit: %+v", got)
	}
	// u undoes the last decision (the comment, then the edit), then the one
	// before (the reject).
	err = chromedp.Do(ctx, key("u"), waitCur("answers:002"), chromedp.WaitNotPresent(chromedp.CSS(`.comments li`)), waitMine("you: edit"),
		key("u"), waitCur("answers:002"), waitMine("you: undecided"), key("u"), waitCur("answers:001"), waitMine("you: undecided"))
	if err != nil {
		t.Fatal(err)
	}
	got = standing(t, a.st)
	if len(got) != 1 || got["answers:000"].Kind != store.Accept {
		t.Fatalf("after two undos: %+v", got)
	}
	// The summary page: draw a sample of 4 kept records from it.
	err = chromedp.Do(ctx, chromedp.Navigate(srv+"/#summary"), chromedp.WaitVisible(chromedp.CSS(`#progress tr`)),
		chromedp.WaitNotVisible(chromedp.ID("queue-page")),
		chromedp.SetValue(chromedp.CSS(`#sample-form input[name=kept]`), "4"),
		chromedp.Click(chromedp.CSS(`#sample-form button`)),
		void(chromedp.Poll[bool](`document.getElementById("estimates").textContent.includes("kept: 0 of 4 sampled records reviewed (population 8)")`, chromedp.WithPollingTimeout(10*time.Second))),
		screenshot(t, "summary"))
	if err != nil {
		t.Fatal(err)
	}
	if ids, _ := a.st.Sample(context.Background(), "answers"); len(ids) != 4 {
		t.Errorf("the page drew %d records, want 4", len(ids))
	}
}

// TestBrowserXSS shows a record whose every text is markup with script in
// it: the page shows the markup as text and nothing of it runs.
func TestBrowserXSS(t *testing.T) {
	_, srv, ctx := openApp(t, 3)
	err := chromedp.Do(ctx,
		chromedp.Navigate(srv+"/"),
		waitCur("answers:000"),
		key("j"), waitCur("answers:001"),
		chromedp.WaitVisible(chromedp.CSS(`section[data-field=output]`)),
		chromedp.Sleep(300*time.Millisecond), // an onerror would have fired by now
		screenshot(t, "xss"),
	)
	if err != nil {
		t.Fatal(err)
	}
	shown := run(t, ctx, chromedp.Text(chromedp.CSS(`section[data-field=output] pre`)))
	countInjected := `document.querySelectorAll("main img, main script, aside img, aside script").length`
	injected := run(t, ctx, chromedp.Evaluate[int](countInjected))
	// Record 2's lineage shows record 1, markup and all, as text too.
	err = chromedp.Do(ctx, key("j"), waitCur("answers:002"),
		void(chromedp.Poll[bool](`document.querySelectorAll(".lineage li").length === 2`, chromedp.WithPollingTimeout(10*time.Second))),
		chromedp.Sleep(300*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	if got := run(t, ctx, chromedp.Text(chromedp.CSS(`.lineage li pre`))); got != xss {
		t.Errorf("lineage shows %q, want the markup as text", got)
	}
	pwned := run(t, ctx, chromedp.Evaluate[bool](`window.__pwned !== undefined`))
	injected += run(t, ctx, chromedp.Evaluate[int](countInjected))
	if pwned {
		t.Error("script from a record ran: window.__pwned is set")
	}
	if shown != xss {
		t.Errorf("output shown as %q, want the markup as text", shown)
	}
	if injected != 0 {
		t.Errorf("%d elements from the record's markup in the page", injected)
	}
	if !strings.Contains(shown, "<script>") {
		t.Error("markup not visible as text")
	}
}

// TestBrowserTwoReviewers has two tabs review the same records at once
// under two names; both sets of decisions land, and a page shows the
// other reviewer's.
func TestBrowserTwoReviewers(t *testing.T) {
	a, srv, ann := openApp(t, 6)
	bob, cancel := chromedp.NewContext(ann) // a second tab of the same browser
	defer cancel()
	// Both pages are open at once and their decisions interleave: ann
	// accepts a record, then bob rejects it, record after record.
	for _, c := range []struct {
		ctx  context.Context
		name string
	}{{ann, "ann"}, {bob, "bob"}} {
		if err := chromedp.Do(c.ctx, chromedp.Navigate(srv+"/?reviewer="+c.name), waitCur("answers:000")); err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
	}
	for j := range 3 {
		next := waitCur(fmt.Sprintf("answers:%03d", j+1))
		if err := chromedp.Do(ann, key("a"), next); err != nil {
			t.Fatalf("ann on record %d: %v", j, err)
		}
		if err := chromedp.Do(bob, key("r"), chromedp.WaitVisible(chromedp.ID("reasons")), key("2"), next); err != nil {
			t.Fatalf("bob on record %d: %v", j, err)
		}
	}
	d, err := review.Load(context.Background(), a.st, "answers")
	if err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		vs := d.ByRecord[fmt.Sprintf("answers:%03d", i)]
		if len(vs) != 2 {
			t.Fatalf("record %d: verdicts %+v, want ann's and bob's", i, vs)
		}
	}
	if err := chromedp.Do(ann, key("k"), key("k"), key("k"), waitCur("answers:000")); err != nil {
		t.Fatal(err)
	}
	others := run(t, ann, chromedp.Text(chromedp.CSS(`.others`)))
	if !strings.Contains(others, "bob: reject (wrong answer)") {
		t.Errorf("ann's page shows %q of the others", others)
	}
}

// TestBrowserPairs compares the two sides of preference pairs, shown blind
// as A and B: 1, 2 and t record which side (chosen, rejected, tie) won.
func TestBrowserPairs(t *testing.T) {
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "run")
	st, err := store.Open(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	var recs []*record.Record
	for i := range 3 {
		recs = append(recs, &record.Record{ID: fmt.Sprintf("pairs:%d", i), Seq: int64(i), Status: record.Kept,
			Instruction: fmt.Sprintf("Name a prime above %d.", 10*i), Chosen: fmt.Sprint(10*i + 1 + i%2*2), Rejected: fmt.Sprint(10*i + 4)})
	}
	if err := st.Commit(ctx, pipeline.Unit{Stage: "pairs", Key: "u", Records: recs}); err != nil {
		t.Fatal(err)
	}
	st.Close()
	a := newApp(t, dir, Options{})
	srv := httptest.NewServer(a.srv)
	defer srv.Close()
	tb := tab(t)
	err = chromedp.Do(tb, chromedp.Navigate(srv.URL+"/"), waitCur("pairs:0"), chromedp.WaitVisible(chromedp.ID("my-pref")), screenshot(t, "pair"),
		key("1"), waitCur("pairs:1"), key("2"), waitCur("pairs:2"), key("t"),
		void(chromedp.Poll[bool](`document.getElementById("my-pref").textContent === "you prefer a tie"`, chromedp.WithPollingTimeout(10*time.Second))))
	if err != nil {
		t.Fatal(err)
	}
	d, err := review.Load(ctx, a.st, "pairs")
	if err != nil {
		t.Fatal(err)
	}
	for i, pressed := range []int{0, 1, -1} {
		id := fmt.Sprintf("pairs:%d", i)
		want := "tie"
		if pressed >= 0 {
			want = blindSides(id)[pressed]
		}
		if got, _ := d.Preference(id); got != want {
			t.Errorf("%s: preference %q, want %q", id, got, want)
		}
	}
}

// blindSides is app.js's pairSides: the pair's fields in the order shown as A, B.
func blindSides(id string) [2]string {
	var h uint32
	for _, c := range id {
		h = h*31 + uint32(c)
	}
	if h%2 == 1 {
		return [2]string{"rejected", "chosen"}
	}
	return [2]string{"chosen", "rejected"}
}

// TestBrowserCandidatePairs compares a reject record's candidates blind:
// the best scored against each other distinct one, pair by pair, with the
// keys 1, 2 and k to come back for the next pair; the choices become the
// record's preference pairs.
func TestBrowserCandidatePairs(t *testing.T) {
	ctx := context.Background()
	cands := func(texts []string, scores []float64) []record.Candidate {
		var out []record.Candidate
		for i, s := range texts {
			out = append(out, record.Candidate{Text: s, Scores: map[string]float64{"judge": scores[i]}})
		}
		return out
	}
	recs := []*record.Record{
		{ID: "best:0", Seq: 0, Status: record.Kept, Instruction: "Where is Paris?", Output: "Paris is in France.",
			Candidates: cands([]string{"Paris is in Germany.", "Paris is in France.", "In France, on the Seine.", "Paris is in France."}, []float64{2, 5, 4, 5})},
		{ID: "best:1", Seq: 1, Status: record.Kept, Instruction: "Name a prime.", Output: "7", Candidates: cands([]string{"7", "9"}, []float64{5, 1})},
	}
	a := newApp(t, commitRun(t, "best", recs), Options{})
	srv := httptest.NewServer(a.srv)
	defer srv.Close()
	tb := tab(t)
	shownA := `Number(document.querySelector("#cand-pair section").dataset.candidate)`
	hint := func(want string) chromedp.Action[chromedp.Void] {
		return void(chromedp.Poll[bool](fmt.Sprintf(`document.getElementById("my-pref").textContent.startsWith(%q)`, want), chromedp.WithPollingTimeout(10*time.Second)))
	}
	if err := chromedp.Do(tb, chromedp.Navigate(srv.URL+"/"), waitCur("best:0"), hint("candidates 1 and 2, pair 1 of 2"), screenshot(t, "candidates")); err != nil {
		t.Fatal(err)
	}
	if !run(t, tb, chromedp.Evaluate[bool](`document.querySelector('section[data-field="candidates"] details:not([open])') !== null`)) {
		t.Error("the candidates' scores are not folded away while two are compared blind")
	}
	a1 := run(t, tb, chromedp.Evaluate[int](shownA))
	if err := chromedp.Do(tb, key("1"), waitCur("best:1"), key("k"), waitCur("best:0"), hint("candidates 0 and 1, pair 2 of 2")); err != nil {
		t.Fatal(err)
	}
	a2 := run(t, tb, chromedp.Evaluate[int](shownA))
	if err := chromedp.Do(tb, key("2"), waitCur("best:1"), key("k"), waitCur("best:0"), hint("candidates 0 and 1, pair 2 of 2 (all compared; you prefer B)")); err != nil {
		t.Fatal(err)
	}
	other := func(a, x, y int) int { return x + y - a }
	want := []string{fmt.Sprintf("%d>%d", a1, other(a1, 1, 2)), fmt.Sprintf("%d>%d", other(a2, 1, 0), a2)}
	d, err := review.Load(ctx, a.st, "best")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, v := range d.Prefs["best:0"] {
		got = append(got, v.Reason)
	}
	if !slices.Equal(got, want) {
		t.Errorf("preferences on best:0: %v, want %v", got, want)
	}
	if pairs := d.HumanPairs(recs[0]); len(pairs) != 2 {
		t.Errorf("%d preference pairs from best:0, want 2", len(pairs))
	}
}

// TestBrowserJapanese shows a Japanese record: its text reaches the page
// as it is, and the browser draws it with a CJK font (Debian's
// fonts-noto-cjk, which scripts/test.sh installs), not with boxes from a
// font that has no kana or kanji.
func TestBrowserJapanese(t *testing.T) {
	inst, out := "富士山について短い詩を書いてください。", "雲の上 白き頂 朝日さす"
	dir := commitRun(t, "ja", []*record.Record{{ID: "ja:0", Status: record.Kept, Instruction: inst, Output: out}})
	a := newApp(t, dir, Options{})
	srv := httptest.NewServer(a.srv)
	defer srv.Close()
	tb := tab(t)
	sel := `section[data-field="instruction"] pre`
	if err := chromedp.Do(tb, chromedp.Navigate(srv.URL+"/"), waitCur("ja:0"), chromedp.WaitVisible(chromedp.CSS(sel)), screenshot(t, "japanese")); err != nil {
		t.Fatal(err)
	}
	if got := run(t, tb, chromedp.Text(chromedp.CSS(sel))); got != inst {
		t.Errorf("instruction shown as %q, want %q", got, inst)
	}
	if got := run(t, tb, chromedp.Text(chromedp.CSS(`section[data-field="output"] pre`))); got != out {
		t.Errorf("output shown as %q, want %q", got, out)
	}
	nodes := run(t, tb, chromedp.Nodes(chromedp.CSS(sel)))
	var fonts []*css.PlatformFontUsage
	err := chromedp.Do(tb, chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		if _, err := cdp.Call(ctx, tg, css.Enable, cdp.Empty{}); err != nil {
			return err
		}
		res, err := cdp.Call(ctx, tg, css.GetPlatformFontsForNode, css.GetPlatformFontsForNodeParams{NodeID: nodes[0].NodeID})
		fonts = res.Fonts
		return err
	}))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	cjk := 0.0
	for _, f := range fonts {
		names = append(names, fmt.Sprintf("%s (%v glyphs)", f.FamilyName, f.GlyphCount))
		if strings.Contains(f.FamilyName, "CJK") {
			cjk += f.GlyphCount
		}
	}
	t.Logf("the instruction is drawn with %v", names)
	if cjk < float64(len([]rune(inst))-1) {
		t.Errorf("the Japanese instruction is drawn with %v: want a CJK font for its %d characters (install fonts-noto-cjk, as scripts/test.sh does)",
			names, len([]rune(inst)))
	}
}

// TestBrowserDisagreementSort picks the panel sorts in the queue's sort
// menu: the list follows.
func TestBrowserDisagreementSort(t *testing.T) {
	a := newApp(t, panelRun(t), Options{})
	srv := httptest.NewServer(a.srv)
	defer srv.Close()
	tb := tab(t)
	if err := chromedp.Do(tb, chromedp.Navigate(srv.URL+"/"), waitCur("judged:0")); err != nil {
		t.Fatal(err)
	}
	for _, sort := range []string{"disagreement", "uncertain"} {
		want := strings.Join(panelOrders[sort], ",")
		list := `[...document.querySelectorAll("#list li")].map(li => li.dataset.id).join(",")`
		if err := chromedp.Do(tb, chromedp.SetValue(chromedp.CSS(`#filters select[name="sort"]`), sort),
			void(chromedp.Evaluate[bool](`document.getElementById("filters").dispatchEvent(new Event("change")), true`)),
			void(chromedp.Poll[bool](fmt.Sprintf(`%s === %q`, list, want), chromedp.WithPollingTimeout(10*time.Second)))); err != nil {
			t.Errorf("sort %s: list %q, want %q: %v", sort, run(t, tb, chromedp.Evaluate[string](list)), want, err)
		}
	}
}
