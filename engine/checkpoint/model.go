package checkpoint

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"

	"github.com/synthloop/synthloop/engine/llama"
	"github.com/synthloop/synthloop/engine/tokenizer"
)

// File names inside a model directory.
const (
	ConfigFile  = "config.json"
	WeightsFile = "model.safetensors"
)

// maxFile bounds how much ReadFile reads.
const maxFile = 1 << 34

// ModelTensors returns the tensors of m as views into its parameters (no
// copy), in storage order.
func ModelTensors(m *llama.Model) []Tensor {
	ts := make([]Tensor, len(m.Specs))
	for i, s := range m.Specs {
		ts[i] = Tensor{Name: s.Name, Shape: s.Shape, Data: m.Params[s.Offset : s.Offset+s.Size()]}
	}
	return ts
}

// SaveModel writes dir/config.json and dir/model.safetensors, each through a
// temporary file and a rename so a crash never leaves a half-written file
// under the final name.
func SaveModel(dir string, m *llama.Model) error {
	cfg, err := json.MarshalIndent(m.Config, "", "  ")
	if err != nil {
		return fmt.Errorf("checkpoint: save %s: %w", dir, err)
	}
	if err := WriteFileAtomic(filepath.Join(dir, ConfigFile), append(cfg, '\n')); err != nil {
		return err
	}
	return WriteAtomic(filepath.Join(dir, WeightsFile), func(w io.Writer) error {
		return Write(w, ModelTensors(m), map[string]string{"format": "pt"})
	})
}

// WriteFileAtomic writes data to path via a temporary file in the same
// directory and a rename.
func WriteFileAtomic(path string, data []byte) error {
	return WriteAtomic(path, func(w io.Writer) error {
		_, err := w.Write(data)
		return err
	})
}

// WriteAtomic streams write's output to path via a temporary file in the
// same directory, synced and renamed into place, so readers see the old
// file or the complete new one, and large tensors need no second copy in
// memory.
func WriteAtomic(path string, write func(io.Writer) error) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("checkpoint: %w", err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".tmp-"+filepath.Base(path))
	if err != nil {
		return fmt.Errorf("checkpoint: %w", err)
	}
	defer os.Remove(tmp.Name())
	if err := write(tmp); err != nil {
		tmp.Close()
		return fmt.Errorf("checkpoint: write %s: %w", path, err)
	}
	// Sync before the rename, or a crash could leave the new name on an
	// empty file.
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("checkpoint: write %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("checkpoint: write %s: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("checkpoint: %w", err)
	}
	return nil
}

// ReadFile reads and decodes a safetensors file.
func ReadFile(path string) (*File, error) {
	f, size, err := openSized(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	file, err := decode(f, size)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return file, nil
}

func openSized(path string) (*os.File, int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, 0, fmt.Errorf("checkpoint: %w", err)
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, 0, fmt.Errorf("checkpoint: %w", err)
	}
	if fi.Size() > maxFile {
		f.Close()
		return nil, 0, fmt.Errorf("%w: %s is %d bytes, over the %d limit", ErrFormat, path, fi.Size(), int64(maxFile))
	}
	return f, fi.Size(), nil
}

// LoadModel reads a directory written by SaveModel. The config is
// validated before anything is allocated for it, and the weights must match
// it exactly: every tensor present with its shape, nothing extra.
func LoadModel(dir string) (*llama.Model, error) {
	raw, err := os.ReadFile(filepath.Join(dir, ConfigFile))
	if err != nil {
		return nil, fmt.Errorf("checkpoint: %w", err)
	}
	var cfg llama.Config
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&cfg); err != nil {
		return nil, fmt.Errorf("checkpoint: %s: %w", ConfigFile, err)
	}
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("checkpoint: %s: %w", ConfigFile, err)
	}
	path := filepath.Join(dir, WeightsFile)
	f, size, err := openSized(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	l, err := readLayout(f, size)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	// Check names and shapes before allocating the model, then read each
	// tensor straight into its place in the parameters: one copy of the
	// weights in memory, not two.
	specs := cfg.Tensors()
	if len(l.entries) != len(specs) {
		return nil, fmt.Errorf("%s: %w: %d tensors, config needs %d", path, ErrFormat, len(l.entries), len(specs))
	}
	for _, s := range specs {
		e, ok := l.find(s.Name)
		if !ok {
			return nil, fmt.Errorf("%s: %w: missing tensor %q", path, ErrFormat, s.Name)
		}
		if !shapeIs(e.Shape, s.Shape) {
			return nil, fmt.Errorf("%s: %w: tensor %q has shape %v, config needs %v", path, ErrFormat, s.Name, e.Shape, s.Shape)
		}
	}
	m, err := llama.NewZero(cfg)
	if err != nil {
		return nil, err
	}
	for _, s := range m.Specs {
		e, _ := l.find(s.Name)
		if err := readFloats(f, l.dataStart+e.Offsets[0], m.Params[s.Offset:s.Offset+s.Size()]); err != nil {
			return nil, fmt.Errorf("checkpoint: %s: tensor %q: %w", path, s.Name, err)
		}
	}
	return m, nil
}

func shapeIs(got []int64, want []int) bool {
	if len(got) != len(want) {
		return false
	}
	for i := range got {
		if got[i] != int64(want[i]) {
			return false
		}
	}
	return true
}

// ModelFromFile builds a model of cfg from decoded tensors.
func ModelFromFile(cfg llama.Config, f *File) (*llama.Model, error) {
	if len(f.Tensors) != len(cfg.Tensors()) {
		return nil, fmt.Errorf("%w: %d tensors, config needs %d", ErrFormat, len(f.Tensors), len(cfg.Tensors()))
	}
	// Check shapes before allocating the model, whose size the config alone
	// decides.
	for _, s := range cfg.Tensors() {
		t, ok := f.Get(s.Name)
		if !ok {
			return nil, fmt.Errorf("%w: missing tensor %q", ErrFormat, s.Name)
		}
		if !slices.Equal(t.Shape, s.Shape) {
			return nil, fmt.Errorf("%w: tensor %q has shape %v, config needs %v", ErrFormat, s.Name, t.Shape, s.Shape)
		}
	}
	m, err := llama.NewZero(cfg)
	if err != nil {
		return nil, err
	}
	for _, s := range m.Specs {
		t, _ := f.Get(s.Name)
		copy(m.Params[s.Offset:], t.Data)
	}
	return m, nil
}

// TokenizerFile holds the model's tokenizer beside its weights.
const TokenizerFile = "tokenizer.json"

// SaveTokenizer writes dir/tokenizer.json, so a model directory is enough
// to serve the model.
func SaveTokenizer(dir string, tok tokenizer.Tokenizer) error {
	var buf bytes.Buffer
	if err := tokenizer.Save(&buf, tok); err != nil {
		return fmt.Errorf("checkpoint: %w", err)
	}
	return WriteFileAtomic(filepath.Join(dir, TokenizerFile), buf.Bytes())
}

// LoadTokenizer reads dir/tokenizer.json.
func LoadTokenizer(dir string) (tokenizer.Tokenizer, error) {
	f, err := os.Open(filepath.Join(dir, TokenizerFile))
	if err != nil {
		return nil, fmt.Errorf("checkpoint: %w", err)
	}
	defer f.Close()
	tok, err := tokenizer.Load(f)
	if err != nil {
		return nil, fmt.Errorf("checkpoint: %s: %w", TokenizerFile, err)
	}
	return tok, nil
}
