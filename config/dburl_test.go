package config_test

import (
	"errors"
	"net/url"
	"strings"
	"testing"

	"entgo.io/ent/dialect"

	"github.com/keylin/keylin/config"
)

func TestDialectsAreEnts(t *testing.T) {
	if config.DialectPostgres != dialect.Postgres || config.DialectSQLite != dialect.SQLite {
		t.Fatalf("dialects %q %q, ent's %q %q", config.DialectPostgres, config.DialectSQLite, dialect.Postgres, dialect.SQLite)
	}
}

func TestParseDatabaseURL(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		want     config.DatabaseURL
	}{
		{"Postgres", "postgres://user:pw@db.example:5433/app?sslmode=require", config.DatabaseURL{
			Dialect: config.DialectPostgres, DSN: "postgres://user:pw@db.example:5433/app?sslmode=require",
			Redacted: "postgres://user:xxxxx@db.example:5433/app?sslmode=require", Host: "db.example:5433", Database: "app"}},
		{"Postgresql", "postgresql://user:pw@db.example/app", config.DatabaseURL{
			Dialect: config.DialectPostgres, DSN: "postgres://user:pw@db.example/app",
			Redacted: "postgresql://user:xxxxx@db.example/app", Host: "db.example:5432", Database: "app"}},
		{"UpperCaseScheme", "PostgreSQL://db.example/app", config.DatabaseURL{
			Dialect: config.DialectPostgres, DSN: "postgres://db.example/app",
			Redacted: "postgresql://db.example/app", Host: "db.example:5432", Database: "app"}},
		{"Asyncpg", "postgresql+asyncpg://user:pa%40ss@db.example:5432/app", config.DatabaseURL{
			Dialect: config.DialectPostgres, DSN: "postgres://user:pa%40ss@db.example:5432/app",
			Redacted: "postgresql+asyncpg://user:xxxxx@db.example:5432/app", Host: "db.example:5432", Database: "app"}},
		{"AsyncpgSSL", "postgresql+asyncpg://u:p@h/app?ssl=require&application_name=keylin", config.DatabaseURL{
			Dialect: config.DialectPostgres, DSN: "postgres://u:p@h/app?application_name=keylin&sslmode=require",
			Redacted: "postgresql+asyncpg://u:xxxxx@h/app?ssl=require&application_name=keylin", Host: "h:5432", Database: "app"}},
		{"AsyncpgDriverOptions", "postgresql+asyncpg://h/app?prepared_statement_cache_size=0&command_timeout=60&timeout=5", config.DatabaseURL{
			Dialect: config.DialectPostgres, DSN: "postgres://h/app?connect_timeout=5",
			Redacted: "postgresql+asyncpg://h/app?prepared_statement_cache_size=0&command_timeout=60&timeout=5", Host: "h:5432", Database: "app"}},
		{"AsyncpgSSLTrue", "postgresql+asyncpg://h/app?ssl=true", config.DatabaseURL{
			Dialect: config.DialectPostgres, DSN: "postgres://h/app?sslmode=require",
			Redacted: "postgresql+asyncpg://h/app?ssl=true", Host: "h:5432", Database: "app"}},
		{"AsyncpgSSLModeWins", "postgresql+asyncpg://h/app?ssl=require&sslmode=verify-full", config.DatabaseURL{
			Dialect: config.DialectPostgres, DSN: "postgres://h/app?sslmode=verify-full",
			Redacted: "postgresql+asyncpg://h/app?ssl=require&sslmode=verify-full", Host: "h:5432", Database: "app"}},
		{"Psycopg2", "postgresql+psycopg2://u:p@[::1]:6432/app?sslmode=disable", config.DatabaseURL{
			Dialect: config.DialectPostgres, DSN: "postgres://u:p@[::1]:6432/app?sslmode=disable",
			Redacted: "postgresql+psycopg2://u:xxxxx@[::1]:6432/app?sslmode=disable", Host: "[::1]:6432", Database: "app"}},
		{"Psycopg", "postgresql+psycopg://u@db/app", config.DatabaseURL{
			Dialect: config.DialectPostgres, DSN: "postgres://u@db/app",
			Redacted: "postgresql+psycopg://u@db/app", Host: "db:5432", Database: "app"}},
		{"PostgresSocket", "postgres:///app?host=/var/run/postgresql", config.DatabaseURL{
			Dialect: config.DialectPostgres, DSN: "postgres:///app?host=/var/run/postgresql",
			Redacted: "postgres:///app?host=/var/run/postgresql", Host: "/var/run/postgresql:5432", Database: "app"}},
		{"PostgresPasswordParam", "postgres://u@h/app?password=pw", config.DatabaseURL{
			Dialect: config.DialectPostgres, DSN: "postgres://u@h/app?password=pw",
			Redacted: "postgres://u@h/app?password=xxxxx", Host: "h:5432", Database: "app"}},

		{"SQLiteKeylinDefault", "sqlite://keylin.db", sqlite("sqlite://keylin.db", "keylin.db", "")},
		{"SQLAlchemyRelative", "sqlite:///keylin.db", sqlite("sqlite:///keylin.db", "keylin.db", "")},
		{"SQLAlchemyDotRelative", "sqlite:///./x.db", sqlite("sqlite:///./x.db", "./x.db", "")},
		{"SQLAlchemyAbsolute", "sqlite:////var/lib/keylin/keylin.db", sqlite("sqlite:////var/lib/keylin/keylin.db", "/var/lib/keylin/keylin.db", "")},
		{"Aiosqlite", "sqlite+aiosqlite:///./test.db", sqlite("sqlite+aiosqlite:///./test.db", "./test.db", "")},
		{"Pysqlite", "sqlite+pysqlite:///data/app.db", sqlite("sqlite+pysqlite:///data/app.db", "data/app.db", "")},
		{"SQLiteParams", "sqlite:///app.db?mode=ro", sqlite("sqlite:///app.db?mode=ro", "app.db", "mode=ro")},
		{"SQLiteNoSlashes", "sqlite:app.db", sqlite("sqlite:app.db", "app.db", "")},
		{"SQLiteEmptyIsMemory", "sqlite://", sqlite("sqlite://", ":memory:", "")},
		{"SQLiteMemory", "sqlite://:memory:", sqlite("sqlite://:memory:", ":memory:", "")},
		{"SQLAlchemyMemory", "sqlite+aiosqlite:///:memory:", sqlite("sqlite+aiosqlite:///:memory:", ":memory:", "")},
		{"Memory", ":memory:", sqlite(":memory:", ":memory:", "")},
		{"File", "file:keylin.db", sqlite("file:keylin.db", "keylin.db", "")},
		{"FileSharedMemory", "file:test?mode=memory&cache=shared", sqlite("file:test?mode=memory&cache=shared", "test", "mode=memory&cache=shared")},
		{"FileAbsolute", "file:/tmp/k.db", sqlite("file:/tmp/k.db", "/tmp/k.db", "")},
		{"FileURI", "file:///tmp/k.db?mode=rwc", sqlite("file:///tmp/k.db?mode=rwc", "/tmp/k.db", "mode=rwc")},
		{"FileLocalhost", "file://localhost/tmp/k.db", sqlite("file://localhost/tmp/k.db", "/tmp/k.db", "")},
		{"Blanks", "  sqlite:///keylin.db\n", sqlite("sqlite:///keylin.db", "keylin.db", "")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := config.ParseDatabaseURL(tc.in)
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Fatalf("ParseDatabaseURL(%q)\n got %+v\nwant %+v", tc.in, got, tc.want)
			}
			if got.Dialect == config.DialectPostgres {
				// lib/pq must take the DSN: a postgres:// URL that parses.
				if u, err := url.Parse(got.DSN); err != nil || u.Scheme != "postgres" {
					t.Fatalf("DSN %q: %v", got.DSN, err)
				}
			}
		})
	}
}

