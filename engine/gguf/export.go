package gguf

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/synthloop/synthloop/engine/checkpoint"
	"github.com/synthloop/synthloop/engine/llama"
	"github.com/synthloop/synthloop/engine/tokenizer"
)

// ChatTemplate is tokenizer.chat_template: tokenizer.EncodeChat's template
// in the Jinja dialect llama.cpp (and Hugging Face) render. Role markers and
// <|end|> are special tokens, which llama.cpp recognises in the rendered
// text. bos_token is there as in Hugging Face templates; llama.cpp strips it
// again when it adds BOS itself (tokenizer.ggml.add_bos_token).
const ChatTemplate = "{{ bos_token }}" +
	"{% for message in messages %}" +
	"{% if message['role'] not in ['system', 'user', 'assistant'] %}" +
	"{{ raise_exception('unknown role: ' + message['role']) }}" +
	"{% endif %}" +
	"{{ '<|' + message['role'] + '|>' + message['content'] + '" + tokenizer.End + "' }}" +
	"{% endfor %}" +
	"{% if add_generation_prompt %}{{ '" + tokenizer.Assistant + "' }}{% endif %}"

// OllamaTemplate is the same template as an Ollama Modelfile TEMPLATE (Go
// text/template). It leaves out <|bos|>, which Ollama adds on its own
// because of tokenizer.ggml.add_bos_token, and opens an assistant turn
// after the last message unless that message is the assistant's.
const OllamaTemplate = `{{- range $i, $m := .Messages }}<|{{ $m.Role }}|>{{ $m.Content }}<|end|>` +
	`{{ if and (eq (len (slice $.Messages $i)) 1) (ne $m.Role "assistant") }}<|assistant|>{{ end }}{{ end }}`

// Export converts modelDir, a directory written by checkpoint.SaveModel and
// checkpoint.SaveTokenizer, to a GGUF file at outPath whose general.name is
// modelDir's base name. The file is written under a temporary name and
// renamed, so outPath is either untouched or complete; a refused model
// (see Metadata) leaves nothing behind.
func Export(modelDir, outPath string) error {
	m, err := checkpoint.LoadModel(modelDir)
	if err != nil {
		return fmt.Errorf("gguf: %w", err)
	}
	tok, err := checkpoint.LoadTokenizer(modelDir)
	if err != nil {
		return fmt.Errorf("gguf: %w", err)
	}
	name := filepath.Base(filepath.Clean(modelDir))
	tmp, err := os.CreateTemp(filepath.Dir(outPath), ".tmp-"+filepath.Base(outPath))
	if err != nil {
		return fmt.Errorf("gguf: %w", err)
	}
	defer os.Remove(tmp.Name())
	// CreateTemp makes the file private, but a model file is no secret and
	// other users' tools (an Ollama service, say) may need to read it.
	if err := tmp.Chmod(0o644); err != nil {
		tmp.Close()
		return fmt.Errorf("gguf: %w", err)
	}
	if err := WriteModel(tmp, m, tok, name); err != nil { // Write buffers
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("gguf: write %s: %w", outPath, err)
	}
	if err := os.Rename(tmp.Name(), outPath); err != nil {
		return fmt.Errorf("gguf: %w", err)
	}
	return nil
}

// WriteModel writes m with tok as a GGUF file of the llama architecture,
// with F32 weights, under the model name name.
func WriteModel(w io.Writer, m *llama.Model, tok tokenizer.Tokenizer, name string) error {
	kvs, err := Metadata(m.Config, tok, name)
	if err != nil {
		return err
	}
	ts, err := Tensors(m)
	if err != nil {
		return err
	}
	return Write(w, kvs, ts)
}

