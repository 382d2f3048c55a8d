// Package openaifttest is a local stand-in for the OpenAI files and fine-tuning jobs API, following its documented request and response shapes, for offline tests of the openai trainer.
//
// It serves, under its URL (the base URL, like https://api.openai.com/v1):
//
//	POST /files                          multipart: purpose=fine-tune, file=JSONL
//	POST /fine_tuning/jobs               {model, training_file, suffix, seed, metadata, method}
//	GET  /fine_tuning/jobs               ?limit, after, metadata[k]=v
//	GET  /fine_tuning/jobs/{id}
//	GET  /fine_tuning/jobs/{id}/events   ?limit, after (newest first)
//	POST /fine_tuning/jobs/{id}/cancel
//	POST /chat/completions               answered by a modeltest server, for any model
//
// A job advances one state per GET of the job (validating_files, queued,
// running with one metrics event per step, then its planned outcome), so a
// test controls it by polling and is deterministic.
package openaifttest

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"sync"

	"github.com/synthloop/synthloop/model/modeltest"
)

// Plan is what a job does: how many training steps it reports and how it ends.
type Plan struct {
	Steps   int    // metrics events (default 4)
	Outcome string // "succeeded" (default), "failed" or "cancelled"
	Error   string // the failure message of a failed job
}

// Options configure a Server.
type Options struct {
	// Plans are the plans of the jobs in creation order; the last repeats.
	Plans []Plan
	// Responder answers chat completions (default modeltest.Echo).
	Responder modeltest.Responder
	// APIKey, when set, is required as the bearer token.
	APIKey string
	// LoseCreate makes the n-th job creation (1-based) create the job but
	// answer 500, as when a response is lost: the client cannot know the job exists.
	LoseCreate int
}

// Server is the stand-in. Safe for concurrent use.
type Server struct {
	URL  string
	hs   *httptest.Server
	chat *modeltest.Server
	opts Options

	mu      sync.Mutex
	files   map[string]file
	jobs    map[string]*job
	order   []string
	creates int
	uploads int
	polls   int
	nextID  int
	now     int64
}

type file struct {
	name, purpose string
	data          []byte
}

type job struct {
	obj    map[string]any
	plan   Plan
	phase  int // 0 validating, 1 queued, 2..2+steps running, then done
	events []map[string]any
	meta   map[string]string
	suffix string
}

// NewServer starts a stand-in.
func NewServer(opts Options) *Server {
	if opts.Responder == nil {
		opts.Responder = modeltest.Echo
	}
	s := &Server{opts: opts, files: map[string]file{}, jobs: map[string]*job{}, now: 1_700_000_000}
	s.chat = modeltest.NewServer(opts.Responder)
	target, _ := url.Parse(s.chat.URL)
	proxy := httputil.NewSingleHostReverseProxy(target)
	mux := http.NewServeMux()
	mux.HandleFunc("POST /files", s.upload)
	mux.HandleFunc("POST /fine_tuning/jobs", s.create)
	mux.HandleFunc("GET /fine_tuning/jobs", s.list)
	mux.HandleFunc("GET /fine_tuning/jobs/{id}", s.onJob(s.get))
	mux.HandleFunc("GET /fine_tuning/jobs/{id}/events", s.onJob(s.events))
	mux.HandleFunc("POST /fine_tuning/jobs/{id}/cancel", s.onJob(s.cancel))
	mux.HandleFunc("POST /chat/completions", func(w http.ResponseWriter, r *http.Request) {
		r.URL.Path = "/chat/completions"
		proxy.ServeHTTP(w, r)
	})
	h := http.StripPrefix("/v1", mux)
	s.hs = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if opts.APIKey != "" && r.Header.Get("Authorization") != "Bearer "+opts.APIKey {
			apiError(w, 401, "invalid_api_key", "Incorrect API key provided.", "")
			return
		}
		h.ServeHTTP(w, r)
	}))
	s.URL = s.hs.URL + "/v1"
	return s
}

// Close stops the server.
func (s *Server) Close() {
	s.hs.Close()
	s.chat.Close()
}

// Creates counts created jobs, Uploads uploaded files, Polls job GETs.
func (s *Server) Creates() int { s.mu.Lock(); defer s.mu.Unlock(); return s.creates }
func (s *Server) Uploads() int { s.mu.Lock(); defer s.mu.Unlock(); return s.uploads }
func (s *Server) Polls() int   { s.mu.Lock(); defer s.mu.Unlock(); return s.polls }