func sqlite(redacted, path, query string) config.DatabaseURL {
	dsn := path
	if query != "" {
		dsn += "?" + query
	}
	return config.DatabaseURL{Dialect: config.DialectSQLite, DSN: dsn, Redacted: redacted, Database: path}
}

func TestParseDatabaseURL_Unsupported(t *testing.T) {
	for _, tc := range []struct{ name, in, message string }{
		{"Empty", "", "DATABASE_URL: empty; accepted forms: postgres://"},
		{"Blank", "  ", "empty"},
		{"MySQL", "mysql://root:pw@db/app", `scheme "mysql"; accepted forms: postgres://, postgresql://, postgresql+asyncpg://`},
		{"HTTP", "http://example.com", `scheme "http"`},
		{"UnknownDriver", "postgresql+pg8000://u:pw@h/app", `scheme "postgresql+pg8000"`},
		{"Garbage", "garbage", "not a URL (no scheme)"},
		{"NoScheme", "://x", "not a URL"},
		{"FileHost", "file://server/share/k.db", `authority "server"`},
		{"FileEmpty", "file:", "without a path"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := config.ParseDatabaseURL(tc.in)
			if err == nil {
				t.Fatal("no error")
			}
			var ve *config.VarError
			if !errors.As(err, &ve) || ve.Name != "DATABASE_URL" || !errors.Is(err, config.ErrUnsupportedDatabase) {
				t.Fatalf("error %v (%T) is not a DATABASE_URL *VarError wrapping ErrUnsupportedDatabase", err, err)
			}
			if !strings.Contains(err.Error(), tc.message) {
				t.Fatalf("error %q does not contain %q", err, tc.message)
			}
		})
	}
}

// TestParseDatabaseURL_PasswordNeverShown checks Redacted and every error for
// the password, plain and percent-encoded.
func TestParseDatabaseURL_PasswordNeverShown(t *testing.T) {
	const pw = "Sup3r-s3cr3t"
	for _, tc := range []struct{ name, in string }{
		{"Postgres", "postgres://user:" + pw + "@db/app"},
		{"Encoded", "postgresql+asyncpg://user:" + url.QueryEscape(pw+"@/") + "@db/app"},
		{"Param", "postgres://user@db/app?password=" + pw},
		{"MalformedEscape", "postgres://user:" + pw + "%zz@db/app"},
		{"MalformedPort", "postgres://user:" + pw + "@db:port" + pw + "/app"},
		{"MalformedHost", "postgres://user:" + pw + "@d b/app"},
		{"Unsupported", "mysql://user:" + pw + "@db/app"},
		{"NoScheme", "user:" + pw + "@db/app"},
		{"NoSchemeAt", pw + "@db/app"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := config.ParseDatabaseURL(tc.in)
			for _, s := range []string{got.Redacted, got.Host, got.Database, errString(err)} {
				if strings.Contains(s, "s3cr3t") {
					t.Fatalf("%q shows the password", s)
				}
			}
			if err == nil && got.Redacted == "" {
				t.Fatal("no Redacted")
			}
		})
	}
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}
