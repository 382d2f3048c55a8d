// Package store is the durable run store: records, unit done-marks, usage, the response cache and run metadata in one SQLite file per run directory.
package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"iter"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	_ "modernc.org/sqlite" // pure-Go SQLite driver, registered as "sqlite"

	"github.com/synthloop/synthloop/model"
	"github.com/synthloop/synthloop/pipeline"
	"github.com/synthloop/synthloop/record"
)

// FileName is the database file inside a run directory.
const FileName = "run.db"

// LockName is the lock file that keeps a second writer off a run directory.
const LockName = "LOCK"

// SchemaVersion is the layout this build writes. A run directory with a higher
// version was written by a newer synthloop and is refused rather than misread;
// an older one is upgraded when opened for writing and read as it is
// otherwise. Version 2 added units.cached_prompt_tokens, version 3 the
// batches and batch_items tables of provider batches (batches.go), version 4
// the human review tables (review.go), version 5 one records index instead
// of two, version 6 a cache table without a key index (cache.go).
const SchemaVersion = 6

var (
	// ErrNotFound is returned (wrapped) for a missing record, metadata or run directory.
	ErrNotFound = errors.New("store: not found")
	// ErrNewerSchema is returned (wrapped) by Open for a run written by a newer synthloop.
	ErrNewerSchema = errors.New("store: run written by a newer synthloop")
	// ErrLocked is returned (wrapped) by Open while another Store (in this or
	// another process) has the run open for writing.
	ErrLocked = errors.New("store: run directory locked")
)

// Store is one run's durable state. All methods are safe for concurrent use.
// Writes are serialised through one writer goroutine and connection, which
// commits the writes that wait at the same moment in one transaction (group
// commit); each write call returns once its transaction is durable. Reads use
// a pool of their own and see committed data only, so a long Records
// iteration never blocks a Commit. Close waits for writes already handed over.
type Store struct {
	dir  string
	path string
	w    *sql.DB // exactly one connection: SQLite allows one writer anyway, and queueing here is cheaper than SQLITE_BUSY
	r    *sql.DB

	unlock func() error // releases the run directory lock; nil when read-only
	now    func() time.Time
	// version is the schema version of the file: SchemaVersion, or older
	// when opened read-only (then it is read as it is).
	version int

	// All writes go through one goroutine that commits the writes waiting
	// at the same moment in one transaction (see writer.go).
	mu         sync.RWMutex // guards closed against sends on reqs
	closed     bool
	reqs       chan writeReq
	writerDone chan struct{}
	txs        atomic.Int64 // write transactions, for tests and tuning
	writes     atomic.Int64 // writes they carried

	// Statements prepared once on the writer's connection: preparing them per
	// commit was a fifth of Commit's CPU.
	insStage, putCache, setCache *sql.Stmt
	insRecords, insUnits         rowsInsert // CommitUnits' rows (rows.go)
	stages                       sync.Map   // stage names known to be in the stages table
	// getCache is prepared once on the read pool (database/sql prepares it
	// on each reader connection as it is first used): parsing the query on
	// every model request was a third of Get's CPU. Nil on a read-only
	// store of a version before 6.
	getCache *sql.Stmt
	// The response cache's writes waiting for a transaction and its
	// in-memory key index (cache.go).
	cache cacheState

	closeOnce sync.Once
	closeErr  error
}

// Compile-time checks that Store is what the pipeline and the model layer expect.
var (
	_ pipeline.RunStore       = (*Store)(nil)
	_ pipeline.FailedReopener = (*Store)(nil)
	_ pipeline.UnitsCommitter = (*Store)(nil)
	_ model.Cache             = (*Store)(nil)
)

// Options tune OpenWith.
type Options struct {
	// Durable fsyncs every write transaction, so that commits survive a power
	// cut or an OS crash too, not only the death of the process (which the
	// default survives). It costs one fsync per transaction, about 4 ms on the
	// development machine's disk; group commit shares it among the writes
	// waiting at that moment.
	Durable bool
	// Now stamps commits (Stats' FirstCommit and LastCommit); nil means time.Now.
	Now func() time.Time
}

