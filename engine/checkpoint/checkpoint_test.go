package checkpoint

import (
	"bytes"
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/synthloop/synthloop/engine/llama"
	"github.com/synthloop/synthloop/engine/tokenizer"
)

func encode(t testing.TB, ts []Tensor, meta map[string]string) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := Write(&buf, ts, meta); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// raw builds a file from a literal header and a data section.
func raw(header string, data []byte) []byte {
	b := binary.LittleEndian.AppendUint64(nil, uint64(len(header)))
	return append(append(b, header...), data...)
}

func TestWriteDecodeRoundTrip(t *testing.T) {
	ts := []Tensor{
		{Name: "a", Shape: []int{2, 3}, Data: []float32{1, 2, 3, 4, 5, -6.5}},
		{Name: "b", Shape: []int{1}, Data: []float32{7}},
		{Name: "empty", Shape: []int{0, 4}, Data: nil},
	}
	data := encode(t, ts, map[string]string{"k": "v"})
	if hl := binary.LittleEndian.Uint64(data); hl%8 != 0 {
		t.Errorf("header length %d not 8-aligned", hl)
	}
	f, err := Decode(data)
	if err != nil {
		t.Fatal(err)
	}
	if f.Metadata["k"] != "v" {
		t.Errorf("metadata = %v", f.Metadata)
	}
	for _, want := range ts {
		got, ok := f.Get(want.Name)
		if !ok || !slices.Equal(got.Shape, want.Shape) || !slices.Equal(got.Data, want.Data) && len(want.Data) > 0 {
			t.Errorf("tensor %s = %+v, want %+v", want.Name, got, want)
		}
	}
}

func TestDecodeRejectsHostileFiles(t *testing.T) {
	good := encode(t, []Tensor{{Name: "a", Shape: []int{2}, Data: []float32{1, 2}}}, nil)
	eight := make([]byte, 8)
	for _, tc := range []struct {
		name string
		data []byte
		want string
	}{
		{"empty", nil, "shorter"},
		{"truncated data", good[:len(good)-1], "outside data"},
		{"extra data", append(slices.Clone(good), 0, 0, 0, 0), "cover"},
		{"truncated header", good[:12], "header length"},
		{"header length huge", binary.LittleEndian.AppendUint64(nil, 1<<62), "header length"},
		{"not json", raw("nonsense", nil), "not a JSON object"},
		{"offsets past end", raw(`{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,16]}}`, eight), "outside data"},
		{"negative offset", raw(`{"a":{"dtype":"F32","shape":[2],"data_offsets":[-8,0]}}`, eight), "outside data"},
		{"overlap", raw(`{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}`, eight), "overlaps"},
		{"gap", raw(`{"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}`, eight), "gap"},
		{"wrong dtype", raw(`{"a":{"dtype":"F16","shape":[4],"data_offsets":[0,8]}}`, eight), "dtype"},
		{"shape mismatch", raw(`{"a":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}}`, eight), "needs 12 bytes"},
		{"huge shape", raw(`{"a":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,8]}}`, eight), "out of range"},
		{"overflowing shape", raw(`{"a":{"dtype":"F32","shape":[2,2,2,2,2,2,2,2],"data_offsets":[0,8]}}`, eight), "larger than"},
		{"negative dim", raw(`{"a":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}}`, eight), "out of range"},
		{"duplicate name", raw(`{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}`, eight), "duplicate"},
		{"trailing junk", raw(`{}x`, nil), "trailing"},
		{"three offsets", raw(`{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,4,8]}}`, eight), "data_offsets"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Decode(tc.data)
			if !errors.Is(err, ErrFormat) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Decode error = %v, want ErrFormat mentioning %q", err, tc.want)
			}
		})
	}
}

