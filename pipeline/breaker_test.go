package pipeline

import (
	"context"
	"errors"
	"testing"

	"github.com/synthloop/synthloop/model"
)

type flaky struct {
	calls int
	fail  func(call int) error
}

func (f *flaky) Generate(ctx context.Context, req model.Request) (*model.Response, error) {
	f.calls++
	if err := f.fail(f.calls); err != nil {
		return nil, err
	}
	return &model.Response{Choices: []model.Choice{{Text: "ok"}}}, nil
}

func TestBreaker(t *testing.T) {
	down := errors.New("connection refused")
	tests := []struct {
		name      string
		fail      func(int) error
		calls     int
		wantTrip  bool
		wantCalls int // calls that reached the backend
	}{
		{"always failing trips at the limit", func(int) error { return down }, 6, true, 3},
		{"a success resets the count", func(c int) error {
			if c%3 == 0 {
				return nil
			}
			return down
		}, 9, false, 9},
		{"budget errors do not count", func(int) error { return model.ErrBudgetExceeded }, 6, false, 6},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := &flaky{fail: tt.fail}
			br := &breaker{b: f, name: "m", limit: 3}
			var last error
			for range tt.calls {
				_, last = br.Generate(context.Background(), model.Request{})
			}
			if got := errors.Is(last, ErrBackendDown); got != tt.wantTrip {
				t.Errorf("last error %v: tripped %v, want %v", last, got, tt.wantTrip)
			}
			if f.calls != tt.wantCalls {
				t.Errorf("backend saw %d calls, want %d", f.calls, tt.wantCalls)
			}
			if tt.wantTrip && !IsStop(last) {
				t.Error("a tripped breaker's error must stop the stage")
			}
		})
	}
}
