// Package export writes a run's records in the formats trainers read: Alpaca, ShareGPT, OpenAI chat and DPO JSONL, reasoning SFT with think tags, RLVR prompts for verl, TRL and OpenRLHF, Parquet, and Hugging Face dataset folders.
package export

import (
	"context"
	"errors"
	"fmt"
	"io"
	"iter"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/synthloop/synthloop/record"
	"github.com/synthloop/synthloop/store"
)

// Source is where exported records come from. *store.Store implements it.
// Records must yield a stage's records in Seq order; the export streams them
// and never holds a whole stage in memory.
type Source interface {
	// Stages returns the run's stage names in pipeline order.
	Stages(ctx context.Context) ([]string, error)
	// Records yields the records of stage; status "" means any status.
	Records(ctx context.Context, stage string, status record.Status) iter.Seq2[*record.Record, error]
}

// RunInfo is optionally implemented by a Source (*store.Store does) to put
// the run's settings and per-stage counts on the Hugging Face dataset card.
type RunInfo interface {
	Meta(ctx context.Context) (store.Meta, error)
	Stats(ctx context.Context) ([]store.StageStats, error)
}

// Options select what to export and how.
type Options struct {
	Format string // a name from Formats
	Stage  string // "" means the run's last stage
	// IncludeRejected exports rejected and failed records too, with their
	// status, filter reasons and error, for audit. The default exports kept
	// records only, which is what a trainer should see.
	IncludeRejected bool
	// ThinkFormat writes a record's reasoning into its answers: none (or
	// ""; the stratos format defaults to stratos), think or stratos; or
	// field, beside them in each chat message. See ThinkNone.
	ThinkFormat string
	// VaryTemplates lays out each instruction record's instruction and input
	// in one of several prompt layouts, picked by a hash of the record's ID
	// (alpaca, sharegpt, openai and dpo only). TemplateLang picks the
	// layouts' language, en or ja; "" follows each record's text.
	VaryTemplates bool
	TemplateLang  string
}

// Counts says what an export wrote.
type Counts struct {
	Stage   string // the stage exported
	Written int    // records written
	// Kept, Rejected and Failed split Written by status.
	Kept, Rejected, Failed int
	// Skipped counts the stage's records left out: rejected and failed ones
	// unless IncludeRejected, and records the format cannot hold (Unfit).
	Skipped int
	// Unfit counts the records left out because a trainer could not use them:
	// for alpaca, sharegpt and openai, records without an answer (output or
	// assistant turn); for dpo, records without both chosen and rejected.
	// An IncludeRejected export writes them all, and parquet and hf keep
	// every record (a prompt-only dataset is legitimate there).
	Unfit int
	// NoAnswer counts written records with no answer (no output, assistant
	// turn or chosen answer): prompt-only rows of a parquet or hf export, or
	// records of an audit export.
	NoAnswer int
}

// ErrEmpty is returned (wrapped) when the selected records are none. No
// output is written then: an empty training file is more often a mistake
// (wrong stage, every record rejected) than a wish, and a run that produced
// nothing should say so rather than hand a trainer an empty file.
var ErrEmpty = errors.New("export: nothing to export")

// FormatInfo names a format and says in one line what it writes.
type FormatInfo struct {
	Name string
	Doc  string
}

type format struct {
	FormatInfo
	// write streams the selected records to outPath.
	write func(ctx context.Context, src Source, opts Options, stage, outPath string) (Counts, error)
	// encode streams them to w; nil for formats that are not one stream (hf).
	encode func(ctx context.Context, src Source, opts Options, stage string, w io.Writer) (Counts, error)
}

