package model

import (
	"slices"
	"testing"
)

func TestBreakpoints(t *testing.T) {
	sys, user, asst := Message{Role: "system"}, Message{Role: "user"}, Message{Role: "assistant"}
	tests := []struct {
		msgs         []Message
		conv, system []int
	}{
		{nil, nil, nil},
		{[]Message{user}, []int{0}, nil},
		{[]Message{sys}, []int{0}, []int{0}},
		{[]Message{sys, user}, []int{0, 1}, []int{0}},
		{[]Message{user, asst, user}, []int{2}, nil},
		{[]Message{sys, user, asst, user}, []int{0, 3}, []int{0}},
	}
	for _, tt := range tests {
		if got := ConversationBreakpoints(tt.msgs); !slices.Equal(got, tt.conv) {
			t.Errorf("ConversationBreakpoints(%v) = %v, want %v", tt.msgs, got, tt.conv)
		}
		if got := SystemBreakpoint(tt.msgs); !slices.Equal(got, tt.system) {
			t.Errorf("SystemBreakpoint(%v) = %v, want %v", tt.msgs, got, tt.system)
		}
	}
}
