package hfhub

import (
	"net/http"
	"strings"
	"testing"
)

// FuzzDecodeReplies: the preupload and LFS batch replies come from the
// network; decoding them never panics, and whatever decodes is usable: every
// mode is regular or lfs, every object has an oid and every action an href.
func TestPartURLs(t *testing.T) {
	for _, tc := range []struct {
		h    lfsHeader
		want string // joined URLs, or "error"
	}{
		{lfsHeader{"chunk_size": "5", "00002": "b", "00001": "a", "x-amz": "z"}, "a b"},
		{lfsHeader{"1": "a", "3": "c", "2": "b"}, "a b c"},
		{lfsHeader{"1": "a", "3": "c"}, "error"},
		{lfsHeader{"0": "a"}, "error"},
		{lfsHeader{"1": "a", "01": "b"}, "error"},
		{lfsHeader{"chunk_size": "5"}, ""},
	} {
		urls, err := partURLs(tc.h)
		got := strings.Join(urls, " ")
		if err != nil {
			got = "error"
		}
		if got != tc.want {
			t.Errorf("partURLs(%v) = %q (%v), want %q", tc.h, got, err, tc.want)
		}
	}
}

func FuzzDecodeReplies(f *testing.F) {
	for _, s := range []string{
		`{"files":[{"path":"README.md","uploadMode":"regular","shouldIgnore":false}]}`,
		`{"files":[{"path":"data/x.parquet","uploadMode":"lfs","oid":null}]}`,
		`{"files":[{"path":"a","uploadMode":"xet"}]}`,
		`{"objects":[{"oid":"ab","size":3,"actions":{"upload":{"href":"https://x/y","header":{"a":"b"}},"verify":{"href":"https://x/v"}}}]}`,
		`{"objects":[{"oid":"ab","size":3,"error":{"code":422,"message":"no"}}]}`,
		`{"objects":[{"oid":"ab","size":3}]}`,
		`{"objects":[{"oid":"ab","actions":{"upload":{}}}]}`,
		`{"objects":[{"oid":"ab","size":9,"actions":{"upload":{"href":"h","header":{"chunk_size":5,"00001":"u1","00002":"u2"}}}}]}`,
		`{"objects":[{"oid":"ab","actions":{"upload":{"href":"h","header":{"chunk_size":"5","3":"u3","1":"u1"}}}}]}`,
		`{"error":["a","b"],"errors":[{"message":"c"}]}`,
		`null`, `[]`, `{`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if modes, err := decodePreupload(data); err == nil {
			for _, m := range modes {
				if m.UploadMode != "regular" && m.UploadMode != "lfs" {
					t.Fatalf("mode %q accepted", m.UploadMode)
				}
			}
		}
		if objs, err := decodeBatch(data); err == nil {
			for _, o := range objs {
				if o.OID == "" {
					t.Fatal("object without oid accepted")
				}
				if o.Actions == nil || o.Actions.Upload == nil {
					continue
				}
				if o.Actions.Upload.Href == "" {
					t.Fatal("upload without href accepted")
				}
				if urls, err := partURLs(o.Actions.Upload.Header); err == nil {
					for i, u := range urls {
						if u == "" {
							t.Fatalf("part %d has no URL", i+1)
						}
					}
				}
			}
		}
		hubMessage(http.Header{"Content-Type": {"text/plain"}}, data)
	})
}
