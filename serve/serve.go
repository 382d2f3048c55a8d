// Package serve is an OpenAI-compatible HTTP server over built-in models:
// /v1/models, /v1/models/{id} and /v1/chat/completions with n, temperature,
// top_p, max_tokens, stop, seed, logprobs and top_logprobs, streaming over
// server-sent events, usage counts and OpenAI-shaped errors.
package serve

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sort"
	"strings"
	"time"

	"github.com/synthloop/synthloop/engine/chat"
	"github.com/synthloop/synthloop/engine/grammar"
	"github.com/synthloop/synthloop/engine/tokenizer"
	"github.com/synthloop/synthloop/internal/openaiwire"
	"github.com/synthloop/synthloop/model"
)

// Completer is a model the server can answer with; *chat.Model is one.
// Complete must be safe for concurrent use.
type Completer interface {
	Name() string
	Complete(ctx context.Context, msgs []tokenizer.Message, p chat.Params) (*chat.Reply, error)
}

// contextLengther is a Completer that knows its context, as *chat.Model
// does; max_tokens beyond it is clamped to it.
type contextLengther interface {
	ContextLength() int
}

// maxTopLogprobs is OpenAI's bound on top_logprobs.
const maxTopLogprobs = 20

// Options configure a Server.
type Options struct {
	// APIKey, when set, is required as "Authorization: Bearer KEY".
	APIKey string
	// Now is the clock for response timestamps; nil means time.Now.
	Now func() time.Time
	// Log receives one line per request; nil discards.
	Log *slog.Logger
	// MaxBodyBytes bounds a request body; 0 means 4 MiB.
	MaxBodyBytes int64
}

// Server is the HTTP handler.
type Server struct {
	models map[string]Completer
	names  []string
	opts   Options
	mux    *http.ServeMux
}

// New returns a server for models, keyed by their names.
func New(models []Completer, opts Options) (*Server, error) {
	if len(models) == 0 {
		return nil, errors.New("serve: no models")
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	if opts.MaxBodyBytes <= 0 {
		opts.MaxBodyBytes = 4 << 20
	}
	s := &Server{models: map[string]Completer{}, opts: opts, mux: http.NewServeMux()}
	for _, m := range models {
		if _, dup := s.models[m.Name()]; dup {
			return nil, fmt.Errorf("serve: two models named %q", m.Name())
		}
		s.models[m.Name()] = m
		s.names = append(s.names, m.Name())
	}
	sort.Strings(s.names)
	s.mux.HandleFunc("GET /v1/models", s.listModels)
	s.mux.HandleFunc("GET /v1/models/{id}", s.getModel)
	s.mux.HandleFunc("POST /v1/chat/completions", s.chatCompletions)
	s.mux.HandleFunc("GET /health", func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("ok\n")) })
	s.mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, "invalid_request_error", "", "not_found", fmt.Sprintf("no route for %s %s; this server offers GET /v1/models, GET /v1/models/{id} and POST /v1/chat/completions", r.Method, r.URL.Path))
	})
	return s, nil
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := s.opts.Now()
	if s.opts.APIKey != "" && r.URL.Path != "/health" {
		got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if !ok || subtle.ConstantTimeCompare([]byte(got), []byte(s.opts.APIKey)) != 1 {
			// The body is never read. Without "Connection: close", net/http
			// would read up to 256 KiB of it before sending the 401, to keep
			// the connection, and hold a client that sends it slowly (or not
			// at all) until the read timeout.
			if r.ContentLength != 0 {
				w.Header().Set("Connection", "close")
			}
			writeError(w, http.StatusUnauthorized, "authentication_error", "", "invalid_api_key", "missing or incorrect API key: send Authorization: Bearer <key>")
			return
		}
	}
	s.mux.ServeHTTP(w, r)
	s.opts.Log.Debug("serve", "method", r.Method, "path", r.URL.Path, "took", s.opts.Now().Sub(start))
}

