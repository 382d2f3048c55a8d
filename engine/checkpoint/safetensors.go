// Package checkpoint saves and loads engine weights as safetensors (F32)
// with a JSON config beside them, and rejects malformed files with errors.
package checkpoint

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"sort"
)

// ErrFormat classifies every way a file can fail validation.
var ErrFormat = errors.New("checkpoint: malformed safetensors")

// Tensor is one named float32 array.
type Tensor struct {
	Name  string
	Shape []int
	Data  []float32
}

// File is a decoded safetensors file.
type File struct {
	Tensors  []Tensor // in file order
	Metadata map[string]string
}

// Get returns the named tensor.
func (f *File) Get(name string) (Tensor, bool) {
	for _, t := range f.Tensors {
		if t.Name == name {
			return t, true
		}
	}
	return Tensor{}, false
}

// Limits on what Decode accepts, so that a small hostile file cannot make it
// allocate much more than its own size.
const (
	maxHeader = 100 << 20 // the reference implementation's limit
	maxRank   = 8
)

type entry struct {
	DType   string  `json:"dtype"`
	Shape   []int64 `json:"shape"`
	Offsets []int64 `json:"data_offsets"`
}

// Write encodes tensors (in the given order, packed without gaps) and
// metadata as safetensors. The header is padded with spaces to a multiple of
// 8 bytes so readers that map the file see aligned data.
func Write(w io.Writer, tensors []Tensor, metadata map[string]string) error {
	header := map[string]any{}
	if len(metadata) > 0 {
		header["__metadata__"] = metadata
	}
	var off int64
	for _, t := range tensors {
		n := 1
		for _, d := range t.Shape {
			n *= d
		}
		if n != len(t.Data) {
			return fmt.Errorf("checkpoint: write %s: shape %v holds %d values, data has %d", t.Name, t.Shape, n, len(t.Data))
		}
		if _, dup := header[t.Name]; dup || t.Name == "__metadata__" {
			return fmt.Errorf("checkpoint: write: duplicate or reserved tensor name %q", t.Name)
		}
		shape := make([]int64, len(t.Shape))
		for i, d := range t.Shape {
			shape[i] = int64(d)
		}
		header[t.Name] = entry{DType: "F32", Shape: shape, Offsets: []int64{off, off + 4*int64(n)}}
		off += 4 * int64(n)
	}
	hj, err := json.Marshal(header)
	if err != nil {
		return fmt.Errorf("checkpoint: write header: %w", err)
	}
	for len(hj)%8 != 0 {
		hj = append(hj, ' ')
	}
	var prefix [8]byte
	binary.LittleEndian.PutUint64(prefix[:], uint64(len(hj)))
	if _, err := w.Write(prefix[:]); err != nil {
		return fmt.Errorf("checkpoint: write: %w", err)
	}
	if _, err := w.Write(hj); err != nil {
		return fmt.Errorf("checkpoint: write: %w", err)
	}
	buf := make([]byte, 0, 1<<16)
	for _, t := range tensors {
		for _, v := range t.Data {
			buf = binary.LittleEndian.AppendUint32(buf, math.Float32bits(v))
			if len(buf) == cap(buf) {
				if _, err := w.Write(buf); err != nil {
					return fmt.Errorf("checkpoint: write %s: %w", t.Name, err)
				}
				buf = buf[:0]
			}
		}
	}
	if _, err := w.Write(buf); err != nil {
		return fmt.Errorf("checkpoint: write: %w", err)
	}
	return nil
}

// Decode parses a whole safetensors file held in data. It accepts only F32
// tensors whose byte ranges exactly tile the data section (no gaps, no
// overlaps, as the format requires), and never allocates more than about
// twice len(data).
func Decode(data []byte) (*File, error) {
	return decode(bytes.NewReader(data), int64(len(data)))
}

// decode reads a file of size bytes through r: the header first, checked
// completely before any tensor is allocated, then each tensor.
func decode(r io.ReaderAt, size int64) (*File, error) {
	l, err := readLayout(r, size)
	if err != nil {
		return nil, err
	}
	f := &File{Metadata: l.meta, Tensors: make([]Tensor, len(l.entries))}
	for i, e := range l.entries {
		t := Tensor{Name: l.names[i], Shape: make([]int, len(e.Shape)), Data: make([]float32, (e.Offsets[1]-e.Offsets[0])/4)}
		for j, d := range e.Shape {
			t.Shape[j] = int(d)
		}
		if err := readFloats(r, l.dataStart+e.Offsets[0], t.Data); err != nil {
			return nil, fmt.Errorf("checkpoint: tensor %q: %w", t.Name, err)
		}
		f.Tensors[i] = t
	}
	return f, nil
}

// layout is a validated safetensors header.
type layout struct {
	names     []string
	entries   []entry
	meta      map[string]string
	dataStart int64 // file offset of the data section
}

func (l *layout) find(name string) (entry, bool) {
	for i, n := range l.names {
		if n == name {
			return l.entries[i], true
		}
	}
	return entry{}, false
}

