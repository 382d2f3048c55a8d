package model_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"syscall"
	"testing"

	"github.com/synthloop/synthloop/model"
	"github.com/synthloop/synthloop/model/modeltest"
)

// TestIsTransientThroughTheLayer fails a call with each kind of answer and
// checks the one classification a run relies on: whether the request
// itself is at fault (permanent) or a later run may succeed (transient).
func TestIsTransientThroughTheLayer(t *testing.T) {
	tests := []struct {
		name  string
		fault modeltest.Fault
		want  bool
	}{
		{"500", modeltest.HTTPStatus(500), true},
		{"502", modeltest.HTTPStatus(502), true},
		{"503", modeltest.HTTPStatus(503), true},
		{"529 overloaded", modeltest.HTTPStatus(529), true},
		{"429 rate limit", modeltest.RateLimited(""), true},
		{"408", modeltest.HTTPStatus(408), true},
		{"reset", modeltest.Fault{Kind: modeltest.Reset}, true},
		{"truncated body", modeltest.Fault{Kind: modeltest.Truncated}, true},
		{"malformed body", modeltest.Fault{Kind: modeltest.Malformed}, true},
		{"empty choices", modeltest.Fault{Kind: modeltest.EmptyChoices}, true},
		// Refusals of every request: fixing the config cures them.
		{"401 key", modeltest.HTTPStatus(401), true},
		{"403 access", modeltest.HTTPStatus(403), true},
		{"404 model", modeltest.HTTPStatus(404), true},
		// Refusals of this request: asking again cannot help.
		{"400", modeltest.HTTPStatus(400), false},
		{"413", modeltest.HTTPStatus(413), false},
		{"422", modeltest.HTTPStatus(422), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := modeltest.NewServer(modeltest.Echo, modeltest.WithFaults(modeltest.Always(tt.fault)))
			defer srv.Close()
			c, _ := open(t, srv, model.Config{MaxRetries: 1}, model.Options{})
			_, err := c.Generate(context.Background(), req("hi"))
			if err == nil {
				t.Fatal("Generate succeeded against a failing server")
			}
			if got := model.IsTransient(err); got != tt.want {
				t.Errorf("IsTransient(%v) = %v, want %v", err, got, tt.want)
			}
			// Wrapping, as stages do, keeps the class.
			if got := model.IsTransient(fmt.Errorf("reject: generate: %w", err)); got != tt.want {
				t.Errorf("IsTransient(wrapped %v) = %v, want %v", err, got, tt.want)
			}
		})
	}
}

// TestIsTransientRawErrors classifies errors that did not go through the
// layer (a test's stand-in backend) as the layer would, and never takes the
// caller's own cancellation or budget for a transient failure.
func TestIsTransientRawErrors(t *testing.T) {
	tests := []struct {
		err  error
		want bool
	}{
		{nil, false},
		{&model.HTTPError{Status: 500}, true},
		{&model.HTTPError{Status: 429}, true},
		{&model.HTTPError{Status: 429, Code: "insufficient_quota"}, true}, // not retried now, but cured by credit
		{&model.HTTPError{Status: 400}, false},
		{syscall.ECONNREFUSED, true},
		{io.ErrUnexpectedEOF, true},
		{model.ErrEmptyResponse, true},
		{context.Canceled, false},
		{context.DeadlineExceeded, false},
		{fmt.Errorf("model: x: %w", model.ErrBudgetExceeded), false},
		{errors.New("the reply has no JSON"), false},
	}
	for _, tt := range tests {
		if got := model.IsTransient(tt.err); got != tt.want {
			t.Errorf("IsTransient(%v) = %v, want %v", tt.err, got, tt.want)
		}
	}
}
