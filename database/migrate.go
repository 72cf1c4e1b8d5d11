package database

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"time"

	"ariga.io/atlas/sql/migrate"
	"ariga.io/atlas/sql/postgres"
	"ariga.io/atlas/sql/schema"
	"ariga.io/atlas/sql/sqlite"
	"entgo.io/ent/dialect"
)

// Errors of the [Migrator] and of [Drift].
var (
	// ErrDirChecksum: the migration directory does not match its atlas.sum
	// (a file was added, edited or removed without re-hashing). Nothing is
	// applied from such a directory.
	ErrDirChecksum = errors.New("database: migration directory does not match atlas.sum")
	// ErrLockTimeout: another migration run held the lock for longer than
	// the lock timeout.
	ErrLockTimeout = errors.New("database: timed out waiting for the migration lock")
	// ErrDialectMismatch: the migration folder is written for another
	// database than the one it would be applied to (the postgres folder on
	// a SQLite database). Returned by [NewMigrator], [Migrate] and [Drift]
	// before they touch the database, in an error naming the folder, how
	// its dialect was told, and both dialects.
	ErrDialectMismatch = errors.New("database: the migrations are for another database")
	// ErrNoMigrations: the folder holds neither .sql files nor atlas.sum.
	// Returned by [NewMigrator], [Migrate] and [Drift].
	ErrNoMigrations = errors.New("database: no migrations")
)

// ApplyError reports a migration file that failed. Nothing of File was
// applied (each file runs in one transaction); the database is left at the
// last version that succeeded.
type ApplyError struct {
	File      string // file name, e.g. 20260101000000_init.sql
	Statement string // the statement that failed, when known
	Current   string // version the database is left at ("" for none)
	Err       error
}

// Error names the file, the statement and the version the database is at.
func (e *ApplyError) Error() string {
	at := e.Current
	if at == "" {
		at = "none (empty)"
	}
	if e.Statement != "" {
		return fmt.Sprintf("database: migration %s failed at statement %q: %v (database left at version %s)", e.File, e.Statement, e.Err, at)
	}
	return fmt.Sprintf("database: migration %s failed: %v (database left at version %s)", e.File, e.Err, at)
}

// Unwrap returns the database's error.
func (e *ApplyError) Unwrap() error { return e.Err }

// AppliedFile is one migration file applied by [Migrator.Apply].
type AppliedFile struct {
	Version    string
	Name       string
	Statements int
	Duration   time.Duration
}

// ApplyResult tells what [Migrator.Apply] did.
type ApplyResult struct {
	// Applied lists the files applied by this run, in order; empty when the
	// database was up to date.
	Applied []AppliedFile
	// Current is the version the database is at after the run.
	Current string
}

// Status is the state of a database against a migration directory.
type Status struct {
	// Current is the last applied version, "" when none is.
	Current string
	// Applied lists the applied versions in order.
	Applied []string
	// Pending lists the files not applied yet, in order.
	Pending []string
	// Problems lists what makes the database disagree with the directory
	// other than pending files: files edited after they were applied,
	// applied versions whose file is gone, failed or partial revisions.
	Problems []string
	// Unknown lists the applied versions that have no file in the folder
	// (also reported in Problems): files deleted, or a database whose
	// history is another folder's — an application's own migrations.
	Unknown []string
}

// InSync reports whether the database is at the directory's last version
// with no problems.
func (s *Status) InSync() bool { return len(s.Pending) == 0 && len(s.Problems) == 0 }

// MigratorOption configures a [Migrator]; a bad option fails NewMigrator.
type MigratorOption interface {
	apply(*Migrator) error
}

type migratorOptionFunc func(*Migrator) error

func (f migratorOptionFunc) apply(m *Migrator) error { return f(m) }

// WithBaseline starts migration history on a database that already has a
// schema (for example one created by the Python keylin): the given version
// is recorded as applied without running it, and later files are applied.
func WithBaseline(version string) MigratorOption {
	return migratorOptionFunc(func(m *Migrator) error {
		if version == "" {
			return errors.New("database: empty baseline version")
		}
		m.baseline = version
		return nil
	})
}

// WithLockTimeout bounds how long Apply waits for another run's lock on
// PostgreSQL (default 1 minute).
func WithLockTimeout(d time.Duration) MigratorOption {
	return migratorOptionFunc(func(m *Migrator) error {
		if d <= 0 {
			return fmt.Errorf("database: lock timeout must be positive, got %v", d)
		}
		m.lockTimeout = d
		return nil
	})
}

