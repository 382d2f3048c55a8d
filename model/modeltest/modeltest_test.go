package modeltest_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/synthloop/synthloop/model"
	"github.com/synthloop/synthloop/model/modeltest"
	_ "github.com/synthloop/synthloop/model/openai"
)

func post(t *testing.T, url, body string) (*http.Response, []byte, error) {
	t.Helper()
	res, err := http.Post(url, "application/json", strings.NewReader(body))
	if err != nil {
		return nil, nil, err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	return res, b, err
}

const chatBody = `{"model":"m","messages":[{"role":"user","content":"hi"}],"n":2}`

func TestFaultKinds(t *testing.T) {
	tests := []struct {
		fault modeltest.Fault
		check func(t *testing.T, res *http.Response, body []byte, err error)
	}{
		{modeltest.Fault{}, func(t *testing.T, res *http.Response, body []byte, err error) {
			var out struct {
				Choices []struct {
					Message      struct{ Content string }
					FinishReason string `json:"finish_reason"`
				}
				Usage struct {
					PromptTokens int `json:"prompt_tokens"`
				}
			}
			if err != nil || json.Unmarshal(body, &out) != nil || len(out.Choices) != 2 || out.Choices[1].Message.Content != "echo: hi #1" ||
				out.Choices[0].FinishReason != "stop" || out.Usage.PromptTokens == 0 {
				t.Errorf("good answer: %s, %v", body, err)
			}
		}},
		{modeltest.RateLimited("3"), func(t *testing.T, res *http.Response, body []byte, err error) {
			if err != nil || res.StatusCode != 429 || res.Header.Get("Retry-After") != "3" || !bytes.Contains(body, []byte(`"rate_limit_exceeded"`)) {
				t.Errorf("429: %v %s %v", res, body, err)
			}
		}},
		{modeltest.HTTPStatus(503), func(t *testing.T, res *http.Response, body []byte, err error) {
			if err != nil || res.StatusCode != 503 || !bytes.Contains(body, []byte("injected 503")) {
				t.Errorf("503: %v %s %v", res, body, err)
			}
		}},
		{modeltest.Fault{Kind: modeltest.Reset}, func(t *testing.T, res *http.Response, body []byte, err error) {
			if err == nil {
				t.Errorf("reset: got a response %v", res)
			}
		}},
		{modeltest.Fault{Kind: modeltest.Truncated}, func(t *testing.T, res *http.Response, body []byte, err error) {
			if !errors.Is(err, io.ErrUnexpectedEOF) || len(body) == 0 {
				t.Errorf("truncated: %q, %v", body, err)
			}
		}},
		{modeltest.Fault{Kind: modeltest.Malformed}, func(t *testing.T, res *http.Response, body []byte, err error) {
			if err != nil || res.StatusCode != 200 || json.Valid(body) {
				t.Errorf("malformed: %s, %v", body, err)
			}
		}},
		{modeltest.Fault{Kind: modeltest.EmptyChoices}, func(t *testing.T, res *http.Response, body []byte, err error) {
			if err != nil || !bytes.Contains(body, []byte(`"choices":[]`)) {
				t.Errorf("empty: %s, %v", body, err)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.fault.Kind.String(), func(t *testing.T) {
			srv := modeltest.NewServer(modeltest.Echo, modeltest.WithFaults(modeltest.Always(tt.fault)))
			defer srv.Close()
			res, body, err := post(t, srv.URL+"/chat/completions", chatBody)
			tt.check(t, res, body, err)
			if tt.fault.Kind != modeltest.NoFault && srv.Faults(tt.fault.Kind) != 1 {
				t.Errorf("Faults(%v) = %d", tt.fault.Kind, srv.Faults(tt.fault.Kind))
			}
		})
	}
}

func TestStallEndsWhenClientLeaves(t *testing.T) {
	srv := modeltest.NewServer(modeltest.Echo, modeltest.WithFaults(modeltest.Always(modeltest.StallFor(time.Hour))))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Millisecond)
	defer cancel()
	rq, _ := http.NewRequestWithContext(ctx, "POST", srv.URL+"/chat/completions", strings.NewReader(chatBody))
	if _, err := http.DefaultClient.Do(rq); err == nil {
		t.Fatal("a stalled request answered")
	}
	done := make(chan struct{})
	go func() { srv.Close(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Close hung on a stalled handler")
	}
}

func TestSchedules(t *testing.T) {
	f := modeltest.HTTPStatus(500)
	r := func(num, attempt int, key string) *modeltest.Request {
		return &modeltest.Request{Number: num, Attempt: attempt, Key: key}
	}
	if modeltest.FirstAttempts(2, f)(r(9, 2, "a")).Kind != modeltest.Status || modeltest.FirstAttempts(2, f)(r(9, 3, "a")).Kind != modeltest.NoFault {
		t.Error("FirstAttempts")
	}
	seq := modeltest.Sequence(f, modeltest.Fault{}, f)
	var got []modeltest.FaultKind
	for n := 1; n <= 4; n++ {
		got = append(got, seq(r(n, 1, "")).Kind)
	}
	if fmt.Sprint(got) != "[status none status none]" {
		t.Errorf("Sequence: %v", got)
	}
	if modeltest.OnRequests(f, 2, 5)(r(5, 1, "")).Kind != modeltest.Status || modeltest.OnRequests(f, 2, 5)(r(3, 1, "")).Kind != modeltest.NoFault {
		t.Error("OnRequests")
	}
	rnd := modeltest.Randomly(0.5, 7, f)
	hits := 0
	for i := range 1000 {
		k := fmt.Sprint(i)
		if rnd(r(i, 1, k)) != rnd(r(1000-i, 1, k)) {
			t.Fatal("Randomly depends on arrival order")
		}
		if rnd(r(i, 1, k)).Kind != modeltest.NoFault {
			hits++
		}
	}
	if hits < 400 || hits > 600 {
		t.Errorf("Randomly(0.5) faulted %d of 1000", hits)
	}
}

func TestCounters(t *testing.T) {
	srv := modeltest.NewServer(modeltest.Echo, modeltest.WithModels("a", "b"))
	defer srv.Close()
	// Same request with a different key order and spacing: same Key.
	post(t, srv.URL+"/chat/completions", `{"model":"m","messages":[{"role":"user","content":"hi"}]}`)
	post(t, srv.URL+"/chat/completions", `{ "messages":[{"content":"hi","role":"user"}], "model":"m" }`)
	post(t, srv.URL+"/chat/completions", `{"model":"m","messages":[{"role":"user","content":"other"}]}`)
	log := srv.Log()
	if srv.Requests() != 3 || len(srv.Keys()) != 2 || srv.Duplicates() != 1 || log[1].Attempt != 2 || srv.RequestsFor(log[0].Key) != 2 {
		t.Fatalf("requests %d keys %v dup %d", srv.Requests(), srv.Keys(), srv.Duplicates())
	}
	res, body, err := func() (*http.Response, []byte, error) {
		res, err := http.Get(srv.URL + "/models")
		if err != nil {
			return nil, nil, err
		}
		defer res.Body.Close()
		b, err := io.ReadAll(res.Body)
		return res, b, err
	}()
	if err != nil || res.StatusCode != 200 || !bytes.Contains(body, []byte(`"id":"b"`)) {
		t.Fatalf("/v1/models: %s %v", body, err)
	}
}

func TestWithoutLog(t *testing.T) {
	srv := modeltest.NewServer(modeltest.Echo, modeltest.WithoutLog())
	defer srv.Close()
	post(t, srv.URL+"/chat/completions", `{"model":"m","messages":[{"role":"user","content":"hi"}]}`)
	post(t, srv.URL+"/chat/completions", `{ "messages":[{"content":"hi","role":"user"}], "model":"m" }`)
	if n, keys, log := srv.Requests(), len(srv.Keys()), srv.Log(); n != 2 || keys != 1 || srv.Duplicates() != 1 || len(log) != 0 {
		t.Fatalf("WithoutLog: %d requests, %d keys, %d duplicates, %d logged; want 2, 1, 1, 0", n, keys, srv.Duplicates(), len(log))
	}
}

func TestCapacity(t *testing.T) {
	srv := modeltest.NewServer(modeltest.Echo, modeltest.WithCapacity(1), modeltest.WithLatency(100*time.Millisecond))
	defer srv.Close()
	codes := make(chan int, 2)
	for range 2 {
		go func() {
			res, _, err := post(t, srv.URL+"/chat/completions", chatBody)
			if err != nil {
				codes <- 0
				return
			}
			codes <- res.StatusCode
		}()
	}
	a, b := <-codes, <-codes
	if a+b != 200+429 {
		t.Fatalf("status codes %d, %d; want one 200 and one 429", a, b)
	}
	if d := srv.Busy(); d < 100*time.Millisecond {
		t.Errorf("busy %v, want at least the served request's 100ms", d)
	}
}

// TestBusy: a faulted request adds nothing to Busy, a served one its time.
func TestBusy(t *testing.T) {
	srv := modeltest.NewServer(modeltest.Echo, modeltest.WithLatency(10*time.Millisecond),
		modeltest.WithFaults(modeltest.OnRequests(modeltest.RateLimited("0"), 1)))
	defer srv.Close()
	for i, want := range []int{429, 200} {
		res, _, err := post(t, srv.URL+"/chat/completions", chatBody)
		if err != nil || res.StatusCode != want {
			t.Fatalf("request %d: %v %v, want %d", i+1, res, err, want)
		}
		if d := srv.Busy(); (i == 0) != (d == 0) || i == 1 && d < 10*time.Millisecond {
			t.Errorf("after request %d: busy %v", i+1, d)
		}
	}
}

// Example shows a test server that rate-limits the first attempt of every
// request, and a backend that rides it out.
func Example() {
	srv := modeltest.NewServer(modeltest.Echo,
		modeltest.WithFaults(modeltest.FirstAttempts(1, modeltest.RateLimited("0"))))
	defer srv.Close()

	b, _, err := model.Open(context.Background(), "test",
		model.Config{Ref: "openai-compatible/test-model", BaseURL: srv.URL}, model.Options{})
	if err != nil {
		panic(err)
	}
	resp, err := b.Generate(context.Background(), model.Request{
		Messages: []model.Message{{Role: "user", Content: "hello"}},
	})
	if err != nil {
		panic(err)
	}
	fmt.Println(resp.Choices[0].Text, srv.Requests())
	// Output: echo: hello 2
}
