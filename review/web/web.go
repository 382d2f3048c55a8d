// Package web is the review app behind `synthloop review`: an HTTP server with embedded assets that shows a run's records and writes reviewers' decisions to its store.
package web

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"embed"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"iter"
	"mime"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/synthloop/synthloop/record"
	"github.com/synthloop/synthloop/review"
	"github.com/synthloop/synthloop/review/insight"
	"github.com/synthloop/synthloop/store"
)

//go:embed assets
var assets embed.FS

// CSP allows the app's own script, style and requests and nothing else: no
// inline script, so a record's text that slipped into markup could still not
// run, and no frames, forms or plugins.
const CSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; " +
	"base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

// Options configure a Server.
type Options struct {
	// Reviewer is the name decisions are made under when the page does not
	// name another (each browser can: several reviewers share one server).
	Reviewer string
	// Token, when set, is required of every request: as a bearer token, or
	// as the cookie a first visit with ?token=TOKEN sets. A server on a
	// non-loopback address must have one (see Listen).
	Token string
	// ReadOnly serves a run that another process is still writing: records
	// show as they commit, and decisions are refused (the writer holds the
	// store).
	ReadOnly bool
}

// Server is the review app over one run store. Its handlers are safe for
// concurrent use; every decision is committed before its request returns.
type Server struct {
	st   *store.Store
	opts Options
	csrf string
	mux  *http.ServeMux
}

// New returns the app over st, which must be open for writing unless
// opts.ReadOnly.
func New(st *store.Store, opts Options) (*Server, error) {
	if opts.Reviewer == "" {
		return nil, errors.New("review: a reviewer name is needed")
	}
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return nil, fmt.Errorf("review: csrf token: %w", err)
	}
	s := &Server{st: st, opts: opts, csrf: hex.EncodeToString(b), mux: http.NewServeMux()}
	static, _ := fs.Sub(assets, "assets") // the directory is embedded: Sub cannot fail
	s.mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		b, _ := fs.ReadFile(static, "index.html")
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Write(b)
	})
	s.mux.Handle("GET /assets/", http.StripPrefix("/assets/", http.FileServerFS(static)))
	s.mux.HandleFunc("GET /api/session", s.session)
	s.mux.HandleFunc("GET /api/records", s.records)
	s.mux.HandleFunc("GET /api/record", s.record)
	s.mux.HandleFunc("GET /api/summary", s.summary)
	s.mux.HandleFunc("POST /api/decide", s.decide)
	s.mux.HandleFunc("POST /api/undo", s.undo)
	s.mux.HandleFunc("POST /api/sample", s.sample)
	s.mux.HandleFunc("GET /api/insight", s.insight)
	return s, nil
}

// ServeHTTP checks the host, token and CSRF token, sets the security
// headers and dispatches.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Security-Policy", CSP)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Cache-Control", "no-store")
	// Without a token the app trusts whoever reaches it, which is only this
	// machine; a page elsewhere could still reach a loopback port through a
	// DNS name it rebinds to 127.0.0.1, which the Host header gives away.
	if s.opts.Token == "" && !loopbackHost(r.Host) {
		httpError(w, http.StatusForbidden, "review: host %q is not a loopback name; use a token to serve beyond this machine", r.Host)
		return
	}
	if s.opts.Token != "" && !s.authorized(w, r) {
		return
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		if err := s.checkCSRF(r); err != nil {
			httpError(w, http.StatusForbidden, "review: %v", err)
			return
		}
		if s.opts.ReadOnly {
			httpError(w, http.StatusConflict, "review: the run is still being written; decisions can be made once it has finished")
			return
		}
	}
	s.mux.ServeHTTP(w, r)
}

const tokenCookie = "synthloop_review"

// authorized reports whether r carries the token; a page visit with
// ?token= gets it as a cookie and is sent to the same page without it, so
// the token leaves the address bar and the history.
func (s *Server) authorized(w http.ResponseWriter, r *http.Request) bool {
	eq := func(got string) bool { return subtle.ConstantTimeCompare([]byte(got), []byte(s.opts.Token)) == 1 }
	if q := r.URL.Query().Get("token"); q != "" && r.Method == http.MethodGet && eq(q) {
		http.SetCookie(w, &http.Cookie{Name: tokenCookie, Value: q, Path: "/", HttpOnly: true, SameSite: http.SameSiteStrictMode})
		u := *r.URL
		v := u.Query()
		v.Del("token")
		u.RawQuery = v.Encode()
		http.Redirect(w, r, u.RequestURI(), http.StatusSeeOther)
		return false
	}
	if b, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer "); ok && eq(b) {
		return true
	}
	if c, err := r.Cookie(tokenCookie); err == nil && eq(c.Value) {
		return true
	}
	httpError(w, http.StatusUnauthorized, "review: missing or wrong token: open the address synthloop review printed, with its ?token=")
	return false
}

