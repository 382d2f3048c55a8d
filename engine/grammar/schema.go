// Package grammar constrains generated text to JSON that validates against a
// JSON Schema: it compiles a subset of JSON Schema into a byte-level
// automaton and tells a sampler which tokens keep the text on it.
package grammar

// What the automaton accepts is a canonical subset of the valid JSON texts,
// so that a model is steered into one spelling per value:
//
//   - no whitespace outside strings;
//   - an object's declared properties in the schema's order, optional ones
//     skippable; no other keys, unless the schema declares no properties
//     and allows additional ones (then any keys, as in json_object mode);
//   - numbers without exponents, at most 15 integer digits for integers and
//     12 integer and 6 fraction digits for numbers;
//   - no \u escape of a UTF-16 surrogate (a character outside the BMP is
//     written as itself), and only valid UTF-8;
//   - enum and const values spelled as their compact JSON.
//
// Every text it accepts is valid for the schema; every valid value has a
// spelling it accepts, within those digit bounds. Keywords outside the
// subset are refused by name rather than ignored, because ignoring one could
// let through output the schema forbids.

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math/big"
	"net/url"
	"slices"
	"strconv"
	"strings"
)

// ErrUnsupported classifies schemas that use keywords or forms outside the
// supported subset.
var ErrUnsupported = errors.New("grammar: unsupported schema")

// Grammar is a compiled schema. It is immutable and safe for concurrent use.
type Grammar struct {
	root  *node
	nodes int
}

type kind uint8

const (
	kDone kind = iota // the whole value has been read
	kObject
	kArray
	kString
	kNumber
	kLiteral
	kAlt // alternatives; never on a stack, expanded when pushed
)

// node is one compiled schema. Nodes may form cycles (recursive $ref);
// frames are made lazily as text is read, so cycles cost nothing.
type node struct {
	id   int
	kind kind

	// object: declared properties in order; nextReq[i] is the first
	// required property at or after i (len(props) if none). extra, when not
	// nil, allows any key with a value of that schema (only when props is
	// empty).
	props   []prop
	nextReq []int
	extra   *node

	// array
	items              *node
	minItems, maxItems int // maxItems < 0: unbounded

	// string: lengths in characters
	minLen, maxLen int // maxLen < 0: unbounded

	// number
	integer bool
	bounded bool
	lo, hi  int64 // allowed values in grid units (1 or 10^-fracDigits), when bounded

	// literal: a trie of the allowed texts
	trie []trieNode

	// alt
	alts []*node
}

type prop struct {
	name     string
	key      []byte // `"name":`
	val      *node
	required bool
}

type trieNode struct {
	next []trieEdge
	end  bool
}

type trieEdge struct {
	b  byte
	to int32
}

// Digit bounds of numbers; see the package comment.
const (
	intDigits     = 15
	numIntDigits  = 12
	numFracDigits = 6
)

// AnyObject returns the grammar of any JSON object: OpenAI's json_object mode.
func AnyObject() *Grammar {
	c := newCompiler(nil)
	any := c.anyValue()
	root := c.newNode(kObject)
	root.extra = any
	root.nextReq = []int{0}
	return &Grammar{root: root, nodes: c.count}
}

// Compile compiles a JSON Schema. Errors wrap ErrUnsupported when the schema
// is outside the subset, and name the keyword and where it is.
func Compile(schema []byte) (*Grammar, error) {
	doc, err := decode(schema)
	if err != nil {
		return nil, fmt.Errorf("grammar: the schema is not JSON: %w", err)
	}
	c := newCompiler(doc)
	root, err := c.compile(doc, "#")
	if err != nil {
		return nil, err
	}
	if !c.prune(root) {
		return nil, fmt.Errorf("%w: no JSON value satisfies the schema within the supported subset", ErrUnsupported)
	}
	return &Grammar{root: root, nodes: c.count}, nil
}

type compiler struct {
	doc   any
	refs  map[string]*node
	count int
	any   *node
}

func newCompiler(doc any) *compiler { return &compiler{doc: doc, refs: map[string]*node{}} }

func (c *compiler) newNode(k kind) *node {
	c.count++
	return &node{id: c.count, kind: k, maxItems: -1, maxLen: -1}
}

func unsupported(at, format string, args ...any) error {
	return fmt.Errorf("%w: %s (at %s)", ErrUnsupported, fmt.Sprintf(format, args...), at)
}

