package config

import (
	"net"
	"net/url"
	"strings"
)

// Dialects a [DatabaseURL] names. They are ent's dialect names
// (entgo.io/ent/dialect.Postgres and dialect.SQLite), so a DatabaseURL's
// Dialect goes to ent as it is.
const (
	DialectPostgres = "postgres"
	DialectSQLite   = "sqlite3"
)

// DatabaseURL is a parsed DATABASE_URL.
type DatabaseURL struct {
	// Dialect is DialectPostgres or DialectSQLite.
	Dialect string
	// DSN is what the driver takes: for PostgreSQL a postgres:// URL lib/pq
	// accepts; for SQLite the file path (or ":memory:") followed by the
	// URL's own query parameters, if any. No SQLite pragmas are added here.
	DSN string
	// Redacted is the URL as given with any password replaced by "xxxxx";
	// safe to log.
	Redacted string
	// Host is host:port for PostgreSQL (lib/pq's defaults filled in:
	// localhost, 5432); empty for SQLite.
	Host string
	// Database is the database name for PostgreSQL, the file path for
	// SQLite (":memory:" for an in-memory database).
	Database string
}

const acceptedDatabaseURLs = "postgres://, postgresql://, postgresql+asyncpg://, postgresql+psycopg://, postgresql+psycopg2://, " +
	"sqlite://, sqlite+aiosqlite://, sqlite+pysqlite://, file:, :memory:"

// ParseDatabaseURL parses a DATABASE_URL. It accepts the forms Go drivers use
// and the SQLAlchemy forms a Python keylin or fastapi-users service is
// configured with, so both can share one setting:
//
//	postgres://user:pass@host:5432/db?sslmode=require    PostgreSQL (query kept as is)
//	postgresql://…                                        same
//	postgresql+psycopg2://…, postgresql+psycopg://…       driver suffix dropped; libpq parameters kept
//	postgresql+asyncpg://…?ssl=require                    driver suffix dropped; ssl=X becomes sslmode=X
//	                                                      (ssl=true becomes require, ssl=false disable)
//	sqlite:///keylin.db                                   SQLAlchemy, 3 slashes: relative path keylin.db
//	sqlite:///./test.db, sqlite+aiosqlite:///./test.db    relative path ./test.db
//	sqlite:////var/lib/keylin.db                          SQLAlchemy, 4 slashes: absolute /var/lib/keylin.db
//	sqlite://keylin.db                                    keylin's default: relative path keylin.db
//	sqlite+pysqlite://…                                   as sqlite://
//	sqlite://, sqlite://:memory:, sqlite:///:memory:      in-memory database
//	file:keylin.db?mode=ro, file:/abs.db, file:///abs.db  SQLite URI filename; parameters passed on
//	:memory:                                              in-memory database
//
// Relative SQLite paths are relative to the working directory. Query
// parameters of a SQLite URL go to the driver unchanged. Scheme names are
// matched without regard to case.
//
// An empty URL or any other scheme (mysql://, http://, ...) is an error
// naming DATABASE_URL and the scheme and listing the accepted forms. Errors
// and Redacted never contain the password.
func ParseDatabaseURL(raw string) (DatabaseURL, error) {
	raw = strings.TrimSpace(raw)
	if raw == "" {
		return DatabaseURL{}, dbErr("empty; accepted forms: %s", acceptedDatabaseURLs)
	}
	if raw == ":memory:" {
		return DatabaseURL{Dialect: DialectSQLite, DSN: ":memory:", Redacted: raw, Database: ":memory:"}, nil
	}
	scheme, rest, ok := strings.Cut(raw, ":")
	if !ok || !validScheme(scheme) {
		return DatabaseURL{}, dbErr("not a URL (no scheme); accepted forms: %s", acceptedDatabaseURLs)
	}
	switch strings.ToLower(scheme) {
	case "postgres", "postgresql":
		return parsePostgres(raw, false)
	case "postgresql+asyncpg", "postgresql+psycopg2", "postgresql+psycopg":
		return parsePostgres(raw, true)
	case "sqlite", "sqlite+aiosqlite", "sqlite+pysqlite":
		return parseSQLAlchemySQLite(raw, rest)
	case "file":
		return parseSQLiteURI(raw, rest)
	}
	return DatabaseURL{}, dbErr("unsupported scheme %q; accepted forms: %s", scheme, acceptedDatabaseURLs)
}

func dbErr(format string, args ...any) error {
	return &VarError{Name: "DATABASE_URL", Err: reason(ErrUnsupportedDatabase, format, args...)}
}

// validScheme reports whether s is an RFC 3986 scheme.
func validScheme(s string) bool {
	if s == "" || len(s) > 32 {
		return false
	}
	for i, c := range s {
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z':
		case i > 0 && ('0' <= c && c <= '9' || c == '+' || c == '-' || c == '.'):
		default:
			return false
		}
	}
	return true
}

