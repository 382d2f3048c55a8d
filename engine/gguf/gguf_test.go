package gguf

import (
	"bytes"
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"text/template"

	parser "github.com/gpustack/gguf-parser-go"

	"github.com/synthloop/synthloop/engine/checkpoint"
	"github.com/synthloop/synthloop/engine/llama"
	"github.com/synthloop/synthloop/engine/tokenizer"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

var corpus = []string{
	"the quick brown fox jumps over the lazy dog",
	"the lazy dog sleeps; the quick fox runs!",
	"hello world, hello there, hello again...",
	"one two three 1 2 3 and the end",
}

func bpeTok(t *testing.T) *tokenizer.BPE {
	t.Helper()
	tok, err := tokenizer.TrainBPE(corpus, 256+len(tokenizer.DefaultSpecials)+40, tokenizer.DefaultSpecials)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func charTok(t *testing.T) *tokenizer.Char {
	t.Helper()
	tok, err := tokenizer.NewChar("ab é€\n", tokenizer.DefaultSpecials)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func config(vocab int, tied bool) llama.Config {
	return llama.Config{Vocab: vocab, Dim: 16, Layers: 2, Heads: 4, KVHeads: 2, Hidden: 24, MaxSeq: 32,
		RoPE: true, RopeTheta: 10000, NormEps: 1e-5, TiedEmbeddings: tied}
}

func newModel(t *testing.T, cfg llama.Config) *llama.Model {
	t.Helper()
	m, err := llama.New(cfg, 7)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// saveDir writes m and tok as a model directory named name.
func saveDir(t *testing.T, name string, m *llama.Model, tok tokenizer.Tokenizer) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), name)
	if err := checkpoint.SaveModel(dir, m); err != nil {
		t.Fatal(err)
	}
	if err := checkpoint.SaveTokenizer(dir, tok); err != nil {
		t.Fatal(err)
	}
	return dir
}

// wantTensors lists the llama.cpp tensors of cfg with their GGUF dims.
func wantTensors(cfg llama.Config) []tensorInfo {
	d, f, v, kv := uint64(cfg.Dim), uint64(cfg.Hidden), uint64(cfg.Vocab), uint64(cfg.KVHeads*cfg.HeadDim())
	ts := []tensorInfo{{name: "token_embd.weight", dims: []uint64{d, v}}}
	for l := range cfg.Layers {
		p := fmt.Sprintf("blk.%d.", l)
		ts = append(ts,
			tensorInfo{name: p + "attn_norm.weight", dims: []uint64{d}},
			tensorInfo{name: p + "attn_q.weight", dims: []uint64{d, d}},
			tensorInfo{name: p + "attn_k.weight", dims: []uint64{d, kv}},
			tensorInfo{name: p + "attn_v.weight", dims: []uint64{d, kv}},
			tensorInfo{name: p + "attn_output.weight", dims: []uint64{d, d}},
			tensorInfo{name: p + "ffn_norm.weight", dims: []uint64{d}},
			tensorInfo{name: p + "ffn_gate.weight", dims: []uint64{d, f}},
			tensorInfo{name: p + "ffn_down.weight", dims: []uint64{f, d}},
			tensorInfo{name: p + "ffn_up.weight", dims: []uint64{d, f}},
		)
	}
	ts = append(ts, tensorInfo{name: "output_norm.weight", dims: []uint64{d}})
	if !cfg.TiedEmbeddings {
		ts = append(ts, tensorInfo{name: "output.weight", dims: []uint64{d, v}})
	}
	// Offsets follow from the sizes: each tensor padded to 32 bytes.
	off := uint64(0)
	for i := range ts {
		ts[i].off = off
		n := uint64(4)
		for _, x := range ts[i].dims {
			n *= x
		}
		off += (n + 31) / 32 * 32
	}
	return ts
}

// ourWeights returns, in GGUF order, the model's own view of each tensor.
func ourWeights(m *llama.Model) [][]float32 {
	var out [][]float32
	for _, s := range m.Specs {
		out = append(out, m.Params[s.Offset:s.Offset+s.Size()])
	}
	return out
}

// TestParserReadsExport checks an exported file with gguf-parser-go, a GGUF
// reader that shares no code with ours.
func TestParserReadsExport(t *testing.T) {
	for _, tc := range []struct {
		name string
		tok  tokenizer.Tokenizer
		tied bool
	}{
		{"bpe-untied", bpeTok(t), false},
		{"char-tied", charTok(t), true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := config(tc.tok.VocabSize(), tc.tied)
			m := newModel(t, cfg)
			dir := saveDir(t, "tiny-"+tc.name, m, tc.tok)
			out := filepath.Join(t.TempDir(), "model.gguf")
			if err := Export(dir, out); err != nil {
				t.Fatal(err)
			}
			if fi, err := os.Stat(out); err != nil {
				t.Fatal(err)
			} else if fi.Mode().Perm() != 0o644 {
				t.Errorf("exported file has mode %v, want 0644", fi.Mode().Perm())
			}
			gf, err := parser.ParseGGUFFile(out)
			if err != nil {
				t.Fatal(err)
			}
			want, err := Metadata(cfg, tc.tok, "tiny-"+tc.name)
			if err != nil {
				t.Fatal(err)
			}
			h := gf.Header
			if h.Magic != parser.GGUFMagicGGUFLe || h.Version != parser.GGUFVersionV3 {
				t.Errorf("magic, version = %v, %v, want GGUF v3", h.Magic, h.Version)
			}
			if h.MetadataKVCount != uint64(len(want)) || len(h.MetadataKV) != len(want) {
				t.Fatalf("metadata count = %d (%d read), want %d", h.MetadataKVCount, len(h.MetadataKV), len(want))
			}
			for i, w := range want {
				got := h.MetadataKV[i]
				if got.Key != w.Key {
					t.Errorf("key %d = %s, want %s", i, got.Key, w.Key)
					continue
				}
				if v := parserValue(t, got); !sameValue(v, w.Value) {
					t.Errorf("%s = %#v, want %#v", w.Key, v, w.Value)
				}
			}

			a := gf.Architecture()
			if a.Architecture != "llama" || a.EmbeddingLength != uint64(cfg.Dim) || a.BlockCount != uint64(cfg.Layers) ||
				a.AttentionHeadCount != uint64(cfg.Heads) || a.AttentionHeadCountKV != uint64(cfg.KVHeads) ||
				a.MaximumContextLength != uint64(cfg.MaxSeq) || a.RoPEDimensionCount != uint64(cfg.HeadDim()) ||
				a.VocabularyLength != uint64(cfg.Vocab) {
				t.Errorf("architecture = %+v, does not match %+v", a, cfg)
			}
			tk := gf.Tokenizer()
			bos, _ := tc.tok.SpecialID(tokenizer.BOS)
			eos, _ := tc.tok.SpecialID(tokenizer.EOS)
			end, _ := tc.tok.SpecialID(tokenizer.End)
			pad, _ := tc.tok.SpecialID(tokenizer.PAD)
			if tk.Model != "gpt2" || tk.TokensLength != uint64(cfg.Vocab) || tk.BOSTokenID != int64(bos) ||
				tk.EOSTokenID != int64(eos) || tk.EOTTokenID != int64(end) || tk.PaddingTokenID != int64(pad) {
				t.Errorf("tokenizer = %+v", tk)
			}

			// gguf-parser-go's llama.cpp memory estimate walks the whole
			// architecture and tokenizer; it must accept the file.
			if e := gf.EstimateLLaMACppRun(); e.Architecture != "llama" {
				t.Errorf("llama.cpp run estimate is for %q, want llama", e.Architecture)
			}
			wt := wantTensors(cfg)
			if h.TensorCount != uint64(len(wt)) || len(gf.TensorInfos) != len(wt) {
				t.Fatalf("tensor count = %d, want %d", h.TensorCount, len(wt))
			}
			if gf.TensorDataStartOffset%Alignment != 0 {
				t.Errorf("tensor data starts at %d, not a multiple of %d", gf.TensorDataStartOffset, Alignment)
			}
			file, err := os.ReadFile(out)
			if err != nil {
				t.Fatal(err)
			}
			if int64(gf.Size) != int64(len(file)) {
				t.Errorf("parser size %d, file %d bytes", gf.Size, len(file))
			}
			weights := ourWeights(m)
			for i, w := range wt {
				ti := gf.TensorInfos[i]
				if ti.Name != w.name || !reflect.DeepEqual(ti.Dimensions, w.dims) || ti.Type != parser.GGMLTypeF32 || ti.Offset != w.off {
					t.Errorf("tensor %d = %s %v %v @%d, want %s %v F32 @%d", i, ti.Name, ti.Dimensions, ti.Type, ti.Offset, w.name, w.dims, w.off)
					continue
				}
				at := uint64(gf.TensorDataStartOffset) + ti.Offset
				for j, x := range weights[i] {
					got := math.Float32frombits(binary.LittleEndian.Uint32(file[at+4*uint64(j):]))
					if got != x {
						t.Fatalf("%s[%d] = %g in the file, model has %g", ti.Name, j, got, x)
					}
				}
			}
			if last := wt[len(wt)-1]; uint64(gf.TensorDataStartOffset)+last.off+(4*elems(last.dims)+31)/32*32 != uint64(len(file)) {
				t.Errorf("file is %d bytes; the last tensor, padded, should end it", len(file))
			}
		})
	}
}

