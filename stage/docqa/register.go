package docqa

import "github.com/synthloop/synthloop/pipeline"

func init() {
	pipeline.Register(pipeline.StageType{
		Name: "docqa",
		Doc: "Document-grounded QA: reads .txt, .md, .html (visible text), .pdf, .docx, .pptx and .xlsx files or folders, splits them into " +
			"token chunks with overlap, and asks the model for question-and-answer pairs per chunk, each with its source file, " +
			"chunk id, an evidence span quoted from the chunk and, for PDF pages, slides and sheets, where the chunk and the quote lie. The document is delimited as data, never instructions. " +
			"A pair is kept only when its quote occurs in the chunk (whitespace and Unicode normalised) and a grounding judge " +
			"rates the answer as following from the quote; every rejection is recorded with its reason. Records: " +
			"instruction = question, output = answer (input = the chunk with with_context).",
		Example: `- name: qa
  type: docqa
  with:
    model: teacher
    paths: [docs/]            # files, folders (recursive) or globs: .txt .md .html .pdf .docx .pptx .xlsx
    # chunk_tokens: 400       # chunk_overlap: 50, tokenizer: cjk (or kagome for Japanese)
    # pairs: 3                # per chunk; temperature 0.7, max_tokens 1024
    # grounding_model: critic # judges the answers (default: model)
    # grounding_threshold: 4  # of 5; min_evidence_chars: 8
    # with_context: false     # put the chunk in the record's input
`,
		Config: func() any { return DefaultConfig() },
		New:    pipeline.Typed("docqa", func(c *Config) (*Stage, error) { return New(c) }),
	})
}
