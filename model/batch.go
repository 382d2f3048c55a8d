package model

import (
	"context"
	"errors"
	"time"
)

// This file declares what the batch path needs from providers and from the
// run store; batcher.go is the part of the layer that uses them.

// ErrDeferred is returned (wrapped) by a model in batch mode for samples it
// has queued for a provider batch rather than asked for now. It is neither a
// failure nor transient: the caller leaves the work undone, has the backend
// flush its batches (BatchFlusher), and asks again, when the answers are in
// the response cache. pipeline.RunUnits does exactly that.
var ErrDeferred = errors.New("model: request deferred to a provider batch")

// BatchItem is one request of a batch: one sample (N is 1), under the
// custom id by which its result is matched, the sample's cache key.
type BatchItem struct {
	CustomID string  `json:"custom_id"`
	Request  Request `json:"request"`
}

// BatchResult is what a provider's batch answered for one item.
type BatchResult struct {
	CustomID string
	// Response is the answer of a succeeded item, nil otherwise.
	Response *Response
	// Err says why an item has no answer. Retry reports a cause that says
	// nothing against the request (the batch expired or was cancelled
	// first, a 5xx, a result line that could not be read): such an item is
	// resubmitted alone in a later batch. Otherwise the request itself was
	// refused and its record fails.
	Err   error
	Retry bool
	// Status is the item's HTTP status where the provider gives one.
	Status int
}

// Batch states, normalised across providers; BatchState.Status keeps the
// provider's own word.
const (
	BatchPending  = "pending"  // committed to the store, not yet created at the provider
	BatchRunning  = "running"  // created; the provider is working on it
	BatchEnded    = "ended"    // the provider is done with it; results may be read
	BatchFinished = "finished" // its results are read and committed
)

// BatchState is a provider batch as the provider last reported it.
type BatchState struct {
	ID     string
	Status string // the provider's word: "in_progress", "completed", "expired", "ended", ...
	Ended  bool   // results (or what is left of them) can be read
	// Counts of items, where the provider reports them.
	Total, Succeeded, Failed int
}

// BatchAPI is a provider's batch endpoint, as the layer uses it. Safe for
// concurrent use; every method blocks on the network. A batch's tag is
// synthloop's own id of it, committed to the run store with its requests
// before Create is called, so that Find can tell, after a crash, whether
// Create got through: four methods because finding an existing batch is
// what makes a resume never create a second one.
type BatchAPI interface {
	// Create uploads items as one batch tagged tag and returns its id.
	Create(ctx context.Context, tag string, items []BatchItem) (id string, err error)
	// Find returns the id of the batch b was created as, if the provider
	// has one: by its tag where the provider keeps metadata on a batch,
	// otherwise by what it can see of it.
	Find(ctx context.Context, b BatchInfo) (id string, ok bool, err error)
	// Get reports the batch's state.
	Get(ctx context.Context, id string) (BatchState, error)
	// Results calls fn for each item result of an ended batch, in the
	// provider's order; items are the batch's requests still without a
	// result. A line that cannot be read is a result with Retry set and,
	// when even its custom id is unreadable, an empty CustomID. An error
	// from fn stops the reading and is returned.
	Results(ctx context.Context, id string, items []BatchItem, fn func(BatchResult) error) error
}

// MaxBatchItems is the most items one provider batch holds: OpenAI takes
// up to 50,000 requests per batch file, Anthropic 100,000 per batch.
const MaxBatchItems = 50000

// BatchInfo is a batch as the run store keeps it.
type BatchInfo struct {
	Tag      string // synthloop's id, sent as the batch's metadata
	Model    string // the config's model name
	Provider string
	ID       string // the provider's batch id, "" until created
	State    string // BatchPending, BatchRunning, BatchEnded or BatchFinished
	Status   string // the provider's last word on it
	Items    int
	// Succeeded and Failed count the items whose results are committed.
	Succeeded, Failed int
	Created, Updated  time.Time
}

// BatchStore keeps batches in the run store, so that a batch is created
// once however often the run is killed and resumed. Safe for concurrent
// use; every method commits before it returns.
type BatchStore interface {
	// AddBatch commits a new batch and its request map (custom id to
	// request), before anything is sent to the provider.
	AddBatch(ctx context.Context, b BatchInfo, items []BatchItem) error
	// UpdateBatch records a batch's provider id, state and status.
	UpdateBatch(ctx context.Context, b BatchInfo) error
	// Batches returns model's batches that are not BatchFinished, oldest
	// first, each with the items whose results are not committed yet.
	Batches(ctx context.Context, model string) ([]BatchInfo, [][]BatchItem, error)
	// BatchResult commits one item's result: cacheKey and cacheVal go to
	// the response cache (cacheVal nil for none), and the item is marked
	// "done", "failed" (errText says why) or "retry" (resubmitted later), in
	// one transaction, so that a result is never read twice into the run.
	BatchResult(ctx context.Context, tag, customID, state, errText string, cacheKey string, cacheVal []byte) error
}

// BatchFlusher is implemented by backends that defer requests to provider
// batches (a *Client with batches on, and its Batched view). Flush creates
// a batch of everything deferred so far, waits for every open batch of the
// model to end, polling with a backoff, and commits the results as it
// reads them. It returns early with ctx's error, leaving the batches
// running at the provider for a rerun to pick up.
type BatchFlusher interface {
	Flush(ctx context.Context) error
}

type noteKey struct{}

// WithNote returns ctx carrying fn, which the model layer calls with a line
// for people to read while it waits on a provider (a batch that may take
// hours), and with "" when it stops waiting. A progress display shows it.
func WithNote(ctx context.Context, fn func(string)) context.Context {
	return context.WithValue(ctx, noteKey{}, fn)
}

// note passes msg to ctx's WithNote function, if any.
func note(ctx context.Context, msg string) {
	if fn, ok := ctx.Value(noteKey{}).(func(string)); ok {
		fn(msg)
	}
}
