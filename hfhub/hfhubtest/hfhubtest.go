// Package hfhubtest is an in-memory stand-in for the Hugging Face Hub endpoints hfhub uses, for tests.
package hfhubtest

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
)

// Repo is a dataset repo as the stand-in holds it.
type Repo struct {
	Private bool
	Files   map[string][]byte // path → content, LFS files resolved
	Commits []string          // commit summaries, oldest first
}

// Server answers create repo, preupload, LFS batch/upload/verify and commit
// requests like the Hub, checking every request's shape strictly, and
// records what it was sent. Configure it before the first request; read it
// with Repo after the client returns.
type Server struct {
	*httptest.Server
	Token     string // the one write token; any other is refused with 401
	Namespace string // the one namespace the token may write; others get 403
	// LFSFrom is the size from which the preupload check answers "lfs".
	LFSFrom int64
	// PartSize, when set, makes objects larger than it go through the Hub's
	// multipart transfer in parts of this size (if the client offers it).
	PartSize int64
	// EchoAuth makes 401 and 403 replies quote the Authorization header, as a
	// careless proxy might: a client must not pass that on unredacted.
	EchoAuth bool

	mu     sync.Mutex
	repos  map[string]*Repo
	lfs    map[string][]byte // oid → content
	parts  map[string][]byte // "oid/n" → part content, until completed
	faults map[string][]int
	log    []string
}

// New starts a stand-in accepting token for namespace ns.
func New(token, ns string) *Server {
	s := &Server{Token: token, Namespace: ns, LFSFrom: 10 << 20, repos: map[string]*Repo{},
		lfs: map[string][]byte{}, parts: map[string][]byte{}, faults: map[string][]int{}}
	s.Server = httptest.NewServer(http.HandlerFunc(s.serve))
	return s
}

// Fail makes the next len(statuses) requests of route ("create",
// "preupload", "batch", "upload", "part", "complete", "verify" or "commit") fail with those
// statuses, in order.
func (s *Server) Fail(route string, statuses ...int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults[route] = append(s.faults[route], statuses...)
}

// Repo returns a copy of repo id, or nil.
func (s *Server) Repo(id string) *Repo {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.repos[id]
	if r == nil {
		return nil
	}
	c := &Repo{Private: r.Private, Files: map[string][]byte{}, Commits: append([]string(nil), r.Commits...)}
	for k, v := range r.Files {
		c.Files[k] = v
	}
	return c
}

// Log returns the requests served, as "route status".
func (s *Server) Log() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.log...)
}

type reply struct {
	status int
	body   any
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	route, rep := s.route(r)
	s.mu.Lock()
	if f := s.faults[route]; len(f) > 0 && rep.status < 300 {
		rep = reply{f[0], map[string]string{"error": "injected fault"}}
		s.faults[route] = f[1:]
	}
	s.log = append(s.log, fmt.Sprintf("%s %d", route, rep.status))
	s.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	if m, ok := rep.body.(map[string]string); ok && route == "part" && rep.status == http.StatusOK {
		w.Header().Set("ETag", m["etag"])
	}
	w.WriteHeader(rep.status)
	json.NewEncoder(w).Encode(rep.body)
}

func errReply(status int, format string, args ...any) reply {
	return reply{status, map[string]string{"error": fmt.Sprintf(format, args...)}}
}

