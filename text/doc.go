// Package text holds the language-aware text tools of synthloop: tokenizers that
// keep CJK text, word counts, ROUGE-L with rouge_score semantics, and a fast
// novelty index that makes the same decisions as the brute-force filter.
//
// # Tokenizers
//
// RougeTokenizer is rouge_score's default tokenizer without stemming, the one
// Self-Instruct uses; it deletes every non-ASCII character, so a Japanese
// instruction has no tokens and is never rejected as a duplicate.
// CJKTokenizer keeps every script (CJK one character per token) and equals
// RougeTokenizer on ASCII text; JapaneseTokenizer splits Japanese into kagome
// morphemes. TokenizerFor picks one per language: rouge for English, so that
// English runs reproduce the paper exactly, kagome for Japanese, CJKTokenizer
// for every other language. The kagome IPA dictionary is
// compiled into the binary and loaded on first use only (about a second and
// 28 MB live; measured on the development machine).
//
// WordCount is the length filter's word count: Python's len(s.split()) for
// English, as in the paper; morphemes for Japanese, so that "≤ 3 or > 150
// words" means roughly the same amount of text in both.
//
// # Novelty filter
//
// Self-Instruct rejects an instruction whose ROUGE-L F-measure against any
// seed or kept instruction is > 0.7, and records the 10 most similar
// instructions and the mean similarity. Index does this with the decisions,
// maxima and top-10 lists of BruteForce (every pair scored), bit for bit:
// scores are computed with rouge_score's floating-point operations in its
// order, and every pruning bound keeps a margin (eps) far above rounding
// error, so pruning never changes a result. Index explains how it prunes.
// Options.MaxOnReject lists only the closest instruction for a rejected one
// (Self-Instruct's code records nothing for it), which prunes harder;
// Options.StopOnReject lists the first one found above the threshold and
// stops there (its score, not necessarily the maximum, is Max).
//
// The mean similarity is the one figure pruning cannot give: it needs the
// score against every instruction. Options.Mean chooses what is recorded:
//   - MeanSampled (default): an estimate from a uniform sample of 100
//     instructions, seeded by the query and the index size so reruns agree,
//     reported with its standard error and sample size, and flagged
//     Exact=false. It is exact, and flagged so, while the index holds no more
//     than the sample. Use it for distributions and dashboards.
//   - MeanExact: the paper's figure, at the brute force's cost (every
//     instruction scored, with the bit-parallel LCS).
//   - MeanNone: no mean.
//
// Consumers must carry the Exact flag with the value: a record should say
// "mean_similarity_estimate" (with its standard error) or "mean_similarity",
// never present an estimate as the exact mean.
package text
