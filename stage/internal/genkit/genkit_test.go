package genkit

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/synthloop/synthloop/pipeline"
	"github.com/synthloop/synthloop/record"
	"github.com/synthloop/synthloop/text"
)

func TestLanguage(t *testing.T) {
	for _, tc := range []struct {
		lang, seeds string
		want        text.Lang
	}{
		{"", "", text.English}, {"", "ja", text.Japanese}, {"JA", "en", text.Japanese}, {"en", "ja", text.English},
	} {
		if got, err := Language("s", tc.lang, tc.seeds); err != nil || got != tc.want {
			t.Errorf("Language(%q, %q) = %q, %v; want %q", tc.lang, tc.seeds, got, err, tc.want)
		}
	}
	if _, err := Language("s", "fr", ""); err == nil || !strings.HasPrefix(err.Error(), "s: language:") {
		t.Errorf("Language(fr) error %v", err)
	}
}

func TestUnitRandIsPerKindAndKey(t *testing.T) {
	env := &pipeline.Env{Name: "st", Seed: 1}
	a, b := UnitRand("evol", 0, env, "k").Uint64(), UnitRand("evol", 1, env, "k").Uint64()
	if a != b {
		t.Fatal("the same unit draws differently")
	}
	if a == UnitRand("conversation", 1, env, "k").Uint64() || a == UnitRand("evol", 1, env, "k2").Uint64() || a == UnitRand("evol", 2, env, "k").Uint64() {
		t.Fatal("different units draw the same")
	}
}

type idLine struct {
	ID string `json:"id"`
}

func (l idLine) LineID() string { return l.ID }

func TestParseSeedsKeepsIDsAndRefusesDuplicates(t *testing.T) {
	fill := func(r *record.Record, l idLine) error {
		r.Instruction = l.ID
		return nil
	}
	recs, err := ParseSeeds(strings.NewReader("\xef\xbb\xbfa\n\n b \n"), 1<<10, "id", fill)
	if err != nil || len(recs) != 2 || recs[0].ID != "line-1" || recs[1].ID != "line-3" || recs[1].Seq != 2 || recs[1].Instruction != "b" {
		t.Fatalf("plain lines: %+v, %v", recs, err)
	}
	_, err = ParseSeeds(strings.NewReader(`{"id":"x"}`+"\n"+`{"id":"x"}`), 1<<10, "id", fill)
	if err == nil || !strings.Contains(err.Error(), `line 2: duplicate id "x" (first on line 1)`) {
		t.Fatalf("duplicate ids: %v", err)
	}
	_, err = ParseSeeds(strings.NewReader(`{"id":"x","idd":1}`), 1<<10, "id", fill)
	if err == nil || !strings.Contains(err.Error(), "line 1:") || !strings.Contains(err.Error(), "(fields: id)") {
		t.Fatalf("unknown field: %v", err)
	}
}

func TestFailed(t *testing.T) {
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	bad := errors.New("no problem in the record")
	for _, tc := range []struct {
		name     string
		ctx      context.Context
		recorded bool
	}{
		{"permanent: on the record", context.Background(), true},
		{"cancelled: returned for a rerun", cancelled, false},
	} {
		r := &record.Record{ID: "s:1"}
		recs, usage, err := Failed(tc.ctx, r, pipeline.UnitUsage{Errors: 1}, "stage: ", bad)
		if !tc.recorded {
			if err != bad || recs != nil {
				t.Errorf("%s: Failed = %v, %v; want the error returned", tc.name, recs, err)
			}
			continue
		}
		if err != nil || len(recs) != 1 || recs[0] != r || r.Status != record.Failed || r.Error != "stage: no problem in the record" || usage.Errors != 2 {
			t.Errorf("%s: Failed = %v, %+v, %v; want r failed with the prefixed error and one more error counted", tc.name, recs, usage, err)
		}
	}
}
