package grammar_test

import (
	"fmt"

	"github.com/synthloop/synthloop/engine/grammar"
)

func ExampleCompile() {
	g, err := grammar.Compile([]byte(`{"type":"object","properties":{"ok":{"type":"boolean"},"n":{"type":"integer","minimum":1}},"required":["ok"]}`))
	if err != nil {
		panic(err)
	}
	for _, text := range []string{`{"ok":true,"n":3}`, `{"ok":true}`, `{"n":3,"ok":true}`, `{"ok":true,"n":0}`, `{"ok":tr`} {
		fmt.Printf("%-18s accepts %v, live %v\n", text, g.Accepts([]byte(text)), g.Live([]byte(text)))
	}
	_, err = grammar.Compile([]byte(`{"type":"string","pattern":"^a"}`))
	fmt.Println(err)
	// Output:
	// {"ok":true,"n":3}  accepts true, live true
	// {"ok":true}        accepts true, live true
	// {"n":3,"ok":true}  accepts false, live false
	// {"ok":true,"n":0}  accepts false, live false
	// {"ok":tr           accepts false, live true
	// grammar: unsupported schema: keyword "pattern" is not supported (at #)
}