// WithOperatorVersion sets what is recorded as the operator in the
// revisions table (default "keylin").
func WithOperatorVersion(v string) MigratorOption {
	return migratorOptionFunc(func(m *Migrator) error {
		m.operator = v
		return nil
	})
}

// WithDir names the migration folder inside fsys (a slash-separated
// path, as [fs.FS] takes), instead of the one named for the database's
// dialect or fsys itself. Its dialect is still checked: by the folder's
// last element when that is postgres or sqlite, otherwise by its files.
func WithDir(dir string) MigratorOption {
	return migratorOptionFunc(func(m *Migrator) error {
		if !fs.ValidPath(dir) {
			return fmt.Errorf("database: WithDir(%q): not a valid fs.FS path", dir)
		}
		m.sub = dir
		return nil
	})
}

// Migrator applies an Atlas-format migration folder to a database,
// recording each applied file in atlas_schema_revisions exactly as the Atlas
// CLI does.
type Migrator struct {
	db          *DB
	dir         *migrationDir
	sub         string
	baseline    string
	lockTimeout time.Duration
	operator    string
}

// NewMigrator returns a Migrator applying the migrations of fsys to db.
//
// fsys (an [embed.FS], [os.DirFS], …) is either a directory holding one
// folder per dialect — postgres/ and sqlite/, each with its atlas.sum, as
// `keylin migrate diff` writes them —, of which the database's is taken,
// or a single dialect's folder. [WithDir] names the folder instead.
//
// NewMigrator reads the folder and checks it is written for the
// database's dialect: a mismatch is an error wrapping
// [ErrDialectMismatch] that names the folder and both dialects, and a
// folder without migrations wraps [ErrNoMigrations]. It does not touch the
// database; whether the folder matches its atlas.sum is checked by Apply,
// Status and Pending.
func NewMigrator(db *DB, fsys fs.FS, opts ...MigratorOption) (*Migrator, error) {
	if db == nil || fsys == nil {
		return nil, errors.New("database: NewMigrator needs a database and a file system")
	}
	m := &Migrator{db: db, lockTimeout: time.Minute, operator: "keylin"}
	for _, o := range opts {
		if o == nil {
			return nil, errors.New("database: nil MigratorOption")
		}
		if err := o.apply(m); err != nil {
			return nil, err
		}
	}
	dir, err := readMigrationDir(fsys, m.sub, db.Dialect, db.URL.Redacted)
	if err != nil {
		return nil, err
	}
	m.dir = dir
	return m, nil
}

// Migrate applies the pending migrations of fsys to db in one call:
// [NewMigrator] and [Migrator.Apply]. A second call applies nothing.
//
//	//go:embed migrations
//	var migrationsFS embed.FS // migrations/postgres/…, migrations/sqlite/…
//
//	sub, _ := fs.Sub(migrationsFS, "migrations")
//	res, err := database.Migrate(ctx, db, sub)
func Migrate(ctx context.Context, db *DB, fsys fs.FS, opts ...MigratorOption) (*ApplyResult, error) {
	m, err := NewMigrator(db, fsys, opts...)
	if err != nil {
		return nil, err
	}
	return m.Apply(ctx)
}

// Dir is the migration folder in use, as a path inside the fsys given to
// NewMigrator: "postgres", "sqlite", "." or WithDir's.
func (m *Migrator) Dir() string { return m.dir.name }

// Pending returns the names of the files Apply would run, in order. It
// changes nothing. With [WithBaseline], a database without history has
// the files after the baseline version pending.
func (m *Migrator) Pending(ctx context.Context) ([]string, error) {
	st, err := m.Status(ctx)
	if err != nil {
		return nil, err
	}
	if m.baseline == "" || len(st.Applied) > 0 {
		return st.Pending, nil
	}
	files, err := m.dir.mem.Files()
	if err != nil {
		return nil, fmt.Errorf("database: read migration folder: %w", err)
	}
	var pending []string
	found := false
	for _, f := range migrate.SkipCheckpointFiles(files) {
		if found {
			pending = append(pending, f.Name())
		}
		found = found || f.Version() == m.baseline
	}
	if !found {
		return nil, fmt.Errorf("database: baseline version %q has no file in %s", m.baseline, m.dir.name)
	}
	return pending, nil
}