// readLayout reads and validates the header of a file of size bytes.
func readLayout(r io.ReaderAt, size int64) (*layout, error) {
	var prefix [8]byte
	if size < 8 {
		return nil, fmt.Errorf("%w: %d bytes is shorter than the 8-byte header length", ErrFormat, size)
	}
	if _, err := r.ReadAt(prefix[:], 0); err != nil {
		return nil, fmt.Errorf("checkpoint: read header length: %w", err)
	}
	hlen := binary.LittleEndian.Uint64(prefix[:])
	if hlen > maxHeader || hlen > uint64(size-8) {
		return nil, fmt.Errorf("%w: header length %d exceeds file size %d or limit %d", ErrFormat, hlen, size, maxHeader)
	}
	header := make([]byte, hlen)
	if _, err := r.ReadAt(header, 8); err != nil {
		return nil, fmt.Errorf("checkpoint: read header: %w", err)
	}
	bodyLen := size - 8 - int64(hlen)
	names, entries, meta, err := parseHeader(header)
	if err != nil {
		return nil, err
	}
	for i, e := range entries {
		if err := checkEntry(names[i], e, bodyLen); err != nil {
			return nil, err
		}
	}
	idx := make([]int, len(entries))
	for i := range idx {
		idx[i] = i
	}
	sort.Slice(idx, func(a, b int) bool { return entries[idx[a]].Offsets[0] < entries[idx[b]].Offsets[0] })
	var end int64
	for _, i := range idx {
		if s := entries[i].Offsets[0]; s != end {
			if s < end {
				return nil, fmt.Errorf("%w: tensor %q at byte %d overlaps the previous tensor ending at %d", ErrFormat, names[i], s, end)
			}
			return nil, fmt.Errorf("%w: gap of %d bytes before tensor %q", ErrFormat, s-end, names[i])
		}
		end = entries[i].Offsets[1]
	}
	if end != bodyLen {
		return nil, fmt.Errorf("%w: tensors cover %d of %d data bytes", ErrFormat, end, bodyLen)
	}
	return &layout{names: names, entries: entries, meta: meta, dataStart: 8 + int64(hlen)}, nil
}

// readFloats fills dst with little-endian float32s read from r at off,
// through a fixed buffer so a large tensor needs no second copy in memory.
func readFloats(r io.ReaderAt, off int64, dst []float32) error {
	var buf [1 << 16]byte
	for len(dst) > 0 {
		n := min(len(dst), len(buf)/4)
		if _, err := r.ReadAt(buf[:4*n], off); err != nil {
			return err
		}
		for j := range n {
			dst[j] = math.Float32frombits(binary.LittleEndian.Uint32(buf[4*j:]))
		}
		dst, off = dst[n:], off+int64(4*n)
	}
	return nil
}

func checkEntry(name string, e entry, bodyLen int64) error {
	if e.DType != "F32" {
		return fmt.Errorf("%w: tensor %q has dtype %q, only F32 is supported", ErrFormat, name, e.DType)
	}
	if len(e.Shape) > maxRank {
		return fmt.Errorf("%w: tensor %q has rank %d > %d", ErrFormat, name, len(e.Shape), maxRank)
	}
	if len(e.Offsets) != 2 {
		return fmt.Errorf("%w: tensor %q has %d data_offsets, want 2", ErrFormat, name, len(e.Offsets))
	}
	s, end := e.Offsets[0], e.Offsets[1]
	if s < 0 || end < s || end > bodyLen {
		return fmt.Errorf("%w: tensor %q offsets [%d, %d] outside data of %d bytes", ErrFormat, name, s, end, bodyLen)
	}
	// Multiply with a bound check at each step so huge dimensions cannot
	// overflow into a small, plausible size.
	n := int64(1)
	for _, d := range e.Shape {
		if d < 0 || d > bodyLen/4+1 {
			return fmt.Errorf("%w: tensor %q has dimension %d out of range", ErrFormat, name, d)
		}
		if n *= d; n > bodyLen/4+1 {
			return fmt.Errorf("%w: tensor %q shape %v larger than the file", ErrFormat, name, e.Shape)
		}
	}
	if 4*n != end-s {
		return fmt.Errorf("%w: tensor %q shape %v needs %d bytes, offsets give %d", ErrFormat, name, e.Shape, 4*n, end-s)
	}
	return nil
}

// parseHeader walks the header object token by token so that duplicate
// names, which encoding/json would silently merge, are rejected.
func parseHeader(h []byte) (names []string, entries []entry, meta map[string]string, err error) {
	dec := json.NewDecoder(bytes.NewReader(h))
	bad := func(format string, a ...any) error {
		return fmt.Errorf("%w: header: %s", ErrFormat, fmt.Sprintf(format, a...))
	}
	tok, err := dec.Token()
	if err != nil || tok != json.Delim('{') {
		return nil, nil, nil, bad("not a JSON object")
	}
	seen := map[string]bool{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, nil, nil, bad("%v", err)
		}
		name, _ := tok.(string)
		if seen[name] {
			return nil, nil, nil, bad("duplicate key %q", name)
		}
		seen[name] = true
		if name == "__metadata__" {
			if err := dec.Decode(&meta); err != nil {
				return nil, nil, nil, bad("__metadata__: %v", err)
			}
			continue
		}
		var e entry
		if err := dec.Decode(&e); err != nil {
			return nil, nil, nil, bad("tensor %q: %v", name, err)
		}
		names = append(names, name)
		entries = append(entries, e)
	}
	if _, err := dec.Token(); err != nil {
		return nil, nil, nil, bad("%v", err)
	}
	// Only padding may follow the object.
	rest, _ := io.ReadAll(dec.Buffered())
	if len(bytes.TrimRight(rest, " ")) != 0 || slices.ContainsFunc(h[dec.InputOffset():], func(b byte) bool { return b != ' ' }) {
		return nil, nil, nil, bad("trailing data after the header object")
	}
	return names, entries, meta, nil
}
