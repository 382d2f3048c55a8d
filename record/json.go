package record

import (
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strconv"
	"unicode/utf8"
)

// AppendJSON appends r to b exactly as json.Marshal encodes it from its
// field tags, byte for byte (FuzzAppendJSON checks it), but writes the
// known fields directly instead of walking them by reflection: about half
// the CPU, and the run store encodes every record it commits, at thousands
// a second in a generating stage. Meta and Params values of kinds other
// than the ones JSON decoding makes (and the stages put there) go through
// encoding/json. It is not a MarshalJSON method on purpose: json.Marshal
// checks and copies what such a method returns, which cost more than the
// reflection it would save.
func (r *Record) AppendJSON(b []byte) ([]byte, error) {
	if b == nil {
		// Room for the usual record at once: growing from nothing left
		// twice its size in garbage.
		b = make([]byte, 0, r.sizeHint())
	}
	e := encoder{b: b}
	e.record(r)
	if e.err != nil {
		return nil, e.err
	}
	return e.b, nil
}

// sizeHint is a little more than the JSON of a record with short meta and
// params values.
func (r *Record) sizeHint() int {
	n := 384 + len(r.ID) + len(r.Stage) + len(r.Instruction) + len(r.Input) + len(r.Output) + len(r.Reasoning) +
		len(r.Chosen) + len(r.Rejected) + len(r.Error) + 48*(len(r.Meta)+len(r.Prov.Params)+len(r.Scores))
	for _, ids := range [][]string{r.Prov.ParentIDs, r.Prov.SeedIDs, r.Prov.RequestKeys} {
		for _, id := range ids {
			n += len(id) + 3
		}
	}
	for _, t := range r.Messages {
		n += 32 + len(t.Content) + len(t.Reasoning)
	}
	for _, c := range r.Candidates {
		n += 32 + len(c.Text) + len(c.Reasoning)
	}
	return n
}

// encoder appends JSON to b; the first error sticks.
type encoder struct {
	b   []byte
	err error
}

func (e *encoder) record(r *Record) {
	e.b = append(e.b, `{"id":`...)
	e.str(r.ID)
	e.b = append(e.b, `,"stage":`...)
	e.str(r.Stage)
	e.b = append(e.b, `,"seq":`...)
	e.b = strconv.AppendInt(e.b, r.Seq, 10)
	e.b = append(e.b, `,"status":`...)
	e.str(string(r.Status))
	e.optStr(`,"instruction":`, r.Instruction)
	e.optStr(`,"input":`, r.Input)
	e.optStr(`,"output":`, r.Output)
	e.optStr(`,"reasoning":`, r.Reasoning)
	if r.IsClassification != nil {
		e.b = append(e.b, `,"is_classification":`...)
		e.b = strconv.AppendBool(e.b, *r.IsClassification)
	}
	if len(r.Messages) > 0 {
		e.b = append(e.b, `,"messages":[`...)
		for i := range r.Messages {
			if i > 0 {
				e.b = append(e.b, ',')
			}
			e.turn(&r.Messages[i])
		}
		e.b = append(e.b, ']')
	}
	if len(r.Candidates) > 0 {
		e.b = append(e.b, `,"candidates":[`...)
		for i := range r.Candidates {
			if i > 0 {
				e.b = append(e.b, ',')
			}
			e.candidate(&r.Candidates[i])
		}
		e.b = append(e.b, ']')
	}
	e.optStr(`,"chosen":`, r.Chosen)
	e.optStr(`,"rejected":`, r.Rejected)
	if len(r.Scores) > 0 {
		e.b = append(e.b, `,"scores":`...)
		e.floats(r.Scores)
	}
	if len(r.Meta) > 0 {
		e.b = append(e.b, `,"meta":`...)
		e.object(r.Meta)
	}
	if len(r.Decisions) > 0 {
		e.b = append(e.b, `,"decisions":[`...)
		for i, d := range r.Decisions {
			if i > 0 {
				e.b = append(e.b, ',')
			}
			e.b = append(e.b, `{"filter":`...)
			e.str(d.Filter)
			e.b = append(e.b, `,"passed":`...)
			e.b = strconv.AppendBool(e.b, d.Passed)
			e.optStr(`,"reason":`, d.Reason)
			if d.Value != 0 {
				e.b = append(e.b, `,"value":`...)
				e.float(d.Value)
			}
			e.b = append(e.b, '}')
		}
		e.b = append(e.b, ']')
	}
	e.optStr(`,"error":`, r.Error)
	e.b = append(e.b, `,"usage":{`...)
	mark := len(e.b)
	if r.Usage.PromptTokens != 0 {
		e.b = append(e.b, `,"prompt_tokens":`...)
		e.b = strconv.AppendInt(e.b, int64(r.Usage.PromptTokens), 10)
	}
	if r.Usage.CompletionTokens != 0 {
		e.b = append(e.b, `,"completion_tokens":`...)
		e.b = strconv.AppendInt(e.b, int64(r.Usage.CompletionTokens), 10)
	}
	if r.Usage.CostUSD != 0 {
		e.b = append(e.b, `,"cost_usd":`...)
		e.float(r.Usage.CostUSD)
	}
	e.dropComma(mark)
	e.b = append(e.b, '}')
	e.prov(&r.Prov)
	e.b = append(e.b, '}')
}