var formats = []format{
	jsonlFormat("alpaca", "JSONL of {instruction, input, output}; conversations add system and history (LLaMA-Factory style)", alpacaLine),
	jsonlFormat("sharegpt", "JSONL of {conversations: [{from: system|human|gpt, value}]}; tool-use records add function_call and observation turns and a tools string", shareGPTLine),
	jsonlFormat("openai", "JSONL of {messages: [{role, content}]} for OpenAI chat fine-tuning; tool-use records add tool_calls, tool turns and tools", openAILine),
	jsonlFormat("dpo", "JSONL of {prompt, chosen, rejected} preference pairs, from records that have chosen and rejected", dpoLine),
	{FormatInfo{"parquet", "one Parquet file: instruction, input, output, messages (list of {role, content}), chosen, rejected, id, stage and provenance columns"},
		writeParquetFile, func(ctx context.Context, src Source, opts Options, stage string, w io.Writer) (Counts, error) {
			return encodeParquet(ctx, src, opts, stage, w, nil)
		}},
	{FormatInfo{"hf", "a Hugging Face dataset folder: data/train-00000-of-00001.parquet and a README.md dataset card"}, writeHF, nil},
	stratosFormat(),
	verlFormat(),
	jsonlFormat("trl-grpo", "JSONL for TRL's GRPOTrainer: prompt (chat list), solution (the reference answer), pass_rate, verifier; from records with a reference answer", trlGRPOLine),
	jsonlFormat("openrlhf", "JSONL for OpenRLHF RL (--input_key input --label_key label): input, label, pass_rate, verifier; from records with a reference answer", openRLHFLine),
	jsonlFormat("trl", "JSONL of {messages, tools} as TRL's SFTTrainer and axolotl's chat_template read them: tool-call arguments as JSON objects, tool turns named", trlLine),
}

// Formats lists the export formats with one-line docs, for --help.
func Formats() []FormatInfo {
	out := make([]FormatInfo, len(formats))
	for i, f := range formats {
		out[i] = f.FormatInfo
	}
	return out
}

// CheckFormat reports whether name is an export format, so that a caller
// can refuse a bad one before opening anything.
func CheckFormat(name string) error {
	_, err := lookup(name)
	return err
}

// CheckOptions reports whether opts name a format and options it can honour,
// so that a caller can refuse them before opening anything.
func CheckOptions(opts Options) error {
	_, err := checked(opts)
	return err
}

// checked returns the format of opts once their options are checked.
func checked(opts Options) (*format, error) {
	f, err := lookup(opts.Format)
	if err != nil {
		return nil, err
	}
	if err := checkThink(opts.ThinkFormat); err != nil {
		return nil, err
	}
	if err := checkVary(opts); err != nil {
		return nil, err
	}
	return f, nil
}

func formatNames() string {
	var names []string
	for _, f := range formats {
		names = append(names, f.Name)
	}
	return strings.Join(names, ", ")
}

func lookup(name string) (*format, error) {
	for i := range formats {
		if formats[i].Name == name {
			return &formats[i], nil
		}
	}
	return nil, fmt.Errorf("export: %w %q; valid formats: %s", ErrUnknownFormat, name, formatNames())
}

// ErrUnknownFormat is returned (wrapped) for a format name export does not
// have; the CLI treats it as a usage error.
var ErrUnknownFormat = errors.New("unknown format")

// WriteTo streams the export to w instead of a file, for formats that are one
// stream (all but hf), e.g. to pipe JSONL into another tool. Unlike Write it
// cannot take back what it wrote when it fails halfway.
func WriteTo(ctx context.Context, src Source, opts Options, w io.Writer) (Counts, error) {
	f, err := checked(opts)
	if err != nil {
		return Counts{}, err
	}
	if f.encode == nil {
		return Counts{}, fmt.Errorf("export: the %s format writes a folder, not a stream", f.Name)
	}
	stage, err := resolveStage(ctx, src, opts.Stage)
	if err != nil {
		return Counts{}, err
	}
	return f.encode(ctx, src, opts, stage, w)
}

// Write exports the records of one stage of src to outPath in opts.Format and
// returns what it wrote. Output is atomic: it is written beside outPath and
// renamed into place, so a crash never leaves a half file; temporary files a
// killed export left beside outPath are removed first. For "hf", outPath is a
// directory (created if needed; our two files in it are replaced).
//
// A symlink is followed and its target replaced. "-" and /dev/stdout mean
// stdout; stdout, a FIFO and a character device (/dev/null) are written as a
// stream, without the atomicity. Block devices and sockets are refused.
func Write(ctx context.Context, src Source, opts Options, outPath string) (Counts, error) {
	f, err := checked(opts)
	if err != nil {
		return Counts{}, err
	}
	if outPath == "" {
		return Counts{}, fmt.Errorf("export: no output path")
	}
	stage, err := resolveStage(ctx, src, opts.Stage)
	if err != nil {
		return Counts{}, err
	}
	t, err := resolveOut(outPath)
	if err != nil {
		return Counts{}, err
	}
	if t.stream == nil && t.open == nil {
		if err := removeStale(t.path); err != nil {
			return Counts{}, err
		}
		return f.write(ctx, src, opts, stage, t.path)
	}
	if f.encode == nil {
		return Counts{}, fmt.Errorf("export: the %s format writes a folder, not a stream; %s is not a folder", f.Name, outPath)
	}
	if t.stream != nil {
		return f.encode(ctx, src, opts, stage, t.stream)
	}
	w, err := t.open()
	if err != nil {
		return Counts{}, err
	}
	c, err := f.encode(ctx, src, opts, stage, w)
	if cerr := w.Close(); cerr != nil && err == nil {
		err = fmt.Errorf("export: write %s: %w", outPath, cerr)
	}
	return c, err
}