// route checks and applies one request. Fault injection happens after, so
// that an injected failure still validates the request's shape.
func (s *Server) route(r *http.Request) (route string, rep reply) {
	p := r.URL.Path
	if r.Method == http.MethodPut && strings.HasPrefix(p, "/lfs-upload/") {
		return "upload", s.upload(r, strings.TrimPrefix(p, "/lfs-upload/"))
	}
	if r.Method == http.MethodPut && strings.HasPrefix(p, "/lfs-part/") {
		return "part", s.part(r, strings.TrimPrefix(p, "/lfs-part/"))
	}
	if r.Method == http.MethodPost && strings.HasPrefix(p, "/lfs-complete/") {
		return "complete", s.complete(r, strings.TrimPrefix(p, "/lfs-complete/"))
	}
	if a := r.Header.Get("Authorization"); a != "Bearer "+s.Token {
		msg := "Invalid credentials in Authorization header"
		if s.EchoAuth {
			msg += " " + a
		}
		return "auth", errReply(http.StatusUnauthorized, "%s", msg)
	}
	switch {
	case r.Method == http.MethodPost && p == "/api/repos/create":
		return "create", s.create(r)
	case r.Method == http.MethodPost && strings.HasPrefix(p, "/api/datasets/"):
		rest := strings.TrimPrefix(p, "/api/datasets/")
		if id, ok := strings.CutSuffix(rest, "/preupload/main"); ok {
			return "preupload", s.preupload(r, id)
		}
		if id, ok := strings.CutSuffix(rest, "/commit/main"); ok {
			return "commit", s.commit(r, id)
		}
	case r.Method == http.MethodPost && strings.HasPrefix(p, "/datasets/"):
		rest := strings.TrimPrefix(p, "/datasets/")
		if id, ok := strings.CutSuffix(rest, ".git/info/lfs/objects/batch"); ok {
			return "batch", s.batch(r, id)
		}
		if _, ok := strings.CutSuffix(rest, ".git/info/lfs/objects/verify"); ok {
			return "verify", s.verify(r)
		}
	}
	return "unknown", errReply(http.StatusNotFound, "no route %s %s", r.Method, p)
}

func (s *Server) create(r *http.Request) reply {
	var v struct {
		Name, Organization, Type string
		Private                  *bool
	}
	if err := json.NewDecoder(r.Body).Decode(&v); err != nil || v.Name == "" || v.Private == nil {
		return errReply(http.StatusBadRequest, "bad create request: %v", err)
	}
	if v.Type != "dataset" {
		return errReply(http.StatusBadRequest, "type %q, want dataset", v.Type)
	}
	if v.Organization != s.Namespace {
		msg := "You don't have the rights to create a dataset under the namespace " + v.Organization
		if s.EchoAuth {
			msg += " (token " + strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ") + ")"
		}
		return errReply(http.StatusForbidden, "%s", msg)
	}
	id := v.Organization + "/" + v.Name
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.repos[id] != nil {
		return errReply(http.StatusConflict, "You already created this dataset repo")
	}
	s.repos[id] = &Repo{Private: *v.Private, Files: map[string][]byte{}}
	return reply{http.StatusOK, map[string]string{"url": s.URL + "/datasets/" + id, "name": id}}
}

func (s *Server) exists(id string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.repos[id] != nil
}

func (s *Server) preupload(r *http.Request, id string) reply {
	if !s.exists(id) {
		return errReply(http.StatusNotFound, "Repository not found")
	}
	var v struct {
		Files []struct {
			Path, Sample string
			Size         *int64
		}
	}
	if err := json.NewDecoder(r.Body).Decode(&v); err != nil || len(v.Files) == 0 {
		return errReply(http.StatusBadRequest, "bad preupload request: %v", err)
	}
	type out struct {
		Path         string `json:"path"`
		UploadMode   string `json:"uploadMode"`
		ShouldIgnore bool   `json:"shouldIgnore"`
	}
	var files []out
	for _, f := range v.Files {
		sample, err := base64.StdEncoding.DecodeString(f.Sample)
		if err != nil || f.Size == nil || len(sample) > 512 || int64(len(sample)) > *f.Size {
			return errReply(http.StatusBadRequest, "bad preupload entry for %q", f.Path)
		}
		mode := "regular"
		if *f.Size >= s.LFSFrom {
			mode = "lfs"
		}
		files = append(files, out{f.Path, mode, false})
	}
	return reply{http.StatusOK, map[string]any{"files": files}}
}

