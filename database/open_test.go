package database_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"

	"entgo.io/ent/dialect"
	"github.com/google/uuid"

	"github.com/keylin/keylin/database"
	"github.com/keylin/keylin/internal/dbtest"
)

func TestOpenUnreachable(t *testing.T) {
	ctx := context.Background()
	cases := []struct {
		name, url string
		want      []string
	}{
		{"PostgresDown", "postgres://keylin:s3cr3t-pw@127.0.0.1:1/keylindb?sslmode=disable&connect_timeout=2", []string{"127.0.0.1:1", "keylindb"}},
		{"SQLAlchemyForm", "postgresql+asyncpg://keylin:s3cr3t-pw@127.0.0.1:1/otherdb", []string{"127.0.0.1:1", "otherdb"}},
		{"SQLiteNoSuchDir", "sqlite:////no/such/dir/keylin.db", []string{"/no/such/dir/keylin.db"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := database.Open(ctx, c.url)
			var ce *database.ConnectError
			if !errors.As(err, &ce) {
				t.Fatalf("err = %v, want *ConnectError", err)
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not name %q", err, w)
				}
			}
			if strings.Contains(err.Error(), "s3cr3t-pw") {
				t.Fatalf("error leaks the password: %v", err)
			}
		})
	}
	t.Run("UnknownScheme", func(t *testing.T) {
		_, err := database.Open(ctx, "mysql://root:s3cr3t-pw@localhost/db")
		if err == nil || strings.Contains(err.Error(), "s3cr3t-pw") {
			t.Fatalf("err = %v", err)
		}
	})
}

func TestOpenSQLitePragmas(t *testing.T) {
	db := dbtest.Empty(t, dialect.SQLite)
	ctx := context.Background()
	for pragma, want := range map[string]string{"foreign_keys": "1", "journal_mode": "wal", "busy_timeout": "10000"} {
		var got string
		if err := db.QueryRowContext(ctx, "PRAGMA "+pragma).Scan(&got); err != nil {
			t.Fatal(err)
		}
		if got != want {
			t.Errorf("PRAGMA %s = %s, want %s", pragma, got, want)
		}
	}
}

// TestSQLiteConcurrentWriters: many writers through the pool, some in
// transactions that read before they write, never see "database is locked".
func TestSQLiteConcurrentWriters(t *testing.T) {
	db := dbtest.Migrated(t, dialect.SQLite)
	ctx := context.Background()
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for i := range 64 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if i%2 == 0 {
				// An autocommit write.
				_, err := db.ExecContext(ctx, "UPDATE users SET is_verified = true WHERE email LIKE 'zz%'")
				errs <- err
				return
			}
			// A transaction that reads, then writes.
			tx, err := db.BeginTx(ctx, nil)
			if err != nil {
				errs <- err
				return
			}
			var n int
			if err := tx.QueryRowContext(ctx, "SELECT count(*) FROM users").Scan(&n); err != nil {
				tx.Rollback()
				errs <- err
				return
			}
			if _, err := tx.ExecContext(ctx, "INSERT INTO users (id, email, hashed_password) VALUES (?, ?, 'x')",
				uuid.New().String(), uuid.New().String()+"@example.com"); err != nil {
				tx.Rollback()
				errs <- err
				return
			}
			errs <- tx.Commit()
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatalf("concurrent writer: %v", err)
		}
	}
}

// TestOpenPythonDotEnvURLs: DATABASE_URL values a Python keylin .env holds
// connect unchanged, driver-only query parameters included.
func TestOpenPythonDotEnvURLs(t *testing.T) {
	pg := dbtest.Empty(t, dialect.Postgres)
	host, name := pg.URL.Host, pg.URL.Database
	ctx := context.Background()
	for _, raw := range []string{
		"postgresql+asyncpg://postgres@" + host + "/" + name + "?prepared_statement_cache_size=0&command_timeout=60&ssl=disable",
		"postgresql+psycopg://postgres@" + host + "/" + name + "?sslmode=disable&application_name=keylin",
		"postgresql://postgres@" + host + "/" + name + "?sslmode=disable",
		"sqlite+aiosqlite:///" + t.TempDir() + "/py.db",
	} {
		db, err := database.Open(ctx, raw)
		if err != nil {
			t.Errorf("%s: %v", raw, err)
			continue
		}
		if err := db.PingContext(ctx); err != nil {
			t.Errorf("%s: ping: %v", raw, err)
		}
		db.Close()
	}
}