// annotations are keywords that do not constrain a value.
var annotations = map[string]bool{
	"$schema": true, "$id": true, "$comment": true, "$anchor": true, "title": true, "description": true,
	"default": true, "examples": true, "deprecated": true, "readOnly": true, "writeOnly": true,
	"$defs": true, "definitions": true, "contentMediaType": true, "contentEncoding": true,
}

// keywordsOf lists the assertion keywords each type honours; a keyword of
// another type does not apply to a value of this one, as in JSON Schema.
var keywordsOf = map[string][]string{
	"object":  {"properties", "required", "additionalProperties"},
	"array":   {"items", "minItems", "maxItems", "uniqueItems"},
	"string":  {"minLength", "maxLength"},
	"number":  {"minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"},
	"integer": {"minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"},
	"boolean": nil,
	"null":    nil,
}

var allTypes = []string{"object", "array", "string", "number", "boolean", "null"}

// compile compiles the schema s found at JSON pointer at.
func (c *compiler) compile(s any, at string) (*node, error) {
	switch s := s.(type) {
	case bool:
		if s {
			return c.anyValue(), nil
		}
		return c.empty(), nil
	case *object:
		return c.compileObject(s, at)
	default:
		return nil, fmt.Errorf("grammar: the schema at %s is %T, not an object or boolean", at, s)
	}
}

func (c *compiler) compileObject(o *object, at string) (*node, error) {
	s := o.m
	keys := slices.Sorted(maps.Keys(s)) // errors name the same keyword every time
	known := map[string]bool{"type": true, "enum": true, "const": true, "anyOf": true, "oneOf": true, "allOf": true, "$ref": true}
	for _, ks := range keywordsOf {
		for _, k := range ks {
			known[k] = true
		}
	}
	for _, k := range keys {
		if !known[k] && !annotations[k] {
			return nil, unsupported(at, "keyword %q is not supported", k)
		}
	}
	if v, ok := s["uniqueItems"]; ok && v != false {
		return nil, unsupported(at, "keyword \"uniqueItems\" is not supported")
	}
	var assertions []string
	for _, k := range keys {
		if !annotations[k] && k != "uniqueItems" {
			assertions = append(assertions, k)
		}
	}

	// Combinators: one at a time, with nothing else asserted beside them,
	// so that no sibling constraint can be silently dropped.
	for _, comb := range []string{"$ref", "allOf", "anyOf", "oneOf"} {
		v, ok := s[comb]
		if !ok {
			continue
		}
		if len(assertions) > 1 {
			return nil, unsupported(at, "keyword %q together with %q is not supported", comb, otherThan(assertions, comb))
		}
		switch comb {
		case "$ref":
			ref, _ := v.(string)
			return c.ref(ref, at)
		case "allOf":
			list, _ := v.([]any)
			if len(list) != 1 {
				return nil, unsupported(at, "keyword \"allOf\" is supported with one schema only, got %d", len(list))
			}
			return c.compile(list[0], at+"/allOf/0")
		default:
			list, _ := v.([]any)
			if len(list) == 0 {
				return nil, fmt.Errorf("grammar: %s must be a non-empty array (at %s)", comb, at)
			}
			alt := c.newNode(kAlt)
			for i, sub := range list {
				n, err := c.compile(sub, fmt.Sprintf("%s/%s/%d", at, comb, i))
				if err != nil {
					return nil, err
				}
				alt.alts = append(alt.alts, n)
			}
			if comb == "oneOf" && !disjoint(alt.alts) {
				// A value valid for two alternatives would break oneOf.
				return nil, unsupported(at, "keyword \"oneOf\" is supported only when its alternatives have different types or literal values; use anyOf")
			}
			return alt, nil
		}
	}

	types, err := typesOf(s, at)
	if err != nil {
		return nil, err
	}
	_, hasEnum := s["enum"]
	_, hasConst := s["const"]
	if hasEnum || hasConst {
		return c.literals(s, at)
	}
	alt := c.newNode(kAlt)
	for _, t := range types {
		n, err := c.typed(s, t, at)
		if err != nil {
			return nil, err
		}
		alt.alts = append(alt.alts, n)
	}
	if len(alt.alts) == 1 {
		return alt.alts[0], nil
	}
	return alt, nil
}

func otherThan(list []string, k string) string {
	for _, x := range list {
		if x != k {
			return x
		}
	}
	return ""
}