// Open opens the run in dir for writing, creating dir and dir/run.db when
// they do not exist. Only one Store at a time may have a run open for
// writing; a second Open fails with ErrLocked until the first is closed or its
// process dies. OpenReadOnly is not limited.
func Open(ctx context.Context, dir string) (*Store, error) {
	return OpenWith(ctx, dir, Options{})
}

// OpenWith is Open with options.
func OpenWith(ctx context.Context, dir string, opts Options) (*Store, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("store: create run directory: %w", err)
	}
	return open(ctx, dir, false, opts)
}

// OpenReadOnly opens an existing run for reading (status, export) without
// creating anything; it fails with ErrNotFound when dir holds no run. It may be
// used while another process is writing the same run.
func OpenReadOnly(ctx context.Context, dir string) (*Store, error) {
	if _, err := os.Stat(filepath.Join(dir, FileName)); err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("store: open %s: no run there: %w", dir, ErrNotFound)
		}
		return nil, fmt.Errorf("store: open %s: %w", dir, err)
	}
	return open(ctx, dir, true, Options{})
}

func dsn(path string, readOnly, durable bool) string {
	q := url.Values{}
	q.Set("_busy_timeout", "10000")
	// WAL: readers never block the writer and a commit is one append to the
	// log, which the OS holds as soon as write returns, so it survives kill -9
	// of the process. synchronous=NORMAL skips the fsync per commit: a power
	// cut may lose the last commits (and cached responses, which a resume
	// then pays for again); Options.Durable closes that gap with FULL.
	q.Set("_journal_mode", "WAL")
	if durable {
		q.Set("_synchronous", "FULL")
	} else {
		q.Set("_synchronous", "NORMAL")
	}
	if readOnly {
		q.Set("_query_only", "1")
	} else {
		// Take the write lock at BEGIN so a transaction never fails halfway on
		// lock upgrade when another process (a second run by mistake) writes too.
		q.Set("_txlock", "immediate")
		// The writer's page cache holds the index pages that keyed inserts
		// (records by id, responses by hash) land on at random: with the
		// default 2 MB, a run of a few thousand records read most of them
		// back from the file on every insert.
		q.Add("_pragma", "cache_size(-32768)")
	}
	// A file: URI, percent-encoded: SQLite decodes it, and a raw '?', '#' or
	// '%' in a run directory's name would otherwise cut or garble the path.
	return "file:" + (&url.URL{Path: path}).EscapedPath() + "?" + q.Encode()
}

func open(ctx context.Context, dir string, readOnly bool, opts Options) (*Store, error) {
	path := filepath.Join(dir, FileName)
	s := &Store{dir: dir, path: path, now: opts.Now, version: SchemaVersion}
	s.cache.init()
	if s.now == nil {
		s.now = time.Now
	}
	var err error
	if !readOnly {
		if s.unlock, err = lockDir(dir); err != nil {
			return nil, err
		}
		s.w, err = sql.Open("sqlite", dsn(path, false, opts.Durable))
		if err != nil {
			s.Close()
			return nil, fmt.Errorf("store: open %s: %w", path, err)
		}
		s.w.SetMaxOpenConns(1)
		s.w.SetMaxIdleConns(1)
		s.w.SetConnMaxLifetime(0)
		s.w.SetConnMaxIdleTime(0)
		if err := s.migrate(ctx); err != nil {
			s.Close()
			return nil, err
		}
		if err := s.prepare(ctx); err != nil {
			s.Close()
			return nil, err
		}
		if err := s.readIndex(ctx, s.w); err != nil {
			s.Close()
			return nil, err
		}
		s.startWriter()
	}
	s.r, err = sql.Open("sqlite", dsn(path, true, false))
	if err != nil {
		s.Close()
		return nil, fmt.Errorf("store: open %s: %w", path, err)
	}
	// No cap on readers: an iteration holds a connection until it ends, and
	// nested iterations must not wait on each other.
	s.r.SetMaxIdleConns(4)
	if readOnly {
		if err := s.checkVersion(ctx); err != nil {
			s.Close()
			return nil, err
		}
	}
	if s.version >= 6 {
		if s.getCache, err = s.r.PrepareContext(ctx, `SELECT key, value FROM cache WHERE id = ?`); err != nil {
			s.Close()
			return nil, fmt.Errorf("store: open %s: prepare: %w", path, err)
		}
	}
	return s, nil
}