func elems(dims []uint64) uint64 {
	n := uint64(1)
	for _, d := range dims {
		n *= d
	}
	return n
}

// parserValue converts a gguf-parser-go value to the Go type our KV uses,
// failing on any GGUF type other than the one llama.cpp reads for our keys.
func parserValue(t *testing.T, kv parser.GGUFMetadataKV) any {
	t.Helper()
	switch kv.ValueType {
	case parser.GGUFMetadataValueTypeUint32:
		return kv.ValueUint32()
	case parser.GGUFMetadataValueTypeInt32:
		return kv.ValueInt32()
	case parser.GGUFMetadataValueTypeUint64:
		return kv.ValueUint64()
	case parser.GGUFMetadataValueTypeFloat32:
		return kv.ValueFloat32()
	case parser.GGUFMetadataValueTypeBool:
		return kv.ValueBool()
	case parser.GGUFMetadataValueTypeString:
		return kv.ValueString()
	case parser.GGUFMetadataValueTypeArray:
		av := kv.ValueArray()
		switch av.Type {
		case parser.GGUFMetadataValueTypeString:
			return av.ValuesString()
		case parser.GGUFMetadataValueTypeInt32:
			return av.ValuesInt32()
		case parser.GGUFMetadataValueTypeUint32:
			return av.ValuesUint32()
		}
	}
	t.Errorf("%s: unexpected GGUF type %v", kv.Key, kv.ValueType)
	return nil
}

