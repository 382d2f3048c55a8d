// Package modeltest runs scripted, fault-injecting stand-ins for the OpenAI chat completions and Anthropic Messages APIs on httptest, for offline tests and demos.
//
// A Server answers each request with what a Responder returns, unless its
// fault Schedule injects a failure (an HTTP error status with Retry-After, a
// stall past the client's timeout, a reset connection, a truncated or
// malformed body, an empty choices list). It counts requests in total and per
// canonical request key so a test can check that nothing was sent twice.
//
//	srv := modeltest.NewServer(modeltest.Echo,
//		modeltest.WithFaults(modeltest.FirstAttempts(1, modeltest.RateLimited("1"))))
//	defer srv.Close()
//	cfg := model.Config{Ref: "openai-compatible/test", BaseURL: srv.URL}
//
// Everything is deterministic given the Responder and Schedule, except the
// arrival order (Request.Number) of concurrent requests; schedules keyed on
// Request.Key and Request.Attempt are deterministic even then.
package modeltest

import (
	"encoding/json"
	"fmt"
	"hash/fnv"
	"net/http"
	"net/http/httptest"
	"sync"
	"time"

	"github.com/synthloop/synthloop/internal/openaiwire"
	"github.com/synthloop/synthloop/model"
)

// Request is a decoded chat request as the Responder and Schedule see it.
type Request struct {
	Model string
	// Messages as sent. For Anthropic the system prompt comes first, as a
	// "system" message, and a user message of tool_result blocks becomes one
	// "tool" message per block. Assistant turns carry their tool calls (and,
	// for Anthropic, the thinking sent back); "tool" turns their ToolCallID
	// and IsError.
	Messages []model.Message
	N        int // samples asked for; 1 when the request has no n
	// Decoding parameters; nil or 0 when the request left them out.
	Temperature     *float64
	TopP            *float64
	PresencePenalty *float64
	MaxTokens       int
	Stop            []string
	Seed            *int64
	// JSONSchema is the requested output schema: response_format.json_schema.schema
	// (OpenAI) or the forced tool's input_schema (Anthropic).
	JSONSchema json.RawMessage
	// Tools offered to the model and the tool choice ("auto", "none",
	// "required" or a tool's name; "" when the request left it out).
	Tools      []model.Tool
	ToolChoice string
	// ReasoningEffort (OpenAI) and ThinkingBudget (Anthropic) as requested.
	ReasoningEffort string
	ThinkingBudget  int
	// Stream reports that the client asked for a streamed answer.
	Stream bool

	// Key is the hex SHA-256 of the body re-encoded with sorted keys: identical
	// requests share it however their JSON was laid out.
	Key string
	// Attempt counts requests with this Key: 1 for the first, 2 for a retry...
	Attempt int
	// Number is the request's 1-based arrival number at this server.
	Number int
	Header http.Header
	Body   []byte
}

// LastUser returns the content of the last user message.
func (r *Request) LastUser() string {
	for i := len(r.Messages) - 1; i >= 0; i-- {
		if r.Messages[i].Role == "user" {
			return r.Messages[i].Content
		}
	}
	return ""
}

// Choice is one scripted sample. FinishReason uses model.Finish* names
// ("stop" when empty); the Anthropic server maps them to stop_reason values.
type Choice struct {
	Text string
	// Reasoning is sent in the provider's own reasoning field (OpenAI-style
	// reasoning_content, Anthropic thinking blocks), apart from Text.
	Reasoning string
	// ToolCalls are sent as the provider's native tool calls.
	ToolCalls    []model.ToolCall
	FinishReason string
}

// Reply is a Responder's answer. A Reply with fewer choices than Request.N is
// sent as is, like servers that ignore n; with none, the server answers with
// an empty choices list.
type Reply struct {
	Choices []Choice
	// Usage, when nil, is estimated: about one token per 4 bytes.
	Usage *model.Usage
	// Model names the model in the answer; empty means the requested one.
	Model string
}

// Responder scripts the server's answers. It is called concurrently and must
// be deterministic in its argument for tests to be reproducible.
type Responder func(req *Request) Reply

// Echo answers each of the N samples with "echo: " and the last user message,
// followed by " #i" for samples after the first so they differ.
func Echo(req *Request) Reply {
	var rep Reply
	for i := range req.N {
		t := "echo: " + req.LastUser()
		if i > 0 {
			t += fmt.Sprintf(" #%d", i)
		}
		rep.Choices = append(rep.Choices, Choice{Text: t})
	}
	return rep
}

// Texts answers every request with the given texts, one per sample, cycling
// when N is larger.
func Texts(texts ...string) Responder {
	return func(req *Request) Reply {
		var rep Reply
		for i := range req.N {
			rep.Choices = append(rep.Choices, Choice{Text: texts[i%len(texts)]})
		}
		return rep
	}
}

