// Package text holds the language-aware text tools of synthloop: tokenizers that
// keep CJK text, word counts, ROUGE-L with rouge_score semantics, and a fast
// novelty index that makes the same decisions as the brute-force filter.
package text