// ListenAndServe serves h on addr until ctx ends. It refuses to listen on
// anything but loopback without an API key: a model server open to the
// network with no key is almost always a mistake.
func ListenAndServe(ctx context.Context, addr string, h http.Handler, apiKey string) error {
	ln, err := Listen(addr, apiKey)
	if err != nil {
		return err
	}
	return Serve(ctx, ln, h)
}

// Listen opens addr for serving, refusing a non-loopback address without an
// API key. With port 0 the system picks a free port; ln.Addr() tells which.
func Listen(addr, apiKey string) (net.Listener, error) {
	if apiKey == "" && !isLoopback(addr) {
		return nil, fmt.Errorf("serve: %s is not a loopback address; set an API key (--api-key-env) to serve beyond this machine", addr)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("serve: %w", err)
	}
	return ln, nil
}

// Timeouts of the http.Server. Reading a request (headers and body) is bounded
// so a slow or stalled client cannot hold a connection; writing is not,
// since a long generation streams for as long as it takes. An idle
// keep-alive connection is closed after IdleTimeout.
const (
	ReadHeaderTimeout = 10 * time.Second
	ReadTimeout       = 60 * time.Second
	IdleTimeout       = 120 * time.Second
)

// Serve serves h on ln until ctx ends, then shuts down gracefully.
func Serve(ctx context.Context, ln net.Listener, h http.Handler) error {
	srv := &http.Server{Handler: h, ReadHeaderTimeout: ReadHeaderTimeout, ReadTimeout: ReadTimeout, IdleTimeout: IdleTimeout}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
		sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		srv.Shutdown(sctx)
		<-errc
		return nil
	}
}

func isLoopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func (s *Server) listModels(w http.ResponseWriter, r *http.Request) {
	out := openaiwire.ModelList{Object: openaiwire.ObjectList, Data: []openaiwire.Model{}}
	for _, n := range s.names {
		out.Data = append(out.Data, s.modelObject(n))
	}
	writeJSON(w, http.StatusOK, out)
}

// getModel is OpenAI's model retrieve (client.models.retrieve).
func (s *Server) getModel(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if _, ok := s.models[id]; !ok {
		s.modelNotFound(w, id)
		return
	}
	writeJSON(w, http.StatusOK, s.modelObject(id))
}

func (s *Server) modelObject(name string) openaiwire.Model {
	return openaiwire.Model{ID: name, Object: openaiwire.ObjectModel, Created: s.opts.Now().Unix(), OwnedBy: "synthloop"}
}

func (s *Server) modelNotFound(w http.ResponseWriter, name string) {
	writeError(w, http.StatusNotFound, "invalid_request_error", "model", "model_not_found", fmt.Sprintf("the model %q does not exist on this server; it serves: %s", name, strings.Join(s.names, ", ")))
}

// chatRequest is the subset of OpenAI's request the engine honours. Other
// fields are ignored as OpenAI-compatible servers do, except parameters that
// would change the output, which are refused when set to anything but their
// neutral value (see params).
type chatRequest openaiwire.ChatRequest

type badRequest struct{ param, msg string }

func (e *badRequest) Error() string { return e.msg }