func (e *encoder) prov(p *Provenance) {
	e.b = append(e.b, `,"provenance":{"generator":`...)
	e.str(p.Generator)
	e.b = append(e.b, `,"stage":`...)
	e.str(p.Stage)
	e.optStr(`,"backend":`, p.Backend)
	e.optStr(`,"model":`, p.Model)
	e.optStr(`,"template_hash":`, p.TemplateHash)
	if len(p.Params) > 0 {
		e.b = append(e.b, `,"params":`...)
		e.object(p.Params)
	}
	e.optStrs(`,"parent_ids":`, p.ParentIDs)
	e.optStrs(`,"seed_ids":`, p.SeedIDs)
	e.optStrs(`,"request_keys":`, p.RequestKeys)
	if p.Round != 0 {
		e.b = append(e.b, `,"round":`...)
		e.b = strconv.AppendInt(e.b, int64(p.Round), 10)
	}
	e.b = append(e.b, `,"created_at":`...)
	t, err := p.CreatedAt.MarshalJSON()
	e.fail(err)
	e.b = append(e.b, t...)
	e.b = append(e.b, '}')
}

func (e *encoder) turn(t *Turn) {
	e.b = append(e.b, `{"role":`...)
	e.str(t.Role)
	e.b = append(e.b, `,"content":`...)
	e.str(t.Content)
	e.optStr(`,"reasoning":`, t.Reasoning)
	if len(t.ToolCalls) > 0 {
		e.b = append(e.b, `,"tool_calls":[`...)
		for i, c := range t.ToolCalls {
			if i > 0 {
				e.b = append(e.b, ',')
			}
			e.b = append(e.b, `{"id":`...)
			e.str(c.ID)
			e.b = append(e.b, `,"name":`...)
			e.str(c.Name)
			e.b = append(e.b, `,"arguments":`...)
			e.str(c.Arguments)
			e.b = append(e.b, '}')
		}
		e.b = append(e.b, ']')
	}
	e.optStr(`,"tool_call_id":`, t.ToolCallID)
	if t.IsError {
		e.b = append(e.b, `,"is_error":true`...)
	}
	e.b = append(e.b, '}')
}

func (e *encoder) candidate(c *Candidate) {
	e.b = append(e.b, `{"text":`...)
	e.str(c.Text)
	e.optStr(`,"reasoning":`, c.Reasoning)
	e.optStr(`,"finish_reason":`, c.FinishReason)
	if len(c.Scores) > 0 {
		e.b = append(e.b, `,"scores":`...)
		e.floats(c.Scores)
	}
	e.b = append(e.b, '}')
}

// dropComma removes the comma of an object's first member, written at
// mark.
func (e *encoder) dropComma(mark int) {
	if len(e.b) > mark && e.b[mark] == ',' {
		e.b = append(e.b[:mark], e.b[mark+1:]...)
	}
}

