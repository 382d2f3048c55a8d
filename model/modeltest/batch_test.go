package modeltest_test

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/synthloop/synthloop/model"
	_ "github.com/synthloop/synthloop/model/anthropic"
	"github.com/synthloop/synthloop/model/modeltest"
	_ "github.com/synthloop/synthloop/model/openai"
	"github.com/synthloop/synthloop/store"
)

// provider is one batch API under test: the real provider package's client
// against its stand-in.
type provider struct {
	name, model string
	server      func(modeltest.Responder, ...modeltest.Option) *modeltest.Server
	ended       string // the provider's word for a batch that ended well
}

var providers = []provider{
	{"openai", "gpt-4o-mini", modeltest.NewServer, "completed"},
	{"anthropic", "claude-haiku-4-5", modeltest.NewAnthropicServer, "ended"},
}

// forEachProvider runs test as a subtest per provider.
func forEachProvider(t *testing.T, test func(t *testing.T, p provider)) {
	for _, p := range providers {
		t.Run(p.name, func(t *testing.T) { test(t, p) })
	}
}

// batchClient opens p's model in batch mode against srv, with st as its
// cache and batch store and a clock that only counts the waits.
func batchClient(t *testing.T, p provider, srv *modeltest.Server, st *store.Store, waits *[]time.Duration) *model.Client {
	t.Helper()
	b, _, err := model.Open(context.Background(), "teacher", model.Config{Ref: p.name + "/" + p.model, BaseURL: srv.URL, Batch: true},
		model.Options{
			Cache: st, Batches: st, Getenv: func(string) string { return "sk-test" },
			Sleep: func(ctx context.Context, d time.Duration) error { *waits = append(*waits, d); return ctx.Err() },
		})
	if err != nil {
		t.Fatal(err)
	}
	return b.(*model.Client)
}

