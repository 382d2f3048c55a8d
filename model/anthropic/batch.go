package anthropic

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"time"

	sdk "github.com/anthropics/anthropic-sdk-go/v2"
	"github.com/anthropics/anthropic-sdk-go/v2/option"

	"github.com/synthloop/synthloop/model"
)

// BatchAPI is Anthropic's Message Batches through the SDK: every request
// goes up in the create call, the batch ends within 24 hours, and its
// results stream back as JSONL, one line per request, in any order.
type BatchAPI struct {
	b       *Backend // builds each request's params as Generate would
	batches sdk.MessageBatchService
}

// NewBatchAPI builds the batch API of pc's endpoint.
func NewBatchAPI(_ context.Context, pc model.ProviderConfig) (model.BatchAPI, error) {
	opts, err := requestOptions(pc)
	if err != nil {
		return nil, err
	}
	return &BatchAPI{b: &Backend{pc: pc}, batches: sdk.NewMessageBatchService(opts...)}, nil
}

// batchRequest is one request of a create call, its params as Generate
// would send them (the raw temperature and top_p included).
type batchRequest struct {
	CustomID string          `json:"custom_id"`
	Params   json.RawMessage `json:"params"`
}

// Create implements model.BatchAPI. Message Batches keep no metadata, so
// the tag stays in the run store only; Find matches by time and size.
func (a *BatchAPI) Create(ctx context.Context, _ string, items []model.BatchItem) (string, error) {
	reqs := make([]batchRequest, len(items))
	for i, it := range items {
		p, extra, _, err := a.b.params(it.Request)
		if err != nil {
			return "", fmt.Errorf("anthropic: batch item %s: %w", it.CustomID, err)
		}
		cacheBreakpoints(&p, it.Request.Messages, it.Request.CacheBreakpoints)
		raw, err := json.Marshal(p)
		if err != nil {
			return "", fmt.Errorf("anthropic: batch item %s: %w", it.CustomID, err)
		}
		if len(extra) > 0 {
			var m map[string]json.RawMessage
			if err := json.Unmarshal(raw, &m); err != nil {
				return "", fmt.Errorf("anthropic: batch item %s: %w", it.CustomID, err)
			}
			for k, v := range extra {
				m[k], _ = json.Marshal(v)
			}
			raw, _ = json.Marshal(m)
		}
		reqs[i] = batchRequest{CustomID: it.CustomID, Params: raw}
	}
	// The params go in as JSON: the batch params type is the Messages
	// params under another name, and this keeps them byte for byte.
	bt, err := a.batches.New(ctx, sdk.MessageBatchNewParams{}, option.WithJSONSet("requests", reqs))
	if err != nil {
		return "", fmt.Errorf("anthropic: create message batch: %w", err)
	}
	return bt.ID, nil
}

// findSkew is how long before its row was committed a batch may have been
// created by the provider's clock and still be taken for it.
const findSkew = 5 * time.Minute

// Find implements model.BatchAPI: the oldest batch of b's size created
// since b was committed. Taking another batch of the same size by mistake
// costs time, not correctness: its results do not carry b's custom ids
// (the requests' cache keys), so b's items find no result there and are
// sent again.
func (a *BatchAPI) Find(ctx context.Context, b model.BatchInfo) (string, bool, error) {
	it := a.batches.ListAutoPaging(ctx, sdk.MessageBatchListParams{Limit: sdk.Int(100)})
	id, found := "", false
	for it.Next() {
		bt := it.Current()
		if bt.CreatedAt.Before(b.Created.Add(-findSkew)) {
			break // newest first: the rest are older still
		}
		c := bt.RequestCounts
		if int(c.Processing+c.Succeeded+c.Errored+c.Canceled+c.Expired) == b.Items {
			id, found = bt.ID, true
		}
	}
	if err := it.Err(); err != nil {
		return "", false, fmt.Errorf("anthropic: list message batches: %w", err)
	}
	return id, found, nil
}

