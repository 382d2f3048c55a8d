package dedup

import "github.com/synthloop/synthloop/pipeline"

func init() {
	pipeline.Register(pipeline.StageType{
		Name: "dedup",
		Doc: "Dedup and hygiene over the previous stage's kept records, in Seq order (the first occurrence wins): a PII " +
			"scrub or reject (emails, phone numbers, Luhn-valid card numbers), a length filter in characters, a language " +
			"filter (text.GuessLang), decontamination by 13-gram overlap with eval sets (JSONL or text lines, naming the eval " +
			"item hit), exact duplicates by normalised hash and near duplicates by MinHash-LSH (Jaccard similarity over word " +
			"3-grams, CJK by character), and optionally the Self-Instruct ROUGE-L novelty filter (rouge_l). Every record gets a decision per filter run, with the reason it was rejected. " +
			"It decides and commits in parts of chunk records, so a killed run resumes from the last part, with the decisions of an uninterrupted run.",
		Example: `- name: clean
  type: dedup
  with:
    # field: instruction+input   # or instruction, output, all
    # method: minhash            # or exact, off
    # threshold: 0.9             # near-duplicate Jaccard threshold
    decontaminate: [evals/mmlu.jsonl]   # ngram: 13, decontaminate_field: text
    min_chars: 10
    max_chars: 4000
    language: [en]
    pii: scrub                   # or reject, off
    # rouge_l: 0.7               # also reject ROUGE-L F > 0.7 against a kept record (0: off)
    # chunk: 20000               # records decided and committed together
    # spill_dir: /var/tmp        # where the MinHash signatures and IDs live (default: the temp dir)
`,
		Config: func() any { return DefaultConfig() },
		New:    pipeline.Typed("dedup", New),
	})
}
