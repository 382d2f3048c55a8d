package docqa

import (
	"strings"
	"testing"

	"github.com/synthloop/synthloop/grounding/groundingtest"
	"github.com/synthloop/synthloop/pipeline/pipelinetest"
	"github.com/synthloop/synthloop/record"
	"github.com/synthloop/synthloop/stage/internal/stagetest"
)

// TestStructured: with structured on the pairs schema goes with the
// generation request (json_schema: true means the same), the grounding
// judge's requests are untouched, and a backend that refuses the schema is
// asked as with structured off; every record says how it was asked.
func TestStructured(t *testing.T) {
	for _, tc := range []struct {
		name, setting string
		jsonSchema    bool
		refuse        bool
		label         string
	}{
		{"native", "native", false, false, "native"},
		{"json_schema", "", true, false, "native"},
		{"refused", "auto", false, true, "text"},
	} {
		srv := stagetest.NewSchemaServer(t, tc.refuse, stagetest.FirstText(groundingtest.Responder(nil)))
		cfg := config(docs(t, map[string]string{"policy.md": policy}))
		cfg.Structured, cfg.JSONSchema = tc.setting, tc.jsonSchema
		st := pipelinetest.NewMemStore()
		if err := run(t, cfg, srv.Server, st); err != nil {
			t.Fatal(err)
		}
		recs := st.All("qa")
		kept := byStatus(recs)[record.Kept]
		if len(kept) == 0 {
			t.Fatalf("%s: no record kept of %d", tc.name, len(recs))
		}
		for _, r := range recs {
			if r.Prov.Params["structured"] != tc.label || r.Prov.Params["schema"] != pairsSchema.Hash {
				t.Errorf("%s: %s params %v", tc.name, r.ID, r.Prov.Params)
			}
		}
		for _, s := range srv.Schemas() {
			if !strings.Contains(s, `"evidence"`) {
				t.Errorf("%s: a schema other than the pairs' was sent: %s", tc.name, s)
			}
		}
		if srv.Count(stagetest.AskedNative) == 0 {
			t.Errorf("%s: no request carried the schema", tc.name)
		}
	}
	if _, err := New(func() *Config { c := config("x"); c.Structured = "yes"; return c }()); err == nil || !strings.Contains(err.Error(), "structured") {
		t.Errorf("structured: yes = %v", err)
	}
}