// Metadata returns the GGUF metadata of a model of cfg with tok, in the
// order WriteModel writes it, or an error wrapping ErrUnsupported when
// llama.cpp could not run the model as we do.
func Metadata(cfg llama.Config, tok tokenizer.Tokenizer, name string) ([]KV, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("gguf: %w", err)
	}
	if !cfg.RoPE {
		// llama.cpp's llama architecture always rotates queries and keys:
		// it refuses a rope.dimension_count other than the head dimension
		// ("invalid n_rot"), so RoPE cannot be turned off, and a NoPE model
		// would compute different attention scores there.
		return nil, fmt.Errorf("%w: model has no positional encoding (NoPE); llama.cpp's llama architecture always applies RoPE", ErrUnsupported)
	}
	if tok.VocabSize() != cfg.Vocab {
		return nil, fmt.Errorf("gguf: tokenizer has %d tokens, model has vocab_size %d", tok.VocabSize(), cfg.Vocab)
	}
	v, err := buildVocab(tok)
	if err != nil {
		return nil, err
	}
	special := func(name string) (uint32, bool) {
		id, ok := tok.SpecialID(name)
		return uint32(id), ok
	}
	// For "gpt2" llama.cpp defaults BOS and EOS to id 11, so leaving them
	// out would make an ordinary token end generation.
	bos, okB := special(tokenizer.BOS)
	eos, okE := special(tokenizer.EOS)
	if !okB || !okE {
		return nil, fmt.Errorf("%w: tokenizer lacks %s or %s", ErrUnsupported, tokenizer.BOS, tokenizer.EOS)
	}
	kvs := []KV{
		{"general.architecture", "llama"},
		{"general.name", name},
		{"general.file_type", uint32(0)}, // LLAMA_FTYPE_ALL_F32
		{"general.alignment", uint32(Alignment)},
		{"llama.vocab_size", uint32(cfg.Vocab)},
		{"llama.context_length", uint32(cfg.MaxSeq)},
		{"llama.embedding_length", uint32(cfg.Dim)},
		{"llama.block_count", uint32(cfg.Layers)},
		{"llama.feed_forward_length", uint32(cfg.Hidden)},
		{"llama.attention.head_count", uint32(cfg.Heads)},
		{"llama.attention.head_count_kv", uint32(cfg.KVHeads)},
		{"llama.rope.dimension_count", uint32(cfg.HeadDim())},
		{"llama.rope.freq_base", float32(cfg.RopeTheta)},
		{"llama.attention.layer_norm_rms_epsilon", float32(cfg.NormEps)},
		{"tokenizer.ggml.model", "gpt2"},
		{"tokenizer.ggml.pre", preTokenizer},
		{"tokenizer.ggml.tokens", v.tokens},
		{"tokenizer.ggml.token_type", v.types},
		{"tokenizer.ggml.merges", v.merges},
		{"tokenizer.ggml.bos_token_id", bos},
		{"tokenizer.ggml.eos_token_id", eos},
	}
	if id, ok := special(tokenizer.PAD); ok {
		kvs = append(kvs, KV{"tokenizer.ggml.padding_token_id", id})
	}
	// <|end|> closes every turn, so it is what a chat reply stops on;
	// llama.cpp counts the EOT token as end of generation.
	end, okEnd := special(tokenizer.End)
	if okEnd {
		kvs = append(kvs, KV{"tokenizer.ggml.eot_token_id", end})
	}
	// Every sequence we train on starts with <|bos|> (EncodeChat puts it
	// there), so llama.cpp must add it; nothing ends with <|eos|>.
	kvs = append(kvs,
		KV{"tokenizer.ggml.add_bos_token", true},
		KV{"tokenizer.ggml.add_eos_token", false},
	)
	if hasChatSpecials(tok) {
		kvs = append(kvs, KV{"tokenizer.chat_template", ChatTemplate})
	}
	return kvs, nil
}

func hasChatSpecials(tok tokenizer.Tokenizer) bool {
	for _, s := range []string{tokenizer.System, tokenizer.User, tokenizer.Assistant, tokenizer.End} {
		if _, ok := tok.SpecialID(s); !ok {
			return false
		}
	}
	return true
}

// tensorNames maps our tensor names (Meta's) to llama.cpp's, with "%d" for
// the layer.
var tensorNames = map[string]string{
	"tok_embeddings.weight":            "token_embd.weight",
	"layers.%d.attention_norm.weight":  "blk.%d.attn_norm.weight",
	"layers.%d.attention.wq.weight":    "blk.%d.attn_q.weight",
	"layers.%d.attention.wk.weight":    "blk.%d.attn_k.weight",
	"layers.%d.attention.wv.weight":    "blk.%d.attn_v.weight",
	"layers.%d.attention.wo.weight":    "blk.%d.attn_output.weight",
	"layers.%d.ffn_norm.weight":        "blk.%d.ffn_norm.weight",
	"layers.%d.feed_forward.w1.weight": "blk.%d.ffn_gate.weight", // silu(w1·x) ⊙ w3·x
	"layers.%d.feed_forward.w2.weight": "blk.%d.ffn_down.weight",
	"layers.%d.feed_forward.w3.weight": "blk.%d.ffn_up.weight",
	"norm.weight":                      "output_norm.weight",
	"output.weight":                    "output.weight",
}

// ggufName returns llama.cpp's name for one of our tensors.
func ggufName(name string) (string, bool) {
	rest, ok := strings.CutPrefix(name, "layers.")
	if !ok {
		g, ok := tensorNames[name]
		return g, ok
	}
	num, tail, _ := strings.Cut(rest, ".")
	l, err := strconv.Atoi(num)
	g, ok := tensorNames["layers.%d."+tail]
	if err != nil || strconv.Itoa(l) != num || !ok {
		return "", false
	}
	return fmt.Sprintf(g, l), true
}

// Tensors returns m's weights under llama.cpp's names, as views into
// m.Params (no copy). With tied embeddings there is no output.weight, and
// llama.cpp then uses token_embd.weight for the output head, as we do.
//
// RoPE needs no permutation of attn_q and attn_k. Hugging Face checkpoints
// rotate the two halves of each head (rotate_half), so llama.cpp's
// converter permutes their Q/K rows into the interleaved-pairs order that
// llama.cpp's llama architecture (LLAMA_ROPE_TYPE_NORM) rotates: (x[2i],
// x[2i+1]) by pos·base^(-2i/d). Our engine already rotates exactly those
// adjacent pairs with that frequency (llama.rope), the layout of Meta's
// original checkpoints, so the rows go out in the order we trained them.
func Tensors(m *llama.Model) ([]Tensor, error) {
	ts := make([]Tensor, 0, len(m.Specs))
	for _, s := range m.Specs {
		name, ok := ggufName(s.Name)
		if !ok {
			return nil, fmt.Errorf("gguf: no llama.cpp name for tensor %q", s.Name)
		}
		// ggml's ne[0] is the fastest-varying dimension: our row-major
		// [out, in] goes out as [in, out], with the same bytes.
		dims := make([]uint64, len(s.Shape))
		for i, d := range s.Shape {
			dims[len(dims)-1-i] = uint64(d)
		}
		ts = append(ts, Tensor{Name: name, Dims: dims, Data: m.Params[s.Offset : s.Offset+s.Size()]})
	}
	return ts, nil
}
