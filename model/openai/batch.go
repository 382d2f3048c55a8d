package openai

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"

	sdk "github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
	"github.com/openai/openai-go/v3/shared"

	"github.com/synthloop/synthloop/model"
)

// TagKey is the batch metadata key that holds synthloop's tag of a batch,
// by which a resumed run finds a batch it created before it was killed.
const TagKey = "synthloop_batch"

// chatPath is the endpoint every batch line goes to.
const chatPath = "/v1/chat/completions"

// BatchAPI is OpenAI's Batch API (files + batches) through the SDK: the
// requests go up as one JSONL file with purpose "batch", the batch runs
// within 24 hours, and the answers come back as output and error files.
type BatchAPI struct {
	b       *Backend // builds each line's body as Generate would
	files   sdk.FileService
	batches sdk.BatchService
}

// NewBatchAPI builds the batch API of pc's endpoint.
func NewBatchAPI(_ context.Context, pc model.ProviderConfig) (model.BatchAPI, error) {
	opts, err := requestOptions(pc)
	if err != nil {
		return nil, err
	}
	return &BatchAPI{
		b:     &Backend{pc: pc},
		files: sdk.NewFileService(opts...), batches: sdk.NewBatchService(opts...),
	}, nil
}

// inputLine is one line of a batch's input file.
type inputLine struct {
	CustomID string                      `json:"custom_id"`
	Method   string                      `json:"method"`
	URL      string                      `json:"url"`
	Body     sdk.ChatCompletionNewParams `json:"body"`
}

// Create implements model.BatchAPI.
func (a *BatchAPI) Create(ctx context.Context, tag string, items []model.BatchItem) (string, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	for _, it := range items {
		p, err := a.b.params(it.Request)
		if err != nil {
			return "", fmt.Errorf("openai: batch item %s: %w", it.CustomID, err)
		}
		if err := enc.Encode(inputLine{CustomID: it.CustomID, Method: http.MethodPost, URL: chatPath, Body: p}); err != nil {
			return "", fmt.Errorf("openai: batch item %s: %w", it.CustomID, err)
		}
	}
	f, err := a.files.New(ctx, sdk.FileNewParams{
		File:    sdk.File(&buf, tag+".jsonl", "application/jsonl"),
		Purpose: sdk.FilePurposeBatch,
	})
	if err != nil {
		return "", fmt.Errorf("openai: upload batch file: %w", err)
	}
	bt, err := a.batches.New(ctx, sdk.BatchNewParams{
		CompletionWindow: sdk.BatchNewParamsCompletionWindow24h,
		Endpoint:         sdk.BatchNewParamsEndpointV1ChatCompletions,
		InputFileID:      f.ID,
		Metadata:         shared.Metadata{TagKey: tag},
	})
	if err != nil {
		return "", fmt.Errorf("openai: create batch: %w", err)
	}
	return bt.ID, nil
}

// findLimit bounds the batches Find looks through, newest first: a batch
// being resumed is among the account's recent ones.
const findLimit = 10000

// Find implements model.BatchAPI.
func (a *BatchAPI) Find(ctx context.Context, b model.BatchInfo) (string, bool, error) {
	it := a.batches.ListAutoPaging(ctx, sdk.BatchListParams{Limit: sdk.Int(100)})
	for n := 0; n < findLimit && it.Next(); n++ {
		if bt := it.Current(); bt.Metadata[TagKey] == b.Tag {
			return bt.ID, true, nil
		}
	}
	if err := it.Err(); err != nil {
		return "", false, fmt.Errorf("openai: list batches: %w", err)
	}
	return "", false, nil
}

// Get implements model.BatchAPI.
func (a *BatchAPI) Get(ctx context.Context, id string) (model.BatchState, error) {
	bt, err := a.batches.Get(ctx, id)
	if err != nil {
		return model.BatchState{}, fmt.Errorf("openai: batch %s: %w", id, err)
	}
	return state(bt), nil
}

func state(bt *sdk.Batch) model.BatchState {
	st := model.BatchState{
		ID: bt.ID, Status: string(bt.Status), Total: int(bt.RequestCounts.Total),
		Succeeded: int(bt.RequestCounts.Completed), Failed: int(bt.RequestCounts.Failed),
	}
	switch bt.Status {
	case sdk.BatchStatusCompleted, sdk.BatchStatusExpired, sdk.BatchStatusCancelled, sdk.BatchStatusFailed:
		st.Ended = true
	}
	return st
}