// TestOwnReader decodes WriteModel's bytes with the reader in reader_test.go
// and compares every KV, tensor info and weight.
func TestOwnReader(t *testing.T) {
	for _, tc := range []struct {
		name string
		tok  tokenizer.Tokenizer
		tied bool
	}{
		{"bpe-tied", bpeTok(t), true},
		{"char-untied", charTok(t), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := config(tc.tok.VocabSize(), tc.tied)
			m := newModel(t, cfg)
			var buf bytes.Buffer
			if err := WriteModel(&buf, m, tc.tok, tc.name); err != nil {
				t.Fatal(err)
			}
			p, err := parse(buf.Bytes())
			if err != nil {
				t.Fatal(err)
			}
			want, _ := Metadata(cfg, tc.tok, tc.name)
			if p.version != 3 || len(p.kvs) != len(want) {
				t.Fatalf("version %d with %d KVs, want 3 with %d", p.version, len(p.kvs), len(want))
			}
			for i, w := range want {
				if p.kvs[i].Key != w.Key || !sameValue(p.kvs[i].Value, w.Value) {
					t.Errorf("KV %d = %s: %#v, want %s: %#v", i, p.kvs[i].Key, p.kvs[i].Value, w.Key, w.Value)
				}
			}
			wt := wantTensors(cfg)
			if len(p.tensors) != len(wt) {
				t.Fatalf("%d tensors, want %d", len(p.tensors), len(wt))
			}
			weights := ourWeights(m)
			for i, w := range wt {
				got := p.tensors[i]
				if got.name != w.name || !reflect.DeepEqual(got.dims, w.dims) || got.typ != 0 || got.off != w.off {
					t.Errorf("tensor %d = %+v, want %+v", i, got, w)
				}
				if !reflect.DeepEqual(p.tensorData(i), weights[i]) {
					t.Errorf("tensor %s: data differs from the model's weights", w.name)
				}
			}
			// A row of a [out, in] matrix is contiguous in the file, as ne[0]
			// = in says: row 1 of attn_k starts Dim floats in.
			spec, wk, _ := m.Tensor("layers.0.attention.wk.weight")
			k := slicesIndex(wt, "blk.0.attn_k.weight")
			if got := p.tensorData(k)[spec.Shape[1]]; got != wk[spec.Shape[1]] {
				t.Errorf("attn_k row 1 starts with %g, want %g", got, wk[spec.Shape[1]])
			}
		})
	}
}