// checkCSRF admits a state-changing request only from the app's own page:
// it carries the session's CSRF token in a header (which another site's
// page can neither read nor set without a CORS preflight this server never
// answers), as JSON, and from this origin when the browser says.
func (s *Server) checkCSRF(r *http.Request) error {
	if subtle.ConstantTimeCompare([]byte(r.Header.Get("X-CSRF-Token")), []byte(s.csrf)) != 1 {
		return errors.New("missing or wrong CSRF token")
	}
	if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt != "application/json" {
		return errors.New("a state-changing request must be application/json")
	}
	if o := r.Header.Get("Origin"); o != "" {
		u, err := url.Parse(o)
		if err != nil || u.Host != r.Host {
			return fmt.Errorf("cross-origin request from %q", o)
		}
	}
	return nil
}

func loopbackHost(hostport string) bool {
	host := hostport
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		host = h
	}
	host = strings.Trim(host, "[]")
	if host == "localhost" || strings.HasSuffix(host, ".localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// Listen opens addr, refusing a non-loopback address without a token: the
// app shows the whole run and writes to it.
func Listen(addr, token string) (net.Listener, error) {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("review: --addr %s: %w", addr, err)
	}
	if token == "" && !loopbackHost(host) {
		return nil, fmt.Errorf("review: %s is not a loopback address; set a token (--token-env) to serve beyond this machine", addr)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("review: %w", err)
	}
	return ln, nil
}

// Serve serves h on ln until ctx ends, then shuts down gracefully.
func Serve(ctx context.Context, ln net.Listener, h http.Handler) error {
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(sctx)
		<-errc
		return nil
	}
}

// reviewer is the name the page sends in X-Reviewer, or the server's.
func (s *Server) reviewer(r *http.Request) (string, error) {
	name := strings.TrimSpace(r.Header.Get("X-Reviewer"))
	if name == "" {
		return s.opts.Reviewer, nil
	}
	if len(name) > 64 || strings.ContainsFunc(name, func(c rune) bool { return c < ' ' }) {
		return "", errors.New("a reviewer name is at most 64 printable characters")
	}
	return name, nil
}

type stageInfo struct {
	Name    string         `json:"name"`
	Counts  map[string]int `json:"counts"`
	Filters []string       `json:"filters"`
}

func (s *Server) session(w http.ResponseWriter, r *http.Request) {
	counts, err := s.st.StageCounts(r.Context())
	if err != nil {
		httpError(w, http.StatusInternalServerError, "%v", err)
		return
	}
	stages := []stageInfo{}
	for _, c := range counts {
		stages = append(stages, stageInfo{Name: c.Stage, Filters: append([]string{}, c.Filters...),
			Counts: map[string]int{"records": c.Kept + c.Rejected + c.Failed, "kept": c.Kept, "rejected": c.Rejected, "failed": c.Failed}})
	}
	writeJSON(w, map[string]any{"reviewer": s.opts.Reviewer, "csrf": s.csrf, "run": s.st.Dir(), "stages": stages, "read_only": s.opts.ReadOnly,
		"reasons": review.RejectReasons})
}

// item is a record as the app shows it: with every reviewer's standing
// verdict, and the reviewer's own.
type item struct {
	Record   *record.Record   `json:"record"`
	Verdicts []review.Verdict `json:"verdicts"`
	Prefs    []review.Verdict `json:"prefs"`
}