// typesOf returns the types a schema allows. Without "type", it is the
// types whose keywords appear (a schema with "properties" means an object),
// or every type when none do: narrowing is safe, as each value it keeps is
// valid.
func typesOf(s map[string]any, at string) ([]string, error) {
	var types []string
	switch t := s["type"].(type) {
	case nil:
		if _, ok := s["type"]; ok {
			return nil, fmt.Errorf("grammar: type must be a string or an array of strings (at %s)", at)
		}
		for _, ty := range allTypes {
			for _, k := range keywordsOf[ty] {
				if _, ok := s[k]; ok && !slices.Contains(types, ty) {
					types = append(types, ty)
				}
			}
		}
		if len(types) == 0 {
			types = allTypes
		}
	case string:
		types = []string{t}
	case []any:
		for _, x := range t {
			ty, ok := x.(string)
			if !ok {
				return nil, fmt.Errorf("grammar: type must be a string or an array of strings (at %s)", at)
			}
			types = append(types, ty)
		}
	default:
		return nil, fmt.Errorf("grammar: type must be a string or an array of strings (at %s)", at)
	}
	for _, ty := range types {
		if _, ok := keywordsOf[ty]; !ok {
			return nil, fmt.Errorf("grammar: unknown type %q (at %s)", ty, at)
		}
	}
	// integer is a subset of number; listing both means number.
	if slices.Contains(types, "number") {
		types = slices.DeleteFunc(slices.Clone(types), func(t string) bool { return t == "integer" })
	}
	return types, nil
}

// typed compiles s for values of type t.
func (c *compiler) typed(s map[string]any, t, at string) (*node, error) {
	switch t {
	case "object":
		return c.object(s, at)
	case "array":
		n := c.newNode(kArray)
		var err error
		if n.minItems, err = count(s, "minItems", 0, at); err != nil {
			return nil, err
		}
		if n.maxItems, err = count(s, "maxItems", -1, at); err != nil {
			return nil, err
		}
		if it, ok := s["items"]; ok {
			if _, isList := it.([]any); isList {
				return nil, unsupported(at, "keyword \"items\" as an array (tuple) is not supported")
			}
			if n.items, err = c.compile(it, at+"/items"); err != nil {
				return nil, err
			}
		} else {
			n.items = c.anyValue()
		}
		return n, nil
	case "string":
		n := c.newNode(kString)
		var err error
		if n.minLen, err = count(s, "minLength", 0, at); err != nil {
			return nil, err
		}
		if n.maxLen, err = count(s, "maxLength", -1, at); err != nil {
			return nil, err
		}
		return n, nil
	case "number", "integer":
		return c.number(s, t == "integer", at)
	case "boolean":
		return c.literal([]string{"true", "false"}), nil
	default: // null
		return c.literal([]string{"null"}), nil
	}
}

func count(s map[string]any, k string, def int, at string) (int, error) {
	v, ok := s[k]
	if !ok {
		return def, nil
	}
	n, ok := v.(json.Number)
	if !ok {
		return 0, fmt.Errorf("grammar: %s must be a non-negative integer (at %s)", k, at)
	}
	i, err := strconv.ParseInt(n.String(), 10, 32)
	if err != nil || i < 0 {
		return 0, fmt.Errorf("grammar: %s must be a non-negative integer (at %s)", k, at)
	}
	return int(i), nil
}