// Get implements model.BatchAPI.
func (a *BatchAPI) Get(ctx context.Context, id string) (model.BatchState, error) {
	bt, err := a.batches.Get(ctx, id, sdk.MessageBatchGetParams{})
	if err != nil {
		return model.BatchState{}, fmt.Errorf("anthropic: message batch %s: %w", id, err)
	}
	c := bt.RequestCounts
	return model.BatchState{
		ID: bt.ID, Status: string(bt.ProcessingStatus), Ended: bt.ProcessingStatus == sdk.MessageBatchProcessingStatusEnded,
		Total:     int(c.Processing + c.Succeeded + c.Errored + c.Canceled + c.Expired),
		Succeeded: int(c.Succeeded), Failed: int(c.Errored + c.Canceled + c.Expired),
	}, nil
}

// Results implements model.BatchAPI.
func (a *BatchAPI) Results(ctx context.Context, id string, items []model.BatchItem, fn func(model.BatchResult) error) error {
	tools := make(map[string]string, len(items))
	for _, it := range items {
		if _, _, tool, err := a.b.params(it.Request); err == nil {
			tools[it.CustomID] = tool
		}
	}
	st := a.batches.ResultsStreaming(ctx, id, sdk.MessageBatchResultsParams{}, option.WithMiddleware(guardLines))
	defer st.Close()
	for st.Next() {
		if err := fn(result(st.Current(), tools)); err != nil {
			return err
		}
	}
	if err := st.Err(); err != nil {
		return fmt.Errorf("anthropic: message batch %s results: %w", id, err)
	}
	return nil
}

// malformedType is the result type guardLines gives a line that is not JSON.
const malformedType = "synthloop_malformed"

// guardLines replaces each line of a results stream that is not JSON by a
// result of type malformedType: the SDK's JSONL stream stops at the first
// line it cannot decode, and one garbled line must not cost the rest.
func guardLines(req *http.Request, next option.MiddlewareNext) (*http.Response, error) {
	res, err := next(req)
	if err != nil || res.StatusCode != http.StatusOK {
		return res, err
	}
	body := res.Body
	pr, pw := io.Pipe()
	go func() {
		defer body.Close()
		sc := bufio.NewScanner(body)
		sc.Buffer(make([]byte, 0, 64<<10), 64<<20)
		w := bufio.NewWriter(pw)
		for sc.Scan() {
			line := sc.Bytes()
			if len(line) == 0 {
				continue
			}
			if !json.Valid(line) {
				line = []byte(`{"custom_id":"","result":{"type":"` + malformedType + `"}}`)
			}
			w.Write(line)
			w.WriteByte('\n')
		}
		err := sc.Err()
		if ferr := w.Flush(); err == nil {
			err = ferr
		}
		pw.CloseWithError(err)
	}()
	res.Body = pr
	return res, nil
}

// result reads one line of a batch's results; tools holds the forced tool
// of each structured-output request.
func result(r sdk.MessageBatchIndividualResponse, tools map[string]string) model.BatchResult {
	out := model.BatchResult{CustomID: r.CustomID}
	switch r.Result.Type {
	case "succeeded":
		resp := withCacheUsage(convert(&r.Result.Message, tools[r.CustomID]), r.Result.Message.Usage)
		if len(resp.Choices) == 0 {
			out.Err, out.Retry = fmt.Errorf("anthropic: batch item has an empty message: %w", model.ErrMalformedResponse), true
			break
		}
		out.Response, out.Status = resp, http.StatusOK
	case "errored":
		e := r.Result.Error.Error
		out.Err = fmt.Errorf("anthropic: batch item: %s: %s", e.Type, e.Message)
		switch e.Type {
		case "api_error", "overloaded_error", "rate_limit_error", "timeout_error":
			out.Retry = true
		case "invalid_request_error":
			out.Status = http.StatusBadRequest
		}
	case "canceled", "expired":
		out.Err, out.Retry = fmt.Errorf("anthropic: batch item %s", r.Result.Type), true
	default:
		out.Err, out.Retry = fmt.Errorf("anthropic: batch result of type %q: %w", r.Result.Type, model.ErrMalformedResponse), true
	}
	return out
}

// ParseResultLine reads one line of a results stream as Results does.
func ParseResultLine(line []byte) model.BatchResult {
	var r sdk.MessageBatchIndividualResponse
	if !json.Valid(line) || json.Unmarshal(line, &r) != nil {
		return model.BatchResult{Retry: true, Err: fmt.Errorf("anthropic: batch result line: %w", model.ErrMalformedResponse)}
	}
	return result(r, nil)
}
