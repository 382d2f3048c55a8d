package tokenizer_test

import (
	"fmt"

	"github.com/synthloop/synthloop/engine/tokenizer"
)

func ExampleEncodeChat() {
	tok, _ := tokenizer.NewChar("0123456789+=", tokenizer.DefaultSpecials)
	ids, mask, _ := tokenizer.EncodeChat(tok, []tokenizer.Message{
		{Role: "user", Content: "2+2="},
		{Role: "assistant", Content: "4"},
	}, false)
	text, _ := tok.Decode(ids)
	fmt.Println(text)
	for i, m := range mask {
		if m {
			s, _ := tok.Decode(ids[i : i+1])
			fmt.Print(s, " ")
		}
	}
	fmt.Println()
	// Output:
	// <|bos|><|user|>2+2=<|end|><|assistant|>4<|end|>
	// 4 <|end|>
}

func ExampleTrainBPE() {
	bpe, _ := tokenizer.TrainBPE([]string{"low lower lowest", "slow slower slowest"}, 256+8+len(tokenizer.DefaultSpecials), tokenizer.DefaultSpecials)
	ids, _ := bpe.Encode("lowest slow")
	text, _ := bpe.Decode(ids)
	fmt.Println(len(ids) < len("lowest slow"), text)
	// Output: true lowest slow
}
