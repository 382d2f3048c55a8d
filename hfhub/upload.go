package hfhub

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
)

// revision is the branch every push commits to.
const revision = "main"

// sampleSize is how much of each file the preupload check sees; the Hub
// decides from it (and the size) whether the file goes through LFS.
const sampleSize = 512

// file is one file of the folder being pushed.
type file struct {
	abs, path string // path is relative, slash-separated: the path in the repo
	size      int64
	sample    []byte
	sha256    string // hex
	mode      string // "regular" or "lfs", from the preupload check
	ignore    bool   // the repo's .gitignore excludes it
}

// Commit is what the Hub answered to a commit.
type Commit struct {
	URL string `json:"commitUrl"`
	OID string `json:"commitOid"`
}

// UploadFolder commits every regular file under dir to the dataset repo id
// (which must exist: see CreateRepo) on its main branch, in one commit with
// the given message. Files the Hub's preupload check marks "lfs" are sent
// through the Git LFS batch API first and committed as pointers; the rest go
// base64-encoded inside the commit itself.
func (c *Client) UploadFolder(ctx context.Context, id, dir, message string) (Commit, error) {
	if err := CheckRepoID(id); err != nil {
		return Commit{}, err
	}
	files, err := scan(dir)
	if err != nil {
		return Commit{}, err
	}
	if len(files) == 0 {
		return Commit{}, fmt.Errorf("hfhub: upload %s: no files under %s", id, dir)
	}
	if err := c.preupload(ctx, id, files); err != nil {
		return Commit{}, err
	}
	var lfs []*file
	for _, f := range files {
		if f.mode == "lfs" && !f.ignore {
			lfs = append(lfs, f)
		}
	}
	if err := c.uploadLFS(ctx, id, lfs); err != nil {
		return Commit{}, err
	}
	return c.commit(ctx, id, message, files)
}

// scan lists the regular files under dir, hashed, in path order.
func scan(dir string) ([]*file, error) {
	var files []*file
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil {
			return err
		}
		f := &file{abs: p, path: filepath.ToSlash(rel)}
		if err := f.hash(); err != nil {
			return err
		}
		files = append(files, f)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("hfhub: scan %s: %w", dir, err)
	}
	sort.Slice(files, func(i, j int) bool { return files[i].path < files[j].path })
	return files, nil
}

func (f *file) hash() error {
	r, err := os.Open(f.abs)
	if err != nil {
		return err
	}
	defer r.Close()
	h := sha256.New()
	var head bytes.Buffer
	n, err := io.Copy(io.MultiWriter(h, &limitWriter{&head, sampleSize}), r)
	if err != nil {
		return err
	}
	f.size, f.sample, f.sha256 = n, head.Bytes(), hex.EncodeToString(h.Sum(nil))
	return nil
}

// limitWriter keeps the first n bytes written to it and drops the rest.
type limitWriter struct {
	buf *bytes.Buffer
	n   int
}

func (w *limitWriter) Write(p []byte) (int, error) {
	if room := w.n - w.buf.Len(); room > 0 {
		w.buf.Write(p[:min(room, len(p))])
	}
	return len(p), nil
}

func (c *Client) repoURL(id string) string { return c.Endpoint + "/api/datasets/" + id }

// preupload asks the Hub how each file must be sent, 256 files a request.
func (c *Client) preupload(ctx context.Context, id string, files []*file) error {
	type in struct {
		Path   string `json:"path"`
		Sample string `json:"sample"`
		Size   int64  `json:"size"`
	}
	for start := 0; start < len(files); start += 256 {
		chunk := files[start:min(start+256, len(files))]
		var req struct {
			Files []in `json:"files"`
		}
		for _, f := range chunk {
			req.Files = append(req.Files, in{f.path, base64.StdEncoding.EncodeToString(f.sample), f.size})
		}
		body, _ := json.Marshal(req)
		op := "preupload check " + id
		data, err := c.do(ctx, op, request{method: http.MethodPost, url: c.repoURL(id) + "/preupload/" + revision,
			contentType: "application/json", body: body, auth: true})
		if err != nil {
			return err
		}
		modes, err := decodePreupload(data)
		if err != nil {
			return fmt.Errorf("hfhub: %s: %w", op, err)
		}
		for _, f := range chunk {
			m, ok := modes[f.path]
			if !ok {
				return fmt.Errorf("hfhub: %s: the Hub said nothing about %s", op, f.path)
			}
			f.mode, f.ignore = m.UploadMode, m.ShouldIgnore
			if f.size == 0 {
				f.mode = "regular" // LFS storage rejects empty objects
			}
		}
	}
	return nil
}