// Jobs returns the jobs as the API shows them, in creation order.
func (s *Server) Jobs() []map[string]any {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []map[string]any
	for _, id := range s.order {
		out = append(out, clone(s.jobs[id].obj))
	}
	return out
}

// File returns an uploaded file's content.
func (s *Server) File(id string) []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.files[id].data
}

// Running reports whether some job is past validation and not finished.
func (s *Server) Running() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, j := range s.jobs {
		if j.obj["status"] == "running" {
			return true
		}
	}
	return false
}

func clone(m map[string]any) map[string]any {
	b, _ := json.Marshal(m)
	var out map[string]any
	json.Unmarshal(b, &out)
	return out
}

func apiError(w http.ResponseWriter, status int, code, msg, param string) {
	var p any
	if param != "" {
		p = param
	}
	writeJSON(w, status, map[string]any{"error": map[string]any{"message": msg, "type": "invalid_request_error", "param": p, "code": code}})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

func (s *Server) id(prefix string) string {
	s.nextID++
	return fmt.Sprintf("%s-%06d", prefix, s.nextID)
}

func (s *Server) upload(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseMultipartForm(64 << 20); err != nil {
		apiError(w, 400, "invalid_request", "expected multipart/form-data: "+err.Error(), "")
		return
	}
	purpose := r.FormValue("purpose")
	if purpose != "fine-tune" {
		apiError(w, 400, "invalid_request", fmt.Sprintf("'%s' is not a valid purpose for this stand-in; use fine-tune", purpose), "purpose")
		return
	}
	f, hdr, err := r.FormFile("file")
	if err != nil {
		apiError(w, 400, "invalid_request", "missing file", "file")
		return
	}
	data, _ := io.ReadAll(f)
	if msg := checkJSONL(data); msg != "" {
		apiError(w, 400, "invalid_file_format", msg, "file")
		return
	}
	s.mu.Lock()
	s.uploads++
	id := s.id("file")
	s.files[id] = file{name: hdr.Filename, purpose: purpose, data: data}
	s.now++
	now := s.now
	s.mu.Unlock()
	writeJSON(w, 200, map[string]any{"id": id, "object": "file", "bytes": len(data), "created_at": now,
		"filename": hdr.Filename, "purpose": purpose, "status": "processed"})
}

// checkJSONL checks that every line is a chat example or a preference pair
// in the fine-tuning API's formats.
func checkJSONL(data []byte) string {
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 64<<10), 16<<20)
	n := 0
	for sc.Scan() {
		n++
		var l struct {
			Messages []struct{ Role, Content string } `json:"messages"`
			Input    *struct {
				Messages []struct{ Role, Content string } `json:"messages"`
			} `json:"input"`
			Preferred    []struct{ Role, Content string } `json:"preferred_output"`
			NonPreferred []struct{ Role, Content string } `json:"non_preferred_output"`
		}
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
			return fmt.Sprintf("line %d is not JSON: %v", n, err)
		}
		switch {
		case len(l.Messages) > 0:
			if l.Messages[len(l.Messages)-1].Role != "assistant" {
				return fmt.Sprintf("line %d: the last message must be the assistant's", n)
			}
		case l.Input != nil:
			if len(l.Input.Messages) == 0 || len(l.Preferred) != 1 || len(l.NonPreferred) != 1 {
				return fmt.Sprintf("line %d: a preference example needs input.messages and one preferred and one non-preferred output", n)
			}
		default:
			return fmt.Sprintf("line %d: expected messages, or input with preferred_output and non_preferred_output", n)
		}
	}
	if n < 1 {
		return "the training file has no examples"
	}
	return ""
}

