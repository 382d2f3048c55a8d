// Package verify checks candidate answers by program: exact and normalised match, regular expressions, numbers with a tolerance, math answers by value, JSON-schema validity, and sandboxed external commands.
package verify

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/synthloop/synthloop/answer"
)

// Kinds of verifier.
const (
	Exact      = "exact"       // the candidate equals the reference, after trimming surrounding space
	Normalized = "normalized"  // equal after lowercasing, dropping punctuation and articles, collapsing spaces
	Regex      = "regex"       // the candidate matches pattern (RE2 syntax)
	Numeric    = "numeric"     // the candidate's final number is within tolerance of the reference's
	Math       = "math"        // the candidate's final answer equals the reference as math (answer.Equal): 0.5 = \frac{1}{2}
	JSONSchema = "json_schema" // the candidate is JSON that validates against the schema
	Command    = "command"     // an external command accepts the candidate by exit status 0
)

// Check is what one verification looks at.
type Check struct {
	Prompt    string // the request, passed to commands as SYNTHLOOP_PROMPT
	Candidate string
	Reference string // the expected answer; needed by exact, normalized and numeric
}

// Verdict is a verifier's decision. A rejection is a verdict, not an error.
type Verdict struct {
	Pass   bool
	Reason string // why it failed, or what passed ("51 = 51")
}

// Verifier decides whether a candidate is acceptable. Implementations are
// safe for concurrent use. The error is reserved for failures of the
// verifier itself (a command that cannot be started, a cancelled ctx), which
// say nothing about the candidate.
type Verifier interface {
	Verify(ctx context.Context, c Check) (Verdict, error)
}

// Config selects and tunes a verifier. In YAML (a stage's `verifier:` block):
//
//	verifier:
//	  kind: numeric
//	  tolerance: 1e-6
type Config struct {
	Kind string `yaml:"kind" doc:"One of exact, normalized, regex, numeric, math, json_schema, command"`
	// Extract picks the final answer out of the candidate before exact,
	// normalized, numeric and math compare it: auto (\boxed{}, else an
	// "Answer:" line, else the last number), boxed, answer_line,
	// last_number, json:PATH, or none (the whole candidate). Default: none,
	// but auto for math.
	Extract string `yaml:"extract" doc:"Picks the candidate's final answer first: auto, boxed, answer_line, last_number, json:PATH or none (default none; auto for math)"`
	// Reference says where the expected answer comes from: "output" (the input
	// record's Output, default), "input" (its Input), or "meta.KEY" (a string or
	// number in its Meta). Used by exact, normalized and numeric.
	Reference string `yaml:"reference" doc:"Where the expected answer comes from: output, input or meta.KEY"`
	Pattern   string `yaml:"pattern" doc:"The regex (RE2) a candidate must match; anchor it (^...$) to require a full match"`
	// Tolerance is the absolute tolerance of numeric (default 1e-9), and
	// RelTolerance a relative one; a number passes within either.
	Tolerance    float64  `yaml:"tolerance" doc:"Absolute tolerance of numeric (0: 1e-9)"`
	RelTolerance float64  `yaml:"rel_tolerance" doc:"Relative tolerance of numeric"`
	Schema       string   `yaml:"schema" doc:"JSON schema inline (or schema_file)"`
	SchemaFile   string   `yaml:"schema_file" doc:"Path of a JSON schema"`
	Command      []string `yaml:"command" doc:"The program and its arguments; it reads the candidate on stdin"`
	// Timeout bounds a command's run (default 10s): a command still running
	// is killed, with its process group, and the candidate fails.
	Timeout  string `yaml:"timeout" doc:"Bounds a command's run (default 10s)"`
	MemoryMB int    `yaml:"memory_mb" doc:"Caps a command's address space in MB (0: 1024)"`
	// AllowNetwork lets a command use the network; by default it runs in a new
	// network namespace with no interfaces but loopback.
	AllowNetwork bool `yaml:"allow_network" doc:"Lets a command use the network (else a namespace with loopback only)"`
}

// Validate checks the config by building the verifier.
func (c *Config) Validate() error {
	_, err := New(c)
	return err
}

