// Package database turns a DATABASE_URL into a ready database and keeps its
// schema current: [Open] connects (PostgreSQL through lib/pq, SQLite through
// modernc.org/sqlite without cgo), a [Migrator] applies Atlas-format
// versioned migrations with the Atlas library, and [Diff] writes the next
// migration from an ent schema.
//
//	db, err := database.Open(ctx, settings.DatabaseURL)
//	if err != nil { … }
//	defer db.Close()
//	client := ent.NewClient(ent.Driver(db.Driver()))
package database

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"entgo.io/ent/dialect"
	entsql "entgo.io/ent/dialect/sql"
	_ "github.com/lib/pq"  // registers "postgres"
	_ "modernc.org/sqlite" // registers "sqlite"

	"github.com/keylin/keylin/config"
)

// DB is an open database: a connection pool and the ent dialect it speaks.
type DB struct {
	*sql.DB
	// Dialect is ent's dialect name: dialect.Postgres or dialect.SQLite.
	Dialect string
	// URL is the parsed DATABASE_URL; URL.Redacted is safe to log.
	URL config.DatabaseURL
}

// Driver wraps the pool as an ent driver, for ent.NewClient(ent.Driver(...)).
func (db *DB) Driver() *entsql.Driver {
	return entsql.OpenDB(db.Dialect, db.DB)
}

// ConnectTimeout bounds the first connection made by [Open].
const ConnectTimeout = 10 * time.Second

// SQLite connection settings added to every file database's DSN: foreign
// keys on, WAL (readers do not block the writer), a busy timeout so writers
// wait for each other instead of failing, and BEGIN IMMEDIATE for
// transactions, so a transaction never fails to upgrade its read lock to a
// write lock ("database is locked") when another connection writes.
var sqlitePragmas = []string{
	"_pragma=foreign_keys(1)",
	"_pragma=journal_mode(WAL)",
	"_pragma=busy_timeout(10000)",
	"_pragma=synchronous(NORMAL)",
	"_txlock=immediate",
}

// Open parses rawURL (any form [config.ParseDatabaseURL] accepts), opens the
// pool and checks the database answers. An unreachable database is an error
// naming host and database, never the password.
func Open(ctx context.Context, rawURL string) (*DB, error) {
	u, err := config.ParseDatabaseURL(rawURL)
	if err != nil {
		return nil, err
	}
	return OpenURL(ctx, u)
}

// OpenURL is [Open] for an already parsed URL.
func OpenURL(ctx context.Context, u config.DatabaseURL) (*DB, error) {
	var (
		db  *sql.DB
		err error
	)
	switch u.Dialect {
	case dialect.Postgres:
		db, err = sql.Open("postgres", u.DSN)
		if err == nil {
			db.SetMaxOpenConns(32)
			db.SetMaxIdleConns(8)
			db.SetConnMaxIdleTime(5 * time.Minute)
		}
	case dialect.SQLite:
		dsn, memory := sqliteDSN(u.DSN)
		db, err = sql.Open("sqlite", dsn)
		if err == nil && memory {
			// Each connection to :memory: is a database of its own.
			db.SetMaxOpenConns(1)
		} else if err == nil {
			db.SetMaxOpenConns(8)
			db.SetMaxIdleConns(8)
		}
	default:
		return nil, fmt.Errorf("database: unsupported dialect %q", u.Dialect)
	}
	if err != nil {
		return nil, fmt.Errorf("database: open %s database %q: %w", u.Dialect, u.Database, err)
	}
	pctx, cancel := context.WithTimeout(ctx, ConnectTimeout)
	defer cancel()
	if err := db.PingContext(pctx); err != nil {
		db.Close()
		return nil, &ConnectError{Dialect: u.Dialect, Host: u.Host, Database: u.Database, Err: scrub(err, u)}
	}
	return &DB{DB: db, Dialect: u.Dialect, URL: u}, nil
}

// ConnectError reports a database that could not be reached. Its message
// names the host and database; it never holds the password.
type ConnectError struct {
	Dialect  string // ent dialect name
	Host     string // host:port (PostgreSQL)
	Database string // database name, or the SQLite file
	Err      error  // the driver's error, password removed
}

// Error names dialect, host and database.
func (e *ConnectError) Error() string {
	if e.Dialect == dialect.SQLite {
		return fmt.Sprintf("database: cannot open sqlite database %q: %v", e.Database, e.Err)
	}
	return fmt.Sprintf("database: cannot connect to %s database %q on %s: %v", e.Dialect, e.Database, e.Host, e.Err)
}

// Unwrap returns the driver's error.
func (e *ConnectError) Unwrap() error { return e.Err }

// scrub removes the URL's password from a driver error, in case a driver
// ever echoes its DSN.
func scrub(err error, u config.DatabaseURL) error {
	pu, perr := url.Parse(u.DSN)
	if perr != nil || pu.User == nil {
		return err
	}
	pw, ok := pu.User.Password()
	if !ok || pw == "" || !strings.Contains(err.Error(), pw) {
		return err
	}
	return errors.New(strings.ReplaceAll(err.Error(), pw, "xxxxx"))
}

// sqliteDSN adds keylin's pragmas to a SQLite path with optional query.
// It reports whether the database lives in memory.
func sqliteDSN(dsn string) (string, bool) {
	path, query, _ := strings.Cut(strings.TrimPrefix(dsn, "file:"), "?")
	memory := path == ":memory:" || strings.Contains(query, "mode=memory")
	params := []string{"_pragma=foreign_keys(1)", "_pragma=busy_timeout(10000)", "_txlock=immediate"}
	if !memory {
		params = sqlitePragmas
	}
	if query != "" {
		// After keylin's, so that the user's own pragmas win.
		params = append(append([]string(nil), params...), query)
	}
	return "file:" + path + "?" + strings.Join(params, "&"), memory
}