// Apply applies every pending file, each in its own transaction, and
// returns what it applied. A second run applies nothing. On PostgreSQL an
// advisory lock makes concurrent runs wait for each other; on SQLite each
// file's transaction takes the write lock first (BEGIN IMMEDIATE) and
// re-reads the history, so no file is applied twice.
func (m *Migrator) Apply(ctx context.Context) (*ApplyResult, error) {
	if err := migrate.Validate(m.dir.mem); err != nil {
		return nil, dirError(err)
	}
	unlock, err := m.lock(ctx)
	if err != nil {
		return nil, err
	}
	defer unlock()
	if err := (&revisions{conn: m.db.DB, dialect: m.db.Dialect}).init(ctx); err != nil {
		return nil, err
	}
	res := &ApplyResult{}
	if st, err := m.Status(ctx); err == nil {
		res.Current = st.Current
	}
	for {
		f, n, took, done, err := m.applyNext(ctx)
		if err != nil {
			var ae *ApplyError
			if errors.As(err, &ae) {
				ae.Current = res.Current
			}
			return res, err
		}
		if done {
			if st, err := m.Status(ctx); err == nil {
				res.Current = st.Current
			}
			return res, nil
		}
		res.Applied = append(res.Applied, AppliedFile{Version: f.Version(), Name: f.Name(), Statements: n, Duration: took})
		res.Current = f.Version()
	}
}

// applyNext applies the first pending file in a transaction of its own.
//
// On SQLite, foreign keys are switched off on the file's connection before
// its transaction begins (inside one, SQLite ignores the PRAGMA that Atlas
// writes around table rebuilds, and dropping a rebuilt table would cascade
// to, or be refused by, the rows that reference it), and the transaction
// commits only if PRAGMA foreign_key_check then finds no violation.
func (m *Migrator) applyNext(ctx context.Context) (f migrate.File, stmts int, took time.Duration, done bool, err error) {
	var begin interface {
		BeginTx(context.Context, *sql.TxOptions) (*sql.Tx, error)
	} = m.db.DB
	sqliteFK := m.db.Dialect == dialect.SQLite
	if sqliteFK {
		conn, err := m.db.Conn(ctx)
		if err != nil {
			return nil, 0, 0, false, fmt.Errorf("database: %w", err)
		}
		defer conn.Close()
		if _, err := conn.ExecContext(ctx, "PRAGMA foreign_keys = off"); err != nil {
			return nil, 0, 0, false, fmt.Errorf("database: %w", err)
		}
		defer conn.ExecContext(context.WithoutCancel(ctx), "PRAGMA foreign_keys = on")
		begin = conn
	}
	tx, err := begin.BeginTx(ctx, nil)
	if err != nil {
		return nil, 0, 0, false, fmt.Errorf("database: begin migration transaction: %w", err)
	}
	defer func() {
		if err != nil || done {
			tx.Rollback()
		}
	}()
	drv, err := openAtlas(m.db.Dialect, tx)
	if err != nil {
		return nil, 0, 0, false, err
	}
	opts := []migrate.ExecutorOption{migrate.WithOperatorVersion(m.operator)}
	if m.baseline != "" {
		opts = append(opts, migrate.WithBaselineVersion(m.baseline))
	}
	ex, err := migrate.NewExecutor(drv, m.dir.mem, &revisions{conn: tx, dialect: m.db.Dialect}, opts...)
	if err != nil {
		return nil, 0, 0, false, err
	}
	pending, err := ex.Pending(ctx)
	switch {
	case errors.Is(err, migrate.ErrNoPendingFiles):
		// A baseline revision may have been written: keep it.
		if err := tx.Commit(); err != nil {
			return nil, 0, 0, false, fmt.Errorf("database: commit: %w", err)
		}
		return nil, 0, 0, true, nil
	case err != nil:
		return nil, 0, 0, false, dirError(err)
	}
	f = pending[0]
	start := time.Now()
	if err := ex.Execute(ctx, f); err != nil {
		ae := &ApplyError{File: f.Name(), Err: err}
		var se *migrate.StmtExecError
		if errors.As(err, &se) {
			ae.Statement, ae.Err = se.Stmt.Text, se.Err
		}
		return nil, 0, 0, false, ae
	}
	if sqliteFK {
		if err := foreignKeyCheck(ctx, tx); err != nil {
			return nil, 0, 0, false, &ApplyError{File: f.Name(), Err: err}
		}
	}
	if err := tx.Commit(); err != nil {
		return nil, 0, 0, false, &ApplyError{File: f.Name(), Err: fmt.Errorf("commit: %w", err)}
	}
	st, _ := f.StmtDecls()
	return f, len(st), time.Since(start), false, nil
}