func (s *Server) records(w http.ResponseWriter, r *http.Request) {
	v := r.URL.Query()
	who, err := s.reviewer(r)
	if err != nil {
		httpError(w, http.StatusBadRequest, "%v", err)
		return
	}
	q := store.PageQuery{Stage: v.Get("stage"), Status: record.Status(v.Get("status")), RejectedBy: v.Get("rejected_by"),
		ScoreKey: v.Get("score_key"), Parent: v.Get("parent"), Sort: v.Get("sort"), After: v.Get("after"),
		Pending: v.Get("pending") == "1", Reviewer: who, InSample: v.Get("sample") == "1"}
	for name, dst := range map[string]**float64{"min": &q.MinScore, "max": &q.MaxScore} {
		if x := v.Get(name); x != "" {
			f, err := strconv.ParseFloat(x, 64)
			if err != nil {
				httpError(w, http.StatusBadRequest, "review: %s: %v", name, err)
				return
			}
			*dst = &f
		}
	}
	if m := v.Get("meta"); m != "" {
		k, val, ok := strings.Cut(m, "=")
		if !ok {
			httpError(w, http.StatusBadRequest, "review: meta filter %q is not KEY=VALUE", m)
			return
		}
		q.MetaKey, q.MetaValue = k, val
	}
	if n := v.Get("limit"); n != "" {
		if q.Limit, err = strconv.Atoi(n); err != nil {
			httpError(w, http.StatusBadRequest, "review: limit: %v", err)
			return
		}
	}
	p, err := s.st.RecordPage(r.Context(), q)
	if err != nil {
		httpError(w, http.StatusBadRequest, "%v", err)
		return
	}
	items := make([]item, 0, len(p.Records))
	for _, rec := range p.Records {
		vs, prefs, err := s.verdicts(r.Context(), rec.ID)
		if err != nil {
			httpError(w, http.StatusInternalServerError, "%v", err)
			return
		}
		items = append(items, item{Record: rec, Verdicts: vs, Prefs: prefs})
	}
	writeJSON(w, map[string]any{"items": items, "next": p.Next, "last": p.Last})
}

// verdicts returns the record's standing verdicts and pair preferences.
func (s *Server) verdicts(ctx context.Context, id string) (vs, prefs []review.Verdict, err error) {
	d, err := review.Load(ctx, oneRecord{s.st, id}, "")
	if err != nil {
		return nil, nil, err
	}
	vs, prefs = d.ByRecord[id], d.Prefs[id]
	if vs == nil {
		vs = []review.Verdict{}
	}
	if prefs == nil {
		prefs = []review.Verdict{}
	}
	return vs, prefs, nil
}

// oneRecord is the log of one record, for review.Load.
type oneRecord struct {
	st *store.Store
	id string
}

func (o oneRecord) Reviews(ctx context.Context, stage, _ string) iter.Seq2[store.Review, error] {
	return o.st.Reviews(ctx, stage, o.id)
}

func (s *Server) record(w http.ResponseWriter, r *http.Request) {
	id := r.URL.Query().Get("id")
	rec, err := s.st.Record(r.Context(), id)
	if errors.Is(err, store.ErrNotFound) {
		httpError(w, http.StatusNotFound, "%v", err)
		return
	}
	if err != nil {
		httpError(w, http.StatusInternalServerError, "%v", err)
		return
	}
	log := []store.Review{}
	for rv, err := range s.st.Reviews(r.Context(), "", id) {
		if err != nil {
			httpError(w, http.StatusInternalServerError, "%v", err)
			return
		}
		log = append(log, rv)
	}
	vs, prefs, err := s.verdicts(r.Context(), id)
	if err != nil {
		httpError(w, http.StatusInternalServerError, "%v", err)
		return
	}
	writeJSON(w, map[string]any{"record": rec, "verdicts": vs, "prefs": prefs, "log": log})
}

type decision struct {
	ID      string            `json:"id"`
	Kind    store.ReviewKind  `json:"kind"`
	Reason  string            `json:"reason"`
	Edits   map[string]string `json:"edits"`
	Comment string            `json:"comment"`
}

func (s *Server) decide(w http.ResponseWriter, r *http.Request) {
	s.logWrite(w, r, func(d decision, who string) (store.Review, error) {
		if d.Kind == store.Reject && strings.TrimSpace(d.Reason) == "" {
			return store.Review{}, errors.New("review: a reject needs a reason tag")
		}
		for f := range d.Edits {
			var probe record.Record
			if !probe.SetText(f, "") {
				return store.Review{}, fmt.Errorf("review: %q is not an editable field (%s)", f, strings.Join(record.TextFields, ", "))
			}
		}
		return s.st.AddReview(r.Context(), store.Review{RecordID: d.ID, Reviewer: who, Kind: d.Kind, Reason: d.Reason, Edits: d.Edits, Comment: d.Comment})
	})
}

