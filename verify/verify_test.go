package verify

import (
	"context"
	"strings"
	"testing"
	"time"
)

func TestVerifiers(t *testing.T) {
	schema := `{"type":"object","required":["name","age"],"properties":{"name":{"type":"string"},"age":{"type":"integer","minimum":0}}}`
	for _, tc := range []struct {
		name string
		cfg  Config
		c    Check
		pass bool
	}{
		{"exact equal", Config{Kind: Exact}, Check{Candidate: " Paris\n", Reference: "Paris"}, true},
		{"exact case", Config{Kind: Exact}, Check{Candidate: "paris", Reference: "Paris"}, false},
		{"normalized case and punctuation", Config{Kind: Normalized}, Check{Candidate: "The  Paris!", Reference: "paris"}, true},
		{"normalized japanese", Config{Kind: Normalized}, Check{Candidate: "東京。", Reference: "東京"}, true},
		{"normalized differs", Config{Kind: Normalized}, Check{Candidate: "Lyon", Reference: "Paris"}, false},
		{"regex match", Config{Kind: Regex, Pattern: `^\d{3}-\d{4}$`}, Check{Candidate: "555-1234"}, true},
		{"regex no match", Config{Kind: Regex, Pattern: `^\d{3}-\d{4}$`}, Check{Candidate: "call 555-1234"}, false},
		{"numeric final number", Config{Kind: Numeric}, Check{Candidate: "3 apples and 4 more make 7.", Reference: "#### 7"}, true},
		{"numeric thousands", Config{Kind: Numeric}, Check{Candidate: "The total is 1,234.5", Reference: "1234.5"}, true},
		{"numeric wrong", Config{Kind: Numeric}, Check{Candidate: "7.01", Reference: "7"}, false},
		{"numeric abs tolerance", Config{Kind: Numeric, Tolerance: 0.05}, Check{Candidate: "7.01", Reference: "7"}, true},
		{"numeric rel tolerance", Config{Kind: Numeric, RelTolerance: 0.01}, Check{Candidate: "1005", Reference: "1000"}, true},
		{"numeric no number", Config{Kind: Numeric}, Check{Candidate: "seven", Reference: "7"}, false},
		{"numeric negative", Config{Kind: Numeric}, Check{Candidate: "x = -3", Reference: "-3"}, true},
		{"math boxed fraction", Config{Kind: Math}, Check{Candidate: `So $x = \boxed{\frac{1}{2}}$.`, Reference: "0.5"}, true},
		{"math gsm8k reference", Config{Kind: Math}, Check{Candidate: "3 + 4 = 7\nAnswer: 72", Reference: "She sold 48 + 24 = 72.\n#### 72"}, true},
		{"math wrong", Config{Kind: Math}, Check{Candidate: `\boxed{71}`, Reference: "72"}, false},
		{"math no answer", Config{Kind: Math, Extract: "boxed"}, Check{Candidate: "72", Reference: "72"}, false},
		{"math tolerance", Config{Kind: Math, Tolerance: 0.01}, Check{Candidate: `\boxed{3.14}`, Reference: `3.14159`}, true},
		{"math tuple", Config{Kind: Math}, Check{Candidate: `\boxed{\left(1, \frac{3}{2}\right)}`, Reference: "(1, 1.5)"}, true},
		{"exact with extract", Config{Kind: Exact, Extract: "answer_line"}, Check{Candidate: "thinking...\nAnswer: Paris", Reference: "Paris"}, true},
		{"numeric with json extract", Config{Kind: Numeric, Extract: "json:value"}, Check{Candidate: `{"value": 7, "n": 99}`, Reference: "7"}, true},
		{"schema valid", Config{Kind: JSONSchema, Schema: schema}, Check{Candidate: `{"name":"Ann","age":3}`}, true},
		{"schema fenced", Config{Kind: JSONSchema, Schema: schema}, Check{Candidate: "```json\n{\"name\":\"Ann\",\"age\":3}\n```"}, true},
		{"schema missing field", Config{Kind: JSONSchema, Schema: schema}, Check{Candidate: `{"name":"Ann"}`}, false},
		{"schema wrong type", Config{Kind: JSONSchema, Schema: schema}, Check{Candidate: `{"name":"Ann","age":-1}`}, false},
		{"schema not json", Config{Kind: JSONSchema, Schema: schema}, Check{Candidate: `name: Ann`}, false},
	} {
		v, err := New(&tc.cfg)
		if err != nil {
			t.Fatalf("%s: New: %v", tc.name, err)
		}
		got, err := v.Verify(context.Background(), tc.c)
		if err != nil || got.Pass != tc.pass || got.Reason == "" {
			t.Errorf("%s: Verify(%q) = %+v, %v; want pass %v with a reason", tc.name, tc.c.Candidate, got, err, tc.pass)
		}
	}
}

