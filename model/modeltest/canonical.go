package modeltest

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/go-json-experiment/json/jsontext"
)

// canonicalKey hashes body as encoding/json re-encodes it after decoding
// it into an any: object keys sorted, the last of duplicate keys kept,
// numbers as float64, strings escaped its way. A body that does not decode
// is hashed as it is. The bytes are built in one pass over the body's
// tokens (canonical) rather than through a tree of maps and interfaces,
// about half the CPU and 21 allocations instead of 37 for a generate
// stage's request (BenchmarkCanonicalKey): a benchmark's stand-in server
// keys every request in the same process as the client it measures.
// FuzzDecodeRequest and TestCanonicalKeyRandom check the keys against
// encoding/json's.
func canonicalKey(body []byte) string {
	dr := decoders.Get().(*decoder)
	defer decoders.Put(dr)
	dr.r.Reset(body)
	dr.d.Reset(&dr.r, v1Semantics)
	d := &dr.d
	out, err := canonical(make([]byte, 0, len(body)+16), d)
	if err == nil {
		// One value and nothing after it but white space, as Unmarshal asks.
		if _, err = d.ReadToken(); err == nil {
			err = errTrailing
		} else if errors.Is(err, io.EOF) {
			err = nil
		}
	}
	if err == nil {
		body = out
	}
	sum := sha256.Sum256(body)
	return hex.EncodeToString(sum[:])
}

// decoder is a token decoder kept for reuse: a new one costs more than
// the request it reads.
type decoder struct {
	r bytes.Reader
	d jsontext.Decoder
}

var decoders = sync.Pool{New: func() any { return new(decoder) }}

type canonError string

func (e canonError) Error() string { return string(e) }

const errTrailing = canonError("modeltest: data after the value")

// member is one object member: its name and its value's canonical bytes
// in a shared buffer.
type member struct {
	name       string
	start, end int
}

// canonical appends to dst the canonical bytes of the next value of d.
func canonical(dst []byte, d *jsontext.Decoder) ([]byte, error) {
	tok, err := d.ReadToken()
	if err != nil {
		return dst, err
	}
	switch tok.Kind() {
	case 'n', 't', 'f':
		return append(dst, tok.String()...), nil
	case '"':
		return appendString(dst, tok.String()), nil
	case '0':
		f, err := strconv.ParseFloat(tok.String(), 64)
		if err != nil { // out of float64's range: encoding/json refuses it
			return dst, err
		}
		return appendFloat(dst, f), nil
	case '[':
		dst = append(dst, '[')
		for i := 0; d.PeekKind() != ']'; i++ {
			if i > 0 {
				dst = append(dst, ',')
			}
			if dst, err = canonical(dst, d); err != nil {
				return dst, err
			}
		}
		if _, err := d.ReadToken(); err != nil {
			return dst, err
		}
		return append(dst, ']'), nil
	case '{':
		var ms []member
		var vals []byte
		for d.PeekKind() != '}' {
			tok, err := d.ReadToken()
			if err != nil {
				return dst, err
			}
			name := tok.String() // before the token is voided by the next read
			start := len(vals)
			if vals, err = canonical(vals, d); err != nil {
				return dst, err
			}
			ms = append(ms, member{name, start, len(vals)})
		}
		if _, err := d.ReadToken(); err != nil {
			return dst, err
		}
		// Sorted by name; of members with one name the last one written,
		// as decoding into a map keeps it.
		slices.SortStableFunc(ms, func(a, b member) int { return strings.Compare(a.name, b.name) })
		dst = append(dst, '{')
		for i, m := range ms {
			if i+1 < len(ms) && ms[i+1].name == m.name {
				continue
			}
			if len(dst) > 0 && dst[len(dst)-1] != '{' {
				dst = append(dst, ',')
			}
			dst = appendString(dst, m.name)
			dst = append(dst, ':')
			dst = append(dst, vals[m.start:m.end]...)
		}
		return append(dst, '}'), nil
	}
	return dst, canonError("modeltest: unexpected token " + tok.String())
}

// appendString appends s quoted as encoding/json writes it. Strings of
// plain printable ASCII are written as they are; any other goes through
// encoding/json (HTML characters, controls, U+2028/9, invalid UTF-8).
func appendString(dst []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x7f || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			b, _ := json.Marshal(s)
			return append(dst, b...)
		}
	}
	dst = append(dst, '"')
	dst = append(dst, s...)
	return append(dst, '"')
}

// appendFloat appends f as encoding/json writes a float64.
func appendFloat(dst []byte, f float64) []byte {
	abs := math.Abs(f)
	format := byte('f')
	if abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		format = 'e'
	}
	dst = strconv.AppendFloat(dst, f, format, -1, 64)
	if format == 'e' {
		// e-09 becomes e-9, as encoding/json writes it.
		if n := len(dst); n >= 4 && dst[n-4] == 'e' && dst[n-3] == '-' && dst[n-2] == '0' {
			dst[n-2] = dst[n-1]
			dst = dst[:n-1]
		}
	}
	return dst
}