// FaultKind is a kind of injected failure.
type FaultKind int

const (
	NoFault      FaultKind = iota
	Status                 // answer with HTTP status Fault.Status (default 500), plus Retry-After if set
	Stall                  // wait Fault.Delay (or until the client gives up), then answer normally
	Reset                  // drop the TCP connection with a reset before answering
	Truncated              // send the first half of a good body, then close the connection
	Malformed              // 200 with a body that is not JSON
	EmptyChoices           // 200 with an empty choices list (Anthropic: empty content)
)

func (k FaultKind) String() string {
	switch k {
	case NoFault:
		return "none"
	case Status:
		return "status"
	case Stall:
		return "stall"
	case Reset:
		return "reset"
	case Truncated:
		return "truncated"
	case Malformed:
		return "malformed"
	case EmptyChoices:
		return "empty-choices"
	}
	return fmt.Sprintf("FaultKind(%d)", int(k))
}

// Fault is one injected failure.
type Fault struct {
	Kind       FaultKind
	Status     int           // for Status
	RetryAfter string        // Retry-After header for Status: seconds or an HTTP date
	Delay      time.Duration // for Stall
	Message    string        // error message for Status; a default names the status
}

// HTTPStatus fails with status code.
func HTTPStatus(code int) Fault { return Fault{Kind: Status, Status: code} }

// RateLimited fails with 429 and the given Retry-After ("" for none).
func RateLimited(retryAfter string) Fault {
	return Fault{Kind: Status, Status: 429, RetryAfter: retryAfter, Message: "Rate limit reached"}
}

// StallFor stalls d before answering.
func StallFor(d time.Duration) Fault { return Fault{Kind: Stall, Delay: d} }

// Schedule picks the fault for a request; NoFault answers normally. It is
// called with the server's lock released and must be safe for concurrent use.
type Schedule func(req *Request) Fault

// FirstAttempts fails the first k attempts of every distinct request with f:
// each request succeeds on attempt k+1. Deterministic under concurrency.
func FirstAttempts(k int, f Fault) Schedule {
	return func(req *Request) Fault {
		if req.Attempt <= k {
			return f
		}
		return Fault{}
	}
}

// Sequence gives the i-th request to arrive faults[i-1] and answers every
// request after the list normally.
func Sequence(faults ...Fault) Schedule {
	return func(req *Request) Fault {
		if req.Number <= len(faults) {
			return faults[req.Number-1]
		}
		return Fault{}
	}
}

// OnRequests fails the requests with the given arrival numbers with f.
func OnRequests(f Fault, numbers ...int) Schedule {
	return func(req *Request) Fault {
		for _, n := range numbers {
			if req.Number == n {
				return f
			}
		}
		return Fault{}
	}
}

// Always fails every request with f: a backend that is down.
func Always(f Fault) Schedule { return func(*Request) Fault { return f } }

// Randomly fails a request with probability p, with a fault drawn from faults.
// The draw hashes (seed, key, attempt), so it does not depend on arrival
// order, and a retry of a failed request gets a fresh draw.
func Randomly(p float64, seed uint64, faults ...Fault) Schedule {
	return func(req *Request) Fault {
		h := fnv.New64a()
		fmt.Fprintf(h, "%d|%s|%d", seed, req.Key, req.Attempt)
		v := h.Sum64()
		if float64(v%1_000_000)/1_000_000 >= p {
			return Fault{}
		}
		return faults[(v/1_000_000)%uint64(len(faults))]
	}
}

// Option configures a Server.
type Option func(*Server)

// WithFaults injects failures by schedule.
func WithFaults(s Schedule) Option { return func(srv *Server) { srv.schedule = s } }

// WithAPIKey makes the server demand this key (Authorization: Bearer, or
// x-api-key) and answer 401 otherwise. Like some real servers, the 401 body
// quotes the credential it received, which lets tests check that clients
// never pass such text on.
func WithAPIKey(key string) Option { return func(srv *Server) { srv.apiKey = key } }

// WithModels sets the model ids /v1/models lists (default: "test-model").
func WithModels(ids ...string) Option { return func(srv *Server) { srv.models = ids } }

// WithReasoningField names the field of an OpenAI-style reply message (and
// stream delta) that carries Choice.Reasoning: "reasoning_content" (the
// default: DeepSeek, vLLM's reasoning parsers) or "reasoning" (OpenRouter,
// Ollama, newer vLLM).
func WithReasoningField(name string) Option { return func(srv *Server) { srv.reasoningField = name } }

// WithLatency delays every normal answer by d, to look like a real model.
func WithLatency(d time.Duration) Option { return func(srv *Server) { srv.latency = d } }