func TestConfigErrors(t *testing.T) {
	for _, c := range []Config{
		{},
		{Kind: "fuzzy"},
		{Kind: Regex},
		{Kind: Regex, Pattern: "("},
		{Kind: Numeric, Tolerance: -1},
		{Kind: Math, RelTolerance: -1},
		{Kind: Math, Extract: "boxes"},
		{Kind: JSONSchema},
		{Kind: JSONSchema, Schema: "{"},
		{Kind: JSONSchema, Schema: `{"$ref":"http://example.com/s.json"}`},
		{Kind: JSONSchema, Schema: `{}`, SchemaFile: "x.json"},
		{Kind: Command},
		{Kind: Command, Command: []string{"no-such-program-synthloop"}},
		{Kind: Command, Command: []string{"true"}, Timeout: "soon"},
	} {
		if err := c.Validate(); err == nil || !strings.HasPrefix(err.Error(), "verify: ") {
			t.Errorf("Validate(%+v) = %v, want a verify: error", c, err)
		}
	}
}

func TestCommand(t *testing.T) {
	t.Setenv("SYNTHLOOP_TEST_SECRET", "do-not-leak")
	sh := func(script string) []string { return []string{"/bin/sh", "-c", script} }
	for _, tc := range []struct {
		name   string
		cfg    Config
		c      Check
		pass   bool
		reason string
	}{
		{"accepts by exit 0", Config{Command: sh(`grep -q 42`)}, Check{Candidate: "the answer is 42"}, true, ""},
		{"rejects by exit 1", Config{Command: sh(`echo "no 42 here" >&2; exit 1`)}, Check{Candidate: "41"}, false, "exit status 1: no 42 here"},
		{"reference and prompt files", Config{Command: sh(`read x; test "$x" = "$(cat "$SYNTHLOOP_REFERENCE_FILE")" && grep -q sum "$SYNTHLOOP_PROMPT_FILE"`)},
			Check{Prompt: "sum 3 and 4", Candidate: "7", Reference: "7"}, true, ""},
		{"clean environment", Config{Command: sh(`test -z "$SYNTHLOOP_TEST_SECRET" && test "$PATH" = /usr/local/bin:/usr/bin:/bin`)}, Check{}, true, ""},
		{"time limit", Config{Command: sh(`sleep 10`), Timeout: "300ms"}, Check{}, false, "time limit 300ms exceeded"},
		// awk doubles a string until it is refused memory; 64 MB is reached in
		// a few dozen steps, so without the limit this would take the machine.
		{"memory limit", Config{Command: []string{"awk", `BEGIN { s = "x"; while (1) s = s s }`}, MemoryMB: 64, Timeout: "20s"}, Check{}, false, ""},
		// In the new network namespace only loopback exists: /proc/net/dev
		// lists two header lines and lo.
		{"no network", Config{Command: sh(`test "$(wc -l < /proc/net/dev)" -eq 3`)}, Check{}, true, ""},
	} {
		tc.cfg.Kind = Command
		v, err := New(&tc.cfg)
		if err != nil {
			t.Fatalf("%s: New: %v", tc.name, err)
		}
		start := time.Now()
		got, err := v.Verify(context.Background(), tc.c)
		if err != nil || got.Pass != tc.pass || (tc.reason != "" && got.Reason != tc.reason) {
			t.Errorf("%s: Verify = %+v, %v; want pass %v reason %q", tc.name, got, err, tc.pass, tc.reason)
		}
		if tc.name == "memory limit" && strings.Contains(got.Reason, "time limit") {
			t.Errorf("memory limit: the command ran to the time limit instead of being refused memory")
		}
		t.Logf("%s: %s", tc.name, got.Reason)
		if d := time.Since(start); d > 5*time.Second {
			t.Errorf("%s took %v", tc.name, d)
		}
	}
	// A cancelled run is an error, not a verdict on the candidate.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	v, _ := New(&Config{Kind: Command, Command: sh(`sleep 10`)})
	if _, err := v.Verify(ctx, Check{}); err == nil {
		t.Error("Verify on a cancelled context returned a verdict")
	}
}