func slicesIndex(ts []tensorInfo, name string) int {
	for i, t := range ts {
		if t.name == name {
			return i
		}
	}
	return -1
}

// TestGolden pins the whole header of a small export (every KV, in order,
// and every tensor info) to testdata/char_tied.golden. Run with -update to
// rewrite it after an intended change, and review the diff.
func TestGolden(t *testing.T) {
	tok := charTok(t)
	cfg := llama.Config{Vocab: tok.VocabSize(), Dim: 8, Layers: 1, Heads: 2, KVHeads: 1, Hidden: 12, MaxSeq: 16,
		RoPE: true, RopeTheta: 500000, NormEps: 1e-6, TiedEmbeddings: true}
	m := newModel(t, cfg)
	var buf bytes.Buffer
	if err := WriteModel(&buf, m, tok, "golden"); err != nil {
		t.Fatal(err)
	}
	p, err := parse(buf.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	var sb strings.Builder
	fmt.Fprintf(&sb, "version %d, data at %d, %d bytes\n", p.version, p.dataStart, len(p.file))
	for _, kv := range p.kvs {
		verb := "%v"
		switch kv.Value.(type) {
		case string, []string:
			verb = "%q"
		}
		fmt.Fprintf(&sb, "%s %T "+verb+"\n", kv.Key, kv.Value, kv.Value)
	}
	for _, ti := range p.tensors {
		fmt.Fprintf(&sb, "tensor %s %v type %d at %d\n", ti.name, ti.dims, ti.typ, ti.off)
	}
	golden := filepath.Join("testdata", "char_tied.golden")
	if *update {
		if err := os.WriteFile(golden, []byte(sb.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if sb.String() != string(want) {
		t.Errorf("header differs from %s (rerun with -update if intended):\ngot:\n%s\nwant:\n%s", golden, sb.String(), want)
	}
}

// TestMetadataValues is the table of the values llama.cpp reads, for a
// config where each one differs from the others.
func TestMetadataValues(t *testing.T) {
	tok := bpeTok(t)
	cfg := llama.Config{Vocab: tok.VocabSize(), Dim: 48, Layers: 3, Heads: 6, KVHeads: 2, Hidden: 100, MaxSeq: 77,
		RoPE: true, RopeTheta: 12345, NormEps: 1e-5}
	kvs, err := Metadata(cfg, tok, "meta")
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]any{}
	for _, kv := range kvs {
		got[kv.Key] = kv.Value
	}
	bos, _ := tok.SpecialID(tokenizer.BOS)
	eos, _ := tok.SpecialID(tokenizer.EOS)
	pad, _ := tok.SpecialID(tokenizer.PAD)
	end, _ := tok.SpecialID(tokenizer.End)
	for _, w := range []KV{
		{"general.architecture", "llama"},
		{"general.name", "meta"},
		{"general.file_type", uint32(0)},
		{"general.alignment", uint32(32)},
		{"llama.vocab_size", uint32(tok.VocabSize())},
		{"llama.context_length", uint32(77)},
		{"llama.embedding_length", uint32(48)},
		{"llama.block_count", uint32(3)},
		{"llama.feed_forward_length", uint32(100)},
		{"llama.attention.head_count", uint32(6)},
		{"llama.attention.head_count_kv", uint32(2)},
		{"llama.rope.dimension_count", uint32(8)},
		{"llama.rope.freq_base", float32(12345)},
		{"llama.attention.layer_norm_rms_epsilon", float32(1e-5)},
		{"tokenizer.ggml.model", "gpt2"},
		{"tokenizer.ggml.pre", "gpt-2"},
		{"tokenizer.ggml.bos_token_id", uint32(bos)},
		{"tokenizer.ggml.eos_token_id", uint32(eos)},
		{"tokenizer.ggml.padding_token_id", uint32(pad)},
		{"tokenizer.ggml.eot_token_id", uint32(end)},
		{"tokenizer.ggml.add_bos_token", true},
		{"tokenizer.ggml.add_eos_token", false},
		{"tokenizer.chat_template", ChatTemplate},
	} {
		if v, ok := got[w.Key]; !ok || !reflect.DeepEqual(v, w.Value) {
			t.Errorf("Metadata()[%s] = %#v, want %#v", w.Key, v, w.Value)
		}
	}
	toks := got["tokenizer.ggml.tokens"].([]string)
	types := got["tokenizer.ggml.token_type"].([]int32)
	merges := got["tokenizer.ggml.merges"].([]string)
	if len(toks) != tok.VocabSize() || len(types) != len(toks) {
		t.Fatalf("%d tokens, %d types, want %d", len(toks), len(types), tok.VocabSize())
	}
	if n := tok.VocabSize() - 256 - len(tokenizer.DefaultSpecials); len(merges) != n {
		t.Errorf("%d merges, want %d", len(merges), n)
	}
	for _, c := range []struct {
		id   int
		text string
		typ  int32
	}{
		{' ', "Ġ", tokenNormal},
		{'\n', "Ċ", tokenNormal},
		{'a', "a", tokenNormal},
		{0, "Ā", tokenNormal},
		{0xFF, "ÿ", tokenNormal},
		{bos, tokenizer.BOS, tokenControl},
		{end, tokenizer.End, tokenControl},
	} {
		if toks[c.id] != c.text || types[c.id] != c.typ {
			t.Errorf("token %d = %q type %d, want %q type %d", c.id, toks[c.id], types[c.id], c.text, c.typ)
		}
	}
	for i, m := range merges {
		l, r, ok := strings.Cut(m, " ")
		if !ok || strings.Contains(r, " ") || !containsToken(toks, l) || !containsToken(toks, r) || !containsToken(toks, l+r) {
			t.Errorf("merge %d %q is not two tokens forming a third", i, m)
		}
	}
}

func containsToken(toks []string, s string) bool {
	for _, t := range toks {
		if t == s {
			return true
		}
	}
	return false
}

func TestByteRunes(t *testing.T) {
	seen := map[rune]bool{}
	for b, r := range byteRunes {
		if seen[r] || r == ' ' {
			t.Errorf("byte %#x maps to %q, a repeat or a space", b, r)
		}
		seen[r] = true
	}
	// Spot checks against GPT-2's published table.
	for b, want := range map[byte]rune{' ': 'Ġ', '\n': 'Ċ', '\t': 'ĉ', '!': '!', '~': '~', 0x7F: 'ġ', 0xA0: 'ł', 0xAD: 'Ń', 0xE9: 'é'} {
		if got := byteRunes[b]; got != want {
			t.Errorf("byteRunes[%#x] = %q, want %q", b, got, want)
		}
	}
}

// llamaCppBPE tokenizes one pre-tokenized word as llama.cpp's BPE session
// does: spell its bytes with GPT-2's table, merge the lowest-rank adjacent
// pair (leftmost on ties) until none applies, look the pieces up, and fall
// back to single bytes, dropping those that are not tokens.
func llamaCppBPE(word string, toks, merges []string) []int {
	rank := map[string]int{}
	for i, m := range merges {
		rank[m] = i
	}
	id := map[string]int{}
	for i, t := range toks {
		id[t] = i
	}
	var syms []string
	for _, r := range byteString([]byte(word)) {
		syms = append(syms, string(r))
	}
	for {
		best, at := len(merges), -1
		for i := 0; i+1 < len(syms); i++ {
			if r, ok := rank[syms[i]+" "+syms[i+1]]; ok && r < best {
				best, at = r, i
			}
		}
		if at < 0 {
			break
		}
		syms = append(syms[:at], append([]string{syms[at] + syms[at+1]}, syms[at+2:]...)...)
	}
	var ids []int
	for _, s := range syms {
		if i, ok := id[s]; ok {
			ids = append(ids, i)
			continue
		}
		// llama.cpp falls back to the single bytes of the spelled piece,
		// not of the original text.
		for j := range len(s) {
			if i, ok := id[s[j:j+1]]; ok {
				ids = append(ids, i)
			}
		}
	}
	return ids
}

// TestBPEMatchesLlamaCpp checks that the exported vocabulary and merges,
// run through llama.cpp's algorithm, give our ids on words that both
// pre-tokenizers leave whole.
func TestBPEMatchesLlamaCpp(t *testing.T) {
	tok := bpeTok(t)
	v, err := buildVocab(tok)
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range []string{"the", " quick", " lazy", "hello", " world", "!", "...", ";", " fox", "jumps", "xyzzy", " théâtre", "7"} {
		want, err := tok.Encode(w)
		if err != nil {
			t.Fatal(err)
		}
		if got := llamaCppBPE(w, v.tokens, v.merges); !reflect.DeepEqual(got, want) {
			t.Errorf("llama.cpp BPE of %q = %v, ours %v", w, got, want)
		}
	}
}

// TestCharMatchesLlamaCpp checks the character vocabulary: the synthetic
// merges rebuild multi-byte characters, so llama.cpp gives our ids for any
// text inside the alphabet; a character outside it is dropped (ours errors),
// the documented limit.
func TestCharMatchesLlamaCpp(t *testing.T) {
	tok := charTok(t)
	v, err := buildVocab(tok)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"Ã ©", "â Ĥ", "âĤ ¬"}; !reflect.DeepEqual(v.merges, want) {
		t.Errorf("char merges = %q, want %q", v.merges, want)
	}
	text := "ab é€\nbé €€a"
	want, err := tok.Encode(text)
	if err != nil {
		t.Fatal(err)
	}
	if got := llamaCppBPE(text, v.tokens, v.merges); !reflect.DeepEqual(got, want) {
		t.Errorf("llama.cpp BPE of %q = %v, ours %v", text, got, want)
	}
	if _, err := tok.Encode("aèb"); err == nil {
		t.Fatal("our encoder accepted a character outside the alphabet")
	}
	a, _ := tok.Encode("a")
	b, _ := tok.Encode("b")
	if got, want := llamaCppBPE("aèb", v.tokens, v.merges), append(a, b...); !reflect.DeepEqual(got, want) {
		t.Errorf("llama.cpp BPE of %q = %v, want %v (è dropped)", "aèb", got, want)
	}
}

// TestOllamaTemplate renders the Modelfile template documented in
// docs/GGUF.md as Ollama does (Go text/template) and compares it with our
// chat encoding minus the <|bos|> that Ollama adds itself.
func TestOllamaTemplate(t *testing.T) {
	tok := bpeTok(t)
	tmpl := template.Must(template.New("ollama").Parse(OllamaTemplate))
	for _, msgs := range [][]tokenizer.Message{
		{{Role: "user", Content: "hi"}},
		{{Role: "system", Content: "be brief"}, {Role: "user", Content: "2+2?"}},
		{{Role: "user", Content: "a"}, {Role: "assistant", Content: "b"}, {Role: "user", Content: "c\nd"}},
		{{Role: "user", Content: "a"}, {Role: "assistant", Content: "b"}},
	} {
		generate := msgs[len(msgs)-1].Role != "assistant"
		ids, _, err := tokenizer.EncodeChat(tok, msgs, generate)
		if err != nil {
			t.Fatal(err)
		}
		want, _ := tok.Decode(ids[1:])
		var sb strings.Builder
		if err := tmpl.Execute(&sb, struct{ Messages []tokenizer.Message }{msgs}); err != nil {
			t.Fatal(err)
		}
		if sb.String() != want {
			t.Errorf("Ollama template renders\n%q\nour chat encoding is\n%q", sb.String(), want)
		}
	}
}

// TestChatTemplate pins the Jinja template to our chat format: the pieces
// it emits for a conversation are EncodeChat's, in order.
func TestChatTemplate(t *testing.T) {
	want := `{{ bos_token }}{% for message in messages %}{% if message['role'] not in ['system', 'user', 'assistant'] %}` +
		`{{ raise_exception('unknown role: ' + message['role']) }}{% endif %}` +
		`{{ '<|' + message['role'] + '|>' + message['content'] + '<|end|>' }}{% endfor %}` +
		`{% if add_generation_prompt %}{{ '<|assistant|>' }}{% endif %}`
	if ChatTemplate != want {
		t.Errorf("ChatTemplate = %s\nwant %s", ChatTemplate, want)
	}
	for _, role := range []string{"system", "user", "assistant"} {
		if _, ok := charTok(t).SpecialID("<|" + role + "|>"); !ok {
			t.Errorf("role %s is not spelled <|%s|> as the template assumes", role, role)
		}
	}
}

func TestRefusals(t *testing.T) {
	bpe := bpeTok(t)
	noSpecials, err := tokenizer.NewChar("abc", nil)
	if err != nil {
		t.Fatal(err)
	}
	// Merges 257 and 259 both spell "abc".
	dup, err := tokenizer.Load(strings.NewReader(`{"type":"bpe","specials":["<|bos|>","<|eos|>"],"merges":[[97,98],[256,99],[98,99],[97,258]]}`))
	if err != nil {
		t.Fatal(err)
	}
	nope := config(bpe.VocabSize(), false)
	nope.RoPE, nope.RopeTheta = false, 0
	for _, tc := range []struct {
		name        string
		cfg         llama.Config
		tok         tokenizer.Tokenizer
		unsupported bool
		msg         string
	}{
		{"nope", nope, bpe, true, "NoPE"},
		{"vocab mismatch", config(bpe.VocabSize()+1, false), bpe, false, "vocab_size"},
		{"no bos/eos", config(noSpecials.VocabSize(), false), noSpecials, true, "<|bos|>"},
		{"duplicate tokens", config(dup.VocabSize(), false), dup, true, "distinct"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := newModel(t, tc.cfg)
			dir := saveDir(t, "m", m, tc.tok)
			out := filepath.Join(t.TempDir(), "x.gguf")
			err := Export(dir, out)
			if err == nil || !strings.HasPrefix(err.Error(), "gguf:") || !strings.Contains(err.Error(), tc.msg) {
				t.Fatalf("Export = %v, want a gguf: error mentioning %q", err, tc.msg)
			}
			if errors.Is(err, ErrUnsupported) != tc.unsupported {
				t.Errorf("errors.Is(%v, ErrUnsupported) = %v, want %v", err, !tc.unsupported, tc.unsupported)
			}
			if entries, _ := os.ReadDir(filepath.Dir(out)); len(entries) != 0 {
				t.Errorf("refused export left files: %v", entries)
			}
		})
	}
}

func TestExportMissingDir(t *testing.T) {
	err := Export(filepath.Join(t.TempDir(), "nothing"), filepath.Join(t.TempDir(), "x.gguf"))
	if err == nil || !strings.HasPrefix(err.Error(), "gguf:") || !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("Export of a missing dir = %v, want a gguf: error wrapping ErrNotExist", err)
	}
}

