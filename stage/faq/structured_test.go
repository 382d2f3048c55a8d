package faq

import (
	"strings"
	"testing"

	"github.com/synthloop/synthloop/grounding/groundingtest"
	"github.com/synthloop/synthloop/pipeline/pipelinetest"
	"github.com/synthloop/synthloop/record"
	"github.com/synthloop/synthloop/stage/internal/stagetest"
)

// TestStructured: with structured on the paraphrase schema goes with the
// paraphrase request only (json_schema: true means the same); a backend
// that refuses it is asked as with structured off; every record says how.
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
		cfg := config(writeFAQ(t, "faq.jsonl", faqJSONL))
		cfg.Structured, cfg.JSONSchema = tc.setting, tc.jsonSchema
		st := pipelinetest.NewMemStore()
		if err := run(t, cfg, srv.Server, st, ""); err != nil {
			t.Fatal(err)
		}
		recs := st.All("support")
		if len(recs) != 8 {
			t.Fatalf("%s: %d records", tc.name, len(recs))
		}
		for _, r := range recs {
			if r.Status != record.Kept || r.Prov.Params["structured"] != tc.label || r.Prov.Params["schema"] == nil {
				t.Errorf("%s: %s %s %q params %v", tc.name, r.ID, r.Status, r.Error, r.Prov.Params)
			}
		}
		for _, s := range srv.Schemas() {
			if !strings.Contains(s, `"questions"`) {
				t.Errorf("%s: a schema other than the paraphrases' was sent: %s", tc.name, s)
			}
		}
		if srv.Count(stagetest.AskedNative) == 0 {
			t.Errorf("%s: no request carried the schema", tc.name)
		}
	}
}
