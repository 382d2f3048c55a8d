package modeltest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"time"
)

// BatchOptions turn on the batch endpoints of a Server: OpenAI's files and
// batches (NewServer) or Anthropic's Message Batches (NewAnthropicServer).
// A batch's requests are answered by the Server's own Responder and fault
// Schedule, one by one, when the batch ends: a request the Schedule fails
// with an HTTP status comes back as an errored item. Time is counted in
// looks, not seconds, so tests never wait.
type BatchOptions struct {
	// Polls is how many looks at a batch (GETs of it) pass before it ends:
	// slow completion. 0 ends it at the first look.
	Polls int
	// ExpireAfter > 0 makes a batch expire after answering only its first
	// ExpireAfter requests; the others come back expired.
	ExpireAfter int
	// MalformedEvery > 0 garbles every n-th result line of a batch.
	MalformedEvery int
	// Faulty limits ExpireAfter and MalformedEvery to the first Faulty
	// batches created (0: every batch), so resubmissions can succeed.
	Faulty int
	// Hold, when set, is called with the route ("create-file",
	// "create-batch", "get-batch", "list-batches", "results") of each batch
	// request, after the server has acted on it and before it answers: a
	// test kills its client there.
	Hold func(route string)
}

// WithBatches turns on the batch endpoints.
func WithBatches(o BatchOptions) Option { return func(s *Server) { s.batchOpts = &o } }

// batchSet is a Server's batches and files.
type batchSet struct {
	files   map[string][]byte
	batches []*standinBatch // in creation order
	items   map[string]int  // submissions per custom id
}

type standinBatch struct {
	id       string
	created  int64
	metadata map[string]string
	ids      []string // custom ids, in input order
	bodies   [][]byte // each request's body, in input order
	looks    int
	faulty   bool
	status   string // OpenAI's status words; Anthropic's are derived
	ended    bool
	cancel   bool
	// results once ended: one line each, in input order.
	lines    []resultOf
	outFile  string
	errFile  string
	succeed  int
	fail     int
	expired  int
	canceled int
}

// resultOf is one request's outcome inside the stand-in.
type resultOf struct {
	id        string
	status    int    // HTTP status of the answer; 0 when expired or cancelled
	body      []byte // the answer's body
	expired   bool
	canceled  bool
	malformed bool
}

// BatchesCreated returns how many batches were created.
func (s *Server) BatchesCreated() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.bset.batches)
}

// BatchSubmissions returns how many times each custom id was submitted in
// a batch.
func (s *Server) BatchSubmissions() map[string]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string]int, len(s.bset.items))
	for k, v := range s.bset.items {
		out[k] = v
	}
	return out
}

// BatchSizes returns the number of requests of each batch, in creation order.
func (s *Server) BatchSizes() []int {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []int
	for _, b := range s.bset.batches {
		out = append(out, len(b.ids))
	}
	return out
}

func (s *Server) hold(route string) {
	if s.batchOpts.Hold != nil {
		s.batchOpts.Hold(route)
	}
}

// addBatch records a new batch; s.mu must be held.
func (s *Server) addBatch(prefix string, metadata map[string]string, ids []string, bodies [][]byte) *standinBatch {
	n := len(s.bset.batches) + 1
	b := &standinBatch{
		id: fmt.Sprintf("%s_%06d", prefix, n), created: created + int64(n), metadata: metadata,
		ids: ids, bodies: bodies, status: "validating",
		faulty: s.batchOpts.Faulty == 0 || n <= s.batchOpts.Faulty,
	}
	for _, id := range ids {
		s.bset.items[id]++
	}
	s.bset.batches = append(s.bset.batches, b)
	return b
}

func (s *Server) findBatch(id string) *standinBatch {
	for _, b := range s.bset.batches {
		if b.id == id {
			return b
		}
	}
	return nil
}