// driverOnlyParams are query parameters of SQLAlchemy's PostgreSQL drivers
// (asyncpg, psycopg) that configure the Python driver, not the server.
var driverOnlyParams = []string{
	"prepared_statement_cache_size", "statement_cache_size", "max_cached_statement_lifetime",
	"max_cacheable_statement_size", "command_timeout", "prepared_statement_name_func",
	"server_settings", "direct_tls", "async_fallback", "client_encoding",
}

// parsePostgres reads a PostgreSQL URL; sqlalchemy marks the forms with a
// Python driver (postgresql+asyncpg://…), whose driver-only parameters are
// dropped or translated.
func parsePostgres(raw string, sqlalchemy bool) (DatabaseURL, error) {
	u, err := url.Parse(raw)
	if err != nil {
		// url.Parse's messages quote the URL, password included.
		return DatabaseURL{}, dbErr("malformed PostgreSQL URL (percent-encode special characters in the user name and password, e.g. @ as %%40)")
	}
	if u.Opaque != "" {
		return DatabaseURL{}, dbErr("malformed PostgreSQL URL (expected postgres://user:password@host:port/database)")
	}
	redacted := redactPostgres(u)
	u.Scheme = "postgres"

	q := u.Query()
	if sqlalchemy {
		// Driver options of asyncpg and SQLAlchemy that lib/pq would send to
		// the server as run-time parameters, which the server refuses.
		for _, k := range driverOnlyParams {
			q.Del(k)
		}
		if v := q.Get("timeout"); v != "" && !q.Has("connect_timeout") {
			q.Set("connect_timeout", v)
		}
		q.Del("timeout")
		u.RawQuery = q.Encode()
	}
	if sqlalchemy && q.Has("ssl") {
		mode := q.Get("ssl")
		switch strings.ToLower(mode) {
		case "true":
			mode = "require"
		case "false":
			mode = "disable"
		}
		if !q.Has("sslmode") {
			q.Set("sslmode", mode)
		}
		q.Del("ssl")
		u.RawQuery = q.Encode()
	}

	host, port := u.Hostname(), u.Port()
	if host == "" {
		host = q.Get("host")
	}
	if host == "" {
		host = "localhost"
	}
	if port == "" {
		port = q.Get("port")
	}
	if port == "" {
		port = "5432"
	}
	db := strings.TrimPrefix(u.Path, "/")
	if db == "" {
		db = q.Get("dbname")
	}
	return DatabaseURL{
		Dialect:  DialectPostgres,
		DSN:      u.String(),
		Redacted: redacted,
		Host:     net.JoinHostPort(host, port),
		Database: db,
	}, nil
}

// redactPostgres returns u as a string with the password, in the user info or
// in a password= parameter, replaced by "xxxxx".
func redactPostgres(u *url.URL) string {
	r := *u
	if _, ok := r.User.Password(); ok {
		r.User = url.UserPassword(r.User.Username(), "xxxxx")
	}
	if q := r.Query(); q.Has("password") {
		q.Set("password", "xxxxx")
		r.RawQuery = q.Encode()
	}
	return r.String()
}

// parseSQLAlchemySQLite handles sqlite[+driver]:rest.
func parseSQLAlchemySQLite(raw, rest string) (DatabaseURL, error) {
	rest, query, _ := strings.Cut(rest, "?")
	path := rest // sqlite:keylin.db
	if p, ok := strings.CutPrefix(rest, "//"); ok {
		// SQLAlchemy: sqlite:// + "/" + path, so sqlite:///a.db is a.db and
		// sqlite:////a.db is /a.db. Without the third slash, keylin's own
		// sqlite://keylin.db: the "host" is the relative path.
		path = strings.TrimPrefix(p, "/")
	}
	if path == "" {
		path = ":memory:" // SQLAlchemy: sqlite:// is an in-memory database
	}
	return sqliteURL(raw, path, query), nil
}

// parseSQLiteURI handles SQLite URI filenames: file:path?params.
func parseSQLiteURI(raw, rest string) (DatabaseURL, error) {
	rest, query, _ := strings.Cut(rest, "?")
	path := rest
	if strings.HasPrefix(rest, "//") {
		// file://[localhost]/abs/path: SQLite allows an empty or "localhost"
		// authority only.
		auth, p, _ := strings.Cut(rest[2:], "/")
		if auth != "" && !strings.EqualFold(auth, "localhost") {
			return DatabaseURL{}, dbErr("file: URL with authority %q; SQLite accepts only file:path or file:///abs/path", auth)
		}
		path = "/" + p
	}
	if path == "" {
		return DatabaseURL{}, dbErr("file: URL without a path")
	}
	return sqliteURL(raw, path, query), nil
}

func sqliteURL(raw, path, query string) DatabaseURL {
	dsn := path
	if query != "" {
		dsn += "?" + query
	}
	return DatabaseURL{Dialect: DialectSQLite, DSN: dsn, Redacted: raw, Database: path}
}
