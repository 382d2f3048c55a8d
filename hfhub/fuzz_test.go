package hfhub

import (
	"net/http"
	"testing"
)

// FuzzDecodeReplies: the preupload and LFS batch replies come from the
// network; decoding them never panics, and whatever decodes is usable: every
// mode is regular or lfs, every object has an oid and every action an href.
func FuzzDecodeReplies(f *testing.F) {
	for _, s := range []string{
		`{"files":[{"path":"README.md","uploadMode":"regular","shouldIgnore":false}]}`,
		`{"files":[{"path":"data/x.parquet","uploadMode":"lfs","oid":null}]}`,
		`{"files":[{"path":"a","uploadMode":"xet"}]}`,
		`{"objects":[{"oid":"ab","size":3,"actions":{"upload":{"href":"https://x/y","header":{"a":"b"}},"verify":{"href":"https://x/v"}}}]}`,
		`{"objects":[{"oid":"ab","size":3,"error":{"code":422,"message":"no"}}]}`,
		`{"objects":[{"oid":"ab","size":3}]}`,
		`{"objects":[{"oid":"ab","actions":{"upload":{}}}]}`,
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
				if o.Actions != nil && o.Actions.Upload != nil && o.Actions.Upload.Href == "" {
					t.Fatal("upload without href accepted")
				}
			}
		}
		hubMessage(http.Header{"Content-Type": {"text/plain"}}, data)
	})
}