func resolveStage(ctx context.Context, src Source, want string) (string, error) {
	stages, err := src.Stages(ctx)
	if err != nil {
		return "", fmt.Errorf("export: %w", err)
	}
	if len(stages) == 0 {
		return "", fmt.Errorf("export: the run has no committed stage yet: %w", ErrEmpty)
	}
	if want == "" {
		return stages[len(stages)-1], nil
	}
	if !slices.Contains(stages, want) {
		return "", fmt.Errorf("export: no stage %q in the run; stages: %s", want, strings.Join(stages, ", "))
	}
	return want, nil
}

// errUnfit, returned by an each callback, leaves the record out as one the
// format cannot hold.
var errUnfit = errors.New("export: record does not fit the format")

// each streams the stage's records, calling fn for those the options select,
// and counts everything. It reads every status even for a kept-only export so
// that an empty result can say what happened to the records.
func each(ctx context.Context, src Source, opts Options, stage string, fn func(*record.Record) error) (Counts, error) {
	c := Counts{Stage: stage}
	var seenKept, seenRejected, seenFailed int
	for r, err := range src.Records(ctx, stage, "") {
		if err != nil {
			return c, fmt.Errorf("export: %w", err)
		}
		switch r.Status {
		case record.Kept:
			seenKept++
		case record.Rejected:
			seenRejected++
		default:
			seenFailed++
		}
		if r.Status != record.Kept && !opts.IncludeRejected {
			c.Skipped++
			continue
		}
		if opts.VaryTemplates {
			r = vary(r, opts.TemplateLang)
		}
		if err := fn(withThinking(r, opts.ThinkFormat)); err == errUnfit {
			c.Skipped++
			c.Unfit++
			continue
		} else if err != nil {
			return c, err
		}
		c.Written++
		switch r.Status {
		case record.Kept:
			c.Kept++
		case record.Rejected:
			c.Rejected++
		default:
			c.Failed++
		}
		if !hasAnswer(r) {
			c.NoAnswer++
		}
	}
	if c.Written == 0 {
		if c.Unfit > 0 {
			return c, fmt.Errorf("export: none of the %d selected records of stage %q can train with the %s format "+
				"(alpaca, sharegpt, openai and stratos need an answer, dpo needs chosen and rejected, verl, trl-grpo and openrlhf a reference answer); "+
				"pick a later stage, or parquet or hf for a prompt-only dataset: %w",
				c.Unfit, stage, opts.Format, ErrEmpty)
		}
		if seenKept+seenRejected+seenFailed == 0 {
			return c, fmt.Errorf("export: stage %q has no records: %w", stage, ErrEmpty)
		}
		return c, fmt.Errorf("export: stage %q has no kept records (%d rejected, %d failed); --include-rejected exports them for audit: %w",
			stage, seenRejected, seenFailed, ErrEmpty)
	}
	return c, nil
}

// atomicFile writes a file through fn into a temporary file in the same
// directory, syncs it and renames it over path, so readers see the old file
// or the whole new one. On any error the temporary file is removed.
func atomicFile(path string, fn func(w io.Writer) error) (err error) {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("export: %w", err)
	}
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("export: %w", err)
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(f.Name())
		}
	}()
	if err = fn(f); err != nil {
		return err
	}
	// Sync before rename: otherwise a power cut can leave the new name on an empty file.
	if err = f.Sync(); err != nil {
		return fmt.Errorf("export: write %s: %w", path, err)
	}
	if err = f.Close(); err != nil {
		return fmt.Errorf("export: write %s: %w", path, err)
	}
	// CreateTemp makes the file 0600; an export is meant to be shared.
	if err = os.Chmod(f.Name(), 0o644); err != nil {
		return fmt.Errorf("export: write %s: %w", path, err)
	}
	if err = os.Rename(f.Name(), path); err != nil {
		return fmt.Errorf("export: write %s: %w", path, err)
	}
	return nil
}