// look counts a look at b and ends it when its time has come. It runs the
// requests through handler outside the lock, so the Responder and fault
// Schedule see them as they would see live requests.
func (s *Server) look(b *standinBatch, handler http.HandlerFunc, path string) {
	s.mu.Lock()
	if b.ended {
		s.mu.Unlock()
		return
	}
	b.looks++
	if b.looks <= s.batchOpts.Polls && !b.cancel {
		b.status = "in_progress"
		s.mu.Unlock()
		return
	}
	o, cancel := *s.batchOpts, b.cancel
	ids, bodies, faulty := b.ids, b.bodies, b.faulty
	s.mu.Unlock()

	lines := make([]resultOf, len(ids))
	expired := false
	for i, body := range bodies {
		r := resultOf{id: ids[i]}
		switch {
		case cancel:
			r.canceled = true
		case faulty && o.ExpireAfter > 0 && i >= o.ExpireAfter:
			r.expired, expired = true, true
		default:
			rec := httptest.NewRecorder()
			handler(rec, httptest.NewRequest(http.MethodPost, path, bytes.NewReader(body)))
			r.status, r.body = rec.Code, rec.Body.Bytes()
		}
		r.malformed = faulty && o.MalformedEvery > 0 && (i+1)%o.MalformedEvery == 0
		lines[i] = r
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	b.lines, b.ended = lines, true
	switch {
	case cancel:
		b.status = "cancelled"
	case expired:
		b.status = "expired"
	default:
		b.status = "completed"
	}
	for _, r := range lines {
		switch {
		case r.canceled:
			b.canceled++
		case r.expired:
			b.expired++
		case r.status == http.StatusOK:
			b.succeed++
		default:
			b.fail++
		}
	}
}

// garble cuts a result line in the middle, as a broken download would.
func garble(line []byte) []byte { return line[:len(line)/2] }

// batchWire is what differs between the two providers' batch endpoints
// that look, list and cancel.
type batchWire struct {
	chat   http.HandlerFunc                   // answers one request of a batch
	path   string                             // the chat endpoint's path
	after  string                             // the list's cursor parameter
	show   func(*standinBatch) map[string]any // the batch object; s.mu is held
	absent func(w http.ResponseWriter)        // the 404 answer
}

func (s *Server) openAIWire() batchWire {
	return batchWire{
		chat: s.handleOpenAI, path: "/v1/chat/completions", after: "after",
		show: func(b *standinBatch) map[string]any {
			s.openAIFiles(b)
			return s.openAIBatchJSON(b)
		},
		absent: func(w http.ResponseWriter) { writeJSON(w, 404, openAIError(404, "no such batch")) },
	}
}

func (s *Server) anthropicWire() batchWire {
	return batchWire{
		chat: s.handleAnthropic, path: "/v1/messages", after: "after_id",
		show:   func(b *standinBatch) map[string]any { return anthropicBatchJSON(b, s.URL) },
		absent: func(w http.ResponseWriter) { writeJSON(w, 404, anthropicError(404, "no such message batch")) },
	}
}

// getBatch is a look at a batch: it may end it.
func (s *Server) getBatch(wire batchWire) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		b := s.findBatch(r.PathValue("id"))
		s.mu.Unlock()
		if b == nil {
			wire.absent(w)
			return
		}
		s.look(b, wire.chat, wire.path)
		s.mu.Lock()
		out := wire.show(b)
		s.mu.Unlock()
		s.hold("get-batch")
		writeJSON(w, 200, out)
	}
}

// cancelBatch cancels a batch: its requests not yet answered never will be.
func (s *Server) cancelBatch(wire batchWire) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		b := s.findBatch(r.PathValue("id"))
		var out map[string]any
		if b != nil {
			if !b.ended {
				b.cancel, b.status = true, "cancelling"
			}
			out = wire.show(b)
		}
		s.mu.Unlock()
		if b == nil {
			wire.absent(w)
			return
		}
		writeJSON(w, 200, out)
	}
}

// listBatches is a page of the batches, newest first, as both APIs list them.
func (s *Server) listBatches(wire batchWire) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, 200, s.batchPage(r, wire))
	}
}