func (c *compiler) object(s map[string]any, at string) (*node, error) {
	n := c.newNode(kObject)
	props := &object{m: map[string]any{}}
	if v, ok := s["properties"]; ok {
		if props, ok = v.(*object); !ok {
			return nil, fmt.Errorf("grammar: properties must be an object (at %s)", at)
		}
	}
	required := map[string]bool{}
	var requiredOrder []string
	if v, ok := s["required"]; ok {
		list, ok := v.([]any)
		if !ok {
			return nil, fmt.Errorf("grammar: required must be an array of strings (at %s)", at)
		}
		for _, x := range list {
			name, ok := x.(string)
			if !ok {
				return nil, fmt.Errorf("grammar: required must be an array of strings (at %s)", at)
			}
			required[name] = true
			requiredOrder = append(requiredOrder, name)
		}
	}
	names := slices.Clone(props.keys) // in the schema's order
	for _, name := range requiredOrder {
		if _, ok := props.m[name]; !ok {
			names = append(names, name) // required but undeclared: any value
		}
	}
	for _, name := range names {
		key, _ := json.Marshal(name)
		p := prop{name: name, key: append(key, ':'), required: required[name]}
		if sub, ok := props.m[name]; ok {
			var err error
			if p.val, err = c.compile(sub, at+"/properties/"+escapePointer(name)); err != nil {
				return nil, err
			}
		} else {
			p.val = c.anyValue()
		}
		n.props = append(n.props, p)
	}
	if len(n.props) == 0 {
		switch ap := s["additionalProperties"].(type) {
		case nil:
			n.extra = c.anyValue()
		case bool:
			if ap {
				n.extra = c.anyValue()
			}
		default:
			sub, err := c.compile(ap, at+"/additionalProperties")
			if err != nil {
				return nil, err
			}
			n.extra = sub
		}
	} else if ap, ok := s["additionalProperties"]; ok {
		// Extra keys are never generated when properties are declared, which
		// any additionalProperties allows; the schema must still be one we read.
		if _, isBool := ap.(bool); !isBool {
			if _, err := c.compile(ap, at+"/additionalProperties"); err != nil {
				return nil, err
			}
		}
	}
	n.setNextReq()
	return n, nil
}

func (n *node) setNextReq() {
	n.nextReq = make([]int, len(n.props)+1)
	n.nextReq[len(n.props)] = len(n.props)
	for i := len(n.props) - 1; i >= 0; i-- {
		if n.props[i].required {
			n.nextReq[i] = i
		} else {
			n.nextReq[i] = n.nextReq[i+1]
		}
	}
}

func escapePointer(s string) string {
	return strings.ReplaceAll(strings.ReplaceAll(s, "~", "~0"), "/", "~1")
}

func (c *compiler) ref(ref, at string) (*node, error) {
	if n, ok := c.refs[ref]; ok {
		return n, nil
	}
	if ref != "#" && !strings.HasPrefix(ref, "#/") {
		return nil, unsupported(at, "$ref %q: only references inside the schema (#/...) are supported", ref)
	}
	target, err := resolve(c.doc, ref)
	if err != nil {
		return nil, fmt.Errorf("grammar: $ref %q (at %s): %w", ref, at, err)
	}
	// Registered before compiling the target, so a recursive reference
	// finds this node and ties the knot.
	n := c.newNode(kAlt)
	c.refs[ref] = n
	body, err := c.compile(target, ref)
	if err != nil {
		return nil, err
	}
	n.alts = []*node{body}
	return n, nil
}

func resolve(doc any, ref string) (any, error) {
	cur := doc
	if ref == "#" {
		return cur, nil
	}
	for _, part := range strings.Split(strings.TrimPrefix(ref, "#/"), "/") {
		if p, err := url.PathUnescape(part); err == nil {
			part = p
		}
		part = strings.ReplaceAll(strings.ReplaceAll(part, "~1", "/"), "~0", "~")
		switch v := cur.(type) {
		case *object:
			next, ok := v.m[part]
			if !ok {
				return nil, fmt.Errorf("%q not found", part)
			}
			cur = next
		case []any:
			i, err := strconv.Atoi(part)
			if err != nil || i < 0 || i >= len(v) {
				return nil, fmt.Errorf("index %q out of range", part)
			}
			cur = v[i]
		default:
			return nil, fmt.Errorf("%q not found", part)
		}
	}
	return cur, nil
}