func (e *encoder) fail(err error) {
	if err != nil && e.err == nil {
		e.err = err
	}
}

func (e *encoder) optStr(key, s string) {
	if s != "" {
		e.b = append(e.b, key...)
		e.str(s)
	}
}

func (e *encoder) optStrs(key string, ss []string) {
	if len(ss) > 0 {
		e.b = append(e.b, key...)
		e.strs(ss)
	}
}

func (e *encoder) strs(ss []string) {
	if ss == nil {
		e.b = append(e.b, "null"...)
		return
	}
	e.b = append(e.b, '[')
	for i, s := range ss {
		if i > 0 {
			e.b = append(e.b, ',')
		}
		e.str(s)
	}
	e.b = append(e.b, ']')
}

// floats is a map of numbers, its keys in order as encoding/json sorts them.
func (e *encoder) floats(m map[string]float64) { encodeMap(e, m, e.float) }

// encodeMap writes m as encoding/json does: null when nil, else an object
// with its keys sorted, each value written by val.
func encodeMap[V any](e *encoder, m map[string]V, val func(V)) {
	if m == nil {
		e.b = append(e.b, "null"...)
		return
	}
	e.b = append(e.b, '{')
	for i, k := range sortedKeys(m) {
		if i > 0 {
			e.b = append(e.b, ',')
		}
		e.str(k)
		e.b = append(e.b, ':')
		val(m[k])
	}
	e.b = append(e.b, '}')
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

func (e *encoder) object(m map[string]any) { encodeMap(e, m, e.value) }

// value encodes the kinds of value that JSON decoding makes and stages put
// in Meta and Params; any other goes through encoding/json.
func (e *encoder) value(v any) {
	switch x := v.(type) {
	case nil:
		e.b = append(e.b, "null"...)
	case string:
		e.str(x)
	case bool:
		e.b = strconv.AppendBool(e.b, x)
	case float64:
		e.float(x)
	case int:
		e.b = strconv.AppendInt(e.b, int64(x), 10)
	case int64:
		e.b = strconv.AppendInt(e.b, x, 10)
	case []string:
		e.strs(x)
	case []any:
		if x == nil {
			e.b = append(e.b, "null"...)
			return
		}
		e.b = append(e.b, '[')
		for i, y := range x {
			if i > 0 {
				e.b = append(e.b, ',')
			}
			e.value(y)
		}
		e.b = append(e.b, ']')
	case map[string]any:
		e.object(x)
	case map[string]string:
		encodeMap(e, x, e.str)
	case map[string]int:
		encodeMap(e, x, func(n int) { e.b = strconv.AppendInt(e.b, int64(n), 10) })
	default:
		b, err := json.Marshal(v)
		e.fail(err)
		e.b = append(e.b, b...)
	}
}

// float writes f as encoding/json does: like strconv's shortest form, with
// an exponent only below 1e-6 or from 1e21, and no leading zero in it.
func (e *encoder) float(f float64) {
	if math.IsInf(f, 0) || math.IsNaN(f) {
		e.fail(fmt.Errorf("json: unsupported value: %v", f))
		e.b = append(e.b, '0')
		return
	}
	format := byte('f')
	if abs := math.Abs(f); abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		format = 'e'
	}
	e.b = strconv.AppendFloat(e.b, f, format, -1, 64)
	if format == 'e' {
		if n := len(e.b); n >= 4 && e.b[n-4] == 'e' && e.b[n-3] == '-' && e.b[n-2] == '0' {
			e.b[n-2] = e.b[n-1]
			e.b = e.b[:n-1]
		}
	}
}

const hexDigits = "0123456789abcdef"

// str writes s as a JSON string the way encoding/json does by default:
// <, > and & escaped for HTML, invalid UTF-8 as U+FFFD, U+2028 and U+2029
// escaped.
func (e *encoder) str(s string) {
	b := append(e.b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' && c != '<' && c != '>' && c != '&' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xF])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
		case r == '\u2028' || r == '\u2029':
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xF])
		default:
			i += size
			continue
		}
		i += size
		start = i
	}
	b = append(b, s[start:]...)
	e.b = append(b, '"')
}