// params validates the request and turns it into decoding parameters.
func (req *chatRequest) params() (chat.Params, error) {
	p := chat.Params{N: 1, Temperature: 1, TopP: 1}
	if req.N != nil {
		if *req.N < 1 || *req.N > 128 {
			return p, &badRequest{"n", fmt.Sprintf("n must be between 1 and 128, got %d", *req.N)}
		}
		p.N = *req.N
	}
	if req.Temperature != nil {
		if *req.Temperature < 0 || *req.Temperature > 2 {
			return p, &badRequest{"temperature", fmt.Sprintf("temperature must be between 0 and 2, got %g", *req.Temperature)}
		}
		p.Temperature = *req.Temperature
	}
	if req.TopP != nil {
		if *req.TopP <= 0 || *req.TopP > 1 {
			return p, &badRequest{"top_p", fmt.Sprintf("top_p must be in (0, 1], got %g", *req.TopP)}
		}
		p.TopP = *req.TopP
	}
	if req.TopK != nil {
		if *req.TopK < 0 {
			return p, &badRequest{"top_k", "top_k must not be negative"}
		}
		p.TopK = *req.TopK
	}
	mt := req.MaxCompletionTokens
	if mt == nil {
		mt = req.MaxTokens
	}
	if mt != nil {
		if *mt < 1 {
			return p, &badRequest{"max_tokens", fmt.Sprintf("max_tokens must be at least 1, got %d", *mt)}
		}
		p.MaxTokens = *mt // clamped to the model's context by the handler
	}
	if req.TopLogprobs != nil {
		if *req.TopLogprobs < 0 || *req.TopLogprobs > maxTopLogprobs {
			return p, &badRequest{"top_logprobs", fmt.Sprintf("top_logprobs must be between 0 and %d, got %d", maxTopLogprobs, *req.TopLogprobs)}
		}
		if *req.TopLogprobs > 0 && !req.Logprobs {
			return p, &badRequest{"top_logprobs", "top_logprobs needs logprobs: true"}
		}
		p.TopLogProbs = *req.TopLogprobs
	}
	p.LogProbs = req.Logprobs
	if len(req.Stop) > 4 {
		return p, &badRequest{"stop", "at most 4 stop sequences"}
	}
	for _, s := range req.Stop {
		if s == "" {
			return p, &badRequest{"stop", "stop sequences must not be empty"}
		}
	}
	p.Stop = req.Stop
	if req.Seed != nil {
		p.Seed = uint64(*req.Seed)
	} else {
		var b [8]byte
		rand.Read(b[:])
		p.Seed = binary.LittleEndian.Uint64(b[:])
	}
	for name, v := range map[string]*float64{"presence_penalty": req.PresencePenalty, "frequency_penalty": req.FrequencyPenalty} {
		if v != nil && *v != 0 {
			return p, &badRequest{name, name + " is not supported by the built-in engine; leave it out (a synthloop model config can list it in drop_params)"}
		}
	}
	if rf := req.ResponseFormat; rf != nil {
		g, err := responseGrammar(rf)
		if err != nil {
			return p, err
		}
		p.Grammar = g
	}
	if len(req.Tools) > 0 && string(req.Tools) != "null" && string(req.Tools) != "[]" {
		return p, &badRequest{"tools", "tools are not supported by the built-in engine"}
	}
	return p, req.checkMessages()
}

// responseGrammar is the grammar a response_format asks for; nil for text.
func responseGrammar(rf *openaiwire.ResponseFormat) (*grammar.Grammar, error) {
	switch rf.Type {
	case "", "text":
	case "json_object":
		return grammar.AnyObject(), nil
	case "json_schema":
		if rf.JSONSchema == nil || len(rf.JSONSchema.Schema) == 0 {
			return nil, &badRequest{"response_format", "response_format json_schema needs json_schema.schema"}
		}
		g, err := grammar.Compile(rf.JSONSchema.Schema)
		if err != nil {
			return nil, &badRequest{"response_format", err.Error()}
		}
		return g, nil
	default:
		return nil, &badRequest{"response_format", fmt.Sprintf("response_format type %q is not supported; use text, json_object or json_schema", rf.Type)}
	}
	return nil, nil
}

// checkMessages refuses what the engine cannot read, and reads developer
// messages as system ones.
func (req *chatRequest) checkMessages() error {
	if len(req.Messages) == 0 {
		return &badRequest{"messages", "messages must not be empty"}
	}
	for i, m := range req.Messages {
		for _, part := range m.Content {
			if part.Type != "text" {
				return &badRequest{fmt.Sprintf("messages[%d].content", i), fmt.Sprintf("content part of type %q: the built-in engine reads text only", part.Type)}
			}
		}
		switch m.Role {
		case "system", "user", "assistant":
		case "developer":
			req.Messages[i].Role = "system"
		default:
			return &badRequest{fmt.Sprintf("messages[%d].role", i), fmt.Sprintf("role %q is not supported; use system, user or assistant", m.Role)}
		}
	}
	return nil
}

