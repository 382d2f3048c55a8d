package pipeline_test

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/synthloop/synthloop/model"
	"github.com/synthloop/synthloop/pipeline"
)

func TestMustReturn(t *testing.T) {
	tests := []struct {
		err  error
		want bool
	}{
		{context.Canceled, true},
		{fmt.Errorf("model: m: %w", model.ErrBudgetExceeded), true},
		{fmt.Errorf("generate: %w", pipeline.ErrBackendDown), true},
		{fmt.Errorf("reject: generate: %w", serverError), true},
		{&model.HTTPError{Status: 503}, true},
		{&model.HTTPError{Status: 429}, true},
		{&model.HTTPError{Status: 400}, false},
		{errors.New("no candidate could be scored"), false},
	}
	for _, tt := range tests {
		if got := pipeline.MustReturn(context.Background(), tt.err); got != tt.want {
			t.Errorf("MustReturn(%v) = %v, want %v", tt.err, got, tt.want)
		}
	}
	// Under a unit's ended ctx any failure is returned: the call was cut
	// short, so it says nothing about the record.
	ended, cancel := context.WithCancel(context.Background())
	cancel()
	if !pipeline.MustReturn(ended, &model.HTTPError{Status: 400}) {
		t.Error("MustReturn under an ended ctx = false, want true")
	}
}
