package export

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/parquet-go/parquet-go"

	"github.com/synthloop/synthloop/record"
)

// Turn is one message in the messages column: a list of structs, which
// pyarrow and Hugging Face datasets read as list<struct<role, content>>, the
// shape chat templates take directly.
type Turn struct {
	Role    string `parquet:"role"`
	Content string `parquet:"content"`
}

// Row is one record in a Parquet export. Messages is the record's
// conversation (derived from instruction, input and output when the record
// has no messages), so one column serves chat trainers and the three text
// columns serve instruction trainers; chosen and rejected hold a preference
// pair (messages is then its prompt).
type Row struct {
	ID           string    `parquet:"id"`
	Stage        string    `parquet:"stage"`
	Instruction  string    `parquet:"instruction"`
	Input        string    `parquet:"input"`
	Output       string    `parquet:"output"`
	Messages     []Turn    `parquet:"messages,list"`
	Chosen       string    `parquet:"chosen"`   // preference pairs; empty otherwise
	Rejected     string    `parquet:"rejected"` // so a pair is never lost to a parquet export
	Generator    string    `parquet:"generator"`
	Backend      string    `parquet:"backend"`
	Model        string    `parquet:"model"`
	TemplateHash string    `parquet:"template_hash"`
	Round        int64     `parquet:"round"`
	CreatedAt    time.Time `parquet:"created_at,timestamp(microsecond)"` // microseconds: what pandas and datasets handle everywhere
}

// AuditRow is a Row with the columns --include-rejected adds.
type AuditRow struct {
	Row
	Status  string   `parquet:"status"`
	Reasons []string `parquet:"reasons,list"`
	Error   string   `parquet:"error"`
}

func rowOf(r *record.Record) Row {
	row := Row{
		ID: r.ID, Stage: r.Stage, Instruction: r.Instruction, Input: r.Input, Output: r.Output,
		Chosen: r.Chosen, Rejected: r.Rejected,
		Generator: r.Prov.Generator, Backend: r.Prov.Backend, Model: r.Prov.Model,
		TemplateHash: r.Prov.TemplateHash, Round: int64(r.Prov.Round), CreatedAt: r.Prov.CreatedAt.UTC(),
	}
	for _, t := range turns(r) {
		row.Messages = append(row.Messages, Turn{Role: t.Role, Content: t.Content})
	}
	return row
}

func auditRowOf(r *record.Record) AuditRow {
	return AuditRow{Row: rowOf(r), Status: string(r.Status), Reasons: r.Reasons(), Error: r.Error}
}

// rowGroupRows bounds a row group so memory stays flat on big exports; about
// the size the Hugging Face viewer pages through comfortably.
const rowGroupRows = 10_000

func writerOptions() []parquet.WriterOption {
	return []parquet.WriterOption{
		// Snappy: read by every Parquet reader, including old ones.
		parquet.Compression(&parquet.Snappy),
	}
}

// encodeParquet writes the selected records of stage to w as one Parquet file.
// The hook, when set, sees every written record (the dataset card's summary).
func encodeParquet(ctx context.Context, src Source, opts Options, stage string, w io.Writer, hook func(*record.Record)) (Counts, error) {
	if opts.IncludeRejected {
		return encodeRows(ctx, src, opts, stage, w, hook, fits(auditRowOf))
	}
	return encodeRows(ctx, src, opts, stage, w, hook, fits(rowOf))
}

// fits adapts a conversion that takes every record to encodeRows.
func fits[T any](conv func(*record.Record) T) func(*record.Record) (T, error) {
	return func(r *record.Record) (T, error) { return conv(r), nil }
}

func encodeRows[T any](ctx context.Context, src Source, opts Options, stage string, w io.Writer, hook func(*record.Record), conv func(*record.Record) (T, error)) (Counts, error) {
	pw := parquet.NewGenericWriter[T](w, writerOptions()...)
	buf := make([]T, 0, 256)
	inGroup := 0
	flush := func() error {
		if _, err := pw.Write(buf); err != nil {
			return fmt.Errorf("export: parquet: %w", err)
		}
		inGroup += len(buf)
		buf = buf[:0]
		if inGroup >= rowGroupRows {
			inGroup = 0
			if err := pw.Flush(); err != nil {
				return fmt.Errorf("export: parquet: %w", err)
			}
		}
		return nil
	}
	c, err := each(ctx, src, opts, stage, func(r *record.Record) error {
		row, err := conv(r) // errUnfit leaves the record out
		if err != nil {
			return err
		}
		if hook != nil {
			hook(r)
		}
		buf = append(buf, row)
		if len(buf) == cap(buf) {
			return flush()
		}
		return nil
	})
	if err != nil {
		return c, err
	}
	if err := flush(); err != nil {
		return c, err
	}
	if err := pw.Close(); err != nil {
		return c, fmt.Errorf("export: parquet: %w", err)
	}
	return c, nil
}

func writeParquetFile(ctx context.Context, src Source, opts Options, stage, outPath string) (Counts, error) {
	var c Counts
	err := atomicFile(outPath, func(w io.Writer) error {
		var err error
		c, err = encodeParquet(ctx, src, opts, stage, w, nil)
		return err
	})
	return c, err
}