// New builds the verifier the config describes.
func New(c *Config) (Verifier, error) {
	switch c.Kind {
	case Exact, Normalized, Numeric, Math:
		v, err := newComparer(c)
		if err != nil {
			return nil, err
		}
		spec := c.Extract
		if spec == "" && c.Kind == Math {
			spec = answer.Auto
		}
		if spec == "" || spec == answer.Whole {
			return v, nil
		}
		e, err := answer.ParseExtractor(spec)
		if err != nil {
			return nil, fmt.Errorf("verify: %s: %w", c.Kind, err)
		}
		return extracting{e, v}, nil
	case Regex:
		if c.Pattern == "" {
			return nil, errors.New("verify: regex: pattern is required")
		}
		re, err := regexp.Compile(c.Pattern)
		if err != nil {
			return nil, fmt.Errorf("verify: regex: %w", err)
		}
		return regexVerifier{re}, nil
	case JSONSchema:
		return newSchema(c)
	case Command:
		return newCommand(c)
	case "":
		return nil, errors.New("verify: kind is required: exact, normalized, regex, numeric, math, json_schema or command")
	}
	return nil, fmt.Errorf("verify: unknown kind %q (want exact, normalized, regex, numeric, math, json_schema or command)", c.Kind)
}

// newComparer builds the verifiers that compare a candidate's answer with
// the reference.
func newComparer(c *Config) (Verifier, error) {
	switch c.Kind {
	case Exact:
		return matcher{normalize: strings.TrimSpace, name: "exact"}, nil
	case Normalized:
		return matcher{normalize: Normalize, name: "normalized"}, nil
	}
	if c.Tolerance < 0 || c.RelTolerance < 0 {
		return nil, fmt.Errorf("verify: %s: tolerances must not be negative", c.Kind)
	}
	if c.Kind == Math {
		return mathVerifier{answer.Tolerance{Abs: c.Tolerance, Rel: c.RelTolerance}}, nil
	}
	tol := c.Tolerance
	if tol == 0 && c.RelTolerance == 0 {
		tol = 1e-9
	}
	return numeric{abs: tol, rel: c.RelTolerance}, nil
}

// extracting hands the comparing verifier the candidate's final answer
// instead of the whole reply. A reply with no answer the extractor finds
// fails with that reason.
type extracting struct {
	e answer.Extractor
	v Verifier
}

func (x extracting) Verify(ctx context.Context, c Check) (Verdict, error) {
	s, ok := x.e.Extract(c.Candidate)
	if !ok {
		return Verdict{Reason: fmt.Sprintf("no final answer found (extract: %s)", x.e)}, nil
	}
	c.Candidate = s.Text
	return x.v.Verify(ctx, c)
}

// mathVerifier compares answers as math: exact rationals, fractions,
// LaTeX, percentages and tuples (answer.Equal). A reference stated the
// GSM8K way ("... #### 72") or boxed is reduced to its answer first.
type mathVerifier struct{ tol answer.Tolerance }

func (v mathVerifier) Verify(_ context.Context, c Check) (Verdict, error) {
	ref := ReferenceAnswer(c.Reference)
	if ref == "" {
		return Verdict{Reason: "the reference is empty"}, nil
	}
	if answer.Equal(c.Candidate, ref, v.tol) {
		return Verdict{Pass: true, Reason: fmt.Sprintf("%s = %s", clip(answer.Canonical(c.Candidate), 80), clip(answer.Canonical(ref), 80))}, nil
	}
	return Verdict{Reason: fmt.Sprintf("%s != %s", clip(answer.Canonical(c.Candidate), 80), clip(answer.Canonical(ref), 80))}, nil
}

// ReferenceAnswer is the answer a reference states: its \boxed{} or its
// "#### " line when it is a worked solution, else the whole text.
func ReferenceAnswer(ref string) string {
	if s, ok := (answer.Extractor{}).Extract(ref); ok && (strings.Contains(ref, `\boxed`) || strings.Contains(ref, `\fbox`) || strings.Contains(ref, "####")) {
		return s.Text
	}
	return strings.TrimSpace(ref)
}

type matcher struct {
	normalize func(string) string
	name      string
}

func (m matcher) Verify(_ context.Context, c Check) (Verdict, error) {
	if m.normalize(c.Candidate) == m.normalize(c.Reference) {
		return Verdict{Pass: true, Reason: m.name + " match"}, nil
	}
	return Verdict{Reason: fmt.Sprintf("%s mismatch: want %q", m.name, clip(c.Reference, 200))}, nil
}

var articles = regexp.MustCompile(`\b(a|an|the)\b`)

// Normalize lowercases s, replaces punctuation with spaces, drops the
// English articles and collapses whitespace: the answer normalisation of
// SQuAD-style exact match, extended to every script (non-Latin letters and
// digits are kept as they are).
func Normalize(s string) string {
	s = strings.ToLower(s)
	s = strings.Map(func(r rune) rune {
		if unicode.IsPunct(r) || unicode.IsSymbol(r) {
			return ' '
		}
		return r
	}, s)
	s = articles.ReplaceAllString(s, " ")
	return strings.Join(strings.Fields(s), " ")
}

type regexVerifier struct{ re *regexp.Regexp }

