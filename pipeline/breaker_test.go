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
	refused := &model.HTTPError{Status: 400} // every request refused: permanent
	outage := &model.HTTPError{Status: 503}  // the server is down: transient
	tests := []struct {
		name          string
		fail          func(int) error
		calls         int
		wantTrip      bool
		wantCalls     int  // calls that reached the backend
		wantTransient bool // the tripped error matches ErrTransient
	}{
		{"always failing trips at the limit", func(int) error { return refused }, 6, true, 3, false},
		{"an outage trips as transient", func(int) error { return outage }, 6, true, 3, true},
		{"a success resets the count", func(c int) error {
			if c%3 == 0 {
				return nil
			}
			return refused
		}, 9, false, 9, false},
		{"budget errors do not count", func(int) error { return model.ErrBudgetExceeded }, 6, false, 6, false},
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
			if got := errors.Is(last, ErrTransient); tt.wantTrip && got != tt.wantTransient {
				t.Errorf("tripped on %v: matches ErrTransient %v, want %v", last, got, tt.wantTransient)
			}
		})
	}
}