func (s *Server) batchPage(r *http.Request, wire batchWire) map[string]any {
	after, show := wire.after, wire.show
	limit := 20
	if n, err := strconv.Atoi(r.URL.Query().Get("limit")); err == nil && n > 0 {
		limit = n
	}
	cursor := r.URL.Query().Get(after)
	s.mu.Lock()
	all := slices.Clone(s.bset.batches)
	slices.Reverse(all)
	start := 0
	if cursor != "" {
		for i, b := range all {
			if b.id == cursor {
				start = i + 1
			}
		}
	}
	end := min(start+limit, len(all))
	data := []map[string]any{}
	for _, b := range all[start:end] {
		data = append(data, show(b))
	}
	s.mu.Unlock()
	s.hold("list-batches")
	out := map[string]any{"object": "list", "data": data, "has_more": end < len(all), "first_id": nil, "last_id": nil}
	if len(data) > 0 {
		out["first_id"], out["last_id"] = data[0]["id"], data[len(data)-1]["id"]
	}
	return out
}

// cancelBatch starts the cancellation of batch id; nil when there is none.
// s.mu must be held.

// --- OpenAI: /v1/files and /v1/batches -------------------------------------

func (s *Server) routeOpenAIBatches(mux *http.ServeMux) {
	mux.HandleFunc("POST /v1/files", s.openAICreateFile)
	mux.HandleFunc("GET /v1/files/{id}/content", s.openAIFileContent)
	mux.HandleFunc("POST /v1/batches", s.openAICreateBatch)
	wire := s.openAIWire()
	mux.HandleFunc("GET /v1/batches/{id}", s.getBatch(wire))
	mux.HandleFunc("POST /v1/batches/{id}/cancel", s.cancelBatch(wire))
	mux.HandleFunc("GET /v1/batches", s.listBatches(wire))
}

func (s *Server) openAICreateFile(w http.ResponseWriter, r *http.Request) {
	f, hdr, err := r.FormFile("file")
	if err != nil {
		writeJSON(w, 400, openAIError(400, "file: "+err.Error()))
		return
	}
	data, _ := io.ReadAll(f)
	if p := r.FormValue("purpose"); p != "batch" {
		writeJSON(w, 400, openAIError(400, "purpose must be batch, got "+strconv.Quote(p)))
		return
	}
	s.mu.Lock()
	id := fmt.Sprintf("file-%06d", len(s.bset.files)+1)
	s.bset.files[id] = data
	s.mu.Unlock()
	s.hold("create-file")
	writeJSON(w, 200, map[string]any{
		"id": id, "object": "file", "bytes": len(data), "created_at": created,
		"filename": hdr.Filename, "purpose": "batch", "status": "processed",
	})
}

func (s *Server) openAIFileContent(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	data, ok := s.bset.files[r.PathValue("id")]
	s.mu.Unlock()
	if !ok {
		writeJSON(w, 404, openAIError(404, "no such file"))
		return
	}
	s.hold("results")
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Write(data)
}

// openAIInputLine is a line of an input file as the Batch API reads it.
type openAIInputLine struct {
	CustomID string          `json:"custom_id"`
	Method   string          `json:"method"`
	URL      string          `json:"url"`
	Body     json.RawMessage `json:"body"`
}