func (v regexVerifier) Verify(_ context.Context, c Check) (Verdict, error) {
	if v.re.MatchString(c.Candidate) {
		return Verdict{Pass: true, Reason: "matches " + v.re.String()}, nil
	}
	return Verdict{Reason: "does not match " + v.re.String()}, nil
}

// number finds decimal numbers, with thousands separators and an exponent.
var number = regexp.MustCompile(`[-+]?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?(?:[eE][-+]?\d+)?|[-+]?\.\d+`)

// FinalNumber returns the last number in s, which is where worked solutions
// (GSM8K's "#### 42", "The answer is 42.") put their answer.
func FinalNumber(s string) (float64, bool) {
	all := number.FindAllString(s, -1)
	if len(all) == 0 {
		return 0, false
	}
	f, err := strconv.ParseFloat(strings.ReplaceAll(all[len(all)-1], ",", ""), 64)
	if err != nil || math.IsInf(f, 0) || math.IsNaN(f) {
		return 0, false
	}
	return f, true
}

type numeric struct{ abs, rel float64 }

func (v numeric) Verify(_ context.Context, c Check) (Verdict, error) {
	want, ok := FinalNumber(c.Reference)
	if !ok {
		return Verdict{Reason: fmt.Sprintf("the reference %q holds no number", clip(c.Reference, 80))}, nil
	}
	got, ok := FinalNumber(c.Candidate)
	if !ok {
		return Verdict{Reason: "the candidate holds no number"}, nil
	}
	d := math.Abs(got - want)
	if d <= v.abs || d <= v.rel*math.Abs(want) {
		return Verdict{Pass: true, Reason: fmt.Sprintf("%g = %g", got, want)}, nil
	}
	return Verdict{Reason: fmt.Sprintf("%g != %g", got, want)}, nil
}

type schemaVerifier struct{ s *jsonschema.Schema }

func newSchema(c *Config) (Verifier, error) {
	src := []byte(c.Schema)
	switch {
	case c.Schema != "" && c.SchemaFile != "":
		return nil, errors.New("verify: json_schema: set schema or schema_file, not both")
	case c.SchemaFile != "":
		b, err := os.ReadFile(c.SchemaFile)
		if err != nil {
			return nil, fmt.Errorf("verify: json_schema: %w", err)
		}
		src = b
	case c.Schema == "":
		return nil, errors.New("verify: json_schema: schema or schema_file is required")
	}
	doc, err := jsonschema.UnmarshalJSON(strings.NewReader(string(src)))
	if err != nil {
		return nil, fmt.Errorf("verify: json_schema: the schema is not JSON: %w", err)
	}
	comp := jsonschema.NewCompiler()
	// No $ref may reach out to files or the network while a run verifies.
	comp.UseLoader(noLoader{})
	if err := comp.AddResource("schema.json", doc); err != nil {
		return nil, fmt.Errorf("verify: json_schema: %w", err)
	}
	s, err := comp.Compile("schema.json")
	if err != nil {
		return nil, fmt.Errorf("verify: json_schema: %w", err)
	}
	return schemaVerifier{s}, nil
}

type noLoader struct{}

func (noLoader) Load(url string) (any, error) {
	return nil, fmt.Errorf("verify: json_schema: external reference %s is not loaded; inline it", url)
}

// stripFence removes a ```json fence: models wrap JSON in one even when told not to.
func stripFence(s string) string {
	s = strings.TrimSpace(s)
	if !strings.HasPrefix(s, "```") {
		return s
	}
	s = strings.TrimPrefix(s, "```")
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[i+1:]
	}
	return strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(s), "```"))
}

func (v schemaVerifier) Verify(_ context.Context, c Check) (Verdict, error) {
	doc, err := jsonschema.UnmarshalJSON(strings.NewReader(stripFence(c.Candidate)))
	if err != nil {
		return Verdict{Reason: "not JSON: " + err.Error()}, nil
	}
	if err := v.s.Validate(doc); err != nil {
		return Verdict{Reason: clip(strings.Join(strings.Fields(err.Error()), " "), 500)}, nil
	}
	return Verdict{Pass: true, Reason: "valid against the schema"}, nil
}

func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8RuneStart(s[n]) {
		n--
	}
	return s[:n] + "..."
}

func utf8RuneStart(b byte) bool { return b&0xC0 != 0x80 }

func parseTimeout(s string) (time.Duration, error) {
	if s == "" {
		return 10 * time.Second, nil
	}
	if secs, err := strconv.ParseFloat(s, 64); err == nil {
		return time.Duration(secs * float64(time.Second)), nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d <= 0 {
		return 0, fmt.Errorf("verify: command: timeout %q: want a duration like 10s", s)
	}
	return d, nil
}