func (s *Server) batch(r *http.Request, id string) reply {
	if r.Header.Get("Content-Type") != "application/vnd.git-lfs+json" || r.Header.Get("Accept") != "application/vnd.git-lfs+json" {
		return errReply(http.StatusUnsupportedMediaType, "LFS batch wants application/vnd.git-lfs+json")
	}
	if !s.exists(id) {
		return errReply(http.StatusNotFound, "Repository not found")
	}
	var v struct {
		Operation string
		Transfers []string
		HashAlgo  string `json:"hash_algo"`
		Objects   []struct {
			OID  string
			Size int64
		}
	}
	if err := json.NewDecoder(r.Body).Decode(&v); err != nil || v.Operation != "upload" || v.HashAlgo != "sha256" || len(v.Objects) == 0 {
		return errReply(http.StatusBadRequest, "bad batch request: %v", err)
	}
	var objs []map[string]any
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, o := range v.Objects {
		obj := map[string]any{"oid": o.OID, "size": o.Size}
		if _, ok := s.lfs[o.OID]; !ok {
			up := map[string]any{"href": s.URL + "/lfs-upload/" + o.OID + "?X-Amz-Signature=presigned",
				"header": map[string]string{"X-Stand-In-Upload": o.OID}}
			if s.PartSize > 0 && o.Size > s.PartSize && slices.Contains(v.Transfers, "multipart") {
				h := map[string]any{"chunk_size": s.PartSize} // a number: the client must take it as well as a string
				for n := int64(1); (n-1)*s.PartSize < o.Size; n++ {
					h[fmt.Sprintf("%05d", n)] = fmt.Sprintf("%s/lfs-part/%s/%d?X-Amz-Signature=presigned", s.URL, o.OID, n)
				}
				up = map[string]any{"href": s.URL + "/lfs-complete/" + o.OID, "header": h}
			}
			obj["actions"] = map[string]any{
				"upload": up,
				"verify": map[string]any{"href": s.URL + "/datasets/" + id + ".git/info/lfs/objects/verify"},
			}
		}
		objs = append(objs, obj)
	}
	return reply{http.StatusOK, map[string]any{"transfer": "basic", "objects": objs}}
}