func (s *Server) chatCompletions(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, s.opts.MaxBodyBytes)
	var req chatRequest
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			writeError(w, http.StatusRequestEntityTooLarge, "invalid_request_error", "", "request_too_large", fmt.Sprintf("request body over %d bytes", s.opts.MaxBodyBytes))
			return
		}
		writeError(w, http.StatusBadRequest, "invalid_request_error", "", "invalid_json", "could not parse the JSON body: "+err.Error())
		return
	}
	if req.Model == "" {
		// As OpenAI answers: a missing parameter is a bad request, not an unknown model.
		writeError(w, http.StatusBadRequest, "invalid_request_error", "model", "missing", "you must provide a model parameter; this server serves: "+strings.Join(s.names, ", "))
		return
	}
	m, ok := s.models[req.Model]
	if !ok {
		s.modelNotFound(w, req.Model)
		return
	}
	p, err := req.params()
	if err != nil {
		var br *badRequest
		errors.As(err, &br)
		writeError(w, http.StatusBadRequest, "invalid_request_error", br.param, "invalid_value", br.msg)
		return
	}
	if cl, ok := m.(contextLengther); ok && p.MaxTokens > cl.ContextLength() {
		// OpenAI refuses max_tokens over the model's limit; the engine stops
		// at its context anyway, so any larger value means the same as it.
		p.MaxTokens = cl.ContextLength()
	}
	msgs := make([]tokenizer.Message, len(req.Messages))
	for i, cm := range req.Messages {
		msgs[i] = tokenizer.Message{Role: cm.Role, Content: cm.Content.Text()}
	}
	id := "chatcmpl-" + randomID()
	created := s.opts.Now().Unix()
	if req.Stream {
		s.stream(w, r, m, msgs, p, id, created, req)
		return
	}
	reply, err := m.Complete(r.Context(), msgs, p)
	if err != nil {
		if errors.Is(err, chat.ErrBadRequest) {
			writeError(w, http.StatusBadRequest, "invalid_request_error", "messages", "invalid_value", err.Error())
			return
		}
		if r.Context().Err() != nil {
			return // the client went away
		}
		writeError(w, http.StatusInternalServerError, "server_error", "", "internal_error", err.Error())
		return
	}
	out := openaiwire.ChatCompletion{ID: id, Object: openaiwire.ObjectChatCompletion, Created: created, Model: req.Model, Usage: usageOf(reply)}
	for i, c := range reply.Choices {
		// A model that reasons in <think> tags gets its reasoning sent in
		// reasoning_content, the field vLLM's and DeepSeek's clients read,
		// so that the answer is only the answer.
		msg := openaiwire.ReplyMessage{Role: "assistant", Content: c.Text}
		if r, a, ok := model.SplitThink(c.Text); ok {
			msg.ReasoningContent, msg.Content = r, a
		}
		ch := openaiwire.Choice{Index: i, Message: msg, FinishReason: c.Finish}
		if req.Logprobs {
			ch.Logprobs = logprobsOf(c)
		}
		out.Choices = append(out.Choices, ch)
	}
	writeJSON(w, http.StatusOK, out)
}

func usageOf(r *chat.Reply) openaiwire.Usage {
	return openaiwire.NewUsage(r.PromptTokens, r.CompletionTokens)
}

// logprobsOf reports each generated token with its log-probability and, when
// asked for, its most likely alternatives.
func logprobsOf(c chat.Choice) *openaiwire.Logprobs {
	lp := &openaiwire.Logprobs{Content: []openaiwire.TokenLogprob{}}
	for i, v := range c.LogProbs {
		tl := openaiwire.TokenLogprob{Logprob: v, TopLogprobs: []openaiwire.TopLogprob{}}
		if i < len(c.TokenTexts) {
			tl.Token, tl.Bytes = c.TokenTexts[i], bytesOf(c.TokenTexts[i])
		}
		if i < len(c.Top) {
			for _, a := range c.Top[i] {
				tl.TopLogprobs = append(tl.TopLogprobs, openaiwire.TopLogprob{Token: a.Text, Logprob: a.LogProb, Bytes: bytesOf(a.Text)})
			}
		}
		lp.Content = append(lp.Content, tl)
	}
	return lp
}

