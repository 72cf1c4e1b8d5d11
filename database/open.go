// Package database turns a DATABASE_URL into a ready database and keeps its
// schema current: [Open] connects (PostgreSQL through lib/pq, SQLite through
// modernc.org/sqlite without cgo), [Migrate] applies Atlas-format versioned
// migrations from an [fs.FS] (an embed.FS holding postgres/ and sqlite/)
// with the Atlas library, and [Diff] writes the next migration from an ent
// schema; [Drift] tells a test whether the migrations keep up with it.
//
//	db, err := database.Open(ctx, settings.DatabaseURL)
//	if err != nil { … }
//	defer db.Close()
//	if _, err := database.Migrate(ctx, db, migrations.FS); err != nil { … }
//	client := ent.NewClient(ent.Driver(db.Driver()))
//
// No Atlas type is part of this package's API; the files it applies and
// the atlas_schema_revisions table it records them in are the Atlas CLI's.
package database

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"

	"entgo.io/ent/dialect"
	entsql "entgo.io/ent/dialect/sql"
	"github.com/lib/pq"    // registers "postgres"
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

// OpenOption configures [Open]; a bad option makes Open fail.
type OpenOption interface {
	apply(*openConfig) error
}

type openConfig struct {
	ioTimeout time.Duration
	pool      Pool
}

// Pool sizes a connection pool. Zero fields take the dialect's default:
// for PostgreSQL 16 open connections, 8 idle, recycled after 30 minutes,
// closed after 5 idle minutes; for a SQLite file 8 open and idle (an
// in-memory SQLite database always has one connection).
//
// Several keylin instances share one PostgreSQL: their MaxOpen together
// must stay below the server's max_connections (100 by default) minus
// what other clients use. An instance needs few: a login spends most of
// its time hashing, not in the database, and a token check is one short
// query, so 16 per instance is plenty on a few cores.
type Pool struct {
	MaxOpen     int           // open connections at most
	MaxIdle     int           // idle connections kept at most
	MaxLifetime time.Duration // a connection is closed after this long
	MaxIdleTime time.Duration // an idle connection is closed after this long
}

// WithPool sizes the connection pool (see [Pool]).
func WithPool(p Pool) OpenOption {
	return openOptionFunc(func(c *openConfig) error {
		if p.MaxOpen < 0 || p.MaxIdle < 0 || p.MaxLifetime < 0 || p.MaxIdleTime < 0 {
			return fmt.Errorf("database: pool %+v has a negative value", p)
		}
		if p.MaxOpen > 0 && p.MaxIdle > p.MaxOpen {
			return fmt.Errorf("database: pool keeps %d idle connections of at most %d open", p.MaxIdle, p.MaxOpen)
		}
		c.pool = p
		return nil
	})
}

// orDefault returns p with its zero fields set to def's.
func (p Pool) orDefault(def Pool) Pool {
	if p.MaxOpen == 0 {
		p.MaxOpen = def.MaxOpen
	}
	if p.MaxIdle == 0 {
		p.MaxIdle = min(def.MaxIdle, p.MaxOpen)
	}
	if p.MaxLifetime == 0 {
		p.MaxLifetime = def.MaxLifetime
	}
	if p.MaxIdleTime == 0 {
		p.MaxIdleTime = def.MaxIdleTime
	}
	return p
}

// apply sizes db.
func (p Pool) apply(db *sql.DB) {
	db.SetMaxOpenConns(p.MaxOpen)
	db.SetMaxIdleConns(p.MaxIdle)
	db.SetConnMaxLifetime(p.MaxLifetime)
	db.SetConnMaxIdleTime(p.MaxIdleTime)
}

type openOptionFunc func(*openConfig) error

func (f openOptionFunc) apply(c *openConfig) error { return f(c) }

// WithIOTimeout makes a PostgreSQL connection give up on a read or a write
// that takes longer than d, and bounds connecting by d when the URL sets no
// connect_timeout. lib/pq does not interrupt a query when its context ends,
// so without it a frozen server (stopped, or a network that drops packets)
// holds every request for as long as it stays frozen; with it, the request
// fails after d and the pool replaces the connection. Use it for serving,
// not for migrations, whose statements may take longer. SQLite ignores it.
func WithIOTimeout(d time.Duration) OpenOption {
	return openOptionFunc(func(c *openConfig) error {
		if d <= 0 {
			return fmt.Errorf("database: I/O timeout %v must be positive", d)
		}
		c.ioTimeout = d
		return nil
	})
}