func (s *Server) undo(w http.ResponseWriter, r *http.Request) {
	s.logWrite(w, r, func(d decision, who string) (store.Review, error) { return s.st.Undo(r.Context(), d.ID, who) })
}

// logWrite reads a decision and its reviewer, has write add it to the
// review log and answers with the row written. A missing record is a 404,
// nothing to undo a 409, anything else the request's fault.
func (s *Server) logWrite(w http.ResponseWriter, r *http.Request, write func(d decision, who string) (store.Review, error)) {
	var d decision
	if !readJSON(w, r, &d) {
		return
	}
	who, err := s.reviewer(r)
	if err != nil {
		httpError(w, http.StatusBadRequest, "%v", err)
		return
	}
	rv, err := write(d, who)
	switch {
	case errors.Is(err, store.ErrNotFound):
		httpError(w, http.StatusNotFound, "%v", err)
	case errors.Is(err, store.ErrNothingToUndo):
		httpError(w, http.StatusConflict, "%v", err)
	case err != nil:
		httpError(w, http.StatusBadRequest, "%v", err)
	default:
		writeJSON(w, rv)
	}
}

func (s *Server) sample(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Stage     string `json:"stage"`
		Kept      int    `json:"kept"`
		PerReason int    `json:"per_reason"`
		Seed      int64  `json:"seed"`
	}
	if !readJSON(w, r, &req) {
		return
	}
	if req.Stage == "" || req.Kept < 0 || req.PerReason < 0 || req.Kept+req.PerReason == 0 {
		httpError(w, http.StatusBadRequest, "review: a sample needs a stage and a positive size")
		return
	}
	p, err := review.Draw(r.Context(), s.st, req.Stage, req.Kept, req.PerReason, req.Seed)
	if err != nil {
		httpError(w, http.StatusInternalServerError, "%v", err)
		return
	}
	writeJSON(w, p)
}

func (s *Server) summary(w http.ResponseWriter, r *http.Request) {
	stage := r.URL.Query().Get("stage")
	p, est, ags, err := review.Summarize(r.Context(), s.st, stage)
	if err != nil {
		httpError(w, http.StatusInternalServerError, "%v", err)
		return
	}
	type agreement struct {
		review.Agreement
		Kappa *float64 `json:"kappa"` // null when undefined
	}
	out := []agreement{}
	for _, a := range ags {
		x := agreement{Agreement: a}
		if k := a.Kappa; k == k { // not NaN, which JSON cannot carry
			x.Kappa = &k
		}
		out = append(out, x)
	}
	texts := []string{}
	for _, e := range est {
		texts = append(texts, e.String())
	}
	if est == nil {
		est = []review.Estimate{}
	}
	writeJSON(w, map[string]any{"progress": p, "pairs": p.PairLine(), "estimates": est, "estimate_texts": texts, "agreements": out})
}

// insight serves the stage's figures for the Insight page, over at most
// ?limit= (default insight.DefaultLimit) of its records.
func (s *Server) insight(w http.ResponseWriter, r *http.Request) {
	limit := insight.DefaultLimit
	if n := r.URL.Query().Get("limit"); n != "" {
		var err error
		if limit, err = strconv.Atoi(n); err != nil || limit <= 0 || limit > 1_000_000 {
			httpError(w, http.StatusBadRequest, "review: limit %q is not a number of records from 1 to 1000000", n)
			return
		}
	}
	rep, err := insight.Load(r.Context(), s.st, r.URL.Query().Get("stage"), limit)
	if err != nil {
		httpError(w, http.StatusInternalServerError, "%v", err)
		return
	}
	writeJSON(w, rep)
}

func readJSON(w http.ResponseWriter, r *http.Request, v any) bool {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<20))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		httpError(w, http.StatusBadRequest, "review: request body: %v", err)
		return false
	}
	return true
}

// writeJSON writes v as JSON; encoding/json escapes <, > and & in strings,
// so even a page that wrongly read the body as HTML would find no tags in it.
func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	if err := json.NewEncoder(w).Encode(v); err != nil {
		// The status is sent; all that is left is to stop.
		return
	}
}

func httpError(w http.ResponseWriter, code int, format string, a ...any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(map[string]string{"error": fmt.Sprintf(format, a...)})
}