func (s *Server) upload(r *http.Request, oid string) reply {
	if r.Header.Get("Authorization") != "" {
		return errReply(http.StatusBadRequest, "a presigned upload must not carry the Hub token")
	}
	if r.Header.Get("X-Stand-In-Upload") != oid || r.URL.Query().Get("X-Amz-Signature") == "" {
		return errReply(http.StatusForbidden, "upload without the batch reply's header or signature")
	}
	data, err := io.ReadAll(r.Body)
	if err != nil {
		return errReply(http.StatusBadRequest, "%v", err)
	}
	if sum := sha256.Sum256(data); hex.EncodeToString(sum[:]) != oid {
		return errReply(http.StatusBadRequest, "content does not hash to %s", oid)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.lfs[oid] = data
	return reply{http.StatusOK, map[string]string{}}
}

func (s *Server) part(r *http.Request, key string) reply {
	if r.Header.Get("Authorization") != "" || r.URL.Query().Get("X-Amz-Signature") == "" {
		return errReply(http.StatusBadRequest, "a presigned part upload carries no token and a signature")
	}
	data, err := io.ReadAll(r.Body)
	if err != nil {
		return errReply(http.StatusBadRequest, "%v", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.parts[key] = data
	sum := sha256.Sum256(data)
	return reply{http.StatusOK, map[string]string{"etag": hex.EncodeToString(sum[:8])}}
}

func (s *Server) complete(r *http.Request, oid string) reply {
	var v struct {
		OID   string
		Parts []struct {
			PartNumber int
			ETag       string
		}
	}
	if err := json.NewDecoder(r.Body).Decode(&v); err != nil || v.OID != oid || len(v.Parts) == 0 {
		return errReply(http.StatusBadRequest, "bad completion: %v", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var all []byte
	for i, p := range v.Parts {
		data, ok := s.parts[fmt.Sprintf("%s/%d", oid, i+1)]
		sum := sha256.Sum256(data)
		if !ok || p.PartNumber != i+1 || p.ETag != hex.EncodeToString(sum[:8]) {
			return errReply(http.StatusBadRequest, "part %d missing or its etag wrong", i+1)
		}
		all = append(all, data...)
	}
	if sum := sha256.Sum256(all); hex.EncodeToString(sum[:]) != oid {
		return errReply(http.StatusBadRequest, "parts do not hash to %s", oid)
	}
	s.lfs[oid] = all
	return reply{http.StatusOK, map[string]string{}}
}

func (s *Server) verify(r *http.Request) reply {
	var v struct {
		OID  string
		Size int64
	}
	if err := json.NewDecoder(r.Body).Decode(&v); err != nil {
		return errReply(http.StatusBadRequest, "%v", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if d, ok := s.lfs[v.OID]; !ok || int64(len(d)) != v.Size {
		return errReply(http.StatusNotFound, "object %s not uploaded", v.OID)
	}
	return reply{http.StatusOK, map[string]string{}}
}

func (s *Server) commit(r *http.Request, id string) reply {
	if r.Header.Get("Content-Type") != "application/x-ndjson" {
		return errReply(http.StatusUnsupportedMediaType, "commit wants application/x-ndjson")
	}
	if !s.exists(id) {
		return errReply(http.StatusNotFound, "Repository not found")
	}
	sc := bufio.NewScanner(r.Body)
	sc.Buffer(nil, 64<<20)
	var summary string
	files := map[string][]byte{}
	for n := 0; sc.Scan(); n++ {
		var line struct {
			Key   string
			Value json.RawMessage
		}
		dec := json.NewDecoder(bytes.NewReader(sc.Bytes()))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&line); err != nil {
			return errReply(http.StatusBadRequest, "line %d: %v", n+1, err)
		}
		if (n == 0) != (line.Key == "header") {
			return errReply(http.StatusBadRequest, "line %d: key %q; the header comes first, once", n+1, line.Key)
		}
		var v struct {
			Summary, Description          string
			Path, Content, Encoding, Algo string
			OID                           string
			Size                          int64
		}
		if err := json.Unmarshal(line.Value, &v); err != nil {
			return errReply(http.StatusBadRequest, "line %d: %v", n+1, err)
		}
		switch line.Key {
		case "header":
			if v.Summary == "" {
				return errReply(http.StatusBadRequest, "empty commit summary")
			}
			summary = v.Summary
		case "file":
			data, err := base64.StdEncoding.DecodeString(v.Content)
			if v.Encoding != "base64" || err != nil || v.Path == "" {
				return errReply(http.StatusBadRequest, "line %d: bad file entry", n+1)
			}
			files[v.Path] = data
		case "lfsFile":
			s.mu.Lock()
			data, ok := s.lfs[v.OID]
			s.mu.Unlock()
			if v.Algo != "sha256" || !ok || int64(len(data)) != v.Size || v.Path == "" {
				return errReply(http.StatusBadRequest, "line %d: LFS object %s of %s not uploaded", n+1, v.OID, v.Path)
			}
			files[v.Path] = data
		default:
			return errReply(http.StatusBadRequest, "line %d: unknown key %q", n+1, line.Key)
		}
	}
	if err := sc.Err(); err != nil || summary == "" {
		return errReply(http.StatusBadRequest, "bad commit body: %v", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	repo := s.repos[id]
	for k, v := range files {
		repo.Files[k] = v
	}
	repo.Commits = append(repo.Commits, summary)
	oid := fmt.Sprintf("%040x", len(repo.Commits))
	return reply{http.StatusOK, map[string]string{"commitUrl": s.URL + "/datasets/" + id + "/commit/" + oid, "commitOid": oid}}
}
