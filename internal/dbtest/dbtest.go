// Package dbtest gives tests real databases: a fresh SQLite file and a
// throwaway PostgreSQL database, each migrated or empty, dropped when the
// test ends.
//
// PostgreSQL is reached through KEYLIN_TEST_POSTGRES_URL (default
// postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable); a
// throwaway database is created there for each test that asks for one.
// Setting KEYLIN_TEST_POSTGRES_URL=off skips the PostgreSQL cases (CI never
// does).
package dbtest

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"entgo.io/ent/dialect"

	"github.com/keylin/keylin/database"
	"github.com/keylin/keylin/ent/migrate/migrations"
)

// DefaultPostgresURL is the server tests use when KEYLIN_TEST_POSTGRES_URL is unset.
const DefaultPostgresURL = "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"

// PostgresURL is the admin URL throwaway databases are created from, or ""
// when PostgreSQL tests are switched off.
func PostgresURL() string {
	u := os.Getenv("KEYLIN_TEST_POSTGRES_URL")
	switch u {
	case "":
		return DefaultPostgresURL
	case "off":
		return ""
	}
	return u
}

// Dialects are the dialects every database test runs on.
var Dialects = []string{dialect.SQLite, dialect.Postgres}

// Empty returns an empty database of the dialect, removed when tb ends.
func Empty(tb testing.TB, d string) *database.DB {
	tb.Helper()
	ctx := context.Background()
	switch d {
	case dialect.SQLite:
		path := filepath.Join(tb.TempDir(), "test.db")
		db, err := database.Open(ctx, "file:"+path)
		if err != nil {
			tb.Fatalf("open sqlite: %v", err)
		}
		tb.Cleanup(func() { db.Close() })
		return db
	case dialect.Postgres:
		admin := PostgresURL()
		if admin == "" {
			tb.Skip("PostgreSQL tests are off (KEYLIN_TEST_POSTGRES_URL=off)")
		}
		db, drop, err := database.CreateTempPostgres(ctx, admin, "keylin_test")
		if err != nil {
			tb.Fatalf("create throwaway postgres database: %v", err)
		}
		tb.Cleanup(func() {
			if err := drop(context.Background()); err != nil {
				tb.Errorf("drop throwaway database: %v", err)
			}
		})
		return db
	}
	tb.Fatalf("unknown dialect %q", d)
	return nil
}

// Migrated returns a database of the dialect with keylin's embedded
// migrations applied.
func Migrated(tb testing.TB, d string) *database.DB {
	tb.Helper()
	db := Empty(tb, d)
	if _, err := database.Migrate(context.Background(), db, migrations.FS); err != nil {
		tb.Fatalf("migrate: %v", err)
	}
	return db
}

// Run runs f as a subtest once per dialect.
func Run(t *testing.T, f func(t *testing.T, d string)) {
	t.Helper()
	for _, d := range Dialects {
		t.Run(database.DialectDir(d), func(t *testing.T) { f(t, d) })
	}
}