// Status compares the database with the directory. It changes nothing, not
// even creating the revisions table.
func (m *Migrator) Status(ctx context.Context) (*Status, error) {
	if err := migrate.Validate(m.dir.mem); err != nil {
		return nil, dirError(err)
	}
	files, err := m.dir.mem.Files()
	if err != nil {
		return nil, fmt.Errorf("database: read migration directory: %w", err)
	}
	files = migrate.SkipCheckpointFiles(files)
	sums, err := m.dir.mem.Checksum()
	if err != nil {
		return nil, dirError(err)
	}
	rr := &revisions{conn: m.db.DB, dialect: m.db.Dialect}
	var revs []*migrate.Revision
	if ok, err := rr.exists(ctx); err != nil {
		return nil, err
	} else if ok {
		if revs, err = rr.ReadRevisions(ctx); err != nil {
			return nil, fmt.Errorf("database: read %s: %w", RevisionsTable, err)
		}
	}
	st := &Status{}
	applied := make(map[string]*migrate.Revision, len(revs))
	for _, r := range revs {
		applied[r.Version] = r
		st.Applied = append(st.Applied, r.Version)
		st.Current = r.Version
		switch {
		case r.Error != "":
			st.Problems = append(st.Problems, fmt.Sprintf("version %s failed: %s", r.Version, r.Error))
		case r.Applied != r.Total:
			st.Problems = append(st.Problems, fmt.Sprintf("version %s is partially applied (%d of %d statements)", r.Version, r.Applied, r.Total))
		}
	}
	byVersion := make(map[string]bool, len(files))
	for _, f := range files {
		byVersion[f.Version()] = true
		r, ok := applied[f.Version()]
		switch {
		case !ok && (st.Current == "" || f.Version() > st.Current):
			st.Pending = append(st.Pending, f.Name())
		case !ok:
			st.Problems = append(st.Problems, fmt.Sprintf("%s is older than the current version %s but was never applied", f.Name(), st.Current))
		case r.Type&migrate.RevisionTypeExecute != 0 && r.Hash != "":
			if sum, err := sums.SumByName(f.Name()); err == nil && sum != r.Hash {
				st.Problems = append(st.Problems, fmt.Sprintf("%s was edited after it was applied", f.Name()))
			}
		}
	}
	for _, r := range revs {
		if !byVersion[r.Version] {
			st.Unknown = append(st.Unknown, r.Version)
			st.Problems = append(st.Problems, fmt.Sprintf("version %s is applied but has no file in the directory", r.Version))
		}
	}
	return st, nil
}

// lock takes PostgreSQL's advisory lock for the whole run. SQLite relies on
// BEGIN IMMEDIATE per file instead.
func (m *Migrator) lock(ctx context.Context) (func(), error) {
	if m.db.Dialect != dialect.Postgres {
		return func() {}, nil
	}
	drv, err := postgres.Open(m.db.DB)
	if err != nil {
		return nil, fmt.Errorf("database: %w", err)
	}
	unlock, err := drv.(schema.Locker).Lock(ctx, "keylin_migrate", m.lockTimeout)
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, fmt.Errorf("%w: %v", ErrLockTimeout, err)
	}
	return func() { _ = unlock() }, nil
}

func openAtlas(d string, conn schema.ExecQuerier) (migrate.Driver, error) {
	var (
		drv migrate.Driver
		err error
	)
	switch d {
	case dialect.Postgres:
		drv, err = postgres.Open(conn)
	case dialect.SQLite:
		drv, err = sqlite.Open(conn)
	default:
		return nil, fmt.Errorf("database: no migration driver for %q", d)
	}
	if err != nil {
		return nil, fmt.Errorf("database: open migration driver: %w", err)
	}
	return drv, nil
}

func dirError(err error) error {
	if errors.Is(err, migrate.ErrChecksumMismatch) || errors.Is(err, migrate.ErrChecksumNotFound) {
		return fmt.Errorf("%w: %v; if the change is intended, re-hash the directory (make migrate-hash)", ErrDirChecksum, err)
	}
	return fmt.Errorf("database: %w", err)
}

// foreignKeyCheck fails when a SQLite migration left rows whose foreign
// keys point nowhere.
func foreignKeyCheck(ctx context.Context, tx *sql.Tx) error {
	rows, err := tx.QueryContext(ctx, "PRAGMA foreign_key_check")
	if err != nil {
		return fmt.Errorf("foreign key check: %w", err)
	}
	defer rows.Close()
	if rows.Next() {
		var table string
		var rowid sql.NullInt64
		var parent string
		var fkid int
		if err := rows.Scan(&table, &rowid, &parent, &fkid); err != nil {
			return fmt.Errorf("foreign key check: %w", err)
		}
		return fmt.Errorf("foreign key violation: a row of %s references a missing row of %s", table, parent)
	}
	return rows.Err()
}