type uploadMode struct {
	Path         string `json:"path"`
	UploadMode   string `json:"uploadMode"`
	ShouldIgnore bool   `json:"shouldIgnore"`
}

// decodePreupload parses the preupload reply, {"files": [{path, uploadMode,
// shouldIgnore}]}, into modes by path; a mode other than regular or lfs is an
// error, as sending such a file either way could be wrong.
func decodePreupload(data []byte) (map[string]uploadMode, error) {
	var v struct {
		Files []uploadMode `json:"files"`
	}
	if err := json.Unmarshal(data, &v); err != nil {
		return nil, fmt.Errorf("malformed reply: %w", err)
	}
	if v.Files == nil {
		return nil, fmt.Errorf("malformed reply: no files")
	}
	out := make(map[string]uploadMode, len(v.Files))
	for _, f := range v.Files {
		if f.UploadMode != "regular" && f.UploadMode != "lfs" {
			return nil, fmt.Errorf("malformed reply: upload mode %q for %q", f.UploadMode, f.Path)
		}
		out[f.Path] = f
	}
	return out, nil
}

// lfsAction is one step of an LFS batch reply: where to send the object and
// with which extra headers.
type lfsAction struct {
	Href   string    `json:"href"`
	Header lfsHeader `json:"header"`
}

// lfsHeader is an action's header map. Git LFS says its values are strings;
// numbers (a multipart chunk_size) are taken as their decimal text.
type lfsHeader map[string]string

func (h *lfsHeader) UnmarshalJSON(data []byte) error {
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(data, &raw); err != nil {
		return err
	}
	*h = lfsHeader{}
	for k, v := range raw {
		var s string
		if err := json.Unmarshal(v, &s); err != nil {
			var n json.Number
			if err := json.Unmarshal(v, &n); err != nil {
				return fmt.Errorf("header %q: want a string or a number", k)
			}
			s = n.String()
		}
		(*h)[k] = s
	}
	return nil
}