// number compiles a number or integer schema with its bounds, converted to
// the grid of the numbers it may write (integers, or multiples of 10^-6).
func (c *compiler) number(s map[string]any, integer bool, at string) (*node, error) {
	n := c.newNode(kNumber)
	n.integer = integer
	scale := new(big.Rat).SetInt64(1)
	limit := new(big.Int).Exp(big.NewInt(10), big.NewInt(intDigits), nil)
	if !integer {
		scale.SetInt(new(big.Int).Exp(big.NewInt(10), big.NewInt(numFracDigits), nil))
		limit.Exp(big.NewInt(10), big.NewInt(numIntDigits+numFracDigits), nil)
	}
	lo := new(big.Int).Neg(limit)
	hi := new(big.Int).Set(limit)
	for _, b := range []struct {
		key       string
		upper     bool
		exclusive bool
	}{{"minimum", false, false}, {"exclusiveMinimum", false, true}, {"maximum", true, false}, {"exclusiveMaximum", true, true}} {
		v, ok := s[b.key]
		if !ok {
			continue
		}
		num, ok := v.(json.Number)
		if !ok {
			return nil, unsupported(at, "keyword %q must be a number (boolean exclusive bounds of draft 4 are not supported)", b.key)
		}
		r, ok := new(big.Rat).SetString(num.String())
		if !ok {
			return nil, fmt.Errorf("grammar: %s %q is not a number (at %s)", b.key, num, at)
		}
		r.Mul(r, scale)
		n.bounded = true
		// In grid units: the smallest allowed value at or above a lower
		// bound, the largest at or below an upper one.
		q := new(big.Int).Quo(r.Num(), r.Denom()) // truncated toward zero
		exact := r.IsInt()
		if b.upper {
			if r.Sign() < 0 && !exact {
				q.Sub(q, big.NewInt(1)) // floor
			}
			if b.exclusive && exact {
				q.Sub(q, big.NewInt(1))
			}
			if q.Cmp(hi) < 0 {
				hi = q
			}
		} else {
			if r.Sign() > 0 && !exact {
				q.Add(q, big.NewInt(1)) // ceil
			}
			if b.exclusive && exact {
				q.Add(q, big.NewInt(1))
			}
			if q.Cmp(lo) > 0 {
				lo = q
			}
		}
	}
	// Clamped to the digit limit, bounds fit int64 (|v| <= 10^18).
	clamp := func(x *big.Int) int64 {
		if x.Cmp(limit) > 0 {
			return limit.Int64()
		}
		if x.Cmp(new(big.Int).Neg(limit)) < 0 {
			return -limit.Int64()
		}
		return x.Int64()
	}
	n.lo, n.hi = clamp(lo), clamp(hi)
	return n, nil
}

// literals compiles enum and const: the allowed values, kept when they are
// of an allowed type and the schema's other keywords accept them.
func (c *compiler) literals(s map[string]any, at string) (*node, error) {
	var values []any
	if v, ok := s["enum"]; ok {
		list, ok := v.([]any)
		if !ok {
			return nil, fmt.Errorf("grammar: enum must be an array (at %s)", at)
		}
		values = list
	}
	if v, ok := s["const"]; ok {
		if _, both := s["enum"]; both {
			return nil, unsupported(at, "keyword \"const\" together with \"enum\" is not supported")
		}
		values = []any{v}
	}
	// The rest of the schema, without enum and const, filters the values.
	rest := &object{m: map[string]any{}}
	for k, v := range s {
		if k != "enum" && k != "const" {
			rest.m[k] = v
		}
	}
	var check *node
	if hasAssertion(rest.m) {
		var err error
		if check, err = c.compileObject(rest, at); err != nil {
			return nil, err
		}
	}
	var texts []string
	for _, v := range values {
		text := compact(v)
		if check != nil && !accepts(check, []byte(text)) {
			continue
		}
		texts = append(texts, text)
	}
	return c.literal(texts), nil
}

func hasAssertion(s map[string]any) bool {
	for k := range s {
		if !annotations[k] {
			return true
		}
	}
	return false
}

// literal builds the trie of texts.
func (c *compiler) literal(texts []string) *node {
	n := c.newNode(kLiteral)
	n.trie = []trieNode{{}}
	for _, t := range texts {
		at := int32(0)
		for i := 0; i < len(t); i++ {
			next := int32(-1)
			for _, e := range n.trie[at].next {
				if e.b == t[i] {
					next = e.to
				}
			}
			if next < 0 {
				next = int32(len(n.trie))
				n.trie = append(n.trie, trieNode{})
				n.trie[at].next = append(n.trie[at].next, trieEdge{t[i], next})
			}
			at = next
		}
		n.trie[at].end = true
	}
	return n
}

// empty is the schema no value satisfies.
func (c *compiler) empty() *node { return c.literal(nil) }

// anyValue is any JSON value, shared by every use in one grammar.
func (c *compiler) anyValue() *node {
	if c.any != nil {
		return c.any
	}
	a := c.newNode(kAlt)
	c.any = a
	obj := c.newNode(kObject)
	obj.extra = a
	obj.nextReq = []int{0}
	arr := c.newNode(kArray)
	arr.items = a
	num := c.newNode(kNumber)
	num.lo, num.hi = -1e18, 1e18
	a.alts = []*node{obj, arr, c.newNode(kString), num, c.literal([]string{"true", "false", "null"})}
	return a
}

