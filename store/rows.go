package store

import (
	"context"
	"database/sql"
	"fmt"
	"math/bits"
	"strings"
)

// Multi-row inserts. CommitUnits writes a group of units (often 20 or
// more) in one transaction; one INSERT per record and one per done-mark
// made database/sql's and the driver's per-statement work (argument
// conversion, binding, a result, the VDBE's start and reset) a third of
// the writer's CPU at thousands of units a second. A statement of 2^k rows
// does the same inserts, row after row in the order given, for one such
// overhead. Statements are prepared at open for 1, 2, 4, ... maxRows rows,
// and n rows go as the binary digits of n (20 = 16 + 4), so a group needs
// at most log2(maxRows)+1 statements per table and no statement is
// prepared inside a transaction.

// maxRowsLog2 bounds a statement at 2^5 = 32 rows: 352 parameters for the
// units table, well under SQLite's limit of 32,766.
const maxRowsLog2 = 5

// rowsInsert is one INSERT of a table in every power-of-two row count.
type rowsInsert struct {
	cols  int
	stmts [maxRowsLog2 + 1]*sql.Stmt // stmts[k] inserts 2^k rows
}

// prepare prepares head + n rows of cols placeholders + tail for each n.
func (ri *rowsInsert) prepare(ctx context.Context, db *sql.DB, head string, cols int, tail string) error {
	ri.cols = cols
	row := "(" + strings.TrimSuffix(strings.Repeat("?, ", cols), ", ") + ")"
	for k := range ri.stmts {
		n := 1 << k
		q := head + " VALUES " + strings.TrimSuffix(strings.Repeat(row+", ", n), ", ") + " " + tail
		st, err := db.PrepareContext(ctx, q)
		if err != nil {
			return fmt.Errorf("prepare %d rows: %w", n, err)
		}
		ri.stmts[k] = st
	}
	return nil
}

// close closes the prepared statements.
func (ri *rowsInsert) close() []error {
	var errs []error
	for _, st := range ri.stmts {
		if st != nil {
			errs = append(errs, st.Close())
		}
	}
	return errs
}

// exec inserts the rows args holds, ri.cols values a row, in their order.
// On an error it returns the index of the first row of the failed
// statement, so the caller can name what it was writing.
func (ri *rowsInsert) exec(ctx context.Context, tx *sql.Tx, args []any) (int, error) {
	rows := len(args) / ri.cols
	done := 0
	for done < rows {
		// The largest power of two that fits: 20 rows go as 16, then 4.
		k := min(bits.Len(uint(rows-done))-1, maxRowsLog2)
		n := 1 << k
		if _, err := tx.StmtContext(ctx, ri.stmts[k]).ExecContext(ctx, args[done*ri.cols:(done+n)*ri.cols]...); err != nil {
			return done, err
		}
		done += n
	}
	return 0, nil
}