func TestWriteRejects(t *testing.T) {
	for _, tc := range []struct {
		name    string
		kvs     []KV
		tensors []Tensor
	}{
		{"duplicate key", []KV{{"a", uint32(1)}, {"a", uint32(2)}}, nil},
		{"bad value type", []KV{{"a", 1.5}}, nil},
		{"dims vs data", nil, []Tensor{{Name: "t", Dims: []uint64{2, 2}, Data: make([]float32, 3)}}},
		{"five dims", nil, []Tensor{{Name: "t", Dims: []uint64{1, 1, 1, 1, 1}, Data: make([]float32, 1)}}},
		{"long name", nil, []Tensor{{Name: strings.Repeat("x", 64), Dims: []uint64{1}, Data: make([]float32, 1)}}},
		{"duplicate tensor", nil, []Tensor{{Name: "t", Dims: []uint64{1}, Data: []float32{1}}, {Name: "t", Dims: []uint64{1}, Data: []float32{1}}}},
	} {
		var buf bytes.Buffer
		if err := Write(&buf, tc.kvs, tc.tensors); err == nil || buf.Len() != 0 {
			t.Errorf("%s: Write = %v with %d bytes written, want an error and nothing written", tc.name, err, buf.Len())
		}
	}
}

func TestGGUFNames(t *testing.T) {
	for in, want := range map[string]string{
		"tok_embeddings.weight":           "token_embd.weight",
		"layers.0.attention_norm.weight":  "blk.0.attn_norm.weight",
		"layers.12.attention.wq.weight":   "blk.12.attn_q.weight",
		"layers.3.attention.wk.weight":    "blk.3.attn_k.weight",
		"layers.3.attention.wv.weight":    "blk.3.attn_v.weight",
		"layers.3.attention.wo.weight":    "blk.3.attn_output.weight",
		"layers.3.ffn_norm.weight":        "blk.3.ffn_norm.weight",
		"layers.3.feed_forward.w1.weight": "blk.3.ffn_gate.weight",
		"layers.3.feed_forward.w2.weight": "blk.3.ffn_down.weight",
		"layers.3.feed_forward.w3.weight": "blk.3.ffn_up.weight",
		"norm.weight":                     "output_norm.weight",
		"output.weight":                   "output.weight",
		"layers.x.ffn_norm.weight":        "",
		"layers.01.ffn_norm.weight":       "",
		"layers.1.unknown.weight":         "",
		"something.weight":                "",
	} {
		got, ok := ggufName(in)
		if got != want || ok != (want != "") {
			t.Errorf("ggufName(%q) = %q, %v, want %q", in, got, ok, want)
		}
	}
}

// TestDocsModelfile keeps the Modelfile in docs/GGUF.md the template tested
// above.
func TestDocsModelfile(t *testing.T) {
	doc, err := os.ReadFile(filepath.Join("..", "..", "docs", "GGUF.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"FROM ./model.gguf\nTEMPLATE \"\"\"" + OllamaTemplate + "\"\"\"\nPARAMETER stop \"<|end|>\"\n",
		"ollama create mymodel -f Modelfile",
		"llama-cli -m model.gguf",
		"synthloop export-gguf",
	} {
		if !strings.Contains(string(doc), want) {
			t.Errorf("docs/GGUF.md lacks %q", want)
		}
	}
}