func openStore(t *testing.T, dir string) *store.Store {
	t.Helper()
	st, err := store.Open(context.Background(), dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

func ask(i int) model.Request {
	temp := 0.3
	return model.Request{Messages: []model.Message{{Role: "user", Content: fmt.Sprintf("question %d", i)}}, MaxTokens: 50, Temperature: &temp}
}

// askAll asks for n requests and returns the answers, or the errors.
func askAll(c model.Backend, n int) ([]*model.Response, []error) {
	resps, errs := make([]*model.Response, n), make([]error, n)
	for i := range n {
		resps[i], errs[i] = c.Generate(context.Background(), ask(i))
	}
	return resps, errs
}

func TestBatchEndToEnd(t *testing.T) { forEachProvider(t, testBatchEndToEnd) }

func testBatchEndToEnd(t *testing.T, p provider) {
	srv := p.server(modeltest.Echo, modeltest.WithBatches(modeltest.BatchOptions{Polls: 3}))
	defer srv.Close()
	st := openStore(t, t.TempDir())
	var waits []time.Duration
	c := batchClient(t, p, srv, st, &waits)
	ctx := context.Background()

	_, errs := askAll(c, 5)
	for i, err := range errs {
		if !errors.Is(err, model.ErrDeferred) {
			t.Fatalf("request %d: %v, want ErrDeferred", i, err)
		}
	}
	if srv.Requests() != 0 {
		t.Fatalf("%d live requests before the flush", srv.Requests())
	}
	var notes []string
	if err := c.Flush(model.WithNote(ctx, func(s string) { notes = append(notes, s) })); err != nil {
		t.Fatal(err)
	}
	// Each wait is said on the progress line, and the note is cleared at the end.
	if len(notes) != 4 || !strings.Contains(notes[0], "1 batch open at the provider; next look in 1m0s") || notes[3] != "" {
		t.Errorf("notes %q, want one for each of the three waits, then none", notes)
	}
	if srv.BatchesCreated() != 1 || srv.BatchSizes()[0] != 5 {
		t.Fatalf("batches %v, want one of 5", srv.BatchSizes())
	}
	// Three looks find it running, the fourth ended: three waits, backing off.
	if len(waits) != 3 || waits[0] != time.Minute || waits[1] != 2*time.Minute || waits[2] != 4*time.Minute {
		t.Errorf("waits %v, want 1m 2m 4m", waits)
	}
	resps, errs := askAll(c, 5)
	price, _ := model.LookupPrice(p.name, p.model)
	for i, r := range resps {
		if errs[i] != nil {
			t.Fatalf("request %d after the batch: %v", i, errs[i])
		}
		if want := fmt.Sprintf("echo: question %d", i); r.Choices[0].Text != want {
			t.Errorf("request %d: %q, want %q", i, r.Choices[0].Text, want)
		}
		want := price.Cost(r.Usage) / 2
		if r.CostUSD <= 0 || math.Abs(r.CostUSD-want) > 1e-12 || r.Cached {
			t.Errorf("request %d: cost %v cached %v, want %v at the batch price, not cached", i, r.CostUSD, r.Cached, want)
		}
	}
	if srv.Requests() != 5 {
		t.Errorf("the stand-in answered %d requests, want the batch's 5", srv.Requests())
	}
	for _, r := range srv.Log() {
		// The batch lines carry what a live request would.
		if r.Temperature == nil || *r.Temperature != 0.3 || r.MaxTokens != 50 || r.Model != p.model {
			t.Errorf("a batch request arrived as %+v", r)
		}
	}
	all, err := st.AllBatches(ctx)
	if err != nil || len(all) != 1 || all[0].State != model.BatchFinished || all[0].Succeeded != 5 || all[0].Status != p.ended {
		t.Errorf("stored batches %+v, %v", all, err)
	}
}

// TestBatchPartialFailures: an expired batch, garbled result lines and a
// refused request. Only the items without an answer go again, each alone
// in a new batch; the refused one fails its caller for good.
func TestBatchPartialFailures(t *testing.T) { forEachProvider(t, testBatchPartialFailures) }

func testBatchPartialFailures(t *testing.T, p provider) {
	refuse := func(r *modeltest.Request) modeltest.Fault {
		if r.LastUser() == "question 1" {
			return modeltest.HTTPStatus(http.StatusBadRequest)
		}
		return modeltest.Fault{}
	}
	srv := p.server(modeltest.Echo, modeltest.WithFaults(refuse),
		modeltest.WithBatches(modeltest.BatchOptions{ExpireAfter: 6, MalformedEvery: 4, Faulty: 1}))
	defer srv.Close()
	st := openStore(t, t.TempDir())
	var waits []time.Duration
	c := batchClient(t, p, srv, st, &waits)
	ctx := context.Background()
	const n = 8
	askAll(c, n)
	if err := c.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	_, errs := askAll(c, n)
	deferred := 0
	for i, err := range errs {
		switch {
		case i == 1:
			var me *model.Error
			if !errors.As(err, &me) || model.IsTransient(err) || me.Status != 400 {
				t.Errorf("refused request: %v, want a permanent *model.Error with status 400", err)
			}
		case errors.Is(err, model.ErrDeferred):
			deferred++
		case err != nil:
			t.Errorf("request %d: %v", i, err)
		}
	}
	// Lines 4 and 8 garbled (8 also expired), 7 expired: 3 go again.
	if deferred != 3 {
		t.Errorf("%d requests deferred again, want 3 (two expired, two garbled, one both)", deferred)
	}
	if err := c.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if got := srv.BatchSizes(); len(got) != 2 || got[1] != 3 {
		t.Errorf("batch sizes %v, want [8 3]", got)
	}
	resps, errs := askAll(c, n)
	for i := range n {
		if i != 1 && (errs[i] != nil || resps[i].Choices[0].Text != fmt.Sprintf("echo: question %d", i)) {
			t.Errorf("request %d after the resubmission: %v", i, errs[i])
		}
	}
	twice := 0
	for _, k := range srv.BatchSubmissions() {
		if k > 1 {
			twice++
		}
	}
	if twice != 3 {
		t.Errorf("%d items submitted twice, want 3", twice)
	}
}

// TestBatchResumeFindsBatch: the process dies after the provider created
// the batch and before the store learned its id. The next process finds it
// (OpenAI: by the tag in its metadata; Anthropic, which keeps none: by its
// time and size) and creates none.
func TestBatchResumeFindsBatch(t *testing.T) { forEachProvider(t, testBatchResumeFindsBatch) }

func testBatchResumeFindsBatch(t *testing.T, p provider) {
	ctx, cancel := context.WithCancel(context.Background())
	srv := p.server(modeltest.Echo, modeltest.WithBatches(modeltest.BatchOptions{
		Polls: 1,
		Hold: func(route string) {
			if route == "create-batch" {
				cancel()
			}
		},
	}))
	defer srv.Close()
	dir := t.TempDir()
	st := openStore(t, dir)
	var waits []time.Duration
	c := batchClient(t, p, srv, st, &waits)
	askAll(c, 3)
	if err := c.Flush(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("flush: %v, want cancelled", err)
	}
	all, _ := st.AllBatches(context.Background())
	if len(all) != 1 || all[0].ID != "" || all[0].State != model.BatchPending {
		t.Fatalf("stored %+v, want one pending batch without an id", all)
	}

	c2 := batchClient(t, p, srv, st, &waits) // a new process over the same store
	_, errs := askAll(c2, 3)
	for _, err := range errs {
		if !errors.Is(err, model.ErrDeferred) {
			t.Fatalf("%v, want deferred", err)
		}
	}
	if err := c2.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	if srv.BatchesCreated() != 1 {
		t.Errorf("%d batches created, want 1", srv.BatchesCreated())
	}
	if resps, errs := askAll(c2, 3); errs[2] != nil || resps[2].Choices[0].Text != "echo: question 2" {
		t.Errorf("after the resume: %v", errs[2])
	}
}

// TestBatchFitsBudget: a batch is paid whole, so only as many requests as
// the budget's remainder covers (by the layer's estimate, at the batch
// price) go in it; the rest wait for the next flush, and a flush with
// nothing affordable stops the run with ErrBudgetExceeded.
func TestBatchFitsBudget(t *testing.T) {
	srv := modeltest.NewServer(modeltest.Echo, modeltest.WithBatches(modeltest.BatchOptions{}))
	defer srv.Close()
	st := openStore(t, t.TempDir())
	// Each request is estimated at 7 prompt and 50 completion tokens:
	// $0.0000155 at gpt-4o-mini's batch price, so $0.00004 covers 2.
	budget := model.NewBudget(0.00004)
	b, _, err := model.Open(context.Background(), "teacher", model.Config{Ref: "openai/gpt-4o-mini", BaseURL: srv.URL, Batch: true},
		model.Options{Cache: st, Batches: st, Budget: budget, Getenv: func(string) string { return "sk-test" }})
	if err != nil {
		t.Fatal(err)
	}
	c := b.(*model.Client)
	askAll(c, 5)
	if err := c.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := srv.BatchSizes(); len(got) != 1 || got[0] != 2 {
		t.Fatalf("batch sizes %v, want one batch of the 2 requests the budget covers", got)
	}
	budget.Charge(budget.Max()) // spent
	if err := c.Flush(context.Background()); !errors.Is(err, model.ErrBudgetExceeded) {
		t.Errorf("flush with the budget spent: %v, want ErrBudgetExceeded", err)
	}
	if n := srv.BatchesCreated(); n != 1 {
		t.Errorf("%d batches created, want 1", n)
	}
}

// flakyBatches is a BatchAPI whose calls fail as told: getFails looks
// answer 503 before one succeeds, and createStatus, when set, is what
// every create answers.
type flakyBatches struct {
	mu           sync.Mutex
	getFails     int
	createStatus int
	lostAnswer   bool // create creates, but its answer is lost (a 502)
	items        []model.BatchItem
	created      int
}

func (f *flakyBatches) Create(_ context.Context, _ string, items []model.BatchItem) (string, error) {
	if f.createStatus != 0 {
		return "", &model.HTTPError{Status: f.createStatus, Message: "refused"}
	}
	f.items = items
	f.created++
	if f.lostAnswer {
		return "", &model.HTTPError{Status: 502, Message: "bad gateway"}
	}
	return "b1", nil
}

func (f *flakyBatches) Find(context.Context, model.BatchInfo) (string, bool, error) {
	return "b1", f.created > 0, nil
}

func (f *flakyBatches) Get(context.Context, string) (model.BatchState, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.getFails > 0 {
		f.getFails--
		return model.BatchState{}, &model.HTTPError{Status: 503, Message: "busy"}
	}
	return model.BatchState{ID: "b1", Status: "ended", Ended: true}, nil
}

func (f *flakyBatches) Results(_ context.Context, _ string, _ []model.BatchItem, fn func(model.BatchResult) error) error {
	for _, it := range f.items {
		r := &model.Response{Choices: []model.Choice{{Text: "ok", FinishReason: model.FinishStop}}, Usage: model.Usage{PromptTokens: 5, CompletionTokens: 1}}
		if err := fn(model.BatchResult{CustomID: it.CustomID, Response: r, Status: 200}); err != nil {
			return err
		}
	}
	return nil
}

// noLive is a raw backend that must not be called: every request batches.
type noLive struct{}

func (noLive) Generate(context.Context, model.Request) (*model.Response, error) {
	return nil, errors.New("a live call in batch mode")
}

// TestBatchAPIFailures: a failure of the provider's batch API that may pass
// (503) is tried again at the next look; one that will not (a 400 on
// create) stops the flush with an error that names the batch; a create
// whose answer was lost is found, not made again.
func TestBatchAPIFailures(t *testing.T) {
	api := &flakyBatches{}
	model.RegisterProvider("flakybatch", model.ProviderSpec{
		New:   func(context.Context, model.ProviderConfig) (model.Backend, error) { return noLive{}, nil },
		Batch: func(context.Context, model.ProviderConfig) (model.BatchAPI, error) { return api, nil },
		Free:  true, DefaultBaseURL: "http://unused.invalid",
	})
	for _, tt := range []struct {
		name               string
		getFails, status   int
		lost               bool
		wantErr            bool
		wantWaits, wantOut int
	}{
		{"503 on looks", 2, 0, false, false, 2, 3},
		{"400 on create", 0, 400, false, true, 0, 0},
		{"create's answer lost", 0, 0, true, false, 1, 3},
	} {
		t.Run(tt.name, func(t *testing.T) {
			api.getFails, api.createStatus, api.lostAnswer, api.items, api.created = tt.getFails, tt.status, tt.lost, nil, 0
			st := openStore(t, t.TempDir())
			var waits []time.Duration
			b, _, err := model.Open(context.Background(), "m", model.Config{Ref: "flakybatch/x", Batch: true}, model.Options{
				Cache: st, Batches: st,
				Sleep: func(ctx context.Context, d time.Duration) error { waits = append(waits, d); return nil },
			})
			if err != nil {
				t.Fatal(err)
			}
			askAll(b, 3)
			err = b.(*model.Client).Flush(context.Background())
			if (err != nil) != tt.wantErr {
				t.Fatalf("flush: %v, want error %v", err, tt.wantErr)
			}
			if err != nil && !strings.Contains(err.Error(), "batch synthloop-") {
				t.Errorf("the error does not name the batch: %v", err)
			}
			if len(waits) != tt.wantWaits {
				t.Errorf("%d waits, want %d", len(waits), tt.wantWaits)
			}
			answered := 0
			resps, _ := askAll(b, 3)
			for _, r := range resps {
				if r != nil && r.Choices[0].Text == "ok" {
					answered++
				}
			}
			if answered != tt.wantOut {
				t.Errorf("%d answered, want %d", answered, tt.wantOut)
			}
			if api.created > 1 {
				t.Errorf("%d batches created, want at most 1", api.created)
			}
		})
	}
}