const schema = `
CREATE TABLE meta (
	key   TEXT PRIMARY KEY,
	value TEXT NOT NULL
) WITHOUT ROWID;

-- Stages in the order of their first commit; the rowid is that order.
CREATE TABLE stages (
	ord  INTEGER PRIMARY KEY,
	name TEXT NOT NULL UNIQUE
);

-- One row per committed unit: its done-mark and what it cost. Replaying a unit
-- overwrites the row, so usage is never counted twice.
CREATE TABLE units (
	stage             TEXT NOT NULL,
	key               TEXT NOT NULL,
	records           INTEGER NOT NULL,
	requests          INTEGER NOT NULL,
	cached_requests   INTEGER NOT NULL,
	prompt_tokens     INTEGER NOT NULL,
	completion_tokens INTEGER NOT NULL,
	cached_prompt_tokens INTEGER NOT NULL DEFAULT 0, -- served by the provider's prompt cache (v2)
	cost_usd          REAL NOT NULL,
	errors            INTEGER NOT NULL,
	committed_at      INTEGER NOT NULL, -- unix nanoseconds
	PRIMARY KEY (stage, key)
) WITHOUT ROWID;

-- The record itself is the JSON blob; the other columns are copies kept for
-- indexing. A rowid table, not WITHOUT ROWID, because the blobs are large.
CREATE TABLE records (
	id     TEXT PRIMARY KEY,
	stage  TEXT NOT NULL,
	seq    INTEGER NOT NULL,
	status TEXT NOT NULL,
	unit   TEXT NOT NULL,
	data   TEXT NOT NULL -- JSON; TEXT, not BLOB, because json_each reads a BLOB as JSONB
);
-- One index, (stage, seq, status), serves Records in order, with a status or
-- without, Count and the status counts of Stats, from the index alone
-- (status is in it, so rows of other statuses are skipped without reading
-- the table). Until version 5 there were two, (stage, status, seq) and
-- (stage, seq): each index is one more B-tree insert per record and one
-- more page written per transaction, and at thousands of records a second
-- the store's writes were a fifth of the process's CPU.
CREATE INDEX IF NOT EXISTS records_stage_seq_status ON records (stage, seq, status);

-- The response cache: rows appended in id order, found through an index
-- in memory (cache.go); no index on key since version 6.
CREATE TABLE cache (
	id    INTEGER PRIMARY KEY,
	key   TEXT NOT NULL,
	value BLOB NOT NULL
);
`

// migrate creates the schema in a new database and refuses a newer one.
func (s *Store) migrate(ctx context.Context) error {
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("store: open %s: %w", s.path, err)
	}
	defer tx.Rollback()
	var v int
	if err := tx.QueryRowContext(ctx, "PRAGMA user_version").Scan(&v); err != nil {
		return fmt.Errorf("store: open %s: %w", s.path, err)
	}
	switch {
	case v == SchemaVersion:
		return nil
	case v > SchemaVersion:
		return fmt.Errorf("store: open %s: schema version %d, this build reads up to %d: %w", s.path, v, SchemaVersion, ErrNewerSchema)
	case v == 0:
		var n int
		if err := tx.QueryRowContext(ctx, "SELECT count(*) FROM sqlite_schema").Scan(&n); err != nil {
			return fmt.Errorf("store: open %s: %w", s.path, err)
		}
		if n != 0 {
			return fmt.Errorf("store: open %s: not a synthloop run database (it has tables but no schema version)", s.path)
		}
		if _, err := tx.ExecContext(ctx, schema+schemaBatches+reviewSchema); err != nil {
			return fmt.Errorf("store: create schema in %s: %w", s.path, err)
		}
	case v >= 1 && v < SchemaVersion:
		// Each step brings the file one version up, in one transaction with the others.
		for from := v; from < SchemaVersion; from++ {
			if _, err := tx.ExecContext(ctx, upgrades[from-1]); err != nil {
				return fmt.Errorf("store: upgrade %s to schema version %d: %w", s.path, from+1, err)
			}
		}
	default:
		return fmt.Errorf("store: open %s: unknown schema version %d", s.path, v)
	}
	if _, err := tx.ExecContext(ctx, fmt.Sprintf("PRAGMA user_version = %d", SchemaVersion)); err != nil {
		return fmt.Errorf("store: set schema version of %s: %w", s.path, err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("store: set schema version of %s: %w", s.path, err)
	}
	return nil
}

