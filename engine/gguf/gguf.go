// Package gguf exports built-in models as GGUF v3 files for llama.cpp and Ollama.
package gguf

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
)

// GGUF constants from ggml's gguf.h. Only what the exporter writes is here.
const (
	magic   = "GGUF"
	version = 3
	// Alignment is the general.alignment the writer uses and records: the
	// offset of the tensor data section and of every tensor in it is a
	// multiple of it, which llama.cpp needs to mmap the weights in place.
	Alignment = 32
	typeF32   = 0 // ggml_type GGML_TYPE_F32
)

// Metadata value types (gguf_type).
const (
	tInt32   = 5
	tUint32  = 4
	tFloat32 = 6
	tBool    = 7
	tString  = 8
	tArray   = 9
	tUint64  = 10
)

// ErrUnsupported classifies models and tokenizers that have no faithful
// llama.cpp equivalent, so exporting them would produce a file that loads
// but computes something else.
var ErrUnsupported = errors.New("gguf: unsupported")

// KV is one metadata entry. Value must be one of uint32, int32, uint64,
// float32, bool, string, []string, []int32 or []uint32; those are the GGUF
// types llama.cpp reads for the llama architecture and its tokenizer.
type KV struct {
	Key   string
	Value any
}

// Tensor is one F32 tensor. Dims are in GGUF order, fastest-varying first
// (ggml's ne): a row-major [rows, cols] matrix has Dims [cols, rows].
type Tensor struct {
	Name string
	Dims []uint64
	Data []float32
}

func (t Tensor) elems() uint64 {
	n := uint64(1)
	for _, d := range t.Dims {
		n *= d
	}
	return n
}

// pad rounds n up to a multiple of Alignment.
func pad(n uint64) uint64 { return (n + Alignment - 1) / Alignment * Alignment }

// maxName is ggml's GGML_MAX_NAME less its terminating NUL: llama.cpp
// rejects longer tensor names.
const maxName = 63

// Write writes a GGUF v3 file: header, kvs in order, tensor infos, and the
// tensors' data, each at an offset aligned to Alignment. It checks
// everything before writing the first byte, so a bad argument leaves w
// untouched.
func Write(w io.Writer, kvs []KV, tensors []Tensor) error {
	seen := map[string]bool{}
	for _, kv := range kvs {
		if kv.Key == "" || seen[kv.Key] {
			return fmt.Errorf("gguf: empty or duplicate metadata key %q", kv.Key)
		}
		seen[kv.Key] = true
		if _, err := valueType(kv.Value); err != nil {
			return fmt.Errorf("gguf: key %s: %w", kv.Key, err)
		}
	}
	names := map[string]bool{}
	for _, t := range tensors {
		if t.Name == "" || len(t.Name) > maxName || names[t.Name] {
			return fmt.Errorf("gguf: tensor name %q is empty, longer than %d bytes or repeated", t.Name, maxName)
		}
		names[t.Name] = true
		if len(t.Dims) == 0 || len(t.Dims) > 4 {
			return fmt.Errorf("gguf: tensor %s has %d dimensions, ggml allows 1 to 4", t.Name, len(t.Dims))
		}
		if n := t.elems(); n != uint64(len(t.Data)) {
			return fmt.Errorf("gguf: tensor %s: dims %v hold %d elements, data has %d", t.Name, t.Dims, n, len(t.Data))
		}
	}

	e := &encoder{w: bufio.NewWriterSize(w, 1<<20)}
	e.raw([]byte(magic))
	e.u32(version)
	e.u64(uint64(len(tensors)))
	e.u64(uint64(len(kvs)))
	for _, kv := range kvs {
		e.str(kv.Key)
		e.value(kv.Value)
	}
	var off uint64
	for _, t := range tensors {
		e.str(t.Name)
		e.u32(uint32(len(t.Dims)))
		for _, d := range t.Dims {
			e.u64(d)
		}
		e.u32(typeF32)
		e.u64(off)
		off += pad(4 * t.elems())
	}
	e.zeros(pad(e.n) - e.n)
	for _, t := range tensors {
		e.f32s(t.Data)
		e.zeros(pad(4*t.elems()) - 4*t.elems())
	}
	if e.err == nil {
		e.err = e.w.Flush()
	}
	if e.err != nil {
		return fmt.Errorf("gguf: write: %w", e.err)
	}
	return nil
}

func valueType(v any) (uint32, error) {
	switch v.(type) {
	case uint32:
		return tUint32, nil
	case int32:
		return tInt32, nil
	case uint64:
		return tUint64, nil
	case float32:
		return tFloat32, nil
	case bool:
		return tBool, nil
	case string:
		return tString, nil
	case []string, []int32, []uint32:
		return tArray, nil
	}
	return 0, fmt.Errorf("unsupported value type %T", v)
}

// encoder writes little-endian GGUF primitives, remembering the first error
// and the byte count (needed for the alignment padding).
type encoder struct {
	w   *bufio.Writer
	n   uint64
	err error
	buf [8]byte
}

func (e *encoder) raw(b []byte) {
	if e.err != nil {
		return
	}
	_, e.err = e.w.Write(b)
	e.n += uint64(len(b))
}

func (e *encoder) u32(v uint32) { e.raw(binary.LittleEndian.AppendUint32(e.buf[:0], v)) }
func (e *encoder) u64(v uint64) { e.raw(binary.LittleEndian.AppendUint64(e.buf[:0], v)) }

func (e *encoder) str(s string) {
	e.u64(uint64(len(s)))
	e.raw([]byte(s))
}

func (e *encoder) zeros(n uint64) {
	for ; n > 0; n-- {
		e.raw([]byte{0})
	}
}

func (e *encoder) f32s(xs []float32) {
	// Encode through a fixed chunk rather than one []byte of the whole
	// tensor, so exporting never doubles the model's memory.
	var chunk [4096]byte
	for len(xs) > 0 {
		k := min(len(xs), len(chunk)/4)
		for i, x := range xs[:k] {
			binary.LittleEndian.PutUint32(chunk[4*i:], math.Float32bits(x))
		}
		e.raw(chunk[:4*k])
		xs = xs[k:]
	}
}

func (e *encoder) value(v any) {
	t, _ := valueType(v) // checked by Write
	e.u32(t)
	switch v := v.(type) {
	case uint32:
		e.u32(v)
	case int32:
		e.u32(uint32(v))
	case uint64:
		e.u64(v)
	case float32:
		e.u32(math.Float32bits(v))
	case bool:
		b := byte(0)
		if v {
			b = 1
		}
		e.raw([]byte{b})
	case string:
		e.str(v)
	case []string:
		e.u32(tString)
		e.u64(uint64(len(v)))
		for _, s := range v {
			e.str(s)
		}
	case []int32:
		e.u32(tInt32)
		e.u64(uint64(len(v)))
		for _, x := range v {
			e.u32(uint32(x))
		}
	case []uint32:
		e.u32(tUint32)
		e.u64(uint64(len(v)))
		for _, x := range v {
			e.u32(x)
		}
	}
}