// Open parses rawURL (any form [config.ParseDatabaseURL] accepts), opens the
// pool and checks the database answers. An unreachable database is an error
// naming host and database, never the password.
func Open(ctx context.Context, rawURL string, opts ...OpenOption) (*DB, error) {
	u, err := config.ParseDatabaseURL(rawURL)
	if err != nil {
		return nil, err
	}
	return OpenURL(ctx, u, opts...)
}

// OpenURL is [Open] for an already parsed URL.
func OpenURL(ctx context.Context, u config.DatabaseURL, opts ...OpenOption) (*DB, error) {
	var cfg openConfig
	for _, o := range opts {
		if o == nil {
			return nil, errors.New("database: nil OpenOption")
		}
		if err := o.apply(&cfg); err != nil {
			return nil, err
		}
	}
	var (
		db  *sql.DB
		err error
	)
	switch u.Dialect {
	case dialect.Postgres:
		db, err = openPostgres(u.DSN, cfg.ioTimeout)
		if err == nil {
			cfg.pool.orDefault(Pool{MaxOpen: 16, MaxIdle: 8, MaxLifetime: 30 * time.Minute, MaxIdleTime: 5 * time.Minute}).apply(db)
		}
	case dialect.SQLite:
		dsn, memory := sqliteDSN(u.DSN)
		db, err = sql.Open("sqlite", dsn)
		if err == nil && memory {
			// Each connection to :memory: is a database of its own.
			Pool{MaxOpen: 1, MaxIdle: 1}.apply(db)
		} else if err == nil {
			cfg.pool.orDefault(Pool{MaxOpen: 8, MaxIdle: 8}).apply(db)
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

// openPostgres opens a lib/pq pool, with connections that time out
// reads and writes when ioTimeout is set.
func openPostgres(dsn string, ioTimeout time.Duration) (*sql.DB, error) {
	if ioTimeout <= 0 {
		return sql.Open("postgres", dsn)
	}
	if pu, err := url.Parse(dsn); err == nil && (pu.Scheme == "postgres" || pu.Scheme == "postgresql") {
		if q := pu.Query(); q.Get("connect_timeout") == "" {
			q.Set("connect_timeout", strconv.Itoa(max(1, int(ioTimeout/time.Second))))
			pu.RawQuery = q.Encode()
			dsn = pu.String()
		}
	}
	conn, err := pq.NewConnector(dsn)
	if err != nil {
		return nil, err
	}
	conn.Dialer(ioTimeoutDialer{timeout: ioTimeout})
	return sql.OpenDB(conn), nil
}

// ioTimeoutDialer is a pq.Dialer whose connections give up on a read or a
// write that takes longer than timeout: what lib/pq lacks to notice a
// frozen server (see internal/faultproxy's tests for the measurements).
type ioTimeoutDialer struct {
	net.Dialer
	timeout time.Duration
}

// Dial implements pq.Dialer.
func (d ioTimeoutDialer) Dial(network, address string) (net.Conn, error) {
	return d.DialContext(context.Background(), network, address)
}

// DialTimeout implements pq.Dialer.
func (d ioTimeoutDialer) DialTimeout(network, address string, timeout time.Duration) (net.Conn, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	return d.DialContext(ctx, network, address)
}

// DialContext implements pq.DialerContext.
func (d ioTimeoutDialer) DialContext(ctx context.Context, network, address string) (net.Conn, error) {
	c, err := d.Dialer.DialContext(ctx, network, address)
	if err != nil {
		return nil, err
	}
	return &ioTimeoutConn{Conn: c, timeout: d.timeout}, nil
}

// ioTimeoutConn sets a deadline before each read and write. lib/pq reads
// only while it waits for an answer, so an idle pooled connection never
// times out.
type ioTimeoutConn struct {
	net.Conn
	timeout time.Duration
}

func (c *ioTimeoutConn) Read(b []byte) (int, error) {
	if err := c.Conn.SetReadDeadline(time.Now().Add(c.timeout)); err != nil {
		return 0, err
	}
	return c.Conn.Read(b)
}

func (c *ioTimeoutConn) Write(b []byte) (int, error) {
	if err := c.Conn.SetWriteDeadline(time.Now().Add(c.timeout)); err != nil {
		return 0, err
	}
	return c.Conn.Write(b)
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