// disjoint reports whether no value can match two of alts: true when they
// are of different JSON types, or literals with no text in common (literal
// texts are canonical except for numbers, which count as their type).
func disjoint(alts []*node) bool {
	seen := map[string]int{} // kind or literal text -> alternative
	for i, a := range alts {
		types, lits := kindsOf(a, map[*node]bool{})
		for _, t := range types {
			if j, ok := seen[t]; ok && j != i {
				return false
			}
			seen[t] = i
		}
		for _, l := range lits {
			if j, ok := seen["lit:"+l]; ok && j != i {
				return false
			}
			seen["lit:"+l] = i
		}
	}
	// A literal clashes with a whole type of another alternative.
	for k, i := range seen {
		if l, ok := strings.CutPrefix(k, "lit:"); ok {
			if j, ok := seen[literalType(l)]; ok && j != i {
				return false
			}
		}
	}
	return true
}

// kindsOf returns the types a node matches wholly, and the literal texts it
// matches (numbers, objects and arrays among them counted as types).
func kindsOf(n *node, seen map[*node]bool) (types, lits []string) {
	if seen[n] {
		return nil, nil
	}
	seen[n] = true
	switch n.kind {
	case kAlt:
		for _, a := range n.alts {
			t, l := kindsOf(a, seen)
			types, lits = append(types, t...), append(lits, l...)
		}
	case kObject:
		types = []string{"object"}
	case kArray:
		types = []string{"array"}
	case kString:
		types = []string{"string"}
	case kNumber:
		types = []string{"number"}
	case kLiteral:
		for _, text := range n.texts() {
			switch t := literalType(text); t {
			case "string", "boolean", "null":
				lits = append(lits, text)
			default:
				types = append(types, t)
			}
		}
	}
	return types, lits
}

func literalType(text string) string {
	switch text[0] {
	case '{':
		return "object"
	case '[':
		return "array"
	case '"':
		return "string"
	case 't', 'f':
		return "boolean"
	case 'n':
		return "null"
	default:
		return "number"
	}
}

// texts lists a literal node's texts.
func (n *node) texts() []string {
	var out []string
	var walk func(at int32, prefix []byte)
	walk = func(at int32, prefix []byte) {
		if n.trie[at].end {
			out = append(out, string(prefix))
		}
		for _, e := range n.trie[at].next {
			walk(e.to, append(prefix, e.b))
		}
	}
	walk(0, nil)
	return out
}

// prune drops what no finite value can satisfy (an empty enum, a
// non-productive recursion) so that every state the automaton reaches can
// still be completed. It reports whether root can.
func (c *compiler) prune(root *node) bool {
	var all []*node
	seen := map[*node]bool{}
	var collect func(n *node)
	collect = func(n *node) {
		if n == nil || seen[n] {
			return
		}
		seen[n] = true
		all = append(all, n)
		for _, p := range n.props {
			collect(p.val)
		}
		collect(n.extra)
		collect(n.items)
		for _, a := range n.alts {
			collect(a)
		}
	}
	collect(root)
	ok := map[*node]bool{}
	for changed := true; changed; {
		changed = false
		for _, n := range all {
			if !ok[n] && productive(n, ok) {
				ok[n] = true
				changed = true
			}
		}
	}
	for _, n := range all {
		switch n.kind {
		case kAlt:
			n.alts = slices.DeleteFunc(n.alts, func(a *node) bool { return !ok[a] })
		case kObject:
			n.props = slices.DeleteFunc(n.props, func(p prop) bool { return !ok[p.val] })
			n.setNextReq()
			if n.extra != nil && !ok[n.extra] {
				n.extra = nil
			}
		case kArray:
			if !ok[n.items] {
				n.maxItems = 0
			}
		}
	}
	return ok[root]
}

func productive(n *node, ok map[*node]bool) bool {
	switch n.kind {
	case kAlt:
		return slices.ContainsFunc(n.alts, func(a *node) bool { return ok[a] })
	case kObject:
		for _, p := range n.props {
			if p.required && !ok[p.val] {
				return false
			}
		}
		return true
	case kArray:
		return (n.maxItems < 0 || n.minItems <= n.maxItems) && (n.minItems == 0 || ok[n.items])
	case kString:
		return n.maxLen < 0 || n.minLen <= n.maxLen
	case kNumber:
		return numberViable(n, "")
	case kLiteral:
		return len(n.texts()) > 0
	}
	return false
}
