package gguf

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"reflect"
)

// This file is a small GGUF reader written from the spec for the tests,
// independent of the writer's code: it decodes what Write produced back into
// KVs and tensor infos so the tests can compare them with what was meant.

type tensorInfo struct {
	name string
	dims []uint64
	typ  uint32
	off  uint64
}

type parsed struct {
	version   uint32
	kvs       []KV
	tensors   []tensorInfo
	dataStart uint64
	file      []byte
}

// tensorData returns the float32s of tensor i.
func (p *parsed) tensorData(i int) []float32 {
	t := p.tensors[i]
	n := uint64(1)
	for _, d := range t.dims {
		n *= d
	}
	raw := p.file[p.dataStart+t.off : p.dataStart+t.off+4*n]
	out := make([]float32, n)
	for j := range out {
		out[j] = math.Float32frombits(binary.LittleEndian.Uint32(raw[4*j:]))
	}
	return out
}

type reader struct {
	b   []byte
	pos uint64
	err error
}

func (r *reader) take(n uint64) []byte {
	if r.err != nil {
		return nil
	}
	if n > uint64(len(r.b))-r.pos {
		r.err = errors.New("truncated")
		return nil
	}
	b := r.b[r.pos : r.pos+n]
	r.pos += n
	return b
}

func (r *reader) u32() uint32 {
	if b := r.take(4); b != nil {
		return binary.LittleEndian.Uint32(b)
	}
	return 0
}

func (r *reader) u64() uint64 {
	if b := r.take(8); b != nil {
		return binary.LittleEndian.Uint64(b)
	}
	return 0
}

func (r *reader) str() string { return string(r.take(r.u64())) }

func (r *reader) scalar(t uint32) any {
	switch t {
	case 4:
		return r.u32()
	case 5:
		return int32(r.u32())
	case 6:
		return math.Float32frombits(r.u32())
	case 7:
		b := r.take(1)
		if b == nil {
			return false
		}
		if b[0] > 1 {
			r.err = fmt.Errorf("bool byte %d", b[0])
		}
		return b[0] == 1
	case 8:
		return r.str()
	case 10:
		return r.u64()
	}
	r.err = fmt.Errorf("value type %d not expected", t)
	return nil
}

func (r *reader) value() any {
	t := r.u32()
	if t != 9 {
		return r.scalar(t)
	}
	et, n := r.u32(), r.u64()
	if n > uint64(len(r.b)) {
		r.err = errors.New("array too long")
		return nil
	}
	switch et {
	case 8:
		out := make([]string, n)
		for i := range out {
			out[i] = r.str()
		}
		return out
	case 5:
		out := make([]int32, n)
		for i := range out {
			out[i] = int32(r.u32())
		}
		return out
	case 4:
		out := make([]uint32, n)
		for i := range out {
			out[i] = r.u32()
		}
		return out
	}
	r.err = fmt.Errorf("array of type %d not expected", et)
	return nil
}

func parse(b []byte) (*parsed, error) {
	r := &reader{b: b}
	if string(r.take(4)) != "GGUF" {
		return nil, errors.New("bad magic")
	}
	p := &parsed{file: b, version: r.u32()}
	nt, nkv := r.u64(), r.u64()
	if nt > uint64(len(b)) || nkv > uint64(len(b)) {
		return nil, errors.New("counts too large")
	}
	align := uint64(32)
	for range nkv {
		kv := KV{Key: r.str(), Value: r.value()}
		if kv.Key == "general.alignment" {
			if a, ok := kv.Value.(uint32); ok {
				align = uint64(a)
			}
		}
		p.kvs = append(p.kvs, kv)
	}
	for range nt {
		t := tensorInfo{name: r.str()}
		nd := r.u32()
		if nd > 4 {
			return nil, fmt.Errorf("tensor %s: %d dims", t.name, nd)
		}
		for range nd {
			t.dims = append(t.dims, r.u64())
		}
		t.typ, t.off = r.u32(), r.u64()
		p.tensors = append(p.tensors, t)
	}
	if r.err != nil {
		return nil, r.err
	}
	p.dataStart = (r.pos + align - 1) / align * align
	for _, pad := range b[r.pos:min(p.dataStart, uint64(len(b)))] {
		if pad != 0 {
			return nil, errors.New("nonzero padding before tensor data")
		}
	}
	for _, t := range p.tensors {
		n := uint64(4)
		for _, d := range t.dims {
			n *= d
		}
		end := p.dataStart + (t.off+n+align-1)/align*align
		if t.off%align != 0 || end > uint64(len(b)) {
			return nil, fmt.Errorf("tensor %s at %d+%d is misaligned or outside the file", t.name, t.off, n)
		}
		for _, pad := range b[p.dataStart+t.off+n : end] {
			if pad != 0 {
				return nil, fmt.Errorf("nonzero padding after tensor %s", t.name)
			}
		}
	}
	return p, nil
}

// sameValue is reflect.DeepEqual except that empty slices of one type are
// equal whether nil or not.
func sameValue(a, b any) bool {
	va, vb := reflect.ValueOf(a), reflect.ValueOf(b)
	if va.Kind() == reflect.Slice && vb.Kind() == reflect.Slice && va.Type() == vb.Type() && va.Len() == 0 && vb.Len() == 0 {
		return true
	}
	return reflect.DeepEqual(a, b)
}