// WithCapacity answers 429 (Retry-After: 0) to any request arriving while
// capacity requests are already being served: an overloaded server, for
// adaptive-concurrency tests. Combine with WithLatency.
func WithCapacity(capacity int) Option { return func(srv *Server) { srv.capacity = capacity } }

// WithoutLog keeps no log of the requests (Log returns none; the counts
// stay): a benchmark's thousands of logged requests, each with its body and
// headers, were a quarter of the heap the garbage collector marked in the
// process it measures.
func WithoutLog() Option { return func(srv *Server) { srv.noLog = true } }

// Server is a running stand-in. Its methods are safe for concurrent use.
type Server struct {
	// URL is the base URL to configure clients with: it ends in /v1 for the
	// OpenAI-compatible server, and is the bare origin for the Anthropic one
	// (whose SDK appends /v1/messages itself).
	URL string

	hs        *httptest.Server
	responder Responder
	schedule  Schedule
	apiKey    string
	models    []string
	latency   time.Duration
	capacity  int
	anthropic bool
	noLog     bool
	// reasoningField is the OpenAI-style reply's reasoning field.
	reasoningField string
	pcache         *promptCache  // nil: no prompt cache (WithPromptCache)
	batchOpts      *BatchOptions // nil: no batch endpoints (WithBatches)
	bset           batchSet

	mu          sync.Mutex
	total       int
	perKey      map[string]int
	faults      map[FaultKind]int
	log         []*Request
	inflight    int
	maxInflight int
	busy        time.Duration // time spent serving requests answered normally
}

// NewServer starts an OpenAI-compatible server (/v1/chat/completions and
// /v1/models). Close it when done.
func NewServer(responder Responder, opts ...Option) *Server {
	s := newServer(responder, false, opts)
	s.URL = s.hs.URL + "/v1"
	return s
}

// NewAnthropicServer starts a stand-in for the Anthropic Messages API
// (/v1/messages, /v1/models). Samples are always 1 per request.
func NewAnthropicServer(responder Responder, opts ...Option) *Server {
	s := newServer(responder, true, opts)
	s.URL = s.hs.URL
	return s
}

func newServer(responder Responder, anthropic bool, opts []Option) *Server {
	if responder == nil {
		responder = Echo
	}
	s := &Server{
		responder: responder, anthropic: anthropic, models: []string{"test-model"},
		perKey: map[string]int{}, faults: map[FaultKind]int{},
	}
	for _, o := range opts {
		o(s)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/models", s.handleModels)
	if anthropic {
		mux.HandleFunc("POST /v1/messages", s.handleAnthropic)
	} else {
		mux.HandleFunc("POST /v1/chat/completions", s.handleOpenAI)
	}
	if s.batchOpts != nil {
		s.bset = batchSet{files: map[string][]byte{}, items: map[string]int{}}
		if anthropic {
			s.routeAnthropicBatches(mux)
		} else {
			s.routeOpenAIBatches(mux)
		}
	}
	s.hs = httptest.NewServer(mux)
	return s
}

// Close shuts the server down, waiting for requests in progress.
func (s *Server) Close() { s.hs.Close() }

// Client returns an *http.Client for this server.
func (s *Server) Client() *http.Client { return s.hs.Client() }

// Requests returns how many chat requests arrived, faulted ones included.
func (s *Server) Requests() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.total
}

// RequestsFor returns how many requests arrived with this Request.Key.
func (s *Server) RequestsFor(key string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.perKey[key]
}

// Keys returns a copy of the request count per Request.Key.
func (s *Server) Keys() map[string]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string]int, len(s.perKey))
	for k, v := range s.perKey {
		out[k] = v
	}
	return out
}

// Duplicates returns how many requests repeated an earlier one's Key.
func (s *Server) Duplicates() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	d := 0
	for _, v := range s.perKey {
		d += v - 1
	}
	return d
}

// Faults returns how many faults of kind were injected.
func (s *Server) Faults(kind FaultKind) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.faults[kind]
}

// Log returns every chat request in arrival order (none WithoutLog).
func (s *Server) Log() []*Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]*Request(nil), s.log...)
}

// Busy returns the time spent serving the chat requests answered normally,
// summed over requests: divided by the elapsed time it is the mean number
// served at once, which against WithCapacity says how full a client kept
// the server whatever WithLatency's timers really took.
func (s *Server) Busy() time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.busy
}

// MaxInFlight returns the most chat requests the server was serving at once.
func (s *Server) MaxInFlight() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.maxInflight
}

func (s *Server) handleModels(w http.ResponseWriter, r *http.Request) {
	out := openaiwire.ModelList{Object: openaiwire.ObjectList, Data: []openaiwire.Model{}}
	for _, id := range s.models {
		out.Data = append(out.Data, openaiwire.Model{ID: id, Object: openaiwire.ObjectModel, Created: created, OwnedBy: "modeltest"})
	}
	writeJSON(w, 200, out)
}

