package text

import (
	"fmt"
	"sync"

	"github.com/ikawaha/kagome-dict/ipa"
	"github.com/ikawaha/kagome/v2/tokenizer"
)

// JapaneseTokenizer splits Japanese into morphemes with kagome and the IPA
// dictionary; text outside CJK runs is tokenized as by CJKTokenizer. Tokens
// are surface forms (書い, not 書く), because ROUGE-L compares what was
// written. It is safe for concurrent use.
type JapaneseTokenizer struct {
	t *tokenizer.Tokenizer
}

// kagomeOnce loads the dictionary once per process, and only when Japanese
// is asked for: the IPA dictionary takes about a second to load and keeps
// about 28 MB live (the shrunk variant without feature strings, which
// surface forms do not need; the full one keeps 88 MB).
var kagomeOnce = sync.OnceValues(func() (jt *JapaneseTokenizer, err error) {
	defer func() {
		// ipa panics when its embedded dictionary is unreadable; that is a
		// broken build, but callers get an error rather than a crash.
		if r := recover(); r != nil {
			err = fmt.Errorf("text: load kagome IPA dictionary: %v", r)
		}
	}()
	t, err := tokenizer.New(ipa.DictShrink(), tokenizer.OmitBosEos())
	if err != nil {
		return nil, fmt.Errorf("text: kagome tokenizer: %w", err)
	}
	return &JapaneseTokenizer{t: t}, nil
})

// NewJapaneseTokenizer returns the shared Japanese tokenizer, loading the
// dictionary on the first call.
func NewJapaneseTokenizer() (*JapaneseTokenizer, error) {
	return kagomeOnce()
}

// mustJapanese is for WordCount, whose signature has no error: the
// dictionary is compiled into the binary, so failing to load it means the
// binary itself is broken.
func mustJapanese() *JapaneseTokenizer {
	jt, err := kagomeOnce()
	if err != nil {
		panic(err)
	}
	return jt
}

// Tokens implements Tokenizer.
func (jt *JapaneseTokenizer) Tokens(s string) []string {
	var out []string
	forEachSegment(s, func(seg string, cjk bool) {
		if !cjk {
			out = append(out, seg)
			return
		}
		// Segments hold only CJK letters, so every morpheme is a word; the
		// check guards against the analyser ever returning an empty one.
		for _, m := range jt.t.Wakati(seg) {
			if m != "" {
				out = append(out, m)
			}
		}
	})
	return out
}