func (s *Server) create(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Model        string            `json:"model"`
		TrainingFile string            `json:"training_file"`
		Suffix       *string           `json:"suffix"`
		Seed         *int64            `json:"seed"`
		Metadata     map[string]string `json:"metadata"`
		Method       *struct {
			Type       string         `json:"type"`
			Supervised map[string]any `json:"supervised"`
			DPO        map[string]any `json:"dpo"`
		} `json:"method"`
	}
	dec := json.NewDecoder(r.Body)
	if err := dec.Decode(&req); err != nil {
		apiError(w, 400, "invalid_request", "invalid JSON body: "+err.Error(), "")
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	f, ok := s.files[req.TrainingFile]
	switch {
	case req.Model == "":
		apiError(w, 400, "invalid_request", "model is required", "model")
		return
	case !ok:
		apiError(w, 400, "invalid_request", fmt.Sprintf("invalid training_file: %s", req.TrainingFile), "training_file")
		return
	case f.purpose != "fine-tune":
		apiError(w, 400, "invalid_request", "the training file's purpose must be fine-tune", "training_file")
		return
	case len(req.Metadata) > 16:
		apiError(w, 400, "invalid_request", "metadata has more than 16 keys", "metadata")
		return
	case req.Suffix != nil && len(*req.Suffix) > 64:
		apiError(w, 400, "invalid_request", "suffix is longer than 64 characters", "suffix")
		return
	}
	method := map[string]any{"type": "supervised"}
	if req.Method != nil {
		switch req.Method.Type {
		case "supervised":
			method = map[string]any{"type": "supervised", "supervised": req.Method.Supervised}
		case "dpo":
			method = map[string]any{"type": "dpo", "dpo": req.Method.DPO}
		default:
			apiError(w, 400, "invalid_request", "method.type must be supervised, dpo or reinforcement", "method")
			return
		}
	}
	s.creates++
	plan := Plan{}
	if len(s.opts.Plans) > 0 {
		plan = s.opts.Plans[min(s.creates, len(s.opts.Plans))-1]
	}
	if plan.Steps == 0 {
		plan.Steps = 4
	}
	if plan.Outcome == "" {
		plan.Outcome = "succeeded"
	}
	id := s.id("ftjob")
	s.now++
	seed := int64(42)
	if req.Seed != nil {
		seed = *req.Seed
	}
	var meta any
	if req.Metadata != nil {
		meta = req.Metadata
	}
	j := &job{plan: plan, meta: req.Metadata, obj: map[string]any{
		"object": "fine_tuning.job", "id": id, "model": req.Model, "created_at": s.now,
		"finished_at": nil, "fine_tuned_model": nil, "organization_id": "org-standin",
		"result_files": []string{}, "status": "validating_files", "validation_file": nil,
		"training_file": req.TrainingFile, "hyperparameters": map[string]any{"n_epochs": "auto", "batch_size": "auto", "learning_rate_multiplier": "auto"},
		"trained_tokens": nil, "integrations": []any{}, "seed": seed, "estimated_finish": nil,
		"error": nil, "metadata": meta, "method": method,
	}}
	if req.Suffix != nil {
		j.suffix = *req.Suffix
	}
	s.jobs[id] = j
	s.order = append(s.order, id)
	s.event(j, "info", "message", "Validating training file: "+req.TrainingFile, nil)
	if s.creates == s.opts.LoseCreate {
		apiError(w, 500, "server_error", "The server had an error while processing your request.", "")
		return
	}
	writeJSON(w, 200, j.obj)
}

func (s *Server) event(j *job, level, typ, msg string, data map[string]any) {
	s.now++
	e := map[string]any{"object": "fine_tuning.job.event", "id": s.id("ftevent"), "created_at": s.now,
		"level": level, "message": msg, "type": typ, "data": data}
	if data == nil {
		e["data"] = map[string]any{}
	}
	j.events = append(j.events, e)
}

// advance moves a job one state on; called with s.mu held.
func (s *Server) advance(j *job) {
	st := j.obj["status"]
	if st == "succeeded" || st == "failed" || st == "cancelled" {
		return
	}
	j.phase++
	p := j.plan
	switch {
	case j.phase == 1:
		j.obj["status"] = "queued"
		s.event(j, "info", "message", "Files validated, moving job to queued state", nil)
	case j.phase == 2:
		j.obj["status"] = "running"
		j.obj["estimated_finish"] = s.now + 600
		s.event(j, "info", "message", "Fine-tuning job started", nil)
	case j.phase <= 2+p.Steps:
		step := j.phase - 2
		loss := 2.0 / float64(step+1)
		s.event(j, "info", "metrics", fmt.Sprintf("Step %d/%d: training loss=%.4f", step, p.Steps, loss),
			map[string]any{"step": step, "total_steps": p.Steps, "train_loss": loss, "train_mean_token_accuracy": 0.5})
		if step == p.Steps && p.Outcome == "cancelled" {
			s.finish(j, "cancelled")
		}
	default:
		s.finish(j, p.Outcome)
	}
}