// Results implements model.BatchAPI: the output file's lines, then the
// error file's.
func (a *BatchAPI) Results(ctx context.Context, id string, _ []model.BatchItem, fn func(model.BatchResult) error) error {
	bt, err := a.batches.Get(ctx, id)
	if err != nil {
		return fmt.Errorf("openai: batch %s: %w", id, err)
	}
	for _, fid := range []string{bt.OutputFileID, bt.ErrorFileID} {
		if fid == "" {
			continue
		}
		if err := a.readFile(ctx, fid, fn); err != nil {
			return fmt.Errorf("openai: batch %s: file %s: %w", id, fid, err)
		}
	}
	return nil
}

func (a *BatchAPI) readFile(ctx context.Context, fid string, fn func(model.BatchResult) error) error {
	res, err := a.files.Content(ctx, fid, option.WithHeader("Accept", "application/binary"))
	if err != nil {
		return err
	}
	defer res.Body.Close()
	sc := bufio.NewScanner(res.Body)
	sc.Buffer(make([]byte, 0, 64<<10), 64<<20)
	for sc.Scan() {
		if len(bytes.TrimSpace(sc.Bytes())) == 0 {
			continue
		}
		if err := fn(ParseResultLine(sc.Bytes())); err != nil {
			return err
		}
	}
	if err := sc.Err(); err != nil && !errors.Is(err, io.EOF) {
		return err
	}
	return nil
}

// resultLine is one line of a batch's output or error file.
type resultLine struct {
	ID       string `json:"id"`
	CustomID string `json:"custom_id"`
	Response *struct {
		StatusCode int             `json:"status_code"`
		RequestID  string          `json:"request_id"`
		Body       json.RawMessage `json:"body"`
	} `json:"response"`
	Error *struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

// ParseResultLine reads one line of an output or error file. A line that
// cannot be read is a result to retry, under its custom id when even that
// much could be read.
func ParseResultLine(line []byte) model.BatchResult {
	var l resultLine
	if err := json.Unmarshal(line, &l); err != nil {
		var id struct {
			CustomID string `json:"custom_id"`
		}
		_ = json.Unmarshal(line, &id)
		return model.BatchResult{CustomID: id.CustomID, Retry: true, Err: fmt.Errorf("openai: batch result line: %w", model.ErrMalformedResponse)}
	}
	r := model.BatchResult{CustomID: l.CustomID}
	switch {
	case l.Error != nil && (l.Response == nil || l.Response.StatusCode == 0):
		// batch_expired and batch_cancelled are the batch's doing, not the
		// request's; other codes are the request's own.
		r.Err = fmt.Errorf("openai: batch item: %s: %s", l.Error.Code, l.Error.Message)
		r.Retry = l.Error.Code == "batch_expired" || l.Error.Code == "batch_cancelled"
	case l.Response == nil:
		r.Err, r.Retry = fmt.Errorf("openai: batch result line has neither response nor error: %w", model.ErrMalformedResponse), true
	case l.Response.StatusCode != http.StatusOK:
		r.Status = l.Response.StatusCode
		msg := string(l.Response.Body)
		var e struct {
			Error struct {
				Message string `json:"message"`
			} `json:"error"`
		}
		if json.Unmarshal(l.Response.Body, &e) == nil && e.Error.Message != "" {
			msg = e.Error.Message
		}
		r.Err = fmt.Errorf("openai: batch item: HTTP %d: %s", r.Status, msg)
		r.Retry = r.Status == 408 || r.Status == 409 || r.Status == 429 || r.Status >= 500
	default:
		var cc sdk.ChatCompletion
		if err := cc.UnmarshalJSON(l.Response.Body); err != nil || len(cc.Choices) == 0 {
			r.Err, r.Retry = fmt.Errorf("openai: batch item body: %w", model.ErrMalformedResponse), true
			break
		}
		r.Status, r.Response = http.StatusOK, convert(&cc, nil)
	}
	return r
}
