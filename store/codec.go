package store

import (
	jsonv2 "github.com/go-json-experiment/json"
	jsonv1 "github.com/go-json-experiment/json/v1"

	"github.com/synthloop/synthloop/record"
)

// Records are stored as encoding/json writes them, and read back with the
// Go team's JSON v2 decoder set to v1 semantics: the same records from the
// same bytes (FuzzDecodeRecord checks it against encoding/json) at about a
// fifth of the CPU. Reading a stage's input back was a tenth of a
// generate stage's CPU at thousands of records a second.
var v1Semantics = jsonv1.DefaultOptionsV1()

// decodeRecord decodes one stored record.
func decodeRecord(b []byte) (*record.Record, error) {
	r := new(record.Record)
	if err := jsonv2.Unmarshal(b, r, v1Semantics); err != nil {
		return nil, err
	}
	return r, nil
}