func (s *Server) finish(j *job, status string) {
	s.now++
	j.obj["status"] = status
	j.obj["finished_at"] = s.now
	j.obj["estimated_finish"] = nil
	switch status {
	case "succeeded":
		id := j.obj["id"].(string)
		base := j.obj["model"].(string)
		if rest, ok := strings.CutPrefix(base, "ft:"); ok { // a fine-tune of a fine-tune is named after the base model
			base, _, _ = strings.Cut(rest, ":")
		}
		j.obj["fine_tuned_model"] = fmt.Sprintf("ft:%s:org-standin:%s:%s", base, j.suffix, id[len(id)-6:])
		j.obj["trained_tokens"] = 1000 * j.plan.Steps
		j.obj["result_files"] = []string{"file-result-" + id}
		s.event(j, "info", "message", "New fine-tuned model created", nil)
		s.event(j, "info", "message", "The job has successfully completed", nil)
	case "failed":
		msg := j.plan.Error
		if msg == "" {
			msg = "The job failed due to an internal error."
		}
		j.obj["error"] = map[string]any{"code": "invalid_training_file", "message": msg, "param": "training_file"}
		s.event(j, "error", "message", msg, nil)
	case "cancelled":
		s.event(j, "info", "message", "Fine-tuning job cancelled", nil)
	}
}

// onJob handles a request about the job its path names with h, under
// s.mu, or answers 404.
func (s *Server) onJob(h func(w http.ResponseWriter, r *http.Request, j *job)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		defer s.mu.Unlock()
		j, ok := s.jobs[r.PathValue("id")]
		if !ok {
			apiError(w, 404, "fine_tune_not_found", "No fine-tuning job found with id "+r.PathValue("id"), "fine_tuning_job_id")
			return
		}
		h(w, r, j)
	}
}

func (s *Server) get(w http.ResponseWriter, r *http.Request, j *job) {
	s.polls++
	s.advance(j)
	writeJSON(w, 200, j.obj)
}

func (s *Server) cancel(w http.ResponseWriter, r *http.Request, j *job) {
	if st := j.obj["status"]; st == "succeeded" || st == "failed" || st == "cancelled" {
		apiError(w, 400, "invalid_request", "the job has already finished", "")
		return
	}
	s.finish(j, "cancelled")
	writeJSON(w, 200, j.obj)
}

// page cuts items (in the order listed) after the id `after`, at limit.
func page(items []map[string]any, r *http.Request) map[string]any {
	q := r.URL.Query()
	limit := 20
	if l, err := strconv.Atoi(q.Get("limit")); err == nil && l > 0 {
		limit = min(l, 100)
	}
	start := 0
	if after := q.Get("after"); after != "" {
		for i, it := range items {
			if it["id"] == after {
				start = i + 1
			}
		}
	}
	items = items[start:]
	more := len(items) > limit
	if more {
		items = items[:limit]
	}
	if items == nil {
		items = []map[string]any{}
	}
	return map[string]any{"object": "list", "data": items, "has_more": more}
}

func (s *Server) list(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	filter := map[string]string{}
	for k, v := range r.URL.Query() {
		if strings.HasPrefix(k, "metadata[") && strings.HasSuffix(k, "]") && len(v) > 0 {
			filter[k[len("metadata["):len(k)-1]] = v[0]
		}
	}
	var items []map[string]any
	for i := len(s.order) - 1; i >= 0; i-- { // newest first
		j := s.jobs[s.order[i]]
		ok := true
		for k, v := range filter {
			ok = ok && j.meta[k] == v
		}
		if ok {
			items = append(items, j.obj)
		}
	}
	writeJSON(w, 200, page(items, r))
}

func (s *Server) events(w http.ResponseWriter, r *http.Request, j *job) {
	items := make([]map[string]any, len(j.events))
	for i, e := range j.events {
		items[len(items)-1-i] = e // newest first
	}
	sort.SliceStable(items, func(a, b int) bool { return items[a]["created_at"].(int64) > items[b]["created_at"].(int64) })
	writeJSON(w, 200, page(items, r))
}