func (s *Server) openAICreateBatch(w http.ResponseWriter, r *http.Request) {
	var in struct {
		InputFileID      string            `json:"input_file_id"`
		Endpoint         string            `json:"endpoint"`
		CompletionWindow string            `json:"completion_window"`
		Metadata         map[string]string `json:"metadata"`
	}
	if err := json.NewDecoder(r.Body).Decode(&in); err != nil {
		writeJSON(w, 400, openAIError(400, err.Error()))
		return
	}
	if in.Endpoint != "/v1/chat/completions" || in.CompletionWindow != "24h" {
		writeJSON(w, 400, openAIError(400, "this stand-in takes endpoint /v1/chat/completions and completion_window 24h"))
		return
	}
	s.mu.Lock()
	data, ok := s.bset.files[in.InputFileID]
	s.mu.Unlock()
	if !ok {
		writeJSON(w, 400, openAIError(400, "no such input file "+in.InputFileID))
		return
	}
	var ids []string
	var bodies [][]byte
	seen := map[string]bool{}
	for n, raw := range bytes.Split(bytes.TrimSpace(data), []byte("\n")) {
		var l openAIInputLine
		if err := json.Unmarshal(raw, &l); err != nil || l.CustomID == "" || l.URL != in.Endpoint || l.Method != "POST" {
			writeJSON(w, 400, openAIError(400, fmt.Sprintf("input line %d is not a batch request", n+1)))
			return
		}
		if seen[l.CustomID] {
			writeJSON(w, 400, openAIError(400, "duplicate custom_id "+l.CustomID))
			return
		}
		seen[l.CustomID] = true
		ids, bodies = append(ids, l.CustomID), append(bodies, l.Body)
	}
	s.mu.Lock()
	b := s.addBatch("batch", in.Metadata, ids, bodies)
	b.outFile = in.InputFileID // the input, until the batch ends
	out := s.openAIBatchJSON(b)
	s.mu.Unlock()
	s.hold("create-batch")
	writeJSON(w, 200, out)
}

// openAIFiles writes an ended batch's output and error files, once.
// s.mu must be held.
func (s *Server) openAIFiles(b *standinBatch) {
	if !b.ended || b.errFile != "" || (b.outFile != "" && strings.HasPrefix(b.outFile, "file-out")) {
		return
	}
	var out, errs bytes.Buffer
	for i, r := range b.lines {
		line := map[string]any{"id": fmt.Sprintf("batch_req_%s_%d", b.id, i), "custom_id": r.id, "response": nil, "error": nil}
		dst := &errs
		switch {
		case r.canceled:
			line["error"] = map[string]string{"code": "batch_cancelled", "message": "This request was cancelled with its batch."}
		case r.expired:
			line["error"] = map[string]string{"code": "batch_expired", "message": "This request could not be executed before the completion window expired."}
		default:
			line["response"] = map[string]any{"status_code": r.status, "request_id": fmt.Sprintf("req_%d", i), "body": json.RawMessage(r.body)}
			if r.status == http.StatusOK {
				dst = &out
			}
		}
		raw, _ := json.Marshal(line)
		if r.malformed {
			raw = garble(raw)
		}
		dst.Write(raw)
		dst.WriteByte('\n')
	}
	b.outFile = ""
	if out.Len() > 0 {
		b.outFile = "file-out-" + b.id
		s.bset.files[b.outFile] = out.Bytes()
	}
	b.errFile = "none"
	if errs.Len() > 0 {
		b.errFile = "file-err-" + b.id
		s.bset.files[b.errFile] = errs.Bytes()
	}
}

// openAIBatchJSON is b as the API shows it (openai-go's Batch); s.mu must be held.
func (s *Server) openAIBatchJSON(b *standinBatch) map[string]any {
	out := map[string]any{
		"id": b.id, "object": "batch", "endpoint": "/v1/chat/completions", "completion_window": "24h",
		"input_file_id": "", "status": b.status, "created_at": b.created, "expires_at": b.created + 86400,
		"metadata":       b.metadata,
		"request_counts": map[string]int{"total": len(b.ids), "completed": b.succeed, "failed": b.fail + b.expired + b.canceled},
	}
	if b.ended {
		if strings.HasPrefix(b.outFile, "file-out") {
			out["output_file_id"] = b.outFile
		}
		if b.errFile != "none" && b.errFile != "" {
			out["error_file_id"] = b.errFile
		}
	}
	return out
}

// --- Anthropic: /v1/messages/batches ----------------------------------------