// bytesOf is OpenAI's "bytes": the token's bytes as integers, never null.
func bytesOf(s string) []int {
	b := make([]int, len(s))
	for i := range len(s) {
		b[i] = int(s[i])
	}
	return b
}

// stream writes the reply as server-sent events in OpenAI's chunk format,
// each piece of text as soon as the model has produced it. Headers go out
// only once the request is known to be servable, so a bad request still
// gets a plain HTTP error; a failure after that is sent as an error event.
func (s *Server) stream(w http.ResponseWriter, r *http.Request, m Completer, msgs []tokenizer.Message, p chat.Params, id string, created int64, req chatRequest) {
	type (
		chunk  = openaiwire.ChatCompletionChunk
		choice = openaiwire.ChunkChoice
		delta  = openaiwire.Delta
	)
	flusher, _ := w.(http.Flusher)
	started := false
	base := chunk{ID: id, Object: openaiwire.ObjectChatCompletionChunk, Created: created, Model: req.Model}
	send := func(c chunk) {
		if !started {
			w.Header().Set("Content-Type", "text/event-stream")
			w.Header().Set("Cache-Control", "no-cache")
			w.WriteHeader(http.StatusOK)
			started = true
			for i := range p.N {
				rc := base
				rc.Choices = []choice{{Index: i, Delta: delta{Role: "assistant"}}}
				b, _ := json.Marshal(rc)
				fmt.Fprintf(w, "data: %s\n\n", b)
			}
		}
		if c.ID != "" {
			b, _ := json.Marshal(c)
			fmt.Fprintf(w, "data: %s\n\n", b)
		}
		if flusher != nil {
			flusher.Flush()
		}
	}
	// Each choice's text is split as it streams, like the whole text of a
	// non-streamed answer (except for a close tag without an open one,
	// which a stream cannot see coming).
	splits := make([]model.ThinkStream, p.N)
	sendSplit := func(i int, reasoning, answer string) {
		if reasoning == "" && answer == "" {
			return
		}
		ch := base
		ch.Choices = []choice{{Index: i, Delta: delta{Content: answer, ReasoningContent: reasoning}}}
		send(ch)
	}
	p.OnText = func(i int, text string) {
		r, a := splits[i].Next(text)
		sendSplit(i, r, a)
	}
	reply, err := m.Complete(r.Context(), msgs, p)
	if err != nil {
		if r.Context().Err() != nil {
			return // the client went away
		}
		if !started {
			if errors.Is(err, chat.ErrBadRequest) {
				writeError(w, http.StatusBadRequest, "invalid_request_error", "messages", "invalid_value", err.Error())
			} else {
				writeError(w, http.StatusInternalServerError, "server_error", "", "internal_error", err.Error())
			}
			return
		}
		b, _ := json.Marshal(openaiwire.NewError("server_error", "", "internal_error", err.Error()))
		fmt.Fprintf(w, "data: %s\n\n", b)
		return
	}
	send(chunk{}) // headers and role chunks, if no text came at all
	for i := range reply.Choices {
		r, a := splits[i].Close()
		sendSplit(i, r, a)
	}
	for i, c := range reply.Choices {
		fin := c.Finish
		ch := base
		ch.Choices = []choice{{Index: i, FinishReason: &fin}}
		if req.Logprobs {
			// The text went out in pieces that need not fall on token
			// boundaries; the tokens' log-probabilities all come here, which
			// a client adding up logprobs.content over the chunks reads alike.
			ch.Choices[0].Logprobs = logprobsOf(c)
		}
		send(ch)
	}
	if req.StreamOptions != nil && req.StreamOptions.IncludeUsage {
		ch := base
		ch.Choices = []choice{}
		u := usageOf(reply)
		ch.Usage = &u
		send(ch)
	}
	fmt.Fprint(w, "data: [DONE]\n\n")
	if flusher != nil {
		flusher.Flush()
	}
}

func randomID() string {
	var b [12]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

// writeError writes an error in OpenAI's shape, which the SDKs parse.
func writeError(w http.ResponseWriter, status int, typ, param, code, msg string) {
	writeJSON(w, status, openaiwire.NewError(typ, param, code, msg))
}