type lfsObject struct {
	OID     string `json:"oid"`
	Size    int64  `json:"size"`
	Actions *struct {
		Upload *lfsAction `json:"upload"`
		Verify *lfsAction `json:"verify"`
	} `json:"actions"`
	Error *struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

// decodeBatch parses a Git LFS batch reply. An object without actions is
// already stored; one with an error is reported as such.
func decodeBatch(data []byte) ([]lfsObject, error) {
	var v struct {
		Objects []lfsObject `json:"objects"`
	}
	if err := json.Unmarshal(data, &v); err != nil {
		return nil, fmt.Errorf("malformed reply: %w", err)
	}
	if v.Objects == nil {
		return nil, fmt.Errorf("malformed reply: no objects")
	}
	for _, o := range v.Objects {
		if o.OID == "" {
			return nil, fmt.Errorf("malformed reply: object without oid")
		}
		if o.Actions != nil {
			for _, a := range []*lfsAction{o.Actions.Upload, o.Actions.Verify} {
				if a != nil && a.Href == "" {
					return nil, fmt.Errorf("malformed reply: action without href for %s", o.OID)
				}
			}
		}
	}
	return v.Objects, nil
}

const lfsMedia = "application/vnd.git-lfs+json"

// uploadLFS sends the LFS files' contents: one batch request names them all,
// then each object the Hub does not hold yet is PUT to the URL the batch
// reply gave, whole or in parts, and verified. Upload URLs are presigned:
// the token is not sent with them.
func (c *Client) uploadLFS(ctx context.Context, id string, files []*file) error {
	if len(files) == 0 {
		return nil
	}
	type obj struct {
		OID  string `json:"oid"`
		Size int64  `json:"size"`
	}
	req := map[string]any{"operation": "upload", "transfers": []string{"basic", "multipart"}, "hash_algo": "sha256",
		"ref": map[string]string{"name": revision}}
	var objs []obj
	byOID := map[string]*file{}
	for _, f := range files {
		objs = append(objs, obj{f.sha256, f.size})
		byOID[f.sha256] = f
	}
	req["objects"] = objs
	body, _ := json.Marshal(req)
	op := "LFS batch " + id
	data, err := c.do(ctx, op, request{method: http.MethodPost, url: c.Endpoint + "/datasets/" + id + ".git/info/lfs/objects/batch",
		contentType: lfsMedia, accept: lfsMedia, body: body, auth: true})
	if err != nil {
		return err
	}
	objects, err := decodeBatch(data)
	if err != nil {
		return fmt.Errorf("hfhub: %s: %w", op, err)
	}
	for _, o := range objects {
		f := byOID[o.OID]
		if f == nil {
			return fmt.Errorf("hfhub: %s: reply names an object %s that was not asked for", op, o.OID)
		}
		if o.Error != nil {
			return fmt.Errorf("hfhub: %s: %s: LFS error %d: %s", op, f.path, o.Error.Code, o.Error.Message)
		}
		if o.Actions == nil || o.Actions.Upload == nil {
			continue // the Hub already holds this content
		}
		if err := c.putLFS(ctx, f, o.Actions.Upload, o.Actions.Verify); err != nil {
			return err
		}
	}
	return nil
}

func (c *Client) putLFS(ctx context.Context, f *file, up, verify *lfsAction) error {
	if cs, ok := up.Header["chunk_size"]; ok {
		if err := c.putMultipart(ctx, f, up, cs); err != nil {
			return err
		}
	} else {
		open := func() (io.ReadCloser, int64, error) {
			r, err := os.Open(f.abs)
			return r, f.size, err
		}
		if _, err := c.do(ctx, "LFS upload "+f.path, request{method: http.MethodPut, url: up.Href, open: open,
			header: up.Header, contentType: "application/octet-stream"}); err != nil {
			return err
		}
	}
	if verify == nil {
		return nil
	}
	body, _ := json.Marshal(map[string]any{"oid": f.sha256, "size": f.size})
	_, err := c.do(ctx, "LFS verify "+f.path, request{method: http.MethodPost, url: verify.Href, header: verify.Header,
		contentType: lfsMedia, accept: lfsMedia, body: body, auth: c.onEndpoint(verify.Href)})
	return err
}

// putMultipart is the Hub's multipart LFS transfer: the upload action's
// header names a chunk size and one presigned URL per part ("1", "2", ...);
// each chunk is PUT to its URL, and the parts' ETags are then posted to the
// action's href to assemble the object.
func (c *Client) putMultipart(ctx context.Context, f *file, up *lfsAction, chunkSize string) error {
	op := "LFS multipart upload " + f.path
	chunk, err := strconv.ParseInt(chunkSize, 10, 64)
	if err != nil || chunk <= 0 {
		return fmt.Errorf("hfhub: %s: bad chunk_size %q", op, chunkSize)
	}
	urls, err := partURLs(up.Header)
	if err != nil {
		return fmt.Errorf("hfhub: %s: %w", op, err)
	}
	if want := (f.size + chunk - 1) / chunk; int64(len(urls)) != want {
		return fmt.Errorf("hfhub: %s: %d part URLs for %d bytes in chunks of %d, want %d", op, len(urls), f.size, chunk, want)
	}
	type part struct {
		PartNumber int    `json:"partNumber"`
		ETag       string `json:"etag"`
	}
	var parts []part
	for i, u := range urls {
		off := int64(i) * chunk
		n := min(chunk, f.size-off)
		open := func() (io.ReadCloser, int64, error) {
			r, err := os.Open(f.abs)
			if err != nil {
				return nil, 0, err
			}
			return struct {
				io.Reader
				io.Closer
			}{io.NewSectionReader(r, off, n), r}, n, nil
		}
		var h http.Header
		if _, err := c.do(ctx, fmt.Sprintf("%s: part %d", op, i+1), request{method: http.MethodPut, url: u, open: open,
			replyHeader: &h}); err != nil {
			return err
		}
		etag := h.Get("ETag")
		if etag == "" {
			return fmt.Errorf("hfhub: %s: part %d: no ETag in the reply", op, i+1)
		}
		parts = append(parts, part{i + 1, etag})
	}
	body, _ := json.Marshal(map[string]any{"oid": f.sha256, "parts": parts})
	_, err = c.do(ctx, op+": complete", request{method: http.MethodPost, url: up.Href, contentType: lfsMedia,
		accept: lfsMedia, body: body})
	return err
}

// partURLs returns the part URLs of a multipart upload header in part
// order: the keys that are part numbers, 1 to n with none missing.
func partURLs(h lfsHeader) ([]string, error) {
	byNum := map[int]string{}
	for k, v := range h {
		if k == "" || strings.Trim(k, "0123456789") != "" {
			continue
		}
		n, err := strconv.Atoi(k)
		if err != nil || n < 1 || n > len(h) {
			return nil, fmt.Errorf("part number %q out of range", k)
		}
		if _, dup := byNum[n]; dup {
			return nil, fmt.Errorf("part %d named twice", n)
		}
		byNum[n] = v
	}
	urls := make([]string, len(byNum))
	for n, u := range byNum {
		if n > len(urls) || u == "" {
			return nil, fmt.Errorf("parts are not numbered 1 to %d", len(urls))
		}
		urls[n-1] = u
	}
	return urls, nil
}

// commit sends the NDJSON commit: a header line, then one line per file,
// its content inline for regular files and a pointer for LFS ones.
func (c *Client) commit(ctx context.Context, id, message string, files []*file) (Commit, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	line := func(key string, value any) error { return enc.Encode(map[string]any{"key": key, "value": value}) }
	if err := line("header", map[string]string{"summary": message, "description": ""}); err != nil {
		return Commit{}, err
	}
	for _, f := range files {
		if f.ignore {
			continue
		}
		var err error
		if f.mode == "lfs" {
			err = line("lfsFile", map[string]any{"path": f.path, "algo": "sha256", "oid": f.sha256, "size": f.size})
		} else {
			var content []byte
			if content, err = os.ReadFile(f.abs); err == nil {
				err = line("file", map[string]string{"content": base64.StdEncoding.EncodeToString(content),
					"path": f.path, "encoding": "base64"})
			}
		}
		if err != nil {
			return Commit{}, fmt.Errorf("hfhub: commit %s: %w", f.path, err)
		}
	}
	// Like every request, a commit is retried after a 5xx: if the Hub had in
	// fact applied it, the retry commits the same files again, which changes
	// nothing in the repo, where giving up would leave the push unknown.
	op := "commit to " + id
	data, err := c.do(ctx, op, request{method: http.MethodPost, url: c.repoURL(id) + "/commit/" + revision,
		contentType: "application/x-ndjson", body: buf.Bytes(), auth: true})
	if err != nil {
		return Commit{}, err
	}
	var out Commit
	if err := json.Unmarshal(data, &out); err != nil {
		return Commit{}, fmt.Errorf("hfhub: %s: malformed reply: %w", op, err)
	}
	return out, nil
}

// DatasetURL is the page of dataset id on the endpoint's website.
func (c *Client) DatasetURL(id string) string {
	return c.Endpoint + "/datasets/" + strings.TrimSpace(id)
}