// upgrades[i] brings a file from schema version i+1 to i+2.
var upgrades = []string{
	`ALTER TABLE units ADD COLUMN cached_prompt_tokens INTEGER NOT NULL DEFAULT 0`,
	schemaBatches,
	reviewSchema,
	upgradeV5,
	upgradeV6,
}

// upgradeV5 brings a file to version 5: see the records index in schema.
// (A WITHOUT ROWID cache table, one B-tree instead of two, was measured
// too: 10% more CPU per commit, its large rows inserted at random keys
// split more pages than the rowid table's appends.)
const upgradeV5 = `
DROP INDEX IF EXISTS records_stage_status_seq;
DROP INDEX IF EXISTS records_stage_seq;
CREATE INDEX IF NOT EXISTS records_stage_seq_status ON records (stage, seq, status);
`

// upgradeV6 brings a file to version 6: the cache table without its key
// index (see cache.go). SQLite cannot drop the index of a primary key, so
// the table is copied.
const upgradeV6 = `
CREATE TABLE cache_v6 (
	id    INTEGER PRIMARY KEY,
	key   TEXT NOT NULL,
	value BLOB NOT NULL
);
INSERT INTO cache_v6(key, value) SELECT key, value FROM cache ORDER BY rowid;
DROP TABLE cache;
ALTER TABLE cache_v6 RENAME TO cache;
`

func (s *Store) checkVersion(ctx context.Context) error {
	var v int
	if err := s.r.QueryRowContext(ctx, "PRAGMA user_version").Scan(&v); err != nil {
		return fmt.Errorf("store: open %s: %w", s.path, err)
	}
	if v > SchemaVersion {
		return fmt.Errorf("store: open %s: schema version %d, this build reads up to %d: %w", s.path, v, SchemaVersion, ErrNewerSchema)
	}
	if v < 1 {
		return fmt.Errorf("store: open %s: not a synthloop run database (schema version %d)", s.path, v)
	}
	s.version = v
	return nil
}

func (s *Store) prepare(ctx context.Context) error {
	for _, p := range []struct {
		stmt **sql.Stmt
		q    string
	}{
		{&s.insStage, `INSERT INTO stages(name) VALUES (?) ON CONFLICT(name) DO NOTHING`},
		{&s.putCache, `INSERT INTO cache(key, value) VALUES (?, ?)`},
		{&s.setCache, `UPDATE cache SET value = ? WHERE id = ?`},
	} {
		st, err := s.w.PrepareContext(ctx, p.q)
		if err != nil {
			return fmt.Errorf("store: open %s: prepare: %w", s.path, err)
		}
		*p.stmt = st
	}
	// A record ID written again (a replayed unit) overwrites the record,
	// and a unit committed again overwrites its done-mark and usage.
	if err := s.insRecords.prepare(ctx, s.w, `INSERT INTO records(id, stage, seq, status, unit, data)`, 6,
		`ON CONFLICT(id) DO UPDATE SET stage = excluded.stage, seq = excluded.seq, status = excluded.status,
			unit = excluded.unit, data = excluded.data`); err != nil {
		return fmt.Errorf("store: open %s: records: %w", s.path, err)
	}
	if err := s.insUnits.prepare(ctx, s.w, `INSERT INTO units(stage, key, records, requests, cached_requests, prompt_tokens, completion_tokens, cost_usd, errors, committed_at, cached_prompt_tokens)`, 11,
		`ON CONFLICT(stage, key) DO UPDATE SET records = excluded.records, requests = excluded.requests,
			cached_requests = excluded.cached_requests, prompt_tokens = excluded.prompt_tokens,
			cached_prompt_tokens = excluded.cached_prompt_tokens,
			completion_tokens = excluded.completion_tokens, cost_usd = excluded.cost_usd,
			errors = excluded.errors, committed_at = excluded.committed_at`); err != nil {
		return fmt.Errorf("store: open %s: units: %w", s.path, err)
	}
	return nil
}