func (s *Server) routeAnthropicBatches(mux *http.ServeMux) {
	mux.HandleFunc("POST /v1/messages/batches", s.anthropicCreateBatch)
	wire := s.anthropicWire()
	mux.HandleFunc("GET /v1/messages/batches/{id}", s.getBatch(wire))
	mux.HandleFunc("GET /v1/messages/batches/{id}/results", s.anthropicResults)
	mux.HandleFunc("POST /v1/messages/batches/{id}/cancel", s.cancelBatch(wire))
	mux.HandleFunc("GET /v1/messages/batches", s.listBatches(wire))
}

func (s *Server) anthropicCreateBatch(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Requests []struct {
			CustomID string          `json:"custom_id"`
			Params   json.RawMessage `json:"params"`
		} `json:"requests"`
	}
	if err := json.NewDecoder(r.Body).Decode(&in); err != nil || len(in.Requests) == 0 {
		writeJSON(w, 400, anthropicError(400, "requests: a list of {custom_id, params} is required"))
		return
	}
	var ids []string
	var bodies [][]byte
	seen := map[string]bool{}
	for _, q := range in.Requests {
		if q.CustomID == "" || len(q.CustomID) > 64 || seen[q.CustomID] || len(q.Params) == 0 {
			writeJSON(w, 400, anthropicError(400, "each request needs params and a unique custom_id of 1 to 64 characters"))
			return
		}
		seen[q.CustomID] = true
		ids, bodies = append(ids, q.CustomID), append(bodies, q.Params)
	}
	s.mu.Lock()
	b := s.addBatch("msgbatch", nil, ids, bodies)
	// The provider's own clock: a resumed client matches batches by it.
	b.created = time.Now().Unix()
	out := anthropicBatchJSON(b, s.URL)
	s.mu.Unlock()
	s.hold("create-batch")
	writeJSON(w, 200, out)
}

// anthropicBatchJSON is b as the API shows it (the SDK's MessageBatch);
// s.mu must be held.
func anthropicBatchJSON(b *standinBatch, base string) map[string]any {
	at := func(unix int64) string { return time.Unix(unix, 0).UTC().Format(time.RFC3339) }
	status, processing := "in_progress", len(b.ids)
	if b.cancel && !b.ended {
		status = "canceling"
	}
	out := map[string]any{
		"id": b.id, "type": "message_batch", "created_at": at(b.created), "expires_at": at(b.created + 86400),
		"archived_at": nil, "cancel_initiated_at": nil, "ended_at": nil, "results_url": nil,
	}
	if b.ended {
		status, processing = "ended", 0
		out["ended_at"] = at(b.created + 60)
		out["results_url"] = base + "/v1/messages/batches/" + b.id + "/results"
	}
	out["processing_status"] = status
	out["request_counts"] = map[string]int{
		"processing": processing, "succeeded": b.succeed, "errored": b.fail, "canceled": b.canceled, "expired": b.expired,
	}
	return out
}

// anthropicResults streams an ended batch's results, last request first:
// the API promises no order, and clients must match by custom_id.
func (s *Server) anthropicResults(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	b := s.findBatch(r.PathValue("id"))
	var lines []resultOf
	if b != nil && b.ended {
		lines = b.lines
	}
	s.mu.Unlock()
	if b == nil || lines == nil {
		writeJSON(w, 404, anthropicError(404, "no results for this message batch (yet)"))
		return
	}
	s.hold("results")
	w.Header().Set("Content-Type", "application/x-jsonl")
	for i := len(lines) - 1; i >= 0; i-- {
		l := lines[i]
		var res any
		switch {
		case l.canceled:
			res = map[string]string{"type": "canceled"}
		case l.expired:
			res = map[string]string{"type": "expired"}
		case l.status == http.StatusOK:
			res = map[string]any{"type": "succeeded", "message": json.RawMessage(l.body)}
		default:
			var e any = anthropicError(l.status, "request failed")
			if json.Valid(l.body) {
				e = json.RawMessage(l.body)
			}
			res = map[string]any{"type": "errored", "error": e}
		}
		raw, _ := json.Marshal(map[string]any{"custom_id": l.id, "result": res})
		if l.malformed {
			raw = garble(raw)
		}
		w.Write(raw)
		w.Write([]byte("\n"))
	}
}