func testModel(t testing.TB) *llama.Model {
	m, err := llama.New(llama.Config{Vocab: 13, Dim: 8, Layers: 2, Heads: 2, KVHeads: 1, Hidden: 16, MaxSeq: 16, RoPE: true, RopeTheta: 10000, NormEps: 1e-5}, 3)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestSaveLoadModel(t *testing.T) {
	m := testModel(t)
	dir := t.TempDir()
	if err := SaveModel(dir, m); err != nil {
		t.Fatal(err)
	}
	got, err := LoadModel(dir)
	if err != nil {
		t.Fatal(err)
	}
	if got.Config != m.Config || !slices.Equal(got.Params, m.Params) {
		t.Error("loaded model differs from saved model")
	}

	tok, _ := tokenizer.NewChar("abc", tokenizer.DefaultSpecials)
	if err := SaveTokenizer(dir, tok); err != nil {
		t.Fatal(err)
	}
	if got, err := LoadTokenizer(dir); err != nil || got.VocabSize() != tok.VocabSize() {
		t.Errorf("LoadTokenizer = %v, %v", got, err)
	}

	// Weights that do not match the config are rejected.
	other := testModel(t)
	other.Config.Hidden = 8
	small, _ := llama.New(other.Config, 1)
	f, _ := Decode(encode(t, ModelTensors(small), nil))
	if _, err := ModelFromFile(m.Config, f); !errors.Is(err, ErrFormat) {
		t.Errorf("ModelFromFile with wrong shapes: %v, want ErrFormat", err)
	}
	// Unknown config keys are errors, not silently ignored.
	os.WriteFile(filepath.Join(dir, ConfigFile), []byte(`{"vocab_size":13,"dimm":8}`), 0o644)
	if _, err := LoadModel(dir); err == nil || !strings.Contains(err.Error(), "dimm") {
		t.Errorf("LoadModel with unknown key: %v", err)
	}
}

func FuzzDecode(f *testing.F) {
	f.Add(encode(f, []Tensor{{Name: "a", Shape: []int{2, 2}, Data: []float32{1, 2, 3, 4}}, {Name: "b", Shape: []int{1}, Data: []float32{5}}}, map[string]string{"x": "y"}))
	f.Add(raw(`{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}`, make([]byte, 4)))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		file, err := Decode(data)
		if err != nil {
			if !errors.Is(err, ErrFormat) {
				t.Fatalf("error %v is not ErrFormat", err)
			}
			return
		}
		// An accepted file re-encodes to tensors that decode identically.
		again, err := Decode(encode(t, file.Tensors, file.Metadata))
		if err != nil {
			t.Fatalf("re-encoded file rejected: %v", err)
		}
		if len(again.Tensors) != len(file.Tensors) {
			t.Fatalf("re-encoded %d tensors, got back %d", len(file.Tensors), len(again.Tensors))
		}
	})
}

func TestLoadModelRejectsBadWeights(t *testing.T) {
	m := testModel(t)
	dir := t.TempDir()
	if err := SaveModel(dir, m); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, WeightsFile)
	good, _ := os.ReadFile(path)
	os.WriteFile(path, good[:len(good)-4], 0o644)
	if _, err := LoadModel(dir); !errors.Is(err, ErrFormat) {
		t.Errorf("LoadModel of a truncated file: %v, want ErrFormat", err)
	}
	other := testModel(t)
	other.Config.Hidden = 8
	small, _ := llama.New(other.Config, 1)
	os.WriteFile(path, encode(t, ModelTensors(small), nil), 0o644)
	if _, err := LoadModel(dir); !errors.Is(err, ErrFormat) || !strings.Contains(err.Error(), "shape") {
		t.Errorf("LoadModel of weights for another config: %v, want a shape error", err)
	}
	os.WriteFile(path, good, 0o644)
	if _, err := LoadModel(dir); err != nil {
		t.Errorf("LoadModel after restoring the file: %v", err)
	}
}

// FuzzLoadModelConfig feeds arbitrary config.json files beside a valid
// weights file: LoadModel must return an error or a model, never panic or
// allocate for sizes the weights file does not hold.
func FuzzLoadModelConfig(f *testing.F) {
	m := testModel(f)
	dir := f.TempDir()
	if err := SaveModel(dir, m); err != nil {
		f.Fatal(err)
	}
	good, _ := os.ReadFile(filepath.Join(dir, ConfigFile))
	f.Add(good)
	f.Add([]byte(`{"vocab_size":13,"dim":1048576,"n_layers":1,"n_heads":1,"n_kv_heads":1,"hidden_dim":16,"max_seq_len":1048576,"rope":true,"rope_theta":1,"norm_eps":1e-5}`))
	f.Add([]byte(`{"vocab_size":-1}`))
	f.Fuzz(func(t *testing.T, cfg []byte) {
		d := t.TempDir()
		weights, _ := os.ReadFile(filepath.Join(dir, WeightsFile))
		os.WriteFile(filepath.Join(d, WeightsFile), weights, 0o644)
		os.WriteFile(filepath.Join(d, ConfigFile), cfg, 0o644)
		if got, err := LoadModel(d); err == nil && !slices.Equal(got.Params, m.Params) {
			t.Fatal("a config other than the saved one loaded different weights")
		}
	})
}