// Dir returns the run directory.
func (s *Store) Dir() string { return s.dir }

// Close closes the store. It is safe to call more than once; later calls
// return the first call's result.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		s.stopWriter()
		var errs []error
		if s.getCache != nil {
			errs = append(errs, s.getCache.Close())
		}
		if s.r != nil {
			errs = append(errs, s.r.Close())
		}
		for _, st := range []*sql.Stmt{s.insStage, s.putCache, s.setCache} {
			if st != nil {
				errs = append(errs, st.Close())
			}
		}
		errs = append(errs, s.insRecords.close()...)
		errs = append(errs, s.insUnits.close()...)
		if s.w != nil {
			errs = append(errs, s.w.Close())
		}
		// Unlock last, when nothing of ours writes any more.
		if s.unlock != nil {
			errs = append(errs, s.unlock())
		}
		if err := errors.Join(errs...); err != nil {
			s.closeErr = fmt.Errorf("store: close %s: %w", s.path, err)
		}
	})
	return s.closeErr
}

func (s *Store) writer() (*sql.DB, error) {
	if s.w == nil {
		return nil, fmt.Errorf("store: %s is open read-only", s.path)
	}
	return s.w, nil
}

func validStatus(st record.Status) bool {
	return st == record.Kept || st == record.Rejected || st == record.Failed
}

// Commit writes a unit's records (upsert by ID), its usage and its done-mark
// in one transaction: after a crash the unit is either entirely in the store or
// not at all. Replaying a unit overwrites it, so a replay is harmless.
// Record IDs must be unique within the unit.
//
// Commit finishes the write even when ctx is already cancelled: the unit's work
// is done and paid for, and the write is local and short, so dropping it on
// Ctrl-C would only waste it. Records must have an ID and a valid status; an
// empty record Stage is taken from the unit.
func (s *Store) Commit(ctx context.Context, u pipeline.Unit) error {
	return s.CommitUnits(ctx, []pipeline.Unit{u})
}