// admit records the request and decides its fault. The returned func must be
// called when the request is done.
func (s *Server) admit(req *Request, body []byte) (Fault, func()) {
	req.Key = canonicalKey(body)
	s.mu.Lock()
	s.total++
	s.perKey[req.Key]++
	req.Number, req.Attempt = s.total, s.perKey[req.Key]
	if !s.noLog {
		s.log = append(s.log, req)
	}
	over := s.capacity > 0 && s.inflight >= s.capacity
	s.inflight++
	s.maxInflight = max(s.maxInflight, s.inflight)
	s.mu.Unlock()
	start := time.Now()
	var f Fault
	done := func() {
		s.mu.Lock()
		s.inflight--
		if f.Kind == NoFault {
			s.busy += time.Since(start)
		}
		s.mu.Unlock()
	}
	switch {
	case s.apiKey != "" && !authorized(req.Header, s.apiKey):
		got := req.Header.Get("Authorization")
		if got == "" {
			got = req.Header.Get("X-Api-Key")
		}
		f = Fault{Kind: Status, Status: 401, Message: "Incorrect API key provided: " + got}
	case over:
		f = Fault{Kind: Status, Status: 429, RetryAfter: "0", Message: "server at capacity"}
	case s.schedule != nil:
		f = s.schedule(req)
	}
	if f.Kind != NoFault {
		s.mu.Lock()
		s.faults[f.Kind]++
		s.mu.Unlock()
	}
	return f, done
}

func authorized(h http.Header, key string) bool {
	return h.Get("Authorization") == "Bearer "+key || h.Get("X-Api-Key") == key
}

// serve applies fault f, or writes the good body built by good, of content
// type ctype (JSON, or an event stream for a streamed answer).
func (s *Server) serve(w http.ResponseWriter, r *http.Request, f Fault, ctype string, good func() []byte, errBody func(status int, msg string) any) {
	switch f.Kind {
	case Status:
		code := f.Status
		if code == 0 {
			code = 500
		}
		if f.RetryAfter != "" {
			w.Header().Set("Retry-After", f.RetryAfter)
		}
		msg := f.Message
		if msg == "" {
			msg = fmt.Sprintf("injected %d %s", code, http.StatusText(code))
		}
		writeJSON(w, code, errBody(code, msg))
		return
	case Stall:
		t := time.NewTimer(f.Delay)
		defer t.Stop()
		select {
		case <-t.C:
		case <-r.Context().Done():
			return // the client gave up
		}
	case Reset:
		hijack(w, "", 0, nil)
		return
	case Truncated:
		b := good()
		hijack(w, ctype, len(b), b[:len(b)/2])
		return
	case Malformed:
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(200)
		w.Write([]byte(`{"id": "bad", "choices": [ {"message": <html>502 Bad Gateway</html>`))
		return
	}
	if s.latency > 0 {
		t := time.NewTimer(s.latency)
		defer t.Stop()
		select {
		case <-t.C:
		case <-r.Context().Done():
			return
		}
	}
	w.Header().Set("Content-Type", ctype)
	w.Write(good())
}

const (
	ctypeJSON   = "application/json"
	ctypeEvents = "text/event-stream"
)

// hijack takes over the connection: with a body, it sends a 200 header
// promising contentLength bytes and only part of them; without one it just
// resets the connection.
func hijack(w http.ResponseWriter, ctype string, contentLength int, part []byte) {
	hj, ok := w.(http.Hijacker)
	if !ok {
		panic("modeltest: response writer cannot hijack")
	}
	conn, buf, err := hj.Hijack()
	if err != nil {
		return
	}
	if part != nil {
		fmt.Fprintf(buf, "HTTP/1.1 200 OK\r\nContent-Type: %s\r\nContent-Length: %d\r\n\r\n", ctype, contentLength)
		buf.Write(part)
		buf.Flush()
	} else if tc, ok := conn.(interface{ SetLinger(int) error }); ok {
		tc.SetLinger(0) // close with RST, not FIN
	}
	conn.Close()
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, _ := json.Marshal(v)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	w.Write(b)
}

func estimate(s string) int { return (len(s)+3)/4 + 1 }

func usageOf(req *Request, rep Reply) model.Usage {
	if rep.Usage != nil {
		return *rep.Usage
	}
	var u model.Usage
	for _, m := range req.Messages {
		u.PromptTokens += estimate(m.Content) + 3
	}
	for _, c := range rep.Choices {
		u.CompletionTokens += estimate(c.Text)
		if c.Reasoning != "" {
			r := estimate(c.Reasoning)
			u.CompletionTokens += r
			u.ReasoningTokens += r
		}
		for _, tc := range c.ToolCalls {
			u.CompletionTokens += estimate(tc.Name + tc.Arguments)
		}
	}
	return u
}