// CommitUnits is Commit for each unit, in one write: one transaction holds
// them all, so after a crash every one of them is in the store or none is.
// Implements pipeline.UnitsCommitter.
func (s *Store) CommitUnits(ctx context.Context, units []pipeline.Unit) error {
	if _, err := s.writer(); err != nil {
		return err
	}
	// Encode before handing over to the writer so it spends its time on I/O.
	blobs := make([][][]byte, len(units))
	for i, u := range units {
		var err error
		if blobs[i], err = encodeUnit(u); err != nil {
			return err
		}
	}
	var fresh []string // stages not yet known to be in the stages table
	for _, u := range units {
		if _, known := s.stages.Load(u.Stage); !known && !slices.Contains(fresh, u.Stage) {
			fresh = append(fresh, u.Stage)
		}
	}
	now := s.now().UnixNano()
	err := s.write(func(ctx context.Context, tx *sql.Tx) error {
		for _, st := range fresh {
			if _, err := tx.StmtContext(ctx, s.insStage).ExecContext(ctx, st); err != nil {
				return fmt.Errorf("stage %s: %w", st, err)
			}
		}
		// Records first, then done-marks, each in the units' order: the
		// same rows as a statement per row, in one transaction.
		// Each value is boxed into an any once: a stage's name, a unit's
		// key and a status are shared by the rows that hold them.
		var recs []any
		var owner []int // the unit of each record row, to name it in an error
		var stage, status any
		keys := make([]any, len(units))
		for i, u := range units {
			if stage == nil || stage.(string) != u.Stage {
				stage = u.Stage
			}
			keys[i] = u.Key
			for j, r := range u.Records {
				if status == nil || status.(string) != string(r.Status) {
					status = string(r.Status)
				}
				recs = append(recs, r.ID, stage, r.Seq, status, keys[i], string(blobs[i][j]))
				owner = append(owner, i)
			}
		}
		if row, err := s.insRecords.exec(ctx, tx, recs); err != nil {
			u := units[owner[row]]
			return fmt.Errorf("%s/%s: records from %s on: %w", u.Stage, u.Key, recs[row*s.insRecords.cols], err)
		}
		marks := make([]any, 0, len(units)*s.insUnits.cols)
		var at any = now
		for i, u := range units {
			if stage == nil || stage.(string) != u.Stage {
				stage = u.Stage
			}
			us := u.Usage
			marks = append(marks, stage, keys[i], len(u.Records), us.Requests, us.CachedRequests,
				us.PromptTokens, us.CompletionTokens, us.CostUSD, us.Errors, at, us.CachedPromptTokens)
		}
		if row, err := s.insUnits.exec(ctx, tx, marks); err != nil {
			u := units[row]
			return fmt.Errorf("%s/%s: done-marks from this unit on: %w", u.Stage, u.Key, err)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("store: commit %w", err)
	}
	for _, st := range fresh {
		// Only after the commit: a rolled-back stage row must be written again.
		s.stages.Store(st, true)
	}
	return nil
}

// encodeUnit checks a unit's records and encodes them for the records
// table.
func encodeUnit(u pipeline.Unit) ([][]byte, error) {
	if u.Stage == "" || u.Key == "" {
		return nil, fmt.Errorf("store: commit: unit needs a stage and a key (stage %q, key %q)", u.Stage, u.Key)
	}
	blobs := make([][]byte, len(u.Records))
	ids := make(map[string]bool, len(u.Records))
	for i, r := range u.Records {
		if r == nil {
			return nil, fmt.Errorf("store: commit %s/%s: record %d is nil", u.Stage, u.Key, i)
		}
		if r.ID == "" {
			return nil, fmt.Errorf("store: commit %s/%s: record %d has no ID", u.Stage, u.Key, i)
		}
		if !validStatus(r.Status) {
			return nil, fmt.Errorf("store: commit %s/%s: record %s has invalid status %q", u.Stage, u.Key, r.ID, r.Status)
		}
		// Two records with one ID would silently overwrite each other: that
		// is a bug in the stage's ID scheme, and losing a record is worse
		// than stopping.
		if ids[r.ID] {
			return nil, fmt.Errorf("store: commit %s/%s: record ID %s appears twice in the unit", u.Stage, u.Key, r.ID)
		}
		ids[r.ID] = true
		rec := r
		if r.Stage != u.Stage {
			if r.Stage != "" {
				return nil, fmt.Errorf("store: commit %s/%s: record %s belongs to stage %q", u.Stage, u.Key, r.ID, r.Stage)
			}
			c := *r
			c.Stage = u.Stage
			rec = &c
		}
		b, err := rec.AppendJSON(nil) // json.Marshal's bytes, without reflection
		if err != nil {
			return nil, fmt.Errorf("store: commit %s/%s: encode record %s: %w", u.Stage, u.Key, r.ID, err)
		}
		blobs[i] = b
	}
	return blobs, nil
}

// DoneUnits returns the keys of the units of stage already committed.
func (s *Store) DoneUnits(ctx context.Context, stage string) (map[string]bool, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT key FROM units WHERE stage = ?`, stage)
	if err != nil {
		return nil, fmt.Errorf("store: done units of %s: %w", stage, err)
	}
	defer rows.Close()
	done := make(map[string]bool)
	for rows.Next() {
		var k string
		if err := rows.Scan(&k); err != nil {
			return nil, fmt.Errorf("store: done units of %s: %w", stage, err)
		}
		done[k] = true
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: done units of %s: %w", stage, err)
	}
	return done, nil
}

// ReopenFailed deletes, in one transaction, the records and the done-marks
// of the units of stage that committed a failed record, so that the stage
// does them again (run --retry-failed), and returns how many units it
// reopened. A whole unit goes, not only its failed records: its records
// are what a redo of the unit writes, and a redo may write other IDs.
// The units' usage goes with them, so a redo is not counted twice.
//
// Implements pipeline.FailedReopener.
func (s *Store) ReopenFailed(ctx context.Context, stage string) (int, error) {
	if _, err := s.writer(); err != nil {
		return 0, err
	}
	var n int64
	err := s.write(func(ctx context.Context, tx *sql.Tx) error {
		const failedUnits = `SELECT unit FROM records WHERE stage = ?1 AND status = 'failed'`
		// Done-marks first: the subquery needs the failed records.
		res, err := tx.ExecContext(ctx, `DELETE FROM units WHERE stage = ?1 AND key IN (`+failedUnits+`)`, stage)
		if err != nil {
			return fmt.Errorf("done-marks: %w", err)
		}
		if n, err = res.RowsAffected(); err != nil {
			return err
		}
		if n == 0 {
			return nil
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM records WHERE stage = ?1 AND unit IN (`+failedUnits+`)`, stage); err != nil {
			return fmt.Errorf("records: %w", err)
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("store: reopen failed units of %s: %w", stage, err)
	}
	return int(n), nil
}

// Records yields the records of stage in Seq order (ties by ID); status ""
// means any status. Rows are decoded one at a time as the caller pulls them,
// from one read snapshot: commits made during the iteration are not seen.
// The iteration stops after yielding a non-nil error.
func (s *Store) Records(ctx context.Context, stage string, status record.Status) iter.Seq2[*record.Record, error] {
	if status == "" {
		return s.scan(ctx, stage, `SELECT data FROM records WHERE stage = ? ORDER BY seq, id`, stage)
	}
	return s.scan(ctx, stage, `SELECT data FROM records WHERE stage = ? AND status = ? ORDER BY seq, id`, stage, string(status))
}

// RecordsAfter is Records(stage, status) from the first record after
// (seq, id) in that order. A stage that reads a large input in parts reads
// each part in a short snapshot of its own this way: one snapshot held
// through a long stage would keep SQLite from ever checkpointing the log.
// Status must not be "".
func (s *Store) RecordsAfter(ctx context.Context, stage string, status record.Status, seq int64, id string) iter.Seq2[*record.Record, error] {
	return s.scan(ctx, stage, `SELECT data FROM records WHERE stage = ? AND status = ? AND (seq, id) > (?, ?) ORDER BY seq, id`,
		stage, string(status), seq, id)
}

func (s *Store) scan(ctx context.Context, stage, query string, args ...any) iter.Seq2[*record.Record, error] {
	return func(yield func(*record.Record, error) bool) {
		rows, err := s.r.QueryContext(ctx, query, args...)
		if err != nil {
			yield(nil, fmt.Errorf("store: records of %s: %w", stage, err))
			return
		}
		defer rows.Close()
		for rows.Next() {
			var b []byte
			if err := rows.Scan(&b); err != nil {
				yield(nil, fmt.Errorf("store: records of %s: %w", stage, err))
				return
			}
			r, err := decodeRecord(b)
			if err != nil {
				yield(nil, fmt.Errorf("store: records of %s: decode: %w", stage, err))
				return
			}
			if !yield(r, nil) {
				return
			}
		}
		if err := rows.Err(); err != nil {
			yield(nil, fmt.Errorf("store: records of %s: %w", stage, err))
		}
	}
}

// Record returns the record with the given ID, or an error wrapping ErrNotFound.
func (s *Store) Record(ctx context.Context, id string) (*record.Record, error) {
	var b []byte
	err := s.r.QueryRowContext(ctx, `SELECT data FROM records WHERE id = ?`, id).Scan(&b)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("store: record %q: %w", id, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("store: record %q: %w", id, err)
	}
	r, err := decodeRecord(b)
	if err != nil {
		return nil, fmt.Errorf("store: record %q: decode: %w", id, err)
	}
	return r, nil
}

// Count returns how many records stage holds with status; stage "" means
// every stage and status "" any status.
func (s *Store) Count(ctx context.Context, stage string, status record.Status) (int, error) {
	q, args := where(`SELECT count(*) FROM records`, "stage", stage, "status", string(status))
	var n int
	if err := s.r.QueryRowContext(ctx, q, args...).Scan(&n); err != nil {
		return 0, fmt.Errorf("store: count %s/%s: %w", stage, status, err)
	}
	return n, nil
}

// Stages returns the names of the stages that committed at least one unit, in
// the order of their first commit.
func (s *Store) Stages(ctx context.Context) ([]string, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT name FROM stages ORDER BY ord`)
	if err != nil {
		return nil, fmt.Errorf("store: stages: %w", err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			return nil, fmt.Errorf("store: stages: %w", err)
		}
		out = append(out, n)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: stages: %w", err)
	}
	return out, nil
}
